import fc from 'fast-check';
import {
  type EngineAction,
  type EngineEvent,
  type EngineState,
  type HostStep,
  initialState,
  nextWakeAt,
  type Plan,
  step,
  type UpsReading,
  validatePlan,
} from '../src/index.ts';

// ---- random plans -------------------------------------------------------------------------

/** true with odds `yes` to `no`. */
const weighted = (yes: number, no: number): fc.Arbitrary<boolean> =>
  fc.oneof({ weight: yes, arbitrary: fc.constant(true) }, { weight: no, arbitrary: fc.constant(false) });

const mac = (i: number) => `02:00:00:00:00:${(i % 256).toString(16).padStart(2, '0')}`;

const triggerArb = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ type: fc.constant('on-battery'), after: fc.integer({ min: 0, max: 120 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ type: fc.constant('charge-below'), percent: fc.integer({ min: 0, max: 100 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ type: fc.constant('runtime-below'), seconds: fc.integer({ min: 0, max: 1500 }) }),
  },
  { weight: 2, arbitrary: fc.constant({ type: 'low-battery' }) },
  { weight: 1, arbitrary: fc.constant({ type: 'fsd' }) },
  {
    weight: 2,
    arbitrary: fc.record({ type: fc.constant('comm-lost'), after: fc.integer({ min: 0, max: 120 }) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      type: fc.constant('budget'),
      margin: fc.option(fc.integer({ min: 0, max: 120 }), { nil: undefined }),
    }),
  },
);
const triggersArb = fc.array(triggerArb, { maxLength: 3 });
const ponrArb = fc.constantFrom('triggered', 'commanded', 'powering-off');

interface HostDraft {
  kind: string;
  deps: number[];
  supplies: number[];
  minSupplies: number;
  triggers: unknown[];
  group: number | null;
  timeout: number;
  expected: number | null;
  fallback: string;
  ponr: string | null;
  wake: { method: string; health: string; timeout: number; retries: number; via: number } | null;
}

