import { Seconds } from '@blackstart/agent-protocol';
import Type, { type Static } from 'typebox';
import Value from 'typebox/value';
import { type BatteryModel, fitBatteryModel, runtimeAt } from './battery.ts';
import { ownEntry } from './budget.ts';
import { compilePlan } from './compile.ts';
import {
  type EngineAction,
  type EngineEvent,
  type EngineState,
  initialState,
  nextWakeAt,
  type OutageOutcome,
  stepMany,
} from './engine.ts';
import { BatterySampleSchema, type Plan } from './plan.ts';
import type { UpsReading } from './reading.ts';
import { explainSchemaErrors, type PlanError } from './schema-errors.ts';

// ---- scenario ---------------------------------------------------------------------------

const Window = Type.Object({ from: Seconds(), to: Seconds() }, { additionalProperties: false });

export const UpsScenarioSchema = Type.Object(
  {
    /** ups.load at the start, %. Default: the plan's `battery.load`, else its most recent sample. */
    load: Type.Optional(Type.Number({ minimum: 0, maximum: 200 })),
    charge: Type.Number({ minimum: 0, maximum: 100, default: 100 }),
    /** More runtime/load readings for the battery model, on top of the plan's. */
    samples: Type.Array(BatterySampleSchema, { default: [] }),
    /** Mains transitions; the default is "mains fails at t = 0 and does not return". */
    mains: Type.Array(Type.Object({ at: Seconds(), on: Type.Boolean() }, { additionalProperties: false }), {
      default: [{ at: 0, on: false }],
    }),
    /** The UPS raises LB at or below this runtime (s) or charge (%). */
    lowBatteryRuntime: Seconds({ default: 120 }),
    lowBatteryCharge: Type.Number({ minimum: 0, maximum: 100, default: 20 }),
    /** Seconds to charge from empty to full on mains. */
    rechargeSeconds: Seconds({ default: 14_400, minimum: 1 }),
    /** Seconds after a power-off (with mains present) or after mains returns before the output is back. */
    returnDelay: Seconds({ default: 10 }),
    /** Stretches during which the UPS sends no data. */
    commLost: Type.Array(Window, { default: [] }),
    /** Self-tests: the UPS reports OB with a test in progress while mains is on. */
    selfTests: Type.Array(
      Type.Object({ at: Seconds(), seconds: Seconds() }, { additionalProperties: false }),
      { default: [] },
    ),
    /** Recorded readings to replay instead of the battery model. */
    readings: Type.Optional(
      Type.Array(
        Type.Object(
          {
            at: Seconds(),
            status: Type.String({ maxLength: 64 }),
            charge: Type.Optional(Type.Number()),
            runtime: Type.Optional(Type.Number()),
            load: Type.Optional(Type.Number()),
          },
          { additionalProperties: false },
        ),
      ),
    ),
  },
  { additionalProperties: false },
);

