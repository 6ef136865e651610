/**
 * One UPS reading as the engine sees it, normalised from NUT variable names
 * (`ups.status`, `battery.charge`, `battery.runtime`, `ups.load`, `input.voltage`).
 */
export interface UpsReading {
  /** `ups.status` tokens, e.g. ['OB', 'DISCHRG']. */
  status: readonly string[];
  charge?: number;
  runtime?: number;
  load?: number;
  inputVoltage?: number;
  /** A self-test is running (`ups.test.result` says so): on-battery readings are not an outage. */
  testInProgress?: boolean;
}

function num(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

/** Builds a reading from NUT variables (as served by upsd, the HID driver or the simulator). */
export function readingFromNutVars(vars: Readonly<Record<string, string>>): UpsReading {
  const status = (vars['ups.status'] ?? '').split(/\s+/).filter(Boolean);
  const test = (vars['ups.test.result'] ?? '').toLowerCase();
  const reading: UpsReading = { status };
  const charge = num(vars['battery.charge']);
  const runtime = num(vars['battery.runtime']);
  const load = num(vars['ups.load']);
  const inputVoltage = num(vars['input.voltage']);
  return {
    ...reading,
    ...(charge !== undefined && { charge }),
    ...(runtime !== undefined && { runtime }),
    ...(load !== undefined && { load }),
    ...(inputVoltage !== undefined && { inputVoltage }),
    ...(test.includes('in progress') && { testInProgress: true }),
  };
}

export const isOnBattery = (r: UpsReading): boolean => r.status.includes('OB') && !r.status.includes('OL');
export const isOnLine = (r: UpsReading): boolean => r.status.includes('OL') && !r.status.includes('OB');
/** Calibration and self-tests run on battery by design; they are never an outage. */
export const isTesting = (r: UpsReading): boolean => r.status.includes('CAL') || r.testInProgress === true;

/**
 * What a reading says about the power: `battery` for a real discharge (not a self-test or a
 * calibration), `mains` when the UPS is on line or merely testing, `unknown` otherwise
 * (e.g. `OFF` alone, an empty status).
 */
export function powerOf(r: UpsReading): 'battery' | 'mains' | 'unknown' {
  if (isTesting(r)) return 'mains';
  if (isOnBattery(r)) return 'battery';
  return isOnLine(r) ? 'mains' : 'unknown';
}
