import { type BatteryModel, fitBatteryModel, runtimeAt } from './battery.ts';
import { budgetTable, type DurationHistory, learnedInPlanOrder, ownEntry } from './budget.ts';
import { compilePlan, triggersOf } from './compile.ts';
import type { Plan } from './plan.ts';
import type { PlanError } from './schema-errors.ts';

export interface FeasibilityOptions {
  /** Runtime (seconds) each UPS reports now, by UPS id. Wins over a battery model. */
  runtime?: Readonly<Record<string, number>>;
  /** Load (%) of each UPS now; default: `ups[].battery.load`, else its most recent sample. */
  load?: Readonly<Record<string, number>>;
  /** Battery models by UPS id; default: fitted from `ups[].battery.samples`. */
  models?: Readonly<Record<string, BatteryModel>>;
  /** Learned shutdown durations (the engine's `state.history`). */
  history?: DurationHistory;
}

export interface UpsFeasibility {
  ups: string;
  /** The longest chain of shutdowns this UPS must carry, controller last, with its length in seconds. */
  criticalPath: { seconds: number; hosts: string[] };
  load?: number;
  /** Runtime at that load on a full battery, seconds; absent when there is no way to know it. */
  runtime?: number;
  /** Whether the runtime covers the critical path; absent when the runtime is unknown. */
  feasible?: boolean;
  message: string;
}

export interface FeasibilityReport {
  /** No UPS is known to be infeasible. */
  ok: boolean;
  ups: UpsFeasibility[];
  /** Infeasible UPSes, addressed like validation errors. */
  errors: PlanError[];
  /** Settings that will probably not work out as intended. */
  warnings: PlanError[];
}

/**
 * "This plan needs N s on its critical path; at the current load the runtime is M s." Expected
 * durations are the configured ones, else learned (p95), else the shutdown timeouts (pessimistic).
 */
export function checkFeasibility(plan: Plan, options: FeasibilityOptions = {}): FeasibilityReport {
  const c = compilePlan(plan);
  const table = budgetTable(c, learnedInPlanOrder(plan, options.history ?? {}));
  const result: FeasibilityReport = { ok: true, ups: [], errors: [], warnings: [] };
  const margin = plan.settings.budget.margin;

  plan.ups.forEach((ups, u) => {
    const fed = c.hostIds
      .map((_, h) => h)
      .filter((h) => c.supplies[h]!.includes(u) && c.kinds[h] !== 'wake-only');
    let start = -1;
    for (const h of fed) if (start < 0 || table.tail[h]! > table.tail[start]!) start = h;
    const path: number[] = [];
    for (let h = start; h >= 0; ) {
      path.push(h);
      let next = -1;
      for (const w of c.waiting[h]!)
        if (c.kinds[w] !== 'wake-only' && (next < 0 || table.tail[w]! > table.tail[next]!)) next = w;
      h = next;
    }
    if (c.controller >= 0 && start >= 0 && start !== c.controller) path.push(c.controller);
    const needed = start >= 0 ? table.tail[start]! : 0;
    const hosts = path.map((h) => c.hostIds[h]!);

    const load =
      (options.load && ownEntry(options.load, ups.id)) ??
      ups.battery?.load ??
      ups.battery?.samples.at(-1)?.load;
    const model =
      (options.models && ownEntry(options.models, ups.id)) ?? fitBatteryModel(ups.battery?.samples ?? []);
    const runtime =
      (options.runtime && ownEntry(options.runtime, ups.id)) ??
      (model && load !== undefined && load > 0 ? runtimeAt(model, load) : undefined);

    const chain = hosts.length > 0 ? ` (${hosts.join(' → ')})` : '';
    const entry: UpsFeasibility = {
      ups: ups.id,
      criticalPath: { seconds: round(needed), hosts },
      message: '',
    };
    if (load !== undefined) entry.load = load;
    if (runtime === undefined) {
      entry.message =
        `${ups.id}: this plan needs ${round(needed)} s on its critical path${chain}; ` +
        'the runtime is unknown (add ups[].battery samples, or check against a live reading)';
    } else {
      entry.runtime = round(runtime);
      entry.feasible = runtime >= needed;
      const at = load !== undefined ? `at the current load (${round(load)} %) ` : '';
      entry.message =
        `${ups.id}: this plan needs ${round(needed)} s on its critical path${chain}; ` +
        `${at}the runtime is ${round(runtime)} s`;
      if (!entry.feasible) {
        result.ok = false;
        result.errors.push({
          path: `/ups/${u}`,
          message: `${entry.message}: the battery runs out ${round(needed - runtime)} s before the last host is down`,
        });
      } else if (runtime < needed + margin) {
        result.warnings.push({
          path: `/ups/${u}`,
          message: `${entry.message}: less than the ${margin} s safety margin to spare`,
        });
      }
      lateTriggerWarnings(plan, u, runtime, fed, table.tail, result.warnings);
    }
    if (ups.powerOff.enabled && c.controller >= 0 && c.feedsController[u]) {
      const halt = table.expected[c.controller]!;
      if (ups.powerOff.delay < halt)
        result.warnings.push({
          path: `/ups/${u}/powerOff/delay`,
          message:
            `${ups.id} cuts its load ${ups.powerOff.delay} s after the power-off command, but the ` +
            `controller’s host '${c.hostIds[c.controller]}' needs ~${round(halt)} s to halt`,
        });
    }
    result.ups.push(entry);
  });
  return result;
}

/** Hosts whose own triggers fire too late to finish before a full battery at this load runs out. */
function lateTriggerWarnings(
  plan: Plan,
  u: number,
  runtime: number,
  fed: number[],
  tail: number[],
  warnings: PlanError[],
): void {
  for (const h of fed) {
    const host = plan.hosts[h]!;
    let firesAt: number | undefined;
    for (const t of triggersOf(plan, host)) {
      const at =
        t.type === 'on-battery'
          ? t.after
          : t.type === 'charge-below'
            ? (runtime * (100 - t.percent)) / 100
            : t.type === 'runtime-below'
              ? runtime - t.seconds
              : t.type === 'budget'
                ? runtime - tail[h]! - (t.margin ?? plan.settings.budget.margin)
                : undefined;
      if (at !== undefined) firesAt = Math.min(firesAt ?? at, Math.max(0, at));
    }
    if (firesAt === undefined || firesAt + tail[h]! <= runtime) continue;
    warnings.push({
      path: `/hosts/${h}/shutdown/triggers`,
      message:
        `'${host.id}' starts at ~${round(firesAt)} s on battery (on ${plan.ups[u]!.id}) and then needs ` +
        `${round(tail[h]!)} s with the hosts waiting for it, but the runtime is ${round(runtime)} s`,
    });
  }
}

const round = (x: number) => Math.round(x);
