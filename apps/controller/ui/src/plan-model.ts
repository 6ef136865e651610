// The plan as the editor holds it: the JSON the server validates (packages/policy PlanSchema), kept
// loose where the editor has no dedicated control (groups, battery samples), and helpers over it.
import type { PlanError } from './types.ts';

export type Trigger =
  | { type: 'on-battery'; after: number }
  | { type: 'charge-below'; percent: number }
  | { type: 'runtime-below'; seconds: number }
  | { type: 'low-battery' }
  | { type: 'fsd' }
  | { type: 'comm-lost'; after: number }
  | { type: 'budget'; margin?: number };

export type Hook =
  | { type: 'command'; name?: string; run: string; timeout?: number }
  | { type: 'docker-stop'; name?: string; projects?: string[]; timeout?: number }
  | {
      type: 'libvirt-shutdown';
      name?: string;
      domains?: string[];
      timeout?: number;
      destroyAfterTimeout?: boolean;
    };

export type HealthCheck =
  | { type: 'agent' }
  | { type: 'nut' }
  | { type: 'tcp'; host?: string; port: number }
  | { type: 'none' };

export interface Wake {
  method: 'wol' | 'relay' | 'power-on' | 'none';
  mac?: string;
  broadcast?: string;
  via?: string;
  health?: HealthCheck;
  timeout?: number;
  retries?: number;
}

export interface PlanHost {
  id: string;
  name?: string;
  kind: 'agent' | 'nut-client' | 'wake-only' | 'controller';
  address?: string;
  group?: string;
  dependsOn: string[];
  supplies: string[];
  minSupplies?: number;
  shutdown: {
    triggers: Trigger[];
    hooks: Hook[];
    timeout?: number;
    expectedDuration?: number;
    fallback?: 'proceed' | 'hold';
    pointOfNoReturn?: 'triggered' | 'commanded' | 'powering-off';
  };
  wake?: Wake;
}

export interface PlanUps {
  id: string;
  name?: string;
  powerOff: { enabled?: boolean; delay?: number; offFor?: number };
  battery?: { load?: number; samples?: unknown[] };
}

export interface PlanDraft {
  ups: PlanUps[];
  hosts: PlanHost[];
  groups: Array<{ id: string; [key: string]: unknown }>;
  settings: {
    debounce?: number;
    mainsBackAfter?: number;
    staleAfter?: number;
    defaultTriggers?: Trigger[];
    pointOfNoReturn?: 'triggered' | 'commanded' | 'powering-off';
    budget?: { margin?: number; reserveCharge?: number };
  };
  restore: {
    enabled?: boolean;
    mainsStableFor?: number;
    minCharge?: number;
    onWakeFailure?: 'continue' | 'skip-dependents';
  };
}

/** Fills the containers the editor writes into, so that every control has a place to put its value. */
export function normalise(input: unknown): PlanDraft {
  const plan = structuredClone(input) as Partial<PlanDraft>;
  const draft: PlanDraft = {
    ups: plan.ups ?? [],
    hosts: plan.hosts ?? [],
    groups: plan.groups ?? [],
    settings: plan.settings ?? {},
    restore: plan.restore ?? {},
  };
  for (const u of draft.ups) u.powerOff ??= {};
  for (const h of draft.hosts) {
    h.dependsOn ??= [];
    h.supplies ??= [];
    h.shutdown ??= { triggers: [], hooks: [] };
    h.shutdown.triggers ??= [];
    h.shutdown.hooks ??= [];
  }
  draft.settings.budget ??= {};
  return draft;
}

/**
 * Shutdown steps implied by the dependencies: a host goes in the step after every host that depends
 * on it (those go down first). Hosts caught in a cycle are returned apart.
 */
export function shutdownSteps(hosts: PlanHost[]): { steps: PlanHost[][]; cyclic: PlanHost[] } {
  const dependents = new Map<string, string[]>();
  for (const h of hosts) for (const d of h.dependsOn) dependents.set(d, [...(dependents.get(d) ?? []), h.id]);
  const rank = new Map<string, number>();
  const visiting = new Set<string>();
  const cyclic = new Set<string>();
  const rankOf = (id: string): number => {
    const known = rank.get(id);
    if (known !== undefined) return known;
    if (visiting.has(id)) {
      cyclic.add(id);
      return 0;
    }
    visiting.add(id);
    let r = 0;
    for (const dependent of dependents.get(id) ?? []) r = Math.max(r, rankOf(dependent) + 1);
    visiting.delete(id);
    rank.set(id, r);
    return r;
  };
  for (const h of hosts) rankOf(h.id);
  // Everything on a cycle (not only where the search closed it) is cyclic.
  for (const h of hosts) if (reaches(hosts, h.id, h.id)) cyclic.add(h.id);
  const steps: PlanHost[][] = [];
  for (const h of hosts) {
    if (cyclic.has(h.id)) continue;
    const r = rank.get(h.id) ?? 0;
    steps[r] = [...(steps[r] ?? []), h];
  }
  return { steps: steps.filter(Boolean), cyclic: hosts.filter((h) => cyclic.has(h.id)) };
}

/** Whether `to` can be reached from `from` along dependsOn edges (one step at least). */
export function reaches(hosts: PlanHost[], from: string, to: string): boolean {
  const byId = new Map(hosts.map((h) => [h.id, h]));
  const seen = new Set<string>();
  const stack = [...(byId.get(from)?.dependsOn ?? [])];
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (id === to) return true;
    if (seen.has(id)) continue;
    seen.add(id);
    stack.push(...(byId.get(id)?.dependsOn ?? []));
  }
  return false;
}

/** Errors at a path, and (with `deep`) below it. */
export function errorsAt(errors: PlanError[], path: string, deep = false): PlanError[] {
  return errors.filter((e) => e.path === path || (deep && e.path.startsWith(`${path}/`)));
}

export const TRIGGER_TYPES: Array<[Trigger['type'], string]> = [
  ['on-battery', 'on battery for'],
  ['charge-below', 'charge at or below'],
  ['runtime-below', 'runtime at or below'],
  ['low-battery', 'UPS reports low battery'],
  ['fsd', 'UPS raises FSD'],
  ['comm-lost', 'UPS data lost on battery for'],
  ['budget', 'runtime budget (latest safe moment)'],
];

export function newTrigger(type: Trigger['type']): Trigger {
  switch (type) {
    case 'on-battery':
      return { type, after: 120 };
    case 'charge-below':
      return { type, percent: 50 };
    case 'runtime-below':
      return { type, seconds: 300 };
    case 'comm-lost':
      return { type, after: 60 };
    case 'budget':
      return { type };
    default:
      return { type };
  }
}

export function newHook(type: Hook['type']): Hook {
  switch (type) {
    case 'command':
      return { type, run: '' };
    case 'docker-stop':
      return { type };
    case 'libvirt-shutdown':
      return { type };
  }
}