/** Valid plans over random dependency graphs (edges point to lower indexes, so no cycles). */
export const planArb: fc.Arbitrary<Plan> = fc
  .record({
    ups: fc.array(fc.record({ enabled: fc.boolean(), delay: fc.integer({ min: 0, max: 60 }) }), {
      minLength: 1,
      maxLength: 3,
    }),
    hosts: fc.array(
      fc.record({
        kind: fc.constantFrom('agent', 'agent', 'agent', 'nut-client', 'wake-only', 'controller'),
        deps: fc.array(fc.nat(), { maxLength: 3 }),
        supplies: fc.array(fc.nat(), { maxLength: 3 }),
        minSupplies: fc.integer({ min: 1, max: 3 }),
        triggers: triggersArb,
        group: fc.option(fc.nat({ max: 1 })),
        timeout: fc.integer({ min: 1, max: 200 }),
        expected: fc.option(fc.integer({ min: 0, max: 200 })),
        fallback: fc.constantFrom('proceed', 'proceed', 'hold'),
        ponr: fc.option(ponrArb),
        wake: fc.option(
          fc.record({
            method: fc.constantFrom('wol', 'relay', 'power-on', 'none'),
            health: fc.constantFrom('default', 'tcp', 'none'),
            timeout: fc.integer({ min: 1, max: 200 }),
            retries: fc.integer({ min: 0, max: 2 }),
            via: fc.nat(),
          }),
        ),
      }),
      { minLength: 1, maxLength: 9 },
    ),
    groups: fc.array(triggersArb, { minLength: 2, maxLength: 2 }),
    settings: fc.record({
      debounce: fc.integer({ min: 0, max: 10 }),
      mainsBackAfter: fc.integer({ min: 0, max: 20 }),
      staleAfter: fc.integer({ min: 5, max: 60 }),
      pointOfNoReturn: ponrArb,
      margin: fc.integer({ min: 0, max: 120 }),
      defaultTriggers: fc.array(triggerArb, { minLength: 1, maxLength: 2 }),
    }),
    restore: fc.record({
      enabled: weighted(4, 1),
      mainsStableFor: fc.integer({ min: 0, max: 60 }),
      minCharge: fc.integer({ min: 0, max: 60 }),
      onWakeFailure: fc.constantFrom('continue', 'skip-dependents'),
    }),
  })
  .map((raw) => {
    const upsIds = raw.ups.map((_, i) => `u${i}`);
    let controllerSeen = false;
    const hosts = (raw.hosts as HostDraft[]).map((h, i) => {
      let kind = h.kind;
      if (kind === 'controller') {
        if (controllerSeen) kind = 'agent';
        controllerSeen = true;
      }
      const deps = kind === 'controller' || i === 0 ? [] : [...new Set(h.deps.map((d) => d % i))];
      const supplies = [...new Set(h.supplies.map((s) => s % upsIds.length))];
      const fed = supplies.length > 0 ? supplies.length : upsIds.length;
      const host: Record<string, unknown> = {
        id: `h${i}`,
        kind,
        dependsOn: deps.map((d) => `h${d}`),
        supplies: supplies.map((s) => upsIds[s]),
        minSupplies: Math.min(h.minSupplies, fed),
        shutdown: {
          triggers: kind === 'wake-only' ? [] : h.triggers,
          timeout: h.timeout,
          ...(h.expected !== null && { expectedDuration: Math.min(h.expected, h.timeout) }),
          fallback: h.fallback,
          ...(h.ponr !== null && { pointOfNoReturn: h.ponr }),
        },
        ...(h.group !== null && kind !== 'wake-only' && { group: `g${h.group}` }),
      };
      if (h.wake) {
        const w = h.wake;
        // A relay must be an earlier agent host (earlier keeps dependencies and relays acyclic).
        const relays = Array.from({ length: i }, (_, j) => j).filter((j) => raw.hosts[j]!.kind === 'agent');
        const method = w.method === 'relay' && relays.length === 0 ? 'wol' : w.method;
        host.wake = {
          method,
          ...((method === 'wol' || method === 'relay') && { mac: mac(i) }),
          ...(method === 'relay' && { via: `h${relays[w.via % relays.length]}` }),
          ...(w.health === 'tcp' && { health: { type: 'tcp', host: `10.0.0.${i + 1}`, port: 22 } }),
          ...(w.health === 'none' && { health: { type: 'none' } }),
          timeout: w.timeout,
          retries: w.retries,
        };
      }
      return host;
    });
    const input = {
      ups: raw.ups.map((u, i) => ({ id: upsIds[i], powerOff: { enabled: u.enabled, delay: u.delay } })),
      hosts,
      groups: raw.groups.map((triggers, i) => ({ id: `g${i}`, triggers })),
      settings: {
        debounce: raw.settings.debounce,
        mainsBackAfter: raw.settings.mainsBackAfter,
        staleAfter: raw.settings.staleAfter,
        pointOfNoReturn: raw.settings.pointOfNoReturn,
        budget: { margin: raw.settings.margin },
        defaultTriggers: raw.settings.defaultTriggers,
      },
      restore: raw.restore,
    };
    const v = validatePlan(input);
    if (!v.ok)
      throw new Error(`generated an invalid plan: ${JSON.stringify(v.errors)}\n${JSON.stringify(input)}`);
    return v.plan;
  });

// ---- random event interleavings -----------------------------------------------------------

export type Command =
  | { op: 'reading'; source: number; status: string; charge: number; runtime: number | null }
  /** The controller polling a steady state: `count` readings, `every` ms apart, of one or all sources. */
  | {
      op: 'poll';
      source: number | null;
      status: string;
      charge: number;
      runtime: number | null;
      count: number;
      every: number;
    }
  /** Acknowledges every outstanding command, in a shuffled order. */
  | { op: 'ackMany'; order: number; step: HostStep }
  /** Every host being woken reports healthy (minus a few), in a shuffled order. */
  | { op: 'healthyMany'; order: number; skip: number }
  | { op: 'lost'; source: number }
  | { op: 'ack'; pick: number; step: HostStep; wrongId: boolean }
  | { op: 'healthy'; pick: number; woken: boolean }
  | { op: 'duplicate' }
  | { op: 'restart' };

export interface Timed {
  dt: number;
  command: Command;
}

