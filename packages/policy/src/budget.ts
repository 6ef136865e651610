import type { CompiledPlan } from './compile.ts';
import type { Plan } from './plan.ts';
import type { UpsReading } from './reading.ts';

/** Learned shutdown durations, seconds, per host id, oldest first. */
export type DurationHistory = Readonly<Record<string, readonly number[]>>;

/**
 * Learned shutdown durations as the engine state keeps them: per host in plan order (empty when
 * none). An outage's end replaces the durations of the hosts it learned from and shares the rest,
 * where a record keyed by id would be built anew, 10 000 keys for 10 000 hosts.
 */
export type LearnedDurations = readonly (readonly number[])[];

/**
 * `record[key]` if the record itself has it. Records in the state are keyed by host and UPS ids,
 * and `constructor` is a valid id: a plain lookup would find Object.prototype's.
 */
export function ownEntry<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** How many past runs per host the engine remembers. */
export const HISTORY_LENGTH = 20;

/** A plan's hosts' durations from a history keyed by id (the most recent `HISTORY_LENGTH` of each). */
export function learnedInPlanOrder(plan: Plan, history: DurationHistory): number[][] {
  const learned: number[][] = [];
  for (const h of plan.hosts) learned.push(ownEntry(history, h.id)?.slice(-HISTORY_LENGTH) ?? []);
  return learned;
}

/** Learned durations keyed by host id, hosts without any left out. */
export function learnedById(plan: Plan, learned: LearnedDurations): Record<string, number[]> {
  const history: Record<string, number[]> = {};
  plan.hosts.forEach((h, i) => {
    const past = learned[i];
    if (past && past.length > 0) history[h.id] = [...past];
  });
  return history;
}

/** 95th percentile by nearest rank; undefined for no samples. */
export function p95(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.ceil(0.95 * sorted.length) - 1];
}

/** Seconds a host's shutdown is expected to take: configured, else learned (p95), else its timeout. */
export function expectedDuration(c: CompiledPlan, learned: LearnedDurations, host: number): number {
  const h = c.plan.hosts[host]!;
  if (h.shutdown.expectedDuration !== undefined) return h.shutdown.expectedDuration;
  const past = learned[host];
  return (past !== undefined ? p95(past) : undefined) ?? h.shutdown.timeout;
}

export interface BudgetTable {
  /** Expected shutdown duration of every host, seconds. */
  expected: number[];
  /**
   * Seconds from a host's shutdown command until it and every host waiting for it are down, the
   * controller's host included (it always goes last).
   */
  tail: number[];
  /** For each trigger class with a budget trigger: its hosts, largest `tail` first. */
  order: number[][];
  /** Runtime (seconds) at or below which each host's budget trigger fires: tail + margin. */
  threshold: number[];
}

const tables = new WeakMap<CompiledPlan, { learned: LearnedDurations; table: BudgetTable }>();

export function budgetTable(c: CompiledPlan, learned: LearnedDurations): BudgetTable {
  const cached = tables.get(c);
  if (cached && cached.learned === learned) return cached.table;
  const n = c.hostIds.length;
  const expected = c.hostIds.map((_, i) => expectedDuration(c, learned, i));
  // The table depends on the history only through `expected`: a new history object (a new state,
  // an outage that ended) that changes no expected duration keeps the table, and spares its sorts.
  if (cached && sameValues(cached.table.expected, expected)) {
    tables.set(c, { learned, table: cached.table });
    return cached.table;
  }
  const tail = new Array<number>(n).fill(0);
  // `waiting[i]` are the hosts that wait for i, and they come before i in dependency order.
  for (const i of c.topo) {
    let longest = 0;
    for (const w of c.waiting[i]!) longest = Math.max(longest, tail[w]!);
    tail[i] = (c.kinds[i] === 'wake-only' ? 0 : expected[i]!) + longest;
  }
  if (c.controller >= 0) {
    const last = expected[c.controller]!;
    for (let i = 0; i < n; i++) if (i !== c.controller) tail[i]! += last;
  }
  const threshold = new Array<number>(n).fill(0);
  const order = c.classes.map((cls) => {
    if (cls.budgetMargin === undefined) return [];
    for (const h of cls.hosts) threshold[h] = tail[h]! + cls.budgetMargin;
    return byThresholdDescending(cls.hosts, threshold);
  });
  const table = { expected, tail, order, threshold };
  tables.set(c, { learned, table });
  return table;
}

/**
 * Hosts by threshold, largest first, ties in host order: a counting sort over the distinct
 * thresholds, which a typed array sorts natively. The first outage builds this table, and a
 * comparator sort of 10 000 hosts in code not yet optimized takes longer than the step may.
 */
function byThresholdDescending(hosts: readonly number[], threshold: readonly number[]): number[] {
  const keys = new Float64Array(hosts.length);
  for (let k = 0; k < hosts.length; k++) keys[k] = -threshold[hosts[k]!]!;
  keys.sort();
  // Where each distinct threshold's run of hosts starts in the result.
  const start = new Map<number, number>();
  for (let k = 0; k < keys.length; k++) if (!start.has(keys[k]!)) start.set(keys[k]!, k);
  const sorted = new Array<number>(hosts.length);
  // `hosts` is in host order (classes are filled in plan order), so ties keep host order.
  for (const h of hosts) {
    const key = -threshold[h]!;
    const at = start.get(key)!;
    sorted[at] = h;
    start.set(key, at + 1);
  }
  return sorted;
}

function sameValues(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Where the depletion rate is measured from: the first reading of this battery stretch with a charge. */
export interface DepletionAnchor {
  at: number;
  charge: number;
}

/** Shortest stretch over which a depletion rate is trusted. */
const MIN_DEPLETION_WINDOW_MS = 30_000;

/**
 * Estimated seconds of runtime left at `now`: the smaller of the runtime the UPS reports and the
 * runtime the observed depletion rate leaves above the reserve charge, both counted down since the
 * reading. Undefined when the UPS gives neither.
 */
export function estimateRuntime(
  reading: UpsReading | undefined,
  readingAt: number | undefined,
  anchor: DepletionAnchor | undefined,
  reserveCharge: number,
  now: number,
): number | undefined {
  if (!reading || readingAt === undefined) return undefined;
  const elapsed = (now - readingAt) / 1000;
  let estimate: number | undefined;
  if (reading.runtime !== undefined) estimate = reading.runtime - elapsed;
  if (anchor && reading.charge !== undefined && readingAt - anchor.at >= MIN_DEPLETION_WINDOW_MS) {
    const drop = anchor.charge - reading.charge;
    if (drop > 0) {
      const ratePerSecond = drop / ((readingAt - anchor.at) / 1000);
      const byRate = Math.max(0, reading.charge - reserveCharge) / ratePerSecond - elapsed;
      estimate = estimate === undefined ? byRate : Math.min(estimate, byRate);
    }
  }
  return estimate;
}
