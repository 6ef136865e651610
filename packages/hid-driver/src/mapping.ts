/**
 * Data-driven mapping from HID paths to NUT variables, status conditions and instant commands.
 *
 * A table is an ordered list of rows. Several rows may name the same NUT variable with different
 * HID paths, because vendors put the same quantity in different collections; the first row whose
 * path exists in the device's descriptor wins (a Feature field is preferred, an Input-only field is
 * used when nothing else exists — its value then arrives with interrupt reports only). Status rows
 * are different: every status row whose path exists contributes, later rows overriding earlier ones
 * (see `mergeTables`).
 * Path lookup is case-insensitive.
 */
import type { HidField, ReportDescriptor } from './descriptor.ts';
import type { UsageNames } from './usages.ts';

/** How a field's value becomes a NUT variable string. */
export type ValueConversion =
  /** Engineering (SI) value × scale, printed with `decimals` digits like `%.Nf`. */
  | { kind: 'quantity'; decimals: number; scale?: number; adjust?: Adjustment }
  /** Kelvin (engineering value) to degrees Celsius. */
  | { kind: 'celsius'; decimals: number }
  /** Enumerated logical value → text; values not in the table leave the variable unset. */
  | { kind: 'lookup'; table: Readonly<Record<number, string>> }
  /** USB PDC packed date (`ManufacturerDate`). */
  | { kind: 'pdcDate' }
  /** APC hex-as-decimal date (`APCBattReplaceDate`). */
  | { kind: 'apcHexDate' };

/** Named vendor value corrections; each is switchable through a quirk (see quirks.ts). */
export type Adjustment = 'cpsBatteryVoltage' | 'cpsInputFrequency' | 'cpsOutputFrequency' | 'clampPercent';

export interface VariableRule {
  name: string;
  path: string;
  convert: ValueConversion;
  /** Read on every quick poll (status, timers, charge, runtime, load) — not just full polls. */
  quick?: boolean;
}

/** Internal status conditions, set from HID flags and turned into `ups.status` tokens by status.ts. */
export type StatusCondition =
  | 'acPresent'
  | 'charging'
  | 'discharging'
  | 'fullyCharged'
  | 'fullyDischarged'
  | 'belowRemainingCapacityLimit'
  | 'remainingTimeLimitExpired'
  | 'shutdownImminent'
  | 'needReplacement'
  | 'batteryPresent'
  | 'overload'
  | 'buck'
  | 'boost'
  | 'bypassAuto'
  | 'bypassManual'
  | 'off'
  | 'calibrating'
  | 'overTemperature'
  | 'internalFailure'
  | 'communicationLost'
  | 'awaitingPower'
  | 'fanFailure'
  | 'chargerFailure'
  | 'batteryVoltageLow'
  | 'batteryVoltageHigh'
  | 'voltageOutOfRange'
  | 'frequencyOutOfRange';

export interface StatusRule {
  path: string;
  condition: StatusCondition;
  /** Logical value → condition. Without a map, any non-zero value means true. Unlisted values are ignored. */
  map?: Readonly<Record<number, boolean>>;
}

export type InstantCommand =
  | 'load.off'
  | 'load.on'
  | 'load.off.delay'
  | 'load.on.delay'
  | 'shutdown.return'
  | 'shutdown.stayoff'
  | 'shutdown.stop'
  | 'shutdown.reboot'
  | 'beeper.enable'
  | 'beeper.disable'
  | 'beeper.mute'
  | 'beeper.toggle'
  | 'test.battery.start.quick'
  | 'test.battery.start.deep'
  | 'test.battery.stop'
  | 'test.panel.start'
  | 'test.panel.stop';

export interface CommandRule {
  name: InstantCommand;
  path: string;
  /** What to write: a fixed value, or the configured shutdown/startup delay, or the caller's argument. */
  value: number | 'offDelay' | 'onDelay';
  /** `engineering` values (delays in seconds) go through unit/exponent; `logical` ones (enums) do not. */
  units: 'logical' | 'engineering';
}

export interface MappingTable {
  variables: readonly VariableRule[];
  status: readonly StatusRule[];
  commands: readonly CommandRule[];
}

// ---------------------------------------------------------------------------------------------
// Lookup tables (USB PDC value meanings)

export const TEST_RESULTS: Readonly<Record<number, string>> = {
  1: 'Done and passed',
  2: 'Done and warning',
  3: 'Done and error',
  4: 'Aborted',
  5: 'In progress',
  6: 'No test initiated',
  7: 'Test scheduled',
};

export const BEEPER_STATUS: Readonly<Record<number, string>> = { 1: 'disabled', 2: 'enabled', 3: 'muted' };
export const YES_NO: Readonly<Record<number, string>> = { 0: 'no', 1: 'yes' };
export const ON_OFF: Readonly<Record<number, string>> = { 0: 'off', 1: 'on' };

