import type { Ack } from '@blackstart/agent-protocol';
import {
  type EngineAction,
  type EngineEvent,
  type EngineState,
  fitBatteryModel,
  type HostKind,
  hostRuns,
  initialState,
  learnedDurations,
  nextWakeAt,
  type Plan,
  readingFromNutVars,
  runtimeAt,
  stepMany,
} from '@blackstart/policy';
import type { ControllerHostConfig } from '../config.ts';
import type { DrillRecord, DrillStore } from '../db/index.ts';
import type { AgentHub } from '../hub/agent-hub.ts';
import type { Logger } from '../logger.ts';
import type { Runtime } from '../runtime/runtime.ts';
import { SimulatorSource } from '../sources/simulator.ts';
import type { PowerSource } from '../sources/source.ts';

/** Virtual seconds the simulated outage advances per step while nothing waits for a host. */
const FAST_FORWARD_STEP_MS = 10_000;
const COMMAND_GRACE_SECONDS = 60;
const DEFAULT_MAX_SECONDS = 3600;
const KEEP_IN_MEMORY = 20;

export interface DrillHostReport {
  host: string;
  kind: HostKind;
  /** What fired, and when in the simulated outage (seconds after mains failed). */
  trigger?: string;
  triggeredAfter?: number;
  /** Real time the command left. */
  commandedAt?: string;
  steps: Array<{ step: string; at: string; hook?: string; detail?: string }>;
  downAt?: string;
  /** Measured from the command to its `powering-off` acknowledgement. */
  seconds?: number;
  how?: 'acknowledged' | 'deadline-passed' | 'not-rehearsed';
  note?: string;
}

export interface DrillReport {
  id: string;
  status: 'running' | 'completed' | 'aborted' | 'timed-out' | 'failed';
  startedAt: string;
  endedAt: string | null;
  planVersion: number | null;
  /** Why it ended, when not completed; or what the simulated outage found. */
  message?: string;
  /** The simulated UPSes: starting charge, load and full-battery runtime at that load. */
  ups: Array<{ id: string; charge: number; load: number; runtimeAtLoad: number; powerOff?: string }>;
  hosts: DrillHostReport[];
  /** Durations added to the planner's history (seconds per host). */
  learned: Record<string, number>;
  /** Seconds of simulated outage the drill covered. */
  simulatedSeconds: number;
}

export class DrillRefused extends Error {
  override name = 'DrillRefused';
}

/**
 * A rehearsal: the plan in force runs in its own engine against a simulated outage (every UPS of
 * the plan on battery from its current charge and load), and its actions are carried out for real
 * except the final power actions: agents get the real signed commands with `powerOff: false` and
 * run every hook; nut-clients, a controller host without a local agent and the UPS power-off are
 * reported, not performed. While nothing waits for a host, simulated time fast-forwards to the next
 * trigger; while hosts shut down it runs in real time, so each host's shutdown is measured, and the
 * measured durations feed the planner's expected durations.
 */
export class DrillRunner {
  private current: Drill | undefined;
  private readonly recent: DrillReport[] = [];

  constructor(
    private readonly deps: {
      hub: AgentHub;
      runtime: Runtime;
      sources: ReadonlyMap<string, PowerSource>;
      controllerHost: ControllerHostConfig;
      store: DrillStore;
      planVersion: () => number | null;
      log: Logger;
    },
  ) {}

  get running(): DrillReport | undefined {
    return this.current?.report;
  }

  /** Starts a drill; refuses while an outage or another drill runs. */
  async start(options: { maxSeconds?: number } = {}): Promise<DrillReport> {
    const { runtime } = this.deps;
    if (runtime.engineState.outage)
      throw new DrillRefused(`an outage is running (${runtime.engineState.outage.id}): no drill now`);
    if (this.current) throw new DrillRefused(`drill ${this.current.report.id} is still running`);
    const drill = new Drill(
      runtime.plan,
      runtime.engineState,
      this.deps,
      this.deps.planVersion(),
      options.maxSeconds ?? DEFAULT_MAX_SECONDS,
      (report) => void this.finished(report),
    );
    this.current = drill;
    await this.persist(drill.report);
    drill.begin();
    return drill.report;
  }

