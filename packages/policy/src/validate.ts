import type { TSchema } from 'typebox';
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
    return { ok: false, errors: schemaErrors(PlanSchema, withDefaults) };
  }
  const plan = withDefaults as Plan;
  const errors = [...referenceErrors(plan), ...cycleErrors(plan)];
  return errors.length > 0 ? { ok: false, errors } : { ok: true, plan };
}

type SchemaError = ReturnType<typeof Value.Errors>[number];

/**
 * Schema errors a person can act on, one per path. TypeBox reports every branch of a union; for a
 * union of objects told apart by `type`, only the branch the value names is kept (or, when `type`
 * names none, one error listing the allowed types).
 */
export function schemaErrors(schema: TSchema, value: unknown): PlanError[] {
  let errors = [...Value.Errors(schema, value)];
  // Unions nest (a trigger inside a host inside the plan); resolve the outermost first.
  for (let level = 0; level < 8; level++) {
    const groups = new Map<string, Array<{ error: SchemaError; branch: number; path: string }>>();
    for (const error of errors) {
      const at = unionLocation(error, level);
      if (!at) continue;
      const group = groups.get(at.key) ?? [];
      group.push({ error, branch: at.branch, path: at.path });
      groups.set(at.key, group);
    }
    if (groups.size === 0) break;
    for (const group of groups.values()) {
      const path = group[0]!.path;
      const typeMismatch = group.filter(
        (m) => m.error.keyword === 'const' && m.error.instancePath === `${path}/type`,
      );
      if (typeMismatch.length === 0) continue;
      const mismatched = new Set(typeMismatch.map((m) => m.branch));
      const matching = group.find((m) => !mismatched.has(m.branch))?.branch;
      const drop = new Set(group.filter((m) => m.branch !== matching).map((m) => m.error));
      errors = errors.filter((e) => !drop.has(e));
      if (matching === undefined) {
        errors.push({
          ...typeMismatch[0]!.error,
          message: `must be one of: ${allowedTypes(schema, typeMismatch[0]!.error, level).join(', ')}`,
        });
      }
    }
  }
  // A union's "matches no branch" and an object's "has additional properties" say less than the
  // error inside them that names the field.
  errors = errors.filter(
    (e) =>
      (e.keyword !== 'anyOf' && e.keyword !== 'additionalProperties') ||
      !errors.some((o) => o.instancePath.startsWith(`${e.instancePath}/`)),
  );
  const seen = new Set<string>();
  const out: PlanError[] = [];
  for (const e of errors) {
    const path = e.instancePath || '/';
    if (seen.has(path)) continue;
    seen.add(path);
    // An additional property is checked against the schema `false`: say what that means.
    out.push({ path, message: e.keyword === 'boolean' ? 'is not a known field' : e.message });
  }
  return out;
}

/** The `type` constants of the union an error came from, read from the schema itself (TypeBox stops reporting after a few branches). */
function allowedTypes(schema: TSchema, error: SchemaError, level: number): string[] {
  const segments = error.schemaPath.replace(/^#\/?/, '').split('/');
  let index = -1;
  for (let seen = 0; seen <= level; seen++) index = segments.indexOf('anyOf', index + 1);
  let node: unknown = schema;
  for (const segment of segments.slice(0, index + 1))
    node = (node as Record<string, unknown> | undefined)?.[segment];
  const branches = Array.isArray(node)
    ? (node as Array<{ properties?: { type?: { const?: unknown } } }>)
    : [];
  return branches.map((b) => b.properties?.type?.const).filter((c): c is string => typeof c === 'string');
}

/**
 * Where the `level`-th union on an error's schema path applies: the instance path of the union's
 * value (derived by walking `properties`/`items` steps), which branch the error came from, and a key
 * identifying that union at that value.
 */
function unionLocation(
  error: SchemaError,
  level: number,
): { key: string; path: string; branch: number } | undefined {
  const segments = error.schemaPath.replace(/^#\/?/, '').split('/');
  let index = -1;
  for (let seen = 0; seen <= level; seen++) {
    index = segments.indexOf('anyOf', index + 1);
    if (index < 0) return undefined;
  }
  let depth = 0;
  for (let i = 0; i < index; i++) {
    if (segments[i] === 'properties') {
      depth++;
      i++;
    } else if (segments[i] === 'items' || segments[i] === 'additionalProperties') {
      depth++;
    }
  }
  const instance = error.instancePath.split('/').slice(1, 1 + depth);
  const path = instance.length > 0 ? `/${instance.join('/')}` : '';
  return { key: `${segments.slice(0, index).join('/')}@${path}`, path, branch: Number(segments[index + 1]) };
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