const q = (decimals: number): ValueConversion => ({ kind: 'quantity', decimals });

function rows(name: string, paths: string[], convert: ValueConversion, quick = false): VariableRule[] {
  return paths.map((path) => ({ name, path, convert, ...(quick && { quick }) }));
}

function flags(condition: StatusCondition, paths: string[], map?: Record<number, boolean>): StatusRule[] {
  return paths.map((path) => ({ path, condition, ...(map && { map }) }));
}

function commands(
  name: InstantCommand,
  paths: string[],
  value: CommandRule['value'],
  units: CommandRule['units'],
): CommandRule[] {
  return paths.map((path) => ({ name, path, value, units }));
}

/** Where the standard status flags live on Power Device Class UPSes. */
function statusPaths(usage: string): string[] {
  return [
    `UPS.PowerSummary.PresentStatus.${usage}`,
    `UPS.PresentStatus.${usage}`,
    `UPS.PowerSummary.${usage}`,
    `UPS.BatterySystem.Battery.PresentStatus.${usage}`,
    `UPS.Battery.PresentStatus.${usage}`,
  ];
}

const DELAY_COLLECTIONS = ['UPS.PowerSummary', 'UPS.Output', 'UPS'];
const TEST_PATHS = [
  'UPS.BatterySystem.Battery.Test',
  'UPS.Battery.Test',
  'UPS.Output.Test',
  'UPS.PowerSummary.Test',
];
const BEEPER_PATHS = [
  'UPS.PowerSummary.AudibleAlarmControl',
  'UPS.BatterySystem.Battery.AudibleAlarmControl',
  'UPS.AudibleAlarmControl',
];

