import {
  type EngineAction,
  type EngineEvent,
  type EngineState,
  initialState,
  nextWakeAt,
  type Plan,
  readingFromNutVars,
  step,
  type UpsReading,
  validatePlan,
} from '../src/index.ts';

export function plan(input: unknown): Plan {
  const v = validatePlan(input);
  if (!v.ok) throw new Error(JSON.stringify(v.errors, null, 2));
  return v.plan;
}

/** A reading from a status line and optional charge %, runtime s, extra NUT variables. */
export function reading(
  status: string,
  values: { charge?: number; runtime?: number; test?: string } = {},
): UpsReading {
  return readingFromNutVars({
    'ups.status': status,
    ...(values.charge !== undefined && { 'battery.charge': String(values.charge) }),
    ...(values.runtime !== undefined && { 'battery.runtime': String(values.runtime) }),
    ...(values.test !== undefined && { 'ups.test.result': values.test }),
  });
}

export interface DriverOptions {
  /** The controller polls every source this often (ms); 0 turns polling off. */
  pollMs?: number;
  /** Hosts acknowledge "powering-off" this long after their command (ms), or never. */
  ackMs?: number | 'never' | Record<string, number | 'never'>;
  /** Woken hosts report healthy this long after their wake-up (ms), or never. */
  bootMs?: number | Record<string, number | 'never'>;
  history?: Record<string, number[]>;
}

/**
 * Drives the engine the way the controller does: it polls every UPS, sets one timer at
 * `nextWakeAt`, and (optionally) plays agents that acknowledge and boot. Every action is logged
 * with the time it was emitted.
 */
export class Driver {
  state: EngineState;
  now = 0;
  readonly log: Array<[number, EngineAction]> = [];
  private readonly current = new Map<string, UpsReading | 'lost'>();
  private queue: Array<[number, number, EngineEvent]> = [];
  private seq = 0;
  private nextPoll: number | undefined;

  constructor(
    p: Plan,
    private readonly options: DriverOptions = {},
  ) {
    this.state = initialState(p, options.history ? { history: options.history } : {});
  }

  /** The UPS now reports `r` (and keeps reporting it at every poll). */
  set(source: string, r: UpsReading): this {
    this.current.set(source, r);
    this.send({ type: 'reading', source, reading: r });
    const poll = this.options.pollMs ?? 5000;
    if (poll > 0 && this.nextPoll === undefined) this.nextPoll = this.now + poll;
    return this;
  }

  /** The UPS stops answering. */
  lose(source: string, reason = 'DATA-STALE'): this {
    this.current.set(source, 'lost');
    return this.send({ type: 'source-lost', source, reason });
  }

  /** The UPS goes quiet without an error (a hung poller): the engine notices the staleness itself. */
  silence(source: string): this {
    this.current.set(source, 'lost');
    return this;
  }

  send(event: EngineEvent): this {
    const r = step(this.state, event, this.now);
    this.state = r.state;
    for (const a of r.actions) this.react(a);
    return this;
  }

  /** Schedules an event at an absolute time (ms). */
  at(t: number, event: EngineEvent): this {
    this.queue.push([t, this.seq++, event]);
    this.queue.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    return this;
  }

  /** Runs polls, scheduled events and engine wake-ups up to and including `to` (ms). */
  until(to: number): this {
    for (;;) {
      const wake = nextWakeAt(this.state);
      const event = this.queue[0]?.[0];
      const t = Math.min(wake ?? Infinity, event ?? Infinity, this.nextPoll ?? Infinity);
      if (!Number.isFinite(t) || t > to) break;
      this.now = Math.max(this.now, t);
      if (event !== undefined && event <= this.now) {
        this.send(this.queue.shift()![2]);
      } else if (this.nextPoll !== undefined && this.nextPoll <= this.now) {
        this.nextPoll += this.options.pollMs ?? 5000;
        for (const [source, r] of this.current)
          if (r !== 'lost') this.send({ type: 'reading', source, reading: r });
      } else {
        this.send({ type: 'tick' });
      }
    }
    this.now = Math.max(this.now, to);
    return this;
  }

  /** Persists and restores the engine state, as a restarted controller does. */
  restart(): this {
    this.state = JSON.parse(JSON.stringify(this.state)) as EngineState;
    return this;
  }

  actions<T extends EngineAction['type']>(type: T): Array<[number, Extract<EngineAction, { type: T }>]> {
    return this.log.filter(([, a]) => a.type === type) as Array<[number, Extract<EngineAction, { type: T }>]>;
  }

  /** `[time, host]` of each action of a type that names a host. */
  hosts(type: EngineAction['type']): Array<[number, string]> {
    return this.log.filter(([, a]) => a.type === type).map(([t, a]) => [t, (a as { host: string }).host]);
  }

  types(): string[] {
    return this.log.map(([, a]) => a.type);
  }

  private react(a: EngineAction): void {
    this.log.push([this.now, a]);
    if (a.type === 'shutdown-host') {
      const ms = pick(this.options.ackMs, a.host, 2000);
      if (ms !== 'never')
        this.at(this.now + ms, {
          type: 'host-progress',
          host: a.host,
          commandId: a.commandId,
          step: 'powering-off',
        });
    }
    if (a.type === 'wake-host' && this.options.bootMs !== undefined) {
      const ms = pick(this.options.bootMs, a.host, 30_000);
      if (ms !== 'never') this.at(this.now + ms, { type: 'host-healthy', host: a.host });
    }
  }
}

function pick(
  option: number | 'never' | Record<string, number | 'never'> | undefined,
  host: string,
  fallback: number,
): number | 'never' {
  if (option === undefined) return fallback;
  if (typeof option === 'number' || option === 'never') return option;
  return option[host] ?? fallback;
}