  /** Acknowledgements of drill commands (their ids start with `drill-`). */
  onAck(host: string, ack: Ack): boolean {
    if (!ack.commandId.startsWith('drill-')) return false;
    this.current?.onAck(host, ack);
    return true;
  }

  abort(reason: string): void {
    this.current?.end('aborted', reason);
  }

  async get(id: string): Promise<DrillReport | undefined> {
    if (this.current?.report.id === id) return this.current.report;
    const kept = this.recent.find((r) => r.id === id);
    if (kept) return kept;
    const stored = await this.deps.store.get(id).catch(() => undefined);
    return stored ? fromRecord(stored) : undefined;
  }

  async list(): Promise<DrillReport[]> {
    const byId = new Map<string, DrillReport>();
    const stored = await this.deps.store.list().catch(() => []);
    for (const r of stored) byId.set(r.id, fromRecord(r));
    for (const r of this.recent) byId.set(r.id, r);
    if (this.current) byId.set(this.current.report.id, this.current.report);
    return [...byId.values()].sort((a, b) => b.startedAt.localeCompare(a.startedAt));
  }

  private async finished(report: DrillReport): Promise<void> {
    this.current = undefined;
    this.recent.unshift(report);
    this.recent.length = Math.min(this.recent.length, KEEP_IN_MEMORY);
    const learned = Object.fromEntries(Object.entries(report.learned).map(([h, s]) => [h, [s]]));
    if (Object.keys(learned).length > 0 && !this.deps.runtime.learnDurations(learned)) {
      report.message = `${report.message ?? ''} (durations not learned: an outage started)`.trim();
      report.learned = {};
    }
    this.deps.log.info({ drill: report.id, status: report.status, learned: report.learned }, 'drill ended');
    await this.persist(report);
  }

  private async persist(report: DrillReport): Promise<void> {
    try {
      await this.deps.store.save({
        id: report.id,
        startedAt: report.startedAt,
        endedAt: report.endedAt,
        status: report.status,
        planVersion: report.planVersion,
        result: report as unknown as Record<string, unknown>,
      });
    } catch (error) {
      this.deps.log.warn(
        { drill: report.id, err: (error as Error).message },
        'cannot store the drill report',
      );
    }
  }
}

function fromRecord(record: DrillRecord): DrillReport {
  return record.result as unknown as DrillReport;
}

class Drill {
  readonly report: DrillReport;
  private state: EngineState;
  private offset = 0;
  private readonly startedAtVirtual: number;
  private readonly sims = new Map<string, SimulatorSource>();
  private readonly hosts = new Map<string, DrillHostReport>();
  private readonly commandedAt = new Map<string, number>();
  private readonly prefix: string;
  private timer: NodeJS.Timeout | undefined;
  private deadline: NodeJS.Timeout | undefined;
  private advancing = false;
  private ended = false;

  constructor(
    private readonly plan: Plan,
    live: EngineState,
    private readonly deps: {
      hub: AgentHub;
      controllerHost: ControllerHostConfig;
      log: Logger;
    },
    planVersion: number | null,
    private readonly maxSeconds: number,
    private readonly onEnd: (report: DrillReport) => void,
  ) {
    const now = Date.now();
    const id = `drill-${now.toString(36)}`;
    this.prefix = `${id}:`;
    this.state = initialState(plan, { history: learnedDurations(live) });
    this.startedAtVirtual = now;
    const ups = plan.ups.map((u) => {
      const reading = live.sources[u.id]?.reading;
      const load = reading?.load && reading.load > 0 ? reading.load : (u.battery?.load ?? 30);
      const charge = reading?.charge ?? 100;
      const model = fitBatteryModel(u.battery?.samples ?? []);
      const runtimeAtLoad =
        reading?.runtime && reading.charge && reading.charge > 5
          ? reading.runtime / (reading.charge / 100)
          : model
            ? runtimeAt(model, load)
            : 1800;
      const sim = new SimulatorSource(
        {
          id: u.id,
          type: 'simulator',
          interval: 1,
          load,
          runtimeAtLoad: Math.max(10, Math.round(runtimeAtLoad)),
          returnDelay: 5,
          script: [],
        },
        () => this.vnow(),
        { charge },
      );
      this.sims.set(u.id, sim);
      return { id: u.id, charge, load, runtimeAtLoad: Math.round(runtimeAtLoad) };
    });
    for (const h of plan.hosts) {
      if (h.kind !== 'wake-only') this.hosts.set(h.id, { host: h.id, kind: h.kind, steps: [] });
    }
    this.report = {
      id,
      status: 'running',
      startedAt: new Date(now).toISOString(),
      endedAt: null,
      planVersion,
      ups,
      hosts: [...this.hosts.values()],
      learned: {},
      simulatedSeconds: 0,
    };
  }