/** Rows for any USB Power Device Class UPS; vendor profiles put their own rows in front. */
export const GENERIC_TABLE: MappingTable = {
  variables: [
    ...rows(
      'battery.charge',
      [
        'UPS.PowerSummary.RemainingCapacity',
        'UPS.BatterySystem.Battery.RemainingCapacity',
        'UPS.Battery.RemainingCapacity',
      ],
      q(0),
      true,
    ),
    ...rows(
      'battery.charge.low',
      ['UPS.PowerSummary.RemainingCapacityLimit', 'UPS.Battery.RemainingCapacityLimit'],
      q(0),
    ),
    ...rows('battery.charge.warning', ['UPS.PowerSummary.WarningCapacityLimit'], q(0)),
    ...rows(
      'battery.runtime',
      [
        'UPS.PowerSummary.RunTimeToEmpty',
        'UPS.Battery.RunTimeToEmpty',
        'UPS.BatterySystem.Battery.RunTimeToEmpty',
      ],
      q(0),
      true,
    ),
    ...rows(
      'battery.runtime.low',
      ['UPS.PowerSummary.RemainingTimeLimit', 'UPS.Battery.RemainingTimeLimit'],
      q(0),
    ),
    ...rows(
      'battery.voltage',
      [
        'UPS.PowerSummary.Voltage',
        'UPS.Battery.Voltage',
        'UPS.BatterySystem.Voltage',
        'UPS.BatterySystem.Battery.Voltage',
      ],
      q(1),
    ),
    ...rows(
      'battery.voltage.nominal',
      [
        'UPS.PowerSummary.ConfigVoltage',
        'UPS.Battery.ConfigVoltage',
        'UPS.BatterySystem.ConfigVoltage',
        'UPS.BatterySystem.Battery.ConfigVoltage',
      ],
      q(1),
    ),
    ...rows(
      'battery.temperature',
      ['UPS.Battery.Temperature', 'UPS.BatterySystem.Battery.Temperature', 'UPS.BatterySystem.Temperature'],
      { kind: 'celsius', decimals: 1 },
    ),
    ...rows(
      'battery.mfr.date',
      ['UPS.Battery.ManufacturerDate', 'UPS.BatterySystem.Battery.ManufacturerDate'],
      { kind: 'pdcDate' },
    ),
    ...rows(
      'ups.load',
      [
        'UPS.PowerSummary.PercentLoad',
        'UPS.Output.PercentLoad',
        'UPS.PowerConverter.PercentLoad',
        'UPS.PowerConverter.Output.PercentLoad',
      ],
      q(0),
      true,
    ),
    ...rows(
      'ups.realpower.nominal',
      ['UPS.PowerConverter.ConfigActivePower', 'UPS.Output.ConfigActivePower'],
      q(0),
    ),
    ...rows(
      'ups.power.nominal',
      ['UPS.Output.ConfigApparentPower', 'UPS.PowerSummary.ConfigApparentPower'],
      q(0),
    ),
    ...rows('ups.power', ['UPS.Output.ApparentPower', 'UPS.PowerConverter.Output.ApparentPower'], q(0), true),
    ...rows('ups.realpower', ['UPS.Output.ActivePower', 'UPS.PowerConverter.Output.ActivePower'], q(0), true),
    ...rows('ups.temperature', ['UPS.PowerSummary.Temperature'], { kind: 'celsius', decimals: 1 }),
    ...rows('ups.test.result', TEST_PATHS, { kind: 'lookup', table: TEST_RESULTS }, true),
    ...rows('ups.beeper.status', BEEPER_PATHS, { kind: 'lookup', table: BEEPER_STATUS }),
    ...rows(
      'ups.timer.shutdown',
      DELAY_COLLECTIONS.map((c) => `${c}.DelayBeforeShutdown`),
      q(0),
      true,
    ),
    ...rows(
      'ups.timer.start',
      DELAY_COLLECTIONS.map((c) => `${c}.DelayBeforeStartup`),
      q(0),
      true,
    ),
    ...rows(
      'ups.timer.reboot',
      DELAY_COLLECTIONS.map((c) => `${c}.DelayBeforeReboot`),
      q(0),
      true,
    ),
    ...rows('ups.mfr.date', ['UPS.ManufacturerDate', 'UPS.PowerSummary.ManufacturerDate'], {
      kind: 'pdcDate',
    }),
    ...rows('input.voltage', ['UPS.Input.Voltage', 'UPS.PowerConverter.Input.Voltage'], q(1), true),
    ...rows('input.voltage.nominal', ['UPS.Input.ConfigVoltage'], q(0)),
    ...rows('input.frequency', ['UPS.Input.Frequency', 'UPS.PowerConverter.Input.Frequency'], q(1)),
    ...rows('input.frequency.nominal', ['UPS.Input.ConfigFrequency'], q(0)),
    ...rows('input.current', ['UPS.Input.Current', 'UPS.PowerConverter.Input.Current'], q(2)),
    ...rows(
      'input.transfer.low',
      [
        'UPS.Input.LowVoltageTransfer',
        'UPS.Output.LowVoltageTransfer',
        'UPS.PowerConverter.Output.LowVoltageTransfer',
      ],
      q(0),
    ),
    ...rows(
      'input.transfer.high',
      [
        'UPS.Input.HighVoltageTransfer',
        'UPS.Output.HighVoltageTransfer',
        'UPS.PowerConverter.Output.HighVoltageTransfer',
      ],
      q(0),
    ),
    ...rows('output.voltage', ['UPS.Output.Voltage', 'UPS.PowerConverter.Output.Voltage'], q(1)),
    ...rows('output.voltage.nominal', ['UPS.Output.ConfigVoltage'], q(0)),
    ...rows('output.frequency', ['UPS.Output.Frequency', 'UPS.PowerConverter.Output.Frequency'], q(1)),
    ...rows('output.frequency.nominal', ['UPS.Output.ConfigFrequency'], q(0)),
    ...rows('output.current', ['UPS.Output.Current', 'UPS.PowerConverter.Output.Current'], q(2)),
  ],
  status: [
    ...flags('acPresent', statusPaths('ACPresent')),
    ...flags('charging', statusPaths('Charging')),
    ...flags('discharging', statusPaths('Discharging')),
    ...flags('fullyCharged', statusPaths('FullyCharged')),
    ...flags('fullyDischarged', statusPaths('FullyDischarged')),
    ...flags('belowRemainingCapacityLimit', statusPaths('BelowRemainingCapacityLimit')),
    ...flags('remainingTimeLimitExpired', statusPaths('RemainingTimeLimitExpired')),
    ...flags('shutdownImminent', statusPaths('ShutdownImminent')),
    ...flags('needReplacement', statusPaths('NeedReplacement')),
    ...flags('batteryPresent', statusPaths('BatteryPresent')),
    ...flags('overload', [...statusPaths('Overload'), 'UPS.Output.Overload']),
    ...flags('buck', [...statusPaths('Buck'), 'UPS.Output.Buck', 'UPS.Input.PresentStatus.Buck']),
    ...flags('boost', [...statusPaths('Boost'), 'UPS.Output.Boost', 'UPS.Input.PresentStatus.Boost']),
    ...flags('overTemperature', statusPaths('OverTemperature')),
    ...flags('internalFailure', statusPaths('InternalFailure')),
    ...flags('communicationLost', statusPaths('CommunicationLost')),
    ...flags('awaitingPower', statusPaths('AwaitingPower')),
    ...flags('voltageOutOfRange', ['UPS.Input.PresentStatus.VoltageOutOfRange']),
    ...flags('frequencyOutOfRange', ['UPS.Input.PresentStatus.FrequencyOutOfRange']),
  ],
  commands: [
    ...commands(
      'load.off.delay',
      DELAY_COLLECTIONS.map((c) => `${c}.DelayBeforeShutdown`),
      'offDelay',
      'engineering',
    ),
    ...commands(
      'load.on.delay',
      DELAY_COLLECTIONS.map((c) => `${c}.DelayBeforeStartup`),
      'onDelay',
      'engineering',
    ),
    ...commands(
      'shutdown.stop',
      DELAY_COLLECTIONS.map((c) => `${c}.DelayBeforeShutdown`),
      -1,
      'engineering',
    ),
    ...commands(
      'shutdown.reboot',
      DELAY_COLLECTIONS.map((c) => `${c}.DelayBeforeReboot`),
      10,
      'engineering',
    ),
    ...commands('test.battery.start.quick', TEST_PATHS, 1, 'logical'),
    ...commands('test.battery.start.deep', TEST_PATHS, 2, 'logical'),
    ...commands('test.battery.stop', TEST_PATHS, 3, 'logical'),
    ...commands('beeper.enable', BEEPER_PATHS, 2, 'logical'),
    ...commands('beeper.disable', BEEPER_PATHS, 1, 'logical'),
    ...commands('beeper.mute', BEEPER_PATHS, 3, 'logical'),
  ],
};

