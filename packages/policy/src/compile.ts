import { type HostTable, idleTable } from './host-table.ts';
import type { HealthCheck, Host, HostKind, Plan, PointOfNoReturn, Trigger, WakeMethod } from './plan.ts';

/** How a host is brought back, with every default resolved. */
export interface ResolvedWake {
  method: WakeMethod;
  mac?: string;
  broadcast?: string;
  /** Index of the relay host. */
  via?: number;
  health: HealthCheck;
  timeoutMs: number;
  retries: number;
}

/**
 * Hosts that share the same triggers, supplies and minimum supplies fire together: triggers are
 * evaluated once per class, not once per host.
 */
export interface TriggerClass {
  /** Triggers other than `budget`. */
  triggers: Trigger[];
  /** Margin of the class's budget trigger, seconds, if it has one. */
  budgetMargin?: number;
  supplies: number[];
  minSupplies: number;
  hosts: number[];
}

/** Everything the engine needs from a plan, as flat arrays indexed by host and UPS position. */
export interface CompiledPlan {
  plan: Plan;
  hostIds: string[];
  hostIndex: Map<string, number>;
  kinds: HostKind[];
  /** agent or nut-client: hosts Blackstart commands (the controller is handled apart). */
  managed: boolean[];
  /** Index of the controller's host, or -1. */
  controller: number;
  deps: number[][];
  dependents: number[][];
  /**
   * For each host, the commanded hosts that must be down before it: its dependents, seen through
   * wake-only hosts (which Blackstart never shuts down and so never wait for).
   */
  blockers: number[][];
  /** Inverse of `blockers`: the hosts waiting for this one to be down. */
  waiting: number[][];
  supplies: number[][];
  minSupplies: number[];
  upsIds: string[];
  upsIndex: Map<string, number>;
  /** For each UPS, the managed hosts it feeds (the controller excluded). */
  fedManaged: number[][];
  /** For each UPS, whether it feeds the controller's host. */
  feedsController: boolean[];
  classes: TriggerClass[];
  /** Trigger class of each host; -1 for wake-only hosts, which never trigger. */
  classOf: number[];
  classesBySource: number[][];
  /** Dependencies before dependents. */
  topo: number[];
  pointOfNoReturn: PointOfNoReturn[];
  timeoutMs: number[];
  hold: boolean[];
  wake: ResolvedWake[];
  /** Hosts that must be up before this one is woken: its dependencies and its wake relay. */
  restoreDeps: number[][];
  restoreDependents: number[][];
  /**
   * The host table at the start of an outage that carries nothing over: every host idle, waiting
   * for its blockers. Shared by every such outage; the engine copies a chunk before changing it.
   */
  idleTable: HostTable;
  /** `must go down before '<id>'`: why a host that this one pulled down was triggered. */
  precedeReasons: string[];
}

const cache = new WeakMap<Plan, CompiledPlan>();

/** Compiles a valid plan once per plan object (a plan restored from JSON compiles again, identically). */
export function compilePlan(plan: Plan): CompiledPlan {
  let compiled = cache.get(plan);
  if (!compiled) {
    compiled = build(plan);
    cache.set(plan, compiled);
  }
  return compiled;
}

export function triggersOf(plan: Plan, host: Host): Trigger[] {
  if (host.shutdown.triggers.length > 0) return host.shutdown.triggers;
  const group = host.group !== undefined ? plan.groups.find((g) => g.id === host.group) : undefined;
  if (group && group.triggers.length > 0) return group.triggers;
  return plan.settings.defaultTriggers;
}

