import {
  type EngineState,
  learnedDurations,
  type Plan,
  type PlanError,
  runtimeAt,
  simulate,
  validatePlan,
  validateScenario,
} from '@blackstart/policy';
import { describeSimulationEntry } from '../cli/plan.ts';
import { type Config, checkPlanAgainstConfig } from '../config.ts';

export interface WhatIfRequest {
  plan: unknown;
  /** Load (%) per UPS to simulate at; default: what each UPS reports now. */
  load?: Record<string, number>;
}

export type WhatIfResult =
  | { ok: false; errors: PlanError[] }
  | {
      ok: true;
      ups: Array<{
        id: string;
        load: number | null;
        charge: number;
        /** Seconds of battery from mains failure at this load and charge, when known. */
        runtimeSeconds: number | null;
        lastHostDownAt: number | null;
        poweredOffAt: number | null;
        depletedAt: number | null;
        /** Battery left (s) when the last host it feeds is down; negative: the plan does not fit. */
        marginSeconds: number | null;
      }>;
      hosts: ReturnType<typeof simulate>['hosts'];
      crashes: Array<{ host: string; at: number }>;
      timeline: Array<{ at: number; subject: string; text: string }>;
    };

/**
 * "What if mains failed now?": the plan (saved or not) simulated from each UPS's current charge and
 * load until every host is down, with the runtime left at the end. The current reading's runtime
 * becomes a battery sample, so the prediction follows the real UPS rather than only the plan's samples.
 */
export function whatIf(
  request: WhatIfRequest,
  context: { config: Config; engine: EngineState },
): WhatIfResult {
  const checked = validatePlan(request.plan);
  if (!checked.ok) return { ok: false, errors: checked.errors };
  const plan: Plan = checked.plan;
  const fits = checkPlanAgainstConfig(plan, context.config);
  if (fits.length > 0) return { ok: false, errors: fits };

  const loadErrors: PlanError[] = [];
  for (const [id, load] of Object.entries(request.load ?? {}))
    if (!plan.ups.some((u) => u.id === id))
      loadErrors.push({ path: `/load/${id}`, message: `no UPS '${id}' in the plan` });
    else if (!(load > 0 && load <= 200))
      loadErrors.push({ path: `/load/${id}`, message: 'load must be a percentage above 0 and at most 200' });
  if (loadErrors.length > 0) return { ok: false, errors: loadErrors };

  const conditions = new Map(
    plan.ups.map((u) => {
      const reading = context.engine.sources[u.id]?.reading;
      const load = request.load?.[u.id] ?? reading?.load ?? u.battery?.load ?? null;
      const charge = reading?.charge ?? 100;
      const runtime = reading?.runtime;
      return [u.id, { load, charge, runtime }] as const;
    }),
  );
  const scenario = validateScenario(
    {
      ups: Object.fromEntries(
        [...conditions].map(([id, c]) => [
          id,
          {
            ...(c.load !== null && { load: c.load }),
            charge: c.charge,
            ...(c.runtime !== undefined &&
              c.load !== null &&
              c.load > 0 &&
              c.charge > 5 && { samples: [{ load: c.load, runtime: c.runtime, charge: c.charge }] }),
          },
        ]),
      ),
    },
    plan,
  );
  if (!scenario.ok) return { ok: false, errors: scenario.errors };
  const result = simulate(plan, scenario.scenario, { history: learnedDurations(context.engine) });

  const downAt = new Map(result.hosts.map((h) => [h.host, h.downAt]));
  return {
    ok: true,
    ups: result.ups.map((u) => {
      const c = conditions.get(u.ups)!;
      const runtimeSeconds =
        u.model && c.load !== null ? (runtimeAt(u.model, c.load) * c.charge) / 100 : null;
      const fed = plan.hosts.filter(
        (h) => h.kind !== 'wake-only' && (h.supplies.length === 0 || h.supplies.includes(u.ups)),
      );
      const downs = fed.map((h) => downAt.get(h.id));
      const lastHostDownAt =
        downs.every((d) => d !== undefined) && downs.length > 0 ? Math.max(...downs) : null;
      const end = u.depletedAt ?? runtimeSeconds;
      return {
        id: u.ups,
        load: c.load,
        charge: c.charge,
        runtimeSeconds,
        lastHostDownAt,
        poweredOffAt: u.poweredOffAt ?? null,
        depletedAt: u.depletedAt ?? null,
        marginSeconds: end !== null && lastHostDownAt !== null ? end - lastHostDownAt : null,
      };
    }),
    hosts: result.hosts,
    crashes: result.crashes,
    timeline: result.timeline.map((entry) => {
      const [subject, text] = describeSimulationEntry(entry);
      return { at: entry.at, subject, text };
    }),
  };
}