const statuses = [
  'OB DISCHRG',
  'OB DISCHRG',
  'OB DISCHRG',
  'OL',
  'OL',
  'OL CHRG',
  'OB DISCHRG LB',
  'OL LB',
  'OB CAL',
  'OB DISCHRG TEST',
  'OL FSD',
  'OFF',
];

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant('reading' as const),
      source: fc.nat({ max: 2 }),
      status: fc.constantFrom(...statuses),
      charge: fc.integer({ min: 0, max: 100 }),
      runtime: fc.option(fc.integer({ min: 0, max: 2000 })),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('poll' as const),
      source: fc.option(fc.nat({ max: 2 })),
      status: fc.constantFrom('OB DISCHRG', 'OB DISCHRG', 'OL', 'OL', 'OL CHRG', 'OB DISCHRG LB'),
      charge: fc.integer({ min: 0, max: 100 }),
      runtime: fc.option(fc.integer({ min: 0, max: 2000 })),
      count: fc.integer({ min: 1, max: 30 }),
      every: fc.integer({ min: 1000, max: 10_000 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('lost' as const), source: fc.nat({ max: 2 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('ackMany' as const),
      order: fc.nat(),
      step: fc.constantFrom<HostStep>('powering-off', 'powering-off', 'cancelled', 'received'),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('healthyMany' as const),
      order: fc.nat(),
      skip: fc.nat({ max: 3 }),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant('ack' as const),
      pick: fc.nat(),
      step: fc.constantFrom<HostStep>(
        'received',
        'hook-started',
        'powering-off',
        'powering-off',
        'failed',
        'cancelled',
      ),
      wrongId: weighted(1, 5),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ op: fc.constant('healthy' as const), pick: fc.nat(), woken: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.constant({ op: 'duplicate' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'restart' as const }) },
);

/** Mostly short gaps, sometimes long ones, so that deadlines, gates and timeouts come due. */
const gapArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 8000 }) },
  { weight: 3, arbitrary: fc.integer({ min: 8000, max: 60_000 }) },
  { weight: 1, arbitrary: fc.integer({ min: 60_000, max: 400_000 }) },
);

const timedArb = fc.record({ dt: gapArb, command: commandArb });

/** Pure chaos: any command after any gap. */
export const chaosArb = fc.array(timedArb, { minLength: 5, maxLength: 90 });

/**
 * Whole outages, possibly several in a row (flapping, re-entry during restore): power fails and
 * stays off a while, hosts acknowledge, mains returns and stays, hosts come back — each phase of
 * random length, with random chaos mixed in.
 */
const phaseArb = fc
  .record({
    source: fc.option(fc.nat({ max: 2 }), { freq: 3 }),
    fail: fc.record({
      count: fc.integer({ min: 1, max: 40 }),
      every: fc.integer({ min: 1000, max: 10_000 }),
    }),
    runtime: fc.option(fc.integer({ min: 0, max: 1500 })),
    charge: fc.integer({ min: 0, max: 100 }),
    ack: fc.record({
      order: fc.nat(),
      step: fc.constantFrom<HostStep>('powering-off', 'powering-off', 'cancelled'),
    }),
    mains: fc.record({
      count: fc.integer({ min: 1, max: 40 }),
      every: fc.integer({ min: 1000, max: 10_000 }),
    }),
    recharged: fc.integer({ min: 20, max: 100 }),
    health: fc.record({ order: fc.nat(), skip: fc.nat({ max: 2 }) }),
    chaos: fc.array(timedArb, { maxLength: 4 }),
  })
  .map((p): Timed[] => {
    const poll = (status: string, charge: number, count: number, every: number): Timed => ({
      dt: every,
      command: { op: 'poll', source: p.source, status, charge, runtime: p.runtime, count, every },
    });
    const half = (n: number) => Math.max(1, Math.floor(n / 2));
    return [
      poll('OB DISCHRG', p.charge, half(p.fail.count), p.fail.every),
      { dt: 0, command: { op: 'ackMany', order: p.ack.order, step: p.ack.step } },
      poll('OB DISCHRG', Math.max(0, p.charge - 10), half(p.fail.count), p.fail.every),
      ...p.chaos,
      { dt: 0, command: { op: 'ackMany', order: p.ack.order + 1, step: 'powering-off' } },
      poll('OL CHRG', p.recharged, half(p.mains.count), p.mains.every),
      { dt: 0, command: { op: 'healthyMany', order: p.health.order, skip: p.health.skip } },
      poll('OL', p.recharged, p.mains.count, p.mains.every),
      { dt: 0, command: { op: 'healthyMany', order: p.health.order + 1, skip: 0 } },
      poll('OL', p.recharged, p.mains.count, p.mains.every),
    ];
  });

export const lifecycleArb = fc.array(phaseArb, { minLength: 1, maxLength: 4 }).map((phases) => phases.flat());

