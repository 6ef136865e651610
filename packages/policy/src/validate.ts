import { Compile } from 'typebox/compile';
import { compileDefaults } from './defaults.ts';
import { type Host, type Plan, PlanSchema } from './plan.ts';
import { explainSchemaErrors, type PlanError } from './schema-errors.ts';

export type { PlanError } from './schema-errors.ts';

export type PlanValidation = { ok: true; plan: Plan } | { ok: false; errors: PlanError[] };

let compiled:
  | { check: ReturnType<typeof Compile<typeof PlanSchema>>; defaults: (v: unknown) => unknown }
  | undefined;
const planValidator = () => {
  compiled ??= { check: Compile(PlanSchema), defaults: compileDefaults(PlanSchema) };
  return compiled;
};

/**
 * Validates a plan (already parsed from YAML or JSON): the schema first, then what a schema cannot
 * say — duplicate ids, unknown references, dependency cycles (named), impossible settings.
 * Defaults are filled in on a copy; the input is never modified.
 */
export function validatePlan(input: unknown): PlanValidation {
  const copy = plainCopy(input, '');
  if (!copy.ok) return { ok: false, errors: [copy.error] };
  const validator = planValidator();
  const withDefaults = validator.defaults(copy.value);
  if (!validator.check.Check(withDefaults)) {
    const errors = explainSchemaErrors(PlanSchema, withDefaults);
    return {
      ok: false,
      errors: errors.length > 0 ? errors : [{ path: '/', message: 'does not match the plan schema' }],
    };
  }
  const plan = withDefaults as Plan;
  const errors = [...referenceErrors(plan), ...settingErrors(plan)];
  if (errors.length === 0) errors.push(...cycleErrors(plan));
  return errors.length > 0 ? { ok: false, errors } : { ok: true, plan };
}

/** Deeper than any plan: beyond it the input refers to itself (YAML aliases can do that). */
const MAX_DEPTH = 64;

/**
 * A deep copy without `undefined` properties, so that the validated plan (and every engine state
 * that embeds it) survives a JSON round trip unchanged. Refuses reference cycles instead of
 * recursing forever.
 */
function plainCopy(
  value: unknown,
  path: string,
  depth = 0,
): { ok: true; value: unknown } | { ok: false; error: PlanError } {
  if (typeof value !== 'object' || value === null) return { ok: true, value };
  if (depth > MAX_DEPTH)
    return {
      ok: false,
      error: {
        path: path || '/',
        message: 'nested too deeply: does it refer to itself (a cycle of aliases)?',
      },
    };
  if (Array.isArray(value)) {
    const out: unknown[] = new Array(value.length);
    for (let i = 0; i < value.length; i++) {
      const item = plainCopy(value[i], `${path}/${i}`, depth + 1);
      if (!item.ok) return item;
      out[i] = item.value;
    }
    return { ok: true, value: out };
  }
  const out: Record<string, unknown> = {};
  for (const key in value) {
    const v = (value as Record<string, unknown>)[key];
    if (v === undefined || !Object.hasOwn(value, key)) continue;
    const item = plainCopy(v, `${path}/${key}`, depth + 1);
    if (!item.ok) return item;
    out[key] = item.value;
  }
  return { ok: true, value: out };
}

function duplicates<T extends { id: string }>(items: readonly T[], what: string, base: string): PlanError[] {
  const seen = new Set<string>();
  const errors: PlanError[] = [];
  items.forEach((item, i) => {
    if (seen.has(item.id))
      errors.push({ path: `${base}/${i}/id`, message: `duplicate ${what} id '${item.id}'` });
    seen.add(item.id);
  });
  return errors;
}