export const HostScenarioSchema = Type.Object(
  {
    /** Seconds from the shutdown command to powered off; default: the plan's expected duration, else defaults. */
    shutdownSeconds: Type.Optional(Seconds()),
    bootSeconds: Type.Optional(Seconds()),
    /** Share of the UPS load this host draws, %; when given, the load drops as the host goes down. */
    load: Type.Optional(Type.Number({ minimum: 0, maximum: 200 })),
    /** false: the host powers off but its acknowledgement never arrives. */
    acknowledges: Type.Boolean({ default: true }),
    /** false: the host ignores its shutdown command and keeps running. */
    shutsDown: Type.Boolean({ default: true }),
    /** false: the host never boots again. */
    boots: Type.Boolean({ default: true }),
    /** Powers on by itself when its power returns (BIOS "restore on AC power loss"). */
    bootsOnPower: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const ScenarioSchema = Type.Object(
  {
    /** Simulate at most this long, seconds. */
    duration: Seconds({ default: 86_400, minimum: 1 }),
    /** The controller polls each UPS this often, seconds. */
    readingInterval: Seconds({ default: 5, minimum: 0.1 }),
    ups: Type.Record(Type.String(), UpsScenarioSchema, { default: {} }),
    hosts: Type.Record(Type.String(), HostScenarioSchema, { default: {} }),
    defaults: Type.Object(
      { shutdownSeconds: Seconds({ default: 30 }), bootSeconds: Seconds({ default: 90 }) },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);
export type Scenario = Static<typeof ScenarioSchema>;
export type UpsScenario = Static<typeof UpsScenarioSchema>;
export type HostScenario = Static<typeof HostScenarioSchema>;

export type ScenarioValidation = { ok: true; scenario: Scenario } | { ok: false; errors: PlanError[] };

/** Validates a scenario (parsed from YAML or JSON) against the schema and the plan it runs on. */
export function validateScenario(input: unknown, plan: Plan): ScenarioValidation {
  const value = Value.Default(ScenarioSchema, Value.Clone(input ?? {})) as Record<string, unknown>;
  // Fill the defaults of every record entry too, so the simulator sees complete values.
  const fill = (key: string, schema: typeof UpsScenarioSchema | typeof HostScenarioSchema) => {
    const record = value?.[key];
    if (typeof record !== 'object' || record === null || Array.isArray(record)) return;
    for (const [id, entry] of Object.entries(record))
      (record as Record<string, unknown>)[id] = Value.Default(schema, entry);
  };
  fill('ups', UpsScenarioSchema);
  fill('hosts', HostScenarioSchema);
  if (!Value.Check(ScenarioSchema, value)) {
    const errors = explainSchemaErrors(ScenarioSchema, value);
    return { ok: false, errors: errors.length > 0 ? errors : [{ path: '/', message: 'invalid scenario' }] };
  }
  const scenario = value as Scenario;
  const errors: PlanError[] = [];
  const upsIds = new Set(plan.ups.map((u) => u.id));
  const hostIds = new Set(plan.hosts.map((h) => h.id));
  for (const id of Object.keys(scenario.ups))
    if (!upsIds.has(id)) errors.push({ path: `/ups/${id}`, message: `unknown UPS '${id}'` });
  for (const id of Object.keys(scenario.hosts))
    if (!hostIds.has(id)) errors.push({ path: `/hosts/${id}`, message: `unknown host '${id}'` });
  for (const ups of plan.ups) {
    const s = ownEntry(scenario.ups, ups.id);
    if (s?.readings) continue;
    const samples = [...(ups.battery?.samples ?? []), ...(s?.samples ?? [])];
    if (!fitBatteryModel(samples))
      errors.push({
        path: `/ups/${ups.id}`,
        message: `no battery model for UPS '${ups.id}': add runtime/load samples (plan ups[].battery.samples or scenario ups.${ups.id}.samples) or recorded readings`,
      });
    const load = s?.load ?? ups.battery?.load ?? ups.battery?.samples.at(-1)?.load ?? s?.samples.at(-1)?.load;
    if (load === undefined)
      errors.push({
        path: `/ups/${ups.id}/load`,
        message: `no load for UPS '${ups.id}': give the scenario's ups.${ups.id}.load`,
      });
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, scenario };
}

// ---- result -----------------------------------------------------------------------------

/** What happens in the simulated world, as opposed to what the engine decides. */
export type WorldEvent =
  | { type: 'mains-lost'; ups: string }
  | { type: 'mains-back'; ups: string }
  | { type: 'ups-output-off'; ups: string; why: 'powered-off' | 'battery-depleted' }
  | { type: 'ups-output-on'; ups: string }
  | { type: 'host-off'; host: string }
  /** The host lost power while running or shutting down: the plan failed it. */
  | { type: 'host-lost-power'; host: string }
  | { type: 'host-running'; host: string }
  | { type: 'controller-offline' }
  | { type: 'controller-online' };

export type TimelineEntry =
  | { at: number; kind: 'action'; action: EngineAction }
  | { at: number; kind: 'world'; event: WorldEvent };

export interface HostSummary {
  host: string;
  triggeredAt?: number;
  commandedAt?: number;
  downAt?: number;
  down?: 'acknowledged' | 'deadline-passed';
  lostPowerAt?: number;
  wokenAt?: number;
  upAt?: number;
}

export interface SimulationResult {
  /** Every engine action and world event, seconds from the start of the scenario. */
  timeline: TimelineEntry[];
  outages: Array<{ id: string; startedAt: number; endedAt?: number; outcome?: OutageOutcome }>;
  /** Per host, what happened in the last outage. */
  hosts: HostSummary[];
  ups: Array<{
    ups: string;
    model?: BatteryModel;
    lowestCharge: number;
    poweredOffAt?: number;
    depletedAt?: number;
  }>;
  /** Hosts (other than wake-only ones) that lost power while running: the plan did not fit. */
  crashes: Array<{ host: string; at: number }>;
  /** Seconds simulated. */
  endedAt: number;
  state: EngineState;
}

// ---- the world --------------------------------------------------------------------------

/** Agenda item kinds, in the order simultaneous items run. */
const Kind = {
  Mains: 0,
  Cut: 1,
  Return: 2,
  Deplete: 3,
  Stopped: 4,
  Booted: 5,
  Reading: 6,
  Explicit: 7,
  Tick: 8,
} as const;
type Kind = (typeof Kind)[keyof typeof Kind];

interface Item {
  at: number;
  kind: Kind;
  seq: number;
  target: number;
  version: number;
  on?: boolean;
}

/** Binary min-heap on (at, kind, seq): simultaneous events run in a fixed, meaningful order. */
class Agenda {
  private items: Item[] = [];
  private seq = 0;
  /** Pending items other than periodic readings and ticks. */
  pendingWorld = 0;

  get size(): number {
    return this.items.length;
  }

  peek(): Item | undefined {
    return this.items[0];
  }

  push(at: number, kind: Kind, target = 0, version = 0, on?: boolean): void {
    const item: Item = { at, kind, seq: this.seq++, target, version };
    if (on !== undefined) item.on = on;
    if (kind !== Kind.Reading && kind !== Kind.Tick) this.pendingWorld++;
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }

  pop(): Item | undefined {
    const a = this.items;
    const top = a[0];
    if (!top) return undefined;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l]!, a[m]!)) m = l;
        if (r < a.length && before(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    if (top.kind !== Kind.Reading && top.kind !== Kind.Tick) this.pendingWorld--;
    return top;
  }
}

const before = (x: Item, y: Item) =>
  x.at < y.at || (x.at === y.at && (x.kind < y.kind || (x.kind === y.kind && x.seq < y.seq)));

interface UpsWorld {
  id: string;
  cfg: UpsScenario;
  model?: BatteryModel;
  mainsOn: boolean;
  outputOn: boolean;
  charge: number;
  baseLoad: number;
  hostLoad: number;
  lastAt: number;
  version: number;
  cutVersion: number;
  lostReported: boolean;
  lowestCharge: number;
  poweredOffAt?: number;
  depletedAt?: number;
}

type HostCondition = 'running' | 'stopping' | 'off' | 'booting';

interface HostWorld {
  condition: HostCondition;
  version: number;
  commandId?: string;
  shutdownMs: number;
  bootMs: number;
  /** Load drawn from each of its supplies while powered and not off. */
  share: number;
  acknowledges: boolean;
  shutsDown: boolean;
  boots: boolean;
  bootsOnPower: boolean;
}

/**
 * Runs the engine over a scenario and returns the complete predicted timeline. The world is
 * simulated around the engine exactly as the controller would drive it: readings every
 * `readingInterval`, acknowledgements when hosts finish, health when they boot, the UPS cutting
 * and restoring its output — and the controller itself going offline when its host shuts down and
 * resuming from its serialized state when it boots again.
 */
export function simulate(
  plan: Plan,
  scenario: Scenario,
  options: { history?: Record<string, number[]> } = {},
): SimulationResult {
  return new Simulation(plan, scenario, options.history).run();
}

/** A scenario where mains fails at t = 0 at the given (or the plan's) load, and does not return. */
export function outageScenario(
  plan: Plan,
  options: { load?: number; mainsBackAfter?: number } = {},
): Scenario {
  const ups: Record<string, unknown> = {};
  for (const u of plan.ups) {
    ups[u.id] = {
      ...(options.load !== undefined && { load: options.load }),
      mains:
        options.mainsBackAfter !== undefined
          ? [
              { at: 0, on: false },
              { at: options.mainsBackAfter, on: true },
            ]
          : [{ at: 0, on: false }],
    };
  }
  const v = validateScenario({ ups }, plan);
  if (!v.ok) throw new ScenarioError(v.errors);
  return v.scenario;
}

export class ScenarioError extends Error {
  constructor(readonly errors: PlanError[]) {
    super(errors.map((e) => `${e.path}: ${e.message}`).join('\n'));
    this.name = 'ScenarioError';
  }
}

class Simulation {
  private readonly c;
  private readonly agenda = new Agenda();
  private readonly timeline: TimelineEntry[] = [];
  private readonly ups: UpsWorld[];
  private readonly hosts: HostWorld[];
  private state: EngineState;
  private journal: string | undefined;
  private online = true;
  private now = 0;
  private tickAt: number | undefined;
  private pending: EngineEvent[] = [];
  private readonly crashes: Array<{ host: string; at: number }> = [];
  private readonly durationMs: number;

  constructor(
    plan: Plan,
    private readonly scenario: Scenario,
    history: Record<string, number[]> | undefined,
  ) {
    this.c = compilePlan(plan);
    this.durationMs = scenario.duration * 1000;
    this.state = initialState(plan, history ? { history } : {});
    const anyHostLoad = Object.values(scenario.hosts).some((h) => h.load !== undefined);
    this.hosts = plan.hosts.map((h): HostWorld => {
      const s = ownEntry(scenario.hosts, h.id);
      const method = h.wake?.method ?? 'power-on';
      return {
        condition: 'running',
        version: 0,
        shutdownMs:
          (s?.shutdownSeconds ?? h.shutdown.expectedDuration ?? scenario.defaults.shutdownSeconds) * 1000,
        bootMs: (s?.bootSeconds ?? scenario.defaults.bootSeconds) * 1000,
        share: anyHostLoad ? (s?.load ?? 0) / this.c.supplies[this.c.hostIndex.get(h.id)!]!.length : 0,
        acknowledges: s?.acknowledges ?? true,
        shutsDown: s?.shutsDown ?? true,
        boots: s?.boots ?? true,
        bootsOnPower: s?.bootsOnPower ?? method === 'power-on',
      };
    });
    this.ups = plan.ups.map((u, i): UpsWorld => {
      const cfg = ownEntry(scenario.ups, u.id) ?? (Value.Default(UpsScenarioSchema, {}) as UpsScenario);
      const samples = [...(u.battery?.samples ?? []), ...cfg.samples];
      for (const r of cfg.readings ?? [])
        if (r.load !== undefined && r.runtime !== undefined && r.load > 0 && r.runtime > 0)
          samples.push({
            load: r.load,
            runtime: r.runtime,
            ...(r.charge !== undefined && { charge: r.charge }),
          });
      const model = fitBatteryModel(samples);
      const load =
        cfg.load ?? u.battery?.load ?? u.battery?.samples.at(-1)?.load ?? cfg.samples.at(-1)?.load ?? 0;
      let hostLoad = 0;
      for (let h = 0; h < this.hosts.length; h++)
        if (this.c.supplies[h]!.includes(i)) hostLoad += this.hosts[h]!.share;
      return {
        id: u.id,
        cfg,
        ...(model && { model }),
        mainsOn: true,
        outputOn: true,
        charge: cfg.charge,
        baseLoad: Math.max(0, load - hostLoad),
        hostLoad,
        lastAt: 0,
        version: 0,
        cutVersion: 0,
        lostReported: false,
        lowestCharge: cfg.charge,
      };
    });
    this.ups.forEach((u, i) => {
      for (const m of u.cfg.mains) this.agenda.push(m.at * 1000, Kind.Mains, i, 0, m.on);
      (u.cfg.readings ?? []).forEach((r, k) => {
        this.agenda.push(r.at * 1000, Kind.Explicit, i, k);
      });
    });
    if (this.ups.some((u) => !u.cfg.readings)) this.agenda.push(0, Kind.Reading);
  }

  run(): SimulationResult {
    for (;;) {
      const next = this.agenda.peek();
      if (!next || next.at > this.durationMs) break;
      if (this.quiet()) break;
      this.advance(next.at);
      while (this.agenda.peek()?.at === this.now) this.handle(this.agenda.pop()!);
      this.flush();
    }
    return this.result();
  }

  /** Nothing left to happen but polling: the outcome is settled. */
  private quiet(): boolean {
    if (this.agenda.pendingWorld > 0 || (this.tickAt !== undefined && this.online)) return false;
    if (!this.online || !this.state.outage) return true;
    // An open outage with mains on is waiting for gates that the readings will open.
    return !this.ups.some((u) => u.mainsOn);
  }

  // ---- world mechanics ----

  private advance(to: number): void {
    // The battery drains (or charges) continuously; depletion is an agenda item of its own.
    for (const u of this.ups) {
      const dt = (to - u.lastAt) / 1000;
      u.lastAt = to;
      if (dt <= 0 || u.cfg.readings) continue;
      if (u.mainsOn) u.charge = Math.min(100, u.charge + (dt * 100) / u.cfg.rechargeSeconds);
      else if (u.outputOn && u.model)
        u.charge = Math.max(0, u.charge - (dt * 100) / runtimeAt(u.model, this.load(u)));
      u.lowestCharge = Math.min(u.lowestCharge, u.charge);
    }
    this.now = to;
  }

  private load(u: UpsWorld): number {
    return u.outputOn ? u.baseLoad + u.hostLoad : 0;
  }

  private scheduleDepletion(u: UpsWorld, index: number): void {
    u.version++;
    if (u.mainsOn || !u.outputOn || !u.model || u.cfg.readings) return;
    const seconds = (u.charge / 100) * runtimeAt(u.model, this.load(u));
    this.agenda.push(this.now + seconds * 1000, Kind.Deplete, index, u.version);
  }

  private world(event: WorldEvent): void {
    this.timeline.push({ at: this.now / 1000, kind: 'world', event });
  }

  private handle(item: Item): void {
    const i = item.target;
    switch (item.kind) {
      case Kind.Mains: {
        const u = this.ups[i]!;
        if (u.mainsOn === item.on) return;
        u.mainsOn = item.on!;
        this.world({ type: item.on ? 'mains-back' : 'mains-lost', ups: u.id });
        if (u.mainsOn && !u.outputOn)
          this.agenda.push(this.now + u.cfg.returnDelay * 1000, Kind.Return, i, u.cutVersion);
        this.scheduleDepletion(u, i);
        return;
      }
      case Kind.Cut: {
        const u = this.ups[i]!;
        if (item.version !== u.cutVersion || !u.outputOn) return;
        this.setOutput(i, false, 'powered-off');
        if (u.mainsOn) this.agenda.push(this.now + u.cfg.returnDelay * 1000, Kind.Return, i, u.cutVersion);
        return;
      }
      case Kind.Return: {
        const u = this.ups[i]!;
        if (u.mainsOn && !u.outputOn) this.setOutput(i, true);
        return;
      }
      case Kind.Deplete: {
        const u = this.ups[i]!;
        if (item.version !== u.version || u.mainsOn || !u.outputOn) return;
        u.charge = 0;
        u.lowestCharge = 0;
        u.depletedAt ??= this.now / 1000;
        this.setOutput(i, false, 'battery-depleted');
        return;
      }
      case Kind.Stopped:
        this.stopped(i, item.version);
        return;
      case Kind.Booted:
        this.booted(i, item.version);
        return;
      case Kind.Reading:
        this.poll();
        this.agenda.push(this.now + this.scenario.readingInterval * 1000, Kind.Reading);
        return;
      case Kind.Explicit:
        this.replay(i, item.version);
        return;
      case Kind.Tick:
        if (item.at === this.tickAt) {
          this.tickAt = undefined;
          if (this.online) this.pending.push({ type: 'tick' });
        }
        return;
    }
  }

  private setOutput(index: number, on: boolean, why?: 'powered-off' | 'battery-depleted'): void {
    const u = this.ups[index]!;
    u.outputOn = on;
    this.world(on ? { type: 'ups-output-on', ups: u.id } : { type: 'ups-output-off', ups: u.id, why: why! });
    for (let h = 0; h < this.hosts.length; h++) {
      if (!this.c.supplies[h]!.includes(index)) continue;
      const host = this.hosts[h]!;
      const powered = this.powered(h);
      if (!powered && host.condition !== 'off') {
        this.setCondition(h, 'off');
        // Wake-only hosts are never shut down by Blackstart: losing power is how they go down.
        if (this.c.kinds[h] !== 'wake-only')
          this.crashes.push({ host: this.c.hostIds[h]!, at: this.now / 1000 });
        this.world({ type: 'host-lost-power', host: this.c.hostIds[h]! });
        if (h === this.c.controller) this.goOffline();
      } else if (powered && host.condition === 'off' && host.bootsOnPower && host.boots) {
        this.boot(h);
      }
    }
    this.scheduleDepletion(u, index);
  }

  private powered(h: number): boolean {
    let on = 0;
    for (const u of this.c.supplies[h]!) if (this.ups[u]!.outputOn) on++;
    return on >= this.c.minSupplies[h]!;
  }

  /** Keeps the UPS loads in step with what is drawing power. */
  private setCondition(h: number, condition: HostCondition): void {
    const host = this.hosts[h]!;
    const drew = host.condition !== 'off';
    host.condition = condition;
    host.version++;
    const draws = condition !== 'off';
    if (drew === draws || host.share === 0) return;
    for (const u of this.c.supplies[h]!) {
      const ups = this.ups[u]!;
      ups.hostLoad += draws ? host.share : -host.share;
      this.scheduleDepletion(ups, u);
    }
  }

  private boot(h: number): void {
    this.setCondition(h, 'booting');
    this.agenda.push(this.now + this.hosts[h]!.bootMs, Kind.Booted, h, this.hosts[h]!.version);
  }

  private booted(h: number, version: number): void {
    const host = this.hosts[h]!;
    if (host.version !== version || host.condition !== 'booting') return;
    this.setCondition(h, 'running');
    const id = this.c.hostIds[h]!;
    this.world({ type: 'host-running', host: id });
    if (h === this.c.controller) this.goOnline();
    else if (this.online) this.pending.push({ type: 'host-healthy', host: id });
  }

  private stopped(h: number, version: number): void {
    const host = this.hosts[h]!;
    if (host.version !== version || host.condition !== 'stopping') return;
    this.setCondition(h, 'off');
    const id = this.c.hostIds[h]!;
    this.world({ type: 'host-off', host: id });
    if (host.acknowledges && this.online && host.commandId)
      this.pending.push({ type: 'host-progress', host: id, commandId: host.commandId, step: 'powering-off' });
    if (h === this.c.controller) {
      // The controller journals its own "powering off" before it halts.
      this.flush();
      this.goOffline();
    }
  }

  private goOffline(): void {
    if (!this.online) return;
    this.online = false;
    this.tickAt = undefined;
    this.pending = [];
    // The journal holds the engine's state; the plan is loaded from its file at restart.
    const { plan: _plan, ...journal } = this.state;
    this.journal = JSON.stringify(journal);
    this.world({ type: 'controller-offline' });
  }

  /** The controller restarts from its journal: agents reconnect, the UPS is read again. */
  private goOnline(): void {
    if (this.online) return;
    this.online = true;
    if (this.journal !== undefined)
      this.state = { plan: this.state.plan, ...(JSON.parse(this.journal) as Omit<EngineState, 'plan'>) };
    this.world({ type: 'controller-online' });
    for (let h = 0; h < this.hosts.length; h++)
      if (this.hosts[h]!.condition === 'running' && h !== this.c.controller)
        this.pending.push({ type: 'host-healthy', host: this.c.hostIds[h]! });
    this.poll();
  }

  private poll(): void {
    if (!this.online) return;
    const t = this.now / 1000;
    this.ups.forEach((u) => {
      if (u.cfg.readings) return;
      const silent = u.cfg.commLost.some((w) => t >= w.from && t < w.to) || (!u.outputOn && !u.mainsOn);
      if (silent) {
        if (!u.lostReported)
          this.pending.push({
            type: 'source-lost',
            source: u.id,
            reason: u.outputOn ? 'communication lost' : 'UPS off',
          });
        u.lostReported = true;
        return;
      }
      u.lostReported = false;
      this.pending.push({ type: 'reading', source: u.id, reading: this.reading(u, t) });
    });
  }

  private reading(u: UpsWorld, t: number): UpsReading {
    const load = this.load(u);
    const charge = Math.round(u.charge);
    const runtime = u.model
      ? Math.round(runtimeAt(u.model, Math.max(load, 1)) * (u.charge / 100))
      : undefined;
    const status: string[] = [];
    const testing = u.mainsOn && u.cfg.selfTests.some((w) => t >= w.at && t < w.at + w.seconds);
    if (testing) status.push('OB', 'DISCHRG');
    else if (u.mainsOn) {
      status.push('OL');
      if (!u.outputOn) status.push('OFF');
      if (u.charge < 99.5) status.push('CHRG');
    } else {
      status.push('OB', 'DISCHRG');
      if ((runtime !== undefined && runtime <= u.cfg.lowBatteryRuntime) || charge <= u.cfg.lowBatteryCharge)
        status.push('LB');
    }
    return {
      status,
      charge,
      ...(runtime !== undefined && { runtime }),
      load: Math.round(load),
      ...(testing && { testInProgress: true }),
    };
  }

  private replay(index: number, k: number): void {
    const u = this.ups[index]!;
    const r = u.cfg.readings![k]!;
    const status = r.status.split(/\s+/).filter(Boolean);
    const mainsOn = status.includes('OL') || !status.includes('OB');
    if (mainsOn !== u.mainsOn)
      this.handle({ at: this.now, kind: Kind.Mains, seq: 0, target: index, version: 0, on: mainsOn });
    if (!this.online) return;
    this.pending.push({
      type: 'reading',
      source: u.id,
      reading: {
        status,
        ...(r.charge !== undefined && { charge: r.charge }),
        ...(r.runtime !== undefined && { runtime: r.runtime }),
        ...(r.load !== undefined && { load: r.load }),
      },
    });
  }

  // ---- the engine ----

  private flush(): void {
    while (this.pending.length > 0 && this.online) {
      const events = this.pending;
      this.pending = [];
      const r = stepMany(this.state, events, this.now);
      this.state = r.state;
      for (const action of r.actions) {
        this.timeline.push({ at: this.now / 1000, kind: 'action', action });
        this.act(action);
      }
    }
    this.pending = [];
    if (!this.online) return;
    const wake = nextWakeAt(this.state);
    if (wake !== undefined && wake !== this.tickAt) {
      this.tickAt = wake;
      this.agenda.push(wake, Kind.Tick);
    }
  }

  private act(action: EngineAction): void {
    const c = this.c;
    switch (action.type) {
      case 'shutdown-host': {
        const h = c.hostIndex.get(action.host)!;
        const host = this.hosts[h]!;
        host.commandId = action.commandId;
        if (host.condition !== 'running' || !host.shutsDown) return;
        this.setCondition(h, 'stopping');
        this.agenda.push(this.now + host.shutdownMs, Kind.Stopped, h, host.version);
        return;
      }
      case 'cancel-shutdown': {
        const h = c.hostIndex.get(action.host)!;
        if (this.hosts[h]!.condition !== 'stopping') return;
        this.setCondition(h, 'running');
        this.pending.push({
          type: 'host-progress',
          host: action.host,
          commandId: action.commandId,
          step: 'cancelled',
        });
        return;
      }
      case 'power-off-ups': {
        const i = c.upsIndex.get(action.source)!;
        const u = this.ups[i]!;
        u.cutVersion++;
        u.poweredOffAt ??= this.now / 1000;
        this.agenda.push(this.now + action.delaySeconds * 1000, Kind.Cut, i, u.cutVersion);
        return;
      }
      case 'ups-output-on': {
        const i = c.upsIndex.get(action.source)!;
        const u = this.ups[i]!;
        if (u.mainsOn && !u.outputOn) this.setOutput(i, true);
        return;
      }
      case 'wake-host': {
        const h = c.hostIndex.get(action.host)!;
        const host = this.hosts[h]!;
        if (host.condition === 'running') {
          this.pending.push({ type: 'host-healthy', host: action.host });
          return;
        }
        const relayUp =
          action.via === undefined || this.hosts[c.hostIndex.get(action.via)!]!.condition === 'running';
        const sendsPacket = action.method === 'wol' || action.method === 'relay';
        if (sendsPacket && relayUp && host.condition === 'off' && host.boots && this.powered(h)) this.boot(h);
        return;
      }
      default:
        return;
    }
  }

  private result(): SimulationResult {
    const outages: SimulationResult['outages'] = [];
    const summaries = new Map<string, HostSummary>();
    const summary = (host: string) => {
      let s = summaries.get(host);
      if (!s) {
        s = { host };
        summaries.set(host, s);
      }
      return s;
    };
    for (const entry of this.timeline) {
      if (entry.kind === 'world') {
        if (entry.event.type === 'host-lost-power') summary(entry.event.host).lostPowerAt = entry.at;
        continue;
      }
      const a = entry.action;
      switch (a.type) {
        case 'outage-started':
          outages.push({ id: a.outage, startedAt: entry.at });
          summaries.clear();
          break;
        case 'outage-ended': {
          const o = outages.find((x) => x.id === a.outage);
          if (o) Object.assign(o, { endedAt: entry.at, outcome: a.outcome });
          break;
        }
        case 'host-triggered':
          summary(a.host).triggeredAt = entry.at;
          break;
        case 'shutdown-host':
          summary(a.host).commandedAt = entry.at;
          break;
        case 'host-down':
          Object.assign(summary(a.host), { downAt: entry.at, down: a.how });
          break;
        case 'wake-host':
          summary(a.host).wokenAt ??= entry.at;
          break;
        case 'host-up':
          summary(a.host).upAt = entry.at;
          break;
        default:
          break;
      }
    }
    return {
      timeline: this.timeline,
      outages,
      hosts: this.c.hostIds.filter((id) => summaries.has(id)).map((id) => summaries.get(id)!),
      ups: this.ups.map((u) => ({
        ups: u.id,
        ...(u.model && { model: u.model }),
        lowestCharge: Math.round(u.lowestCharge * 10) / 10,
        ...(u.poweredOffAt !== undefined && { poweredOffAt: u.poweredOffAt }),
        ...(u.depletedAt !== undefined && { depletedAt: u.depletedAt }),
      })),
      crashes: this.crashes,
      endedAt: this.now / 1000,
      state: this.state,
    };
  }
}