  private vnow(): number {
    return Date.now() + this.offset;
  }

  begin(): void {
    this.deadline = setTimeout(
      () => this.end('timed-out', `not finished after ${this.maxSeconds} s`),
      this.maxSeconds * 1000,
    );
    for (const [id, sim] of this.sims) {
      void sim.start({
        reading: (vars) => this.step([{ type: 'reading', source: id, reading: readingFromNutVars(vars) }]),
        lost: () => {},
      });
    }
    for (const sim of this.sims.values()) sim.setMains(false);
  }

  onAck(host: string, ack: Ack): void {
    if (this.ended || !ack.commandId.startsWith(this.prefix)) return;
    const report = this.hosts.get(host);
    report?.steps.push({
      step: ack.step,
      at: new Date(ack.at).toISOString(),
      ...(ack.hook !== undefined && { hook: ack.hook }),
      ...(ack.detail !== undefined && { detail: ack.detail.slice(0, 500) }),
    });
    if (ack.step === 'done') return;
    this.progress(host, ack.commandId.slice(this.prefix.length), ack.step, ack.detail);
  }

  private progress(
    host: string,
    commandId: string,
    step: Exclude<Ack['step'], 'done'>,
    detail?: string,
  ): void {
    const report = this.hosts.get(host);
    if (report && step === 'powering-off' && report.seconds === undefined) {
      const sent = this.commandedAt.get(host);
      const now = Date.now();
      report.downAt = new Date(now).toISOString();
      if (sent !== undefined && report.how !== 'not-rehearsed') {
        report.seconds = Math.round((now - sent) / 100) / 10;
        report.how = 'acknowledged';
      }
    }
    this.step([{ type: 'host-progress', host, commandId, step, ...(detail !== undefined && { detail }) }]);
  }

  private step(events: EngineEvent[]): void {
    if (this.ended) return;
    const result = stepMany(this.state, events, this.vnow());
    this.state = result.state;
    for (const action of result.actions) this.perform(action);
    this.report.simulatedSeconds = Math.round((this.vnow() - this.startedAtVirtual) / 1000);
    if (!this.ended) this.schedule();
  }

  private perform(action: EngineAction): void {
    const elapsed = () => Math.round((this.vnow() - this.startedAtVirtual) / 1000);
    switch (action.type) {
      case 'host-triggered': {
        const report = this.hosts.get(action.host);
        if (report) {
          report.trigger = action.trigger;
          report.triggeredAfter = elapsed();
        }
        break;
      }
      case 'shutdown-host':
        this.shutdown(action);
        break;
      case 'host-down': {
        const report = this.hosts.get(action.host);
        if (report && action.how === 'deadline-passed' && report.how === undefined) {
          report.how = 'deadline-passed';
          report.note = 'no powering-off acknowledgement before its deadline';
        }
        break;
      }
      case 'power-off-ups': {
        const ups = this.report.ups.find((u) => u.id === action.source);
        if (ups) ups.powerOff = `would be powered off now, with a ${action.delaySeconds} s delay (held back)`;
        break;
      }
      default:
        break;
    }
    this.checkDone();
  }