function referenceErrors(plan: Plan): PlanError[] {
  const errors: PlanError[] = [
    ...duplicates(plan.ups, 'UPS', '/ups'),
    ...duplicates(plan.hosts, 'host', '/hosts'),
    ...duplicates(plan.groups, 'group', '/groups'),
  ];
  const upsIds = new Set(plan.ups.map((u) => u.id));
  const groupIds = new Set(plan.groups.map((g) => g.id));
  const hosts = new Map(plan.hosts.map((h) => [h.id, h]));

  const controllers = plan.hosts.filter((h) => h.kind === 'controller');
  if (controllers.length > 1) {
    errors.push({
      path: '/hosts',
      message: `only one host may be of kind 'controller' (found ${controllers.map((h) => h.id).join(', ')})`,
    });
  }
  plan.hosts.forEach((h, i) => {
    const at = `/hosts/${i}`;
    const seenDeps = new Set<string>();
    h.dependsOn.forEach((d, j) => {
      if (!hosts.has(d)) errors.push({ path: `${at}/dependsOn/${j}`, message: `unknown host '${d}'` });
      else if (d === h.id)
        errors.push({ path: `${at}/dependsOn/${j}`, message: `host '${h.id}' cannot depend on itself` });
      else if (seenDeps.has(d))
        errors.push({ path: `${at}/dependsOn/${j}`, message: `'${d}' is listed twice` });
      seenDeps.add(d);
    });
    const seenSupplies = new Set<string>();
    h.supplies.forEach((s, j) => {
      if (!upsIds.has(s)) errors.push({ path: `${at}/supplies/${j}`, message: `unknown UPS '${s}'` });
      else if (seenSupplies.has(s))
        errors.push({ path: `${at}/supplies/${j}`, message: `'${s}' is listed twice` });
      seenSupplies.add(s);
    });
    if (h.group !== undefined && !groupIds.has(h.group))
      errors.push({ path: `${at}/group`, message: `unknown group '${h.group}'` });
    const via = h.wake?.via;
    if (via !== undefined) {
      const relay = hosts.get(via);
      if (!relay) errors.push({ path: `${at}/wake/via`, message: `unknown host '${via}'` });
      else if (via === h.id)
        errors.push({ path: `${at}/wake/via`, message: `host '${h.id}' cannot relay its own wake-up` });
      else if (relay.kind !== 'agent')
        errors.push({
          path: `${at}/wake/via`,
          message: `'${via}' is a ${relay.kind} host; only agent hosts can relay Wake-on-LAN`,
        });
    }
  });
  return errors;
}

/** Settings that pass the schema but cannot work together. */
function settingErrors(plan: Plan): PlanError[] {
  const errors: PlanError[] = [];
  const upsCount = plan.ups.length;
  plan.hosts.forEach((h, i) => {
    const at = `/hosts/${i}`;
    const supplies = h.supplies.length > 0 ? h.supplies.length : upsCount;
    if (h.minSupplies > supplies)
      errors.push({
        path: `${at}/minSupplies`,
        message: `needs ${h.minSupplies} healthy supplies but is fed by ${supplies}`,
      });
    const { expectedDuration, timeout } = h.shutdown;
    if (expectedDuration !== undefined && expectedDuration > timeout)
      errors.push({
        path: `${at}/shutdown/expectedDuration`,
        message: `expected duration ${expectedDuration} s exceeds the timeout of ${timeout} s: the deadline would always pass`,
      });
    if (h.kind === 'controller' && h.dependsOn.length > 0)
      errors.push({
        path: `${at}/dependsOn`,
        message:
          'the controller’s host goes down last, so it cannot depend on other hosts ' +
          '(run the controller elsewhere, or make those hosts wake-only)',
      });
    if ((h.kind === 'nut-client' || h.kind === 'wake-only') && h.shutdown.hooks.length > 0)
      errors.push({
        path: `${at}/shutdown/hooks`,
        message: `a ${h.kind} host runs no hooks: only agent and controller hosts do`,
      });
    if (h.kind === 'wake-only' && h.shutdown.triggers.length > 0)
      errors.push({
        path: `${at}/shutdown/triggers`,
        message: 'a wake-only host is never shut down by Blackstart: it has no triggers',
      });
    const wake = h.wake;
    if (wake) {
      if ((wake.method === 'wol' || wake.method === 'relay') && wake.mac === undefined)
        errors.push({
          path: `${at}/wake/mac`,
          message: `wake method '${wake.method}' needs the host's MAC address`,
        });
      if (wake.method === 'relay' && wake.via === undefined)
        errors.push({
          path: `${at}/wake/via`,
          message: "wake method 'relay' needs 'via': the agent host that sends the packet",
        });
      if (wake.method !== 'relay' && wake.via !== undefined)
        errors.push({
          path: `${at}/wake/via`,
          message: `'via' only applies to wake method 'relay', not '${wake.method}'`,
        });
      const health = wake.health;
      if (health?.type === 'tcp' && health.host === undefined && h.address === undefined)
        errors.push({
          path: `${at}/wake/health/host`,
          message: 'a TCP health check needs a host (or the host’s address)',
        });
      if (health?.type === 'agent' && h.kind !== 'agent')
        errors.push({ path: `${at}/wake/health`, message: `a ${h.kind} host runs no agent to reconnect` });
      if (health?.type === 'nut' && h.kind !== 'nut-client')
        errors.push({
          path: `${at}/wake/health`,
          message: 'only a nut-client host logs in to the NUT server',
        });
    }
  });
  return errors;
}

