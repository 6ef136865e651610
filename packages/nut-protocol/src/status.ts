/**
 * `ups.status` tokens. The first fourteen are the ones NUT's driver guide lists; `ALARM` is added by
 * drivers when `ups.alarm` is set, `WAIT` by upsd before the first data from a driver, `ECO` by
 * NUT 2.8.3+ drivers for an economy/high-efficiency mode.
 */
export const STATUS_TOKENS = {
  OL: 'on line (mains present)',
  OB: 'on battery (mains absent)',
  LB: 'low battery',
  HB: 'high battery',
  RB: 'battery needs replacement',
  CHRG: 'battery charging',
  DISCHRG: 'battery discharging',
  BYPASS: 'bypass active: no battery protection',
  CAL: 'runtime calibration',
  OFF: 'not supplying the load',
  OVER: 'overloaded',
  TRIM: 'trimming (buck) incoming voltage',
  BOOST: 'boosting incoming voltage',
  FSD: 'forced shutdown',
  ALARM: 'alarm (see ups.alarm)',
  WAIT: 'server waiting for the first data from its driver',
  ECO: 'economy mode',
} as const;

export type StatusToken = keyof typeof STATUS_TOKENS;

export interface UpsStatus {
  /** The string as served. */
  readonly raw: string;
  /** Every token in order, known or not, without duplicates. */
  readonly tokens: readonly string[];
  /** The documented tokens present. */
  readonly known: ReadonlySet<StatusToken>;
  /** Tokens NUT does not document (vendor words), kept in order. */
  readonly unknown: readonly string[];
  has(token: StatusToken): boolean;
  readonly onLine: boolean;
  readonly onBattery: boolean;
  readonly lowBattery: boolean;
  /** `FSD` is present: upsmon treats this as critical whatever else the status says. */
  readonly forcedShutdown: boolean;
  /** On battery and low battery, not calibrating: what upsmon 2.8.0 treats as critical. */
  readonly critical: boolean;
}

function isKnown(token: string): token is StatusToken {
  return Object.hasOwn(STATUS_TOKENS, token);
}

/**
 * Parses `ups.status` ("OB DISCHRG LB", "FSD OL", …). Tokens are separated by any whitespace and
 * compared case-sensitively, as upsmon does; anything unrecognised is kept in `unknown`.
 */
export function parseStatus(raw: string): UpsStatus {
  const tokens = [...new Set(raw.split(/\s+/).filter(Boolean))];
  const known = new Set<StatusToken>();
  const unknown: string[] = [];
  for (const token of tokens) {
    if (isKnown(token)) known.add(token);
    else unknown.push(token);
  }
  const onBattery = known.has('OB');
  const lowBattery = known.has('LB');
  const forcedShutdown = known.has('FSD');
  return {
    raw,
    tokens,
    known,
    unknown,
    has: (token) => known.has(token),
    onLine: known.has('OL'),
    onBattery,
    lowBattery,
    forcedShutdown,
    critical: forcedShutdown || (onBattery && lowBattery && !known.has('CAL')),
  };
}

/** Formats tokens back into a status string (single spaces, order kept). */
export function formatStatus(tokens: Iterable<string>): string {
  return [...tokens].join(' ');
}
