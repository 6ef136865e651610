import Value from 'typebox/value';
import { type Host, type Plan, PlanSchema } from './plan.ts';

/** A validation error addressed by JSON pointer into the plan, e.g. `/hosts/2/dependsOn/0`. */
export interface PlanError {
  path: string;
  message: string;
}

export type PlanValidation = { ok: true; plan: Plan } | { ok: false; errors: PlanError[] };

/**
 * Validates a plan (already parsed from YAML or JSON): the schema first, then what a schema
 * cannot say — duplicate ids, unknown references and dependency cycles. Defaults are filled in.
 */
export function validatePlan(input: unknown): PlanValidation {
  const withDefaults = Value.Default(PlanSchema, Value.Clone(input));
  if (!Value.Check(PlanSchema, withDefaults)) {
    return { ok: false, errors: schemaErrors(withDefaults) };
  }
  const plan = withDefaults as Plan;
  const errors = [...referenceErrors(plan), ...cycleErrors(plan)];
  return errors.length > 0 ? { ok: false, errors } : { ok: true, plan };
}

function schemaErrors(value: unknown): PlanError[] {
  const seen = new Set<string>();
  const errors: PlanError[] = [];
  for (const e of Value.Errors(PlanSchema, value)) {
    // A union reports one error per branch; the first error at a path is the useful one.
    const path = e.instancePath || '/';
    if (seen.has(path)) continue;
    seen.add(path);
    errors.push({ path, message: e.message });
  }
  return errors;
}

function referenceErrors(plan: Plan): PlanError[] {
  const errors: PlanError[] = [];
  const upsIds = new Set<string>();
  plan.ups.forEach((u, i) => {
    if (upsIds.has(u.id)) errors.push({ path: `/ups/${i}/id`, message: `duplicate UPS id '${u.id}'` });
    upsIds.add(u.id);
  });
  const hostIds = new Set<string>();
  plan.hosts.forEach((h, i) => {
    if (hostIds.has(h.id)) errors.push({ path: `/hosts/${i}/id`, message: `duplicate host id '${h.id}'` });
    hostIds.add(h.id);
  });
  const controllers = plan.hosts.filter((h) => h.kind === 'controller');
  if (controllers.length > 1) {
    errors.push({
      path: '/hosts',
      message: `only one host may be of kind 'controller' (found ${controllers.map((h) => h.id).join(', ')})`,
    });
  }
  plan.hosts.forEach((h, i) => {
    h.dependsOn.forEach((d, j) => {
      if (!hostIds.has(d))
        errors.push({ path: `/hosts/${i}/dependsOn/${j}`, message: `unknown host '${d}'` });
      else if (d === h.id)
        errors.push({
          path: `/hosts/${i}/dependsOn/${j}`,
          message: `host '${h.id}' cannot depend on itself`,
        });
    });
    h.supplies.forEach((s, j) => {
      if (!upsIds.has(s)) errors.push({ path: `/hosts/${i}/supplies/${j}`, message: `unknown UPS '${s}'` });
    });
  });
  return errors;
}

/** Finds dependency cycles and names them: `app → db → app`. */
function cycleErrors(plan: Plan): PlanError[] {
  const index = new Map(plan.hosts.map((h, i) => [h.id, i]));
  const byId = new Map(plan.hosts.map((h) => [h.id, h]));
  const state = new Map<string, 'visiting' | 'done'>();
  const errors: PlanError[] = [];
  const stack: string[] = [];
  const visit = (id: string): void => {
    state.set(id, 'visiting');
    stack.push(id);
    for (const dep of byId.get(id)?.dependsOn ?? []) {
      if (!byId.has(dep) || dep === id) continue;
      if (state.get(dep) === 'visiting') {
        const cycle = [...stack.slice(stack.indexOf(dep)), dep];
        errors.push({
          path: `/hosts/${index.get(id)}/dependsOn`,
          message: `dependency cycle: ${cycle.join(' → ')}`,
        });
      } else if (!state.has(dep)) {
        visit(dep);
      }
    }
    stack.pop();
    state.set(id, 'done');
  };
  for (const h of plan.hosts) if (!state.has(h.id)) visit(h.id);
  return errors;
}

/** Derived, read-only indexes over a valid plan. Computed once per plan object. */
export interface PlanIndex {
  hosts: ReadonlyMap<string, Host>;
  /** For each host, the hosts that depend on it (they must be down before it goes down). */
  dependents: ReadonlyMap<string, readonly string[]>;
  /** For each host, the UPS ids feeding it. */
  supplies: ReadonlyMap<string, readonly string[]>;
}

const indexes = new WeakMap<Plan, PlanIndex>();

export function indexPlan(plan: Plan): PlanIndex {
  let index = indexes.get(plan);
  if (index) return index;
  const dependents = new Map<string, string[]>(plan.hosts.map((h) => [h.id, []]));
  for (const h of plan.hosts) for (const d of h.dependsOn) dependents.get(d)?.push(h.id);
  const allUps = plan.ups.map((u) => u.id);
  index = {
    hosts: new Map(plan.hosts.map((h) => [h.id, h])),
    dependents,
    supplies: new Map(plan.hosts.map((h) => [h.id, h.supplies.length > 0 ? h.supplies : allUps])),
  };
  indexes.set(plan, index);
  return index;
}