/** Finds dependency cycles (and wake-relay cycles) and names them: `app → db → app`. */
function cycleErrors(plan: Plan): PlanError[] {
  const dependsOn = (h: Host): Array<[string, string]> => h.dependsOn.map((d) => [d, 'dependsOn']);
  const errors = findCycles(plan, dependsOn, 'dependency cycle');
  if (errors.length > 0 || !plan.hosts.some((h) => h.wake?.via !== undefined)) return errors;
  // A relay must be up before the host it wakes: together with dependencies that must not loop either.
  return findCycles(
    plan,
    (h) => (h.wake?.via !== undefined ? [...dependsOn(h), [h.wake.via, 'wake/via']] : dependsOn(h)),
    'restore order impossible (dependencies and wake relays form a cycle)',
  );
}

function findCycles(
  plan: Plan,
  edges: (h: Host) => ReadonlyArray<readonly [string, string]>,
  label: string,
): PlanError[] {
  const index = new Map(plan.hosts.map((h, i) => [h.id, i]));
  const byId = new Map(plan.hosts.map((h) => [h.id, h]));
  const state = new Map<string, 'visiting' | 'done'>();
  const errors: PlanError[] = [];
  const stack: string[] = [];
  // Iterative depth-first search: plans may be deep chains, recursion would overflow.
  for (const root of plan.hosts) {
    if (state.has(root.id)) continue;
    const frames: Array<{ id: string; next: number; targets: ReadonlyArray<readonly [string, string]> }> = [
      { id: root.id, next: 0, targets: edges(root) },
    ];
    state.set(root.id, 'visiting');
    stack.push(root.id);
    while (frames.length > 0) {
      const frame = frames[frames.length - 1]!;
      const targets = frame.targets;
      if (frame.next < targets.length) {
        const [dep, field] = targets[frame.next++]!;
        if (!byId.has(dep) || dep === frame.id) continue;
        const seen = state.get(dep);
        if (seen === 'visiting') {
          const cycle = [...stack.slice(stack.indexOf(dep)), dep];
          errors.push({
            path: `/hosts/${index.get(frame.id)}/${field}`,
            message: `${label}: ${cycle.join(' → ')}`,
          });
        } else if (seen === undefined) {
          state.set(dep, 'visiting');
          stack.push(dep);
          frames.push({ id: dep, next: 0, targets: edges(byId.get(dep)!) });
        }
      } else {
        state.set(frame.id, 'done');
        stack.pop();
        frames.pop();
      }
    }
  }
  return errors;
}
