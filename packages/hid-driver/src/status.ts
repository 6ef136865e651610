/**
 * `ups.status` synthesis from HID status conditions, following the rules NUT's usbhid-ups applies so
 * that every NUT client (and Blackstart's policy engine) reads the same tokens it would from NUT:
 *
 * - OB when AC is absent, or when no AC flag is reported but the battery discharges; OL when AC is
 *   present. OL together with DISCHRG is the "online discharge" case, see `OnlineDischarge`.
 * - DISCHRG unless the battery reports FullyDischarged; CHRG while charging unless FullyCharged, and
 *   for devices without a FullyCharged flag only while 0 < charge < 100.
 * - LB from BelowRemainingCapacityLimit, RemainingTimeLimitExpired or ShutdownImminent; RB from
 *   NeedReplacement or a missing battery. While on line both can be debounced (`lowBatteryDebounceMs`).
 * - OVER, TRIM (buck), BOOST, BYPASS, OFF, CAL; ALARM plus an `ups.alarm` text for alarms.
 */
import type { StatusCondition } from './mapping.ts';

export type Conditions = Partial<Record<StatusCondition, boolean>>;

/**
 * What to report when a UPS says "AC present" and "discharging" at once.
 * - `report`: OL DISCHRG, as NUT does by default (and as the APC BK650M2-CH dump shows);
 * - `ignore`: OL only — for APC BX…MI/BVK…M2/BK…M2-CH units whose DISCHRG bit flaps on mains;
 * - `on-battery`: OB DISCHRG — for units (CyberPower UT) that keep ACPresent set on battery;
 * - `calibration`: OL DISCHRG CAL — the unit runs a runtime calibration.
 */
export type OnlineDischarge = 'report' | 'ignore' | 'on-battery' | 'calibration';

export interface StatusOptions {
  onlineDischarge: OnlineDischarge;
  /** LB/RB raised while on line must persist this long before they are reported (0 = at once). */
  lowBatteryDebounceMs: number;
  /** Some units keep Charging set in float mode; suppress CHRG at ≥ 100 % charge. */
  chargingAtFullIsFloat: boolean;
}

export interface StatusResult {
  tokens: string[];
  alarms: string[];
  transferReason: string | undefined;
}

/** Remembers since when LB/RB have been pending while on line (the debounce needs a memory). */
export class StatusDebounce {
  lowSince: number | undefined;
  replaceSince: number | undefined;
}

const ALARM_TEXT: Array<[StatusCondition, boolean, string]> = [
  ['needReplacement', true, 'Replace battery!'],
  ['shutdownImminent', true, 'Shutdown imminent!'],
  ['fanFailure', true, 'Fan failure!'],
  ['batteryPresent', false, 'No battery installed!'],
  ['batteryVoltageLow', true, 'Battery voltage too low!'],
  ['batteryVoltageHigh', true, 'Battery voltage too high!'],
  ['chargerFailure', true, 'Battery charger fail!'],
  ['overTemperature', true, 'Temperature too high!'],
  ['internalFailure', true, 'Internal UPS fault!'],
  ['communicationLost', true, 'Internal UPS fault!'],
  ['awaitingPower', true, 'Awaiting power!'],
  ['bypassAuto', true, 'Automatic bypass mode!'],
  ['bypassManual', true, 'Manual bypass mode!'],
];

export function composeStatus(
  c: Conditions,
  charge: number | undefined,
  options: StatusOptions,
  debounce: StatusDebounce,
  now: number,
): StatusResult {
  const tokens: string[] = [];
  const add = (token: string) => {
    if (!tokens.includes(token)) tokens.push(token);
  };
  const online = c.acPresent === true;
  const offline = c.acPresent === false;
  const discharging = c.discharging === true;
  let reportDischarge = discharging && c.fullyDischarged !== true;

  if (c.calibrating) add('CAL');
  if (offline) add('OB');
  else if (!online) {
    if (discharging) add('OB');
  } else if (discharging) {
    switch (options.onlineDischarge) {
      case 'on-battery':
        add('OB');
        break;
      case 'calibration':
        add('OL');
        add('CAL');
        break;
      case 'ignore':
        add('OL');
        reportDischarge = false;
        break;
      default:
        add('OL');
    }
  } else add('OL');

  if (reportDischarge) add('DISCHRG');

  if (c.charging) {
    let chrg: boolean;
    if (c.fullyCharged === false) chrg = true;
    else if (c.fullyCharged === true) chrg = false;
    else chrg = charge !== undefined && charge > 0 && charge < 100;
    if (options.chargingAtFullIsFloat && charge !== undefined && charge >= 100) chrg = false;
    if (chrg) add('CHRG');
  }

  const onLineNow = online && !tokens.includes('OB');
  const held = (pending: boolean, key: 'lowSince' | 'replaceSince'): boolean => {
    if (!pending) {
      debounce[key] = undefined;
      return false;
    }
    if (options.lowBatteryDebounceMs <= 0 || !onLineNow) return true;
    debounce[key] ??= now;
    return now - debounce[key]! >= options.lowBatteryDebounceMs;
  };
  const low =
    c.belowRemainingCapacityLimit === true ||
    c.remainingTimeLimitExpired === true ||
    c.shutdownImminent === true;
  if (held(low, 'lowSince')) add('LB');
  if (c.overload) add('OVER');
  if (held(c.needReplacement === true || c.batteryPresent === false, 'replaceSince')) add('RB');
  if (c.buck) add('TRIM');
  if (c.boost) add('BOOST');
  if (c.bypassAuto || c.bypassManual) add('BYPASS');
  if (c.off) add('OFF');

  const alarms: string[] = [];
  for (const [condition, when, text] of ALARM_TEXT) {
    if (c[condition] === when && !alarms.includes(text)) alarms.push(text);
  }
  if (alarms.length > 0) tokens.unshift('ALARM');

  const transferReason = c.voltageOutOfRange
    ? 'input voltage out of range'
    : c.frequencyOutOfRange
      ? 'input frequency out of range'
      : undefined;
  return { tokens, alarms, transferReason };
}

/** The earliest time at which a pending debounce would change the status, if any. */
export function nextDebounceDeadline(debounce: StatusDebounce, options: StatusOptions): number | undefined {
  if (options.lowBatteryDebounceMs <= 0) return undefined;
  const times = [debounce.lowSince, debounce.replaceSince].filter((t): t is number => t !== undefined);
  return times.length > 0 ? Math.min(...times) + options.lowBatteryDebounceMs : undefined;
}