function build(plan: Plan): CompiledPlan {
  const n = plan.hosts.length;
  const hostIds = plan.hosts.map((h) => h.id);
  const hostIndex = new Map(hostIds.map((id, i) => [id, i]));
  const upsIds = plan.ups.map((u) => u.id);
  const upsIndex = new Map(upsIds.map((id, i) => [id, i]));
  const groups = new Map(plan.groups.map((g) => [g.id, g]));
  const kinds = plan.hosts.map((h) => h.kind);
  const managed = kinds.map((k) => k === 'agent' || k === 'nut-client');
  const controller = kinds.indexOf('controller');
  const allUps = upsIds.map((_, i) => i);

  const deps = plan.hosts.map((h) => h.dependsOn.map((d) => hostIndex.get(d)!));
  const dependents: number[][] = hostIds.map(() => []);
  deps.forEach((ds, i) => {
    for (const d of ds) dependents[d]!.push(i);
  });

  // Commanded dependents, looking through wake-only hosts.
  const blockers = hostIds.map((_, i) => {
    if (kinds[i] === 'wake-only') return [];
    const direct = dependents[i]!;
    // Only wake-only dependents need a search; most hosts have none.
    if (!direct.some((d) => kinds[d] === 'wake-only')) return direct.slice();
    const found = new Set<number>();
    const seen = new Set<number>();
    const stack = [...dependents[i]!];
    while (stack.length > 0) {
      const d = stack.pop()!;
      if (seen.has(d)) continue;
      seen.add(d);
      if (kinds[d] === 'wake-only') stack.push(...dependents[d]!);
      else found.add(d);
    }
    return [...found].sort((a, b) => a - b);
  });
  const waiting: number[][] = hostIds.map(() => []);
  blockers.forEach((bs, i) => {
    for (const b of bs) waiting[b]!.push(i);
  });

  const supplies = plan.hosts.map((h) =>
    h.supplies.length > 0 ? h.supplies.map((s) => upsIndex.get(s)!) : allUps,
  );
  const minSupplies = plan.hosts.map((h) => h.minSupplies);
  const fedManaged: number[][] = upsIds.map(() => []);
  const feedsController = upsIds.map(() => false);
  supplies.forEach((ss, i) => {
    for (const s of ss) {
      if (managed[i]) fedManaged[s]!.push(i);
      if (i === controller) feedsController[s] = true;
    }
  });

  // Trigger classes.
  const classes: TriggerClass[] = [];
  const classKeys = new Map<string, number>();
  const classOf = plan.hosts.map((h, i) => {
    if (h.kind === 'wake-only') return -1;
    const triggers = triggersOf(plan, h);
    const key = JSON.stringify([triggers, supplies[i], minSupplies[i]]);
    let c = classKeys.get(key);
    if (c === undefined) {
      c = classes.length;
      classKeys.set(key, c);
      const budget = triggers.find((t) => t.type === 'budget');
      classes.push({
        triggers: triggers.filter((t) => t.type !== 'budget'),
        ...(budget && { budgetMargin: budget.margin ?? plan.settings.budget.margin }),
        supplies: supplies[i]!,
        minSupplies: minSupplies[i]!,
        hosts: [],
      });
    }
    classes[c]!.hosts.push(i);
    return c;
  });
  const classesBySource: number[][] = upsIds.map(() => []);
  classes.forEach((c, ci) => {
    for (const s of c.supplies) classesBySource[s]!.push(ci);
  });

  const topo = topologicalOrder(n, deps, dependents);

  const pointOfNoReturn = plan.hosts.map(
    (h) =>
      h.shutdown.pointOfNoReturn ??
      (h.group !== undefined ? groups.get(h.group)?.pointOfNoReturn : undefined) ??
      plan.settings.pointOfNoReturn,
  );
  const wake = plan.hosts.map((h): ResolvedWake => {
    const w = h.wake;
    const health: HealthCheck =
      w?.health ??
      (h.kind === 'agent' ? { type: 'agent' } : h.kind === 'nut-client' ? { type: 'nut' } : { type: 'none' });
    return {
      method: w?.method ?? 'power-on',
      ...(w?.mac !== undefined && { mac: w.mac }),
      ...(w?.broadcast !== undefined && { broadcast: w.broadcast }),
      ...(w?.via !== undefined && { via: hostIndex.get(w.via)! }),
      health: health.type === 'tcp' && health.host === undefined ? { ...health, host: h.address! } : health,
      timeoutMs: (w?.timeout ?? 300) * 1000,
      retries: w?.retries ?? 2,
    };
  });
  const restoreDeps = deps.map((ds, i) => {
    const via = wake[i]!.via;
    return via !== undefined && !ds.includes(via) ? [...ds, via] : ds;
  });
  const restoreDependents: number[][] = hostIds.map(() => []);
  restoreDeps.forEach((ds, i) => {
    for (const d of ds) restoreDependents[d]!.push(i);
  });

  return {
    plan,
    hostIds,
    hostIndex,
    kinds,
    managed,
    controller,
    deps,
    dependents,
    blockers,
    waiting,
    supplies,
    minSupplies,
    upsIds,
    upsIndex,
    fedManaged,
    feedsController,
    classes,
    classOf,
    classesBySource,
    topo,
    pointOfNoReturn,
    timeoutMs: plan.hosts.map((h) => h.shutdown.timeout * 1000),
    hold: plan.hosts.map((h) => h.shutdown.fallback === 'hold'),
    wake,
    restoreDeps,
    restoreDependents,
    idleTable: idleTable(n, (h) => blockers[h]!.length),
    precedeReasons: hostIds.map((id) => `must go down before '${id}'`),
  };
}

/** Kahn's algorithm, lowest index first among ready hosts: dependencies come before dependents. */
function topologicalOrder(n: number, deps: number[][], dependents: number[][]): number[] {
  const remaining = deps.map((d) => d.length);
  const order: number[] = [];
  const ready: number[] = [];
  for (let i = n - 1; i >= 0; i--) if (remaining[i] === 0) ready.push(i);
  while (ready.length > 0) {
    const i = ready.pop()!;
    order.push(i);
    for (const d of dependents[i]!) if (--remaining[d]! === 0) ready.push(d);
  }
  return order;
}

/** Derived, read-only indexes over a valid plan, by host id. */
export interface PlanIndex {
  hosts: ReadonlyMap<string, Host>;
  /** For each host, the hosts that depend on it (they must be down before it goes down). */
  dependents: ReadonlyMap<string, readonly string[]>;
  /** For each host, the UPS ids feeding it. */
  supplies: ReadonlyMap<string, readonly string[]>;
}

export function indexPlan(plan: Plan): PlanIndex {
  const c = compilePlan(plan);
  return {
    hosts: new Map(plan.hosts.map((h) => [h.id, h])),
    dependents: new Map(c.hostIds.map((id, i) => [id, c.dependents[i]!.map((d) => c.hostIds[d]!)])),
    supplies: new Map(c.hostIds.map((id, i) => [id, c.supplies[i]!.map((u) => c.upsIds[u]!)])),
  };
}