  private shutdown(action: Extract<EngineAction, { type: 'shutdown-host' }>): void {
    const host = this.plan.hosts.find((h) => h.id === action.host);
    const report = this.hosts.get(action.host);
    const viaAgent =
      action.kind === 'agent' ||
      (action.kind === 'controller' && this.deps.controllerHost.powerOff === 'agent');
    this.commandedAt.set(action.host, Date.now());
    if (report) report.commandedAt = new Date().toISOString();
    if (!viaAgent) {
      // Nothing can be rehearsed without doing it for real: report it and carry on.
      if (report) {
        report.how = 'not-rehearsed';
        report.note =
          action.kind === 'nut-client'
            ? 'nut-client: FSD would really shut it down, so it is not rehearsed'
            : `controller host (${this.deps.controllerHost.powerOff}): its power action is held back`;
      }
      setImmediate(() => this.progress(action.host, action.commandId, 'powering-off', 'not rehearsed'));
      return;
    }
    const ttl = Math.max(1, Math.ceil((action.deadline - this.vnow()) / 1000)) + COMMAND_GRACE_SECONDS;
    const delivery = this.deps.hub.sendCommand({
      host: action.host,
      id: `${this.prefix}${action.commandId}`,
      ttlSeconds: ttl,
      body: {
        action: 'shutdown',
        outage: this.report.id,
        reason: `drill: ${action.reason}`,
        hooks: host?.shutdown.hooks ?? [],
        powerOff: false,
      },
    });
    if (delivery === 'queued' && report) report.note = 'agent not connected when commanded';
  }

  /** Done when every host that can go down is down (or past its deadline), or nothing more can happen. */
  private checkDone(): void {
    if (this.ended || !this.state.outage) return;
    const runs = hostRuns(this.state);
    const settled = [...this.hosts.keys()].every((h) => {
      const phase = runs.get(h)?.phase;
      return phase === 'down' || phase === 'overdue';
    });
    if (settled) this.end('completed');
  }

  /**
   * Real time while hosts are shutting down; otherwise fast-forward simulated time (never past the
   * engine's next wake-up, and in steps of at most 10 s, so readings keep coming as they would).
   */
  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const outage = this.state.outage;
    if (outage && outage.inFlight > 0) {
      const at = nextWakeAt(this.state);
      if (at !== undefined)
        this.timer = setTimeout(() => this.step([{ type: 'tick' }]), Math.max(0, at - this.vnow()));
      return;
    }
    if (this.advancing) return;
    this.advancing = true;
    setImmediate(() => {
      this.advancing = false;
      if (this.ended) return;
      if (this.state.outage && this.state.outage.inFlight > 0) return this.schedule();
      if (this.batteriesEmpty()) {
        this.end('completed', this.untriggeredMessage());
        return;
      }
      const at = nextWakeAt(this.state);
      const target = at ?? this.vnow() + FAST_FORWARD_STEP_MS;
      const jump = Math.min(FAST_FORWARD_STEP_MS, Math.max(0, target - this.vnow()));
      this.offset += jump;
      for (const sim of this.sims.values()) sim.emit();
      if (at !== undefined && this.vnow() >= at) this.step([{ type: 'tick' }]);
    });
  }

  private batteriesEmpty(): boolean {
    return [...this.sims.values()].every((s) => s.vars()['ups.status']?.includes('OFF'));
  }

  private untriggeredMessage(): string | undefined {
    const runs = hostRuns(this.state);
    const left = [...this.hosts.keys()].filter((h) => {
      const phase = runs.get(h)?.phase;
      return phase !== 'down' && phase !== 'overdue';
    });
    return left.length > 0
      ? `the simulated batteries ran out before ${left.join(', ')} went down: in a real outage they would lose power`
      : undefined;
  }

  end(status: DrillReport['status'], message?: string): void {
    if (this.ended) return;
    this.ended = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.deadline) clearTimeout(this.deadline);
    for (const sim of this.sims.values()) void sim.stop();
    const runs = hostRuns(this.state);
    // Commands still out are withdrawn: the agents cancel what has not run yet.
    for (const [host, report] of this.hosts) {
      const run = runs.get(host);
      if (run?.phase === 'commanded' && run.commandId && report.how === undefined) {
        this.deps.hub.sendCommand({
          host,
          id: `${this.prefix}${run.commandId}:cancel`,
          ttlSeconds: COMMAND_GRACE_SECONDS,
          body: { action: 'cancel', outage: this.report.id, ref: `${this.prefix}${run.commandId}` },
        });
      }
      if (run?.commandId) this.deps.hub.forget(host, `${this.prefix}${run.commandId}`);
    }
    for (const report of this.hosts.values())
      if (report.how === 'acknowledged' && report.seconds !== undefined)
        this.report.learned[report.host] = report.seconds;
    this.report.status = status;
    this.report.endedAt = new Date().toISOString();
    if (message) this.report.message = message;
    this.onEnd(this.report);
  }
}