/**
 * Combines tables given most specific first (vendor, then generic). Variables and commands keep
 * that order — the first existing path wins — while status rows are applied in reverse, so a
 * vendor's status row is applied after, and overrides, a generic one for the same condition.
 */
export function mergeTables(...tables: MappingTable[]): MappingTable {
  return {
    variables: tables.flatMap((t) => t.variables),
    status: [...tables].reverse().flatMap((t) => t.status),
    commands: tables.flatMap((t) => t.commands),
  };
}

// ---------------------------------------------------------------------------------------------
// Resolution against a descriptor

/** Every field of a descriptor, indexed by its (lower-cased) path string under a set of names. */
export class PathIndex {
  private readonly byPath = new Map<string, HidField[]>();
  readonly pathOf: ReadonlyMap<number, string>;

  constructor(
    descriptor: ReportDescriptor,
    readonly names: UsageNames,
  ) {
    const pathOf = new Map<number, string>();
    for (const field of descriptor.fields) {
      const path = names.formatPath(field.path);
      pathOf.set(field.index, path);
      const key = path.toLowerCase();
      const list = this.byPath.get(key);
      if (list) list.push(field);
      else this.byPath.set(key, [field]);
    }
    this.pathOf = pathOf;
  }

  /** All fields at a path, in declaration order. */
  all(path: string): readonly HidField[] {
    return this.byPath.get(path.toLowerCase()) ?? [];
  }

  /** The field a read or write of this path uses: the first Feature field, else the first Input one. */
  readable(path: string): HidField | undefined {
    const fields = this.all(path);
    return fields.find((f) => f.kind === 'feature') ?? fields.find((f) => f.kind === 'input');
  }

  writable(path: string): HidField | undefined {
    return this.all(path).find((f) => f.kind === 'feature');
  }
}

export interface ResolvedVariable {
  rule: VariableRule;
  field: HidField;
  path: string;
}
export interface ResolvedStatus {
  rule: StatusRule;
  field: HidField;
  path: string;
}
export interface ResolvedCommand {
  rule: CommandRule;
  field: HidField;
  path: string;
}

export interface ResolvedMapping {
  /** NUT variable name → the row that won. */
  variables: Map<string, ResolvedVariable>;
  status: ResolvedStatus[];
  commands: Map<InstantCommand, ResolvedCommand>;
}

export function resolveMapping(table: MappingTable, index: PathIndex): ResolvedMapping {
  const variables = new Map<string, ResolvedVariable>();
  for (const rule of table.variables) {
    if (variables.has(rule.name)) continue;
    const field = index.readable(rule.path);
    if (field && field.bitSize <= 52)
      variables.set(rule.name, { rule, field, path: index.pathOf.get(field.index)! });
  }
  const status: ResolvedStatus[] = [];
  for (const rule of table.status) {
    const field = index.readable(rule.path);
    if (field) status.push({ rule, field, path: index.pathOf.get(field.index)! });
  }
  const commandMap = new Map<InstantCommand, ResolvedCommand>();
  for (const rule of table.commands) {
    if (commandMap.has(rule.name)) continue;
    const field = index.writable(rule.path);
    if (field && field.bitSize <= 52)
      commandMap.set(rule.name, { rule, field, path: index.pathOf.get(field.index)! });
  }
  return { variables, status, commands: commandMap };
}