export const scriptArb = fc.oneof(chaosArb, lifecycleArb);

// ---- running a script ---------------------------------------------------------------------

export interface TraceStep {
  at: number;
  event: EngineEvent;
  actions: EngineAction[];
  state: EngineState;
}

export function toReading(c: { status: string; charge: number; runtime: number | null }): UpsReading {
  const status = c.status.split(' ').filter((s) => s !== 'TEST');
  return {
    status,
    charge: c.charge,
    ...(c.runtime !== null && { runtime: c.runtime }),
    ...(c.status.includes('TEST') && { testInProgress: true }),
  };
}

/**
 * Plays a script against the engine like the controller would: before each scripted event it
 * fires every timer due (`nextWakeAt`). Acknowledgements and health reports pick among the commands
 * and wake-ups issued so far, so they arrive out of order, twice, late, or never.
 * With `honourRestarts`, `restart` persists and restores the state through JSON.
 */
export function runScript(
  plan: Plan,
  script: readonly Timed[],
  options: { honourRestarts: boolean },
): TraceStep[] {
  let state = initialState(plan);
  let now = 0;
  const trace: TraceStep[] = [];
  const commands: Array<{ host: string; commandId: string }> = [];
  const woken: string[] = [];
  const shuffled = <T>(items: readonly T[], order: number): T[] =>
    items
      .map((item, i) => [item, (i * 7919 + order) % 104_729] as const)
      .sort((a, b) => a[1] - b[1])
      .map(([item]) => item);
  let last: EngineEvent | undefined;
  const apply = (event: EngineEvent, at: number) => {
    const r = step(state, event, at);
    state = r.state;
    trace.push({ at, event, actions: r.actions, state });
    for (const a of r.actions) {
      if (a.type === 'shutdown-host') commands.push({ host: a.host, commandId: a.commandId });
      if (a.type === 'cancel-shutdown') commands.push({ host: a.host, commandId: a.commandId });
      if (a.type === 'wake-host') woken.push(a.host);
    }
  };
  for (const { dt, command } of script) {
    now += dt;
    for (let wake = nextWakeAt(state); wake !== undefined && wake <= now; wake = nextWakeAt(state))
      apply({ type: 'tick' }, wake);
    let event: EngineEvent | undefined;
    const many: EngineEvent[] = [];
    switch (command.op) {
      case 'poll': {
        const r = toReading(command);
        const targets = command.source === null ? plan.ups : [plan.ups[command.source % plan.ups.length]!];
        for (let k = 0; k < command.count; k++) {
          if (k > 0) now += command.every;
          for (let wake = nextWakeAt(state); wake !== undefined && wake <= now; wake = nextWakeAt(state))
            apply({ type: 'tick' }, wake);
          for (const u of targets) apply({ type: 'reading', source: u.id, reading: r }, now);
        }
        break;
      }
      case 'ackMany':
        for (const c of shuffled(commands, command.order))
          many.push({ type: 'host-progress', host: c.host, commandId: c.commandId, step: command.step });
        break;
      case 'healthyMany':
        for (const host of shuffled([...new Set(woken)], command.order).slice(command.skip))
          many.push({ type: 'host-healthy', host });
        break;
      case 'reading': {
        const source = plan.ups[command.source % plan.ups.length]!.id;
        event = { type: 'reading', source, reading: toReading(command) };
        break;
      }
      case 'lost':
        event = {
          type: 'source-lost',
          source: plan.ups[command.source % plan.ups.length]!.id,
          reason: 'DATA-STALE',
        };
        break;
      case 'ack': {
        const c = commands[command.pick % Math.max(1, commands.length)];
        if (c)
          event = {
            type: 'host-progress',
            host: c.host,
            commandId: command.wrongId ? `${c.commandId}x` : c.commandId,
            step: command.step,
          };
        break;
      }
      case 'healthy': {
        const pool = command.woken && woken.length > 0 ? woken : plan.hosts.map((h) => h.id);
        const host = pool[command.pick % pool.length];
        if (host) event = { type: 'host-healthy', host };
        break;
      }
      case 'duplicate':
        event = last;
        break;
      case 'restart':
        if (options.honourRestarts) state = JSON.parse(JSON.stringify(state)) as EngineState;
        break;
    }
    if (event) many.push(event);
    for (const e of many) {
      apply(e, now);
      last = e;
    }
  }
  return trace;
}
