import { EventEmitter } from 'node:events';
import { NutClient, type NutClientOptions } from './client.ts';
import { NutError, NutTransportError } from './errors.ts';
import { parseStatus, type UpsStatus } from './status.ts';

export interface NutReading {
  ups: string;
  /** Every variable the server lists for the UPS (`LIST VAR`), values as served. */
  vars: Record<string, string>;
  /** `ups.status` parsed (empty when the server does not serve it). */
  status: UpsStatus;
  /** Epoch milliseconds when the answer arrived. */
  at: number;
}

export interface NutChange {
  reading: NutReading;
  previous: NutReading | undefined;
  /** Names of variables that appeared, disappeared or changed value. */
  changed: string[];
}

/**
 * Why there is no reading: the server's DATA-STALE / DRIVER-NOT-CONNECTED, 'WAIT' (upsd has not
 * had its driver's first data yet), another ERR code (UNKNOWN-UPS, ACCESS-DENIED, …), or
 * 'connection-lost' when the server cannot be reached. "No data" is not an outage: nothing about
 * the power can be concluded from it.
 */
export type NutNoDataReason =
  | 'DATA-STALE'
  | 'DRIVER-NOT-CONNECTED'
  | 'WAIT'
  | 'connection-lost'
  | (string & {});

export type NutPollerState =
  | { state: 'data'; at: number }
  | { state: 'no-data'; reason: NutNoDataReason; error: Error; at: number };

export interface NutPollerEvents {
  reading: [reading: NutReading];
  change: [change: NutChange];
  /** The poller went from data to no data (or back), or the no-data reason changed. */
  state: [state: NutPollerState];
}

export interface NutPollerOptions {
  ups: string;
  /** Poll period (default 1000 ms). */
  intervalMs?: number;
  /** A client to use (the caller keeps owning it), or options for one the poller creates and closes. */
  client: NutClient | NutClientOptions;
}

/**
 * Polls one UPS with `LIST VAR` at a fixed rate and reports readings, changes, and "no data" as a
 * state of its own. A poll never overlaps the previous one; a reconnection triggers a poll at once.
 */
export class NutPoller extends EventEmitter<NutPollerEvents> {
  readonly ups: string;
  readonly intervalMs: number;
  readonly client: NutClient;
  private readonly ownsClient: boolean;
  private last: NutReading | undefined;
  private current: NutPollerState | undefined;
  private timer: NodeJS.Timeout | undefined;
  private inFlight = false;
  private running = false;
  private nextDue = 0;

  constructor(options: NutPollerOptions) {
    super();
    this.ups = options.ups;
    this.intervalMs = options.intervalMs ?? 1000;
    if (!(this.intervalMs > 0)) throw new RangeError('intervalMs must be positive');
    if (options.client instanceof NutClient) {
      this.client = options.client;
      this.ownsClient = false;
    } else {
      this.client = new NutClient(options.client);
      this.ownsClient = true;
    }
  }

  /** The latest reading, if any. */
  get reading(): NutReading | undefined {
    return this.last;
  }

  get state(): NutPollerState | undefined {
    return this.current;
  }

  start(): this {
    if (this.running) return this;
    this.running = true;
    this.client.on('connect', this.onConnect);
    this.client.on('disconnect', this.onDisconnect);
    if (!this.client.connected) {
      this.client.connect().catch((error: Error) => this.noData(error));
    }
    this.nextDue = Date.now();
    this.schedule();
    return this;
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
    this.client.off('connect', this.onConnect);
    this.client.off('disconnect', this.onDisconnect);
    if (this.ownsClient) this.client.close();
  }

  /** Polls now (outside the schedule) and resolves when the answer has been handled. */
  async poll(): Promise<void> {
    if (this.inFlight) return;
    if (!this.client.connected) {
      this.noData(new NutTransportError('not-connected', `not connected to ${this.client.host}`));
      return;
    }
    this.inFlight = true;
    try {
      const vars = await this.client.listVars(this.ups);
      this.onReading(vars);
    } catch (error) {
      this.noData(error instanceof Error ? error : new Error(String(error)));
    } finally {
      this.inFlight = false;
    }
  }

  private readonly onConnect = () => {
    if (this.running) void this.poll();
  };

  private readonly onDisconnect = (error: Error) => {
    if (this.running) this.noData(error);
  };

  private schedule(): void {
    if (!this.running) return;
    const now = Date.now();
    // Fixed rate without drift; after a stall, skip the missed slots instead of bursting.
    this.nextDue += this.intervalMs;
    if (this.nextDue < now) this.nextDue = now + this.intervalMs;
    this.timer = setTimeout(() => {
      void this.poll();
      this.schedule();
    }, this.nextDue - now);
  }

  private onReading(vars: Record<string, string>): void {
    if (!this.running) return;
    const at = Date.now();
    const status = parseStatus(vars['ups.status'] ?? '');
    if (status.known.has('WAIT')) {
      // upsd's placeholder until its driver's first dump: nothing is known yet.
      this.noData(new Error(`${this.ups}: the server waits for its driver's first data`), 'WAIT');
      return;
    }
    const reading: NutReading = { ups: this.ups, vars, status, at };
    const previous = this.last;
    this.last = reading;
    if (this.current?.state !== 'data') this.setState({ state: 'data', at });
    this.emit('reading', reading);
    const changed = diff(previous?.vars, vars);
    if (changed.length > 0) this.emit('change', { reading, previous, changed });
  }

  private noData(error: Error, reason: NutNoDataReason = noDataReason(error)): void {
    if (!this.running) return;
    if (this.current?.state === 'no-data' && this.current.reason === reason) return;
    this.setState({ state: 'no-data', reason, error, at: Date.now() });
  }

  private setState(state: NutPollerState): void {
    this.current = state;
    this.emit('state', state);
  }
}

function noDataReason(error: Error): NutNoDataReason {
  if (error instanceof NutError) return error.code;
  return error instanceof NutTransportError ? 'connection-lost' : error.message;
}

function diff(before: Record<string, string> | undefined, after: Record<string, string>): string[] {
  const changed: string[] = [];
  for (const [name, value] of Object.entries(after)) if (before?.[name] !== value) changed.push(name);
  if (before) for (const name of Object.keys(before)) if (!Object.hasOwn(after, name)) changed.push(name);
  return changed;
}

/** Starts a poller for `ups` (see `NutPoller`). */
export function watchUps(options: NutPollerOptions): NutPoller {
  return new NutPoller(options).start();
}
