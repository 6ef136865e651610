import type { SimulatorSourceConfig, SimulatorStep } from '../config.ts';
import {
  capabilitiesFrom,
  type NutVars,
  type PowerSource,
  type SourceCapabilities,
  type SourceListener,
  type SourceStatus,
} from './source.ts';

const COMMANDS = [
  'load.off',
  'load.off.delay',
  'load.on',
  'shutdown.return',
  'shutdown.reboot',
  'shutdown.stop',
];

/**
 * A simulated UPS with a simple battery model: on battery the charge falls linearly so that a full
 * battery lasts `runtimeAtLoad` seconds at the configured load (shorter at a higher load); on mains
 * it recharges. A timed power-off cuts the output and brings it back `returnDelay` seconds after
 * mains returns. A script (from the configuration, the API or a drill) changes mains, load and
 * charge over time, and can make the UPS stop answering.
 */
export class SimulatorSource implements PowerSource {
  readonly kind = 'simulator';
  readonly id: string;
  private mains = true;
  private charge = 100;
  private load: number;
  private outputOn = true;
  private silent = false;
  private offAt: number | undefined;
  private mainsSince: number;
  private lastTick: number;
  private lastReadingAt: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly scriptTimers = new Set<NodeJS.Timeout>();
  private listener: SourceListener | undefined;

  constructor(
    private readonly config: SimulatorSourceConfig,
    private readonly clock: () => number = Date.now,
    initial: { charge?: number; load?: number } = {},
  ) {
    this.id = config.id;
    this.lastTick = clock();
    this.mainsSince = this.lastTick;
    this.load = initial.load ?? config.load;
    if (initial.charge !== undefined) this.charge = initial.charge;
  }

  async start(listener: SourceListener): Promise<void> {
    this.listener = listener;
    this.lastTick = this.clock();
    this.emit();
    this.timer = setInterval(() => this.emit(), this.config.interval * 1000);
    if (this.config.script.length > 0) this.play(this.config.script);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const t of this.scriptTimers) clearTimeout(t);
    this.scriptTimers.clear();
    this.listener = undefined;
  }

  status(): SourceStatus {
    return {
      state: this.silent ? 'no-data' : this.lastReadingAt === undefined ? 'starting' : 'data',
      ...(this.silent && { reason: 'simulated loss of data' }),
      ...(this.lastReadingAt !== undefined && { lastReadingAt: this.lastReadingAt }),
      description: 'simulated UPS',
    };
  }

  async capabilities(): Promise<SourceCapabilities> {
    return capabilitiesFrom(COMMANDS, 'auto');
  }

  /** Plays script steps, each `at` seconds from now (steps at 0 apply at once, in order). */
  play(steps: readonly SimulatorStep[]): void {
    for (const s of [...steps].sort((a, b) => a.at - b.at)) {
      if (s.at <= 0) {
        this.apply(s);
        continue;
      }
      const timer = setTimeout(() => {
        this.scriptTimers.delete(timer);
        this.apply(s);
      }, s.at * 1000);
      this.scriptTimers.add(timer);
    }
  }

  /** Applies one change now; the next reading goes out at once. */
  apply(change: Omit<SimulatorStep, 'at'>): void {
    this.advance();
    if (change.mains !== undefined) {
      if (change.mains && !this.mains) this.mainsSince = this.clock();
      this.mains = change.mains;
    }
    if (change.load !== undefined) this.load = change.load;
    if (change.charge !== undefined) this.charge = change.charge;
    if (change.lost !== undefined) {
      this.silent = change.lost;
      if (change.lost) this.listener?.lost('simulated loss of data');
    }
    this.emit();
  }

  /** Mains fails (false) or returns (true). The next reading goes out at once. */
  setMains(on: boolean): void {
    this.apply({ mains: on });
  }

  get mainsPresent(): boolean {
    return this.mains;
  }

  async powerOff(delaySeconds: number): Promise<string> {
    this.offAt = this.clock() + delaySeconds * 1000;
    this.emit();
    return `simulated UPS: shutdown.return — output off in ${delaySeconds} s, back on ${this.config.returnDelay} s after mains returns`;
  }

  async powerOn(): Promise<string> {
    this.advance();
    this.offAt = undefined;
    if (this.outputOn) return 'simulated UPS output was already on';
    this.outputOn = true;
    this.emit();
    return 'simulated UPS output switched on';
  }

  /** Seconds a full battery lasts at the current load (runtime ∝ 1/load^1.3, Peukert-like). */
  private fullRuntime(): number {
    return this.config.runtimeAtLoad * (this.config.load / this.load) ** 1.3;
  }

  private advance(): void {
    const now = this.clock();
    const dt = Math.max(0, (now - this.lastTick) / 1000);
    this.lastTick = now;
    if (this.offAt !== undefined && now >= this.offAt) {
      this.outputOn = false;
      this.offAt = undefined;
    }
    if (!this.mains && this.outputOn) {
      this.charge = Math.max(0, this.charge - (100 / this.fullRuntime()) * dt);
      if (this.charge === 0) this.outputOn = false;
    } else if (this.mains) {
      // Lead-acid batteries recharge roughly ten times slower than they discharge.
      this.charge = Math.min(100, this.charge + (10 / this.config.runtimeAtLoad) * dt);
      if (
        !this.outputOn &&
        this.offAt === undefined &&
        now - this.mainsSince >= this.config.returnDelay * 1000
      )
        this.outputOn = true;
    }
  }

  /** The current state as NUT variables. */
  vars(): NutVars {
    this.advance();
    const runtime = Math.round((this.charge / 100) * this.fullRuntime());
    const status: string[] = [this.mains ? 'OL' : 'OB'];
    if (!this.outputOn) status.push('OFF');
    else if (!this.mains) status.push('DISCHRG');
    else if (this.charge < 99.5) status.push('CHRG');
    if (!this.mains && (this.charge <= 10 || runtime <= 120)) status.push('LB');
    const now = this.clock();
    return {
      'battery.charge': String(Math.round(this.charge)),
      'battery.charge.low': '10',
      'battery.runtime': String(runtime),
      'battery.runtime.low': '120',
      'device.mfr': 'Blackstart',
      'device.model': 'Simulated UPS',
      'device.type': 'ups',
      'input.voltage': this.mains ? '230.0' : '0.0',
      'ups.delay.shutdown': '20',
      'ups.load': String(this.outputOn ? Math.round(this.load) : 0),
      'ups.status': status.join(' '),
      'ups.timer.shutdown':
        this.offAt === undefined ? '-1' : String(Math.max(0, Math.round((this.offAt - now) / 1000))),
    };
  }

  /** Sends the current reading now (unless the simulated UPS is silent). */
  emit(): void {
    if (this.silent || !this.listener) return;
    this.lastReadingAt = this.clock();
    this.listener.reading(this.vars());
  }
}
