import type { SimulatorSourceConfig } from '../config.ts';
import type { NutVars, PowerSource, SourceListener } from './source.ts';

/**
 * A simulated UPS with a simple battery model: on battery the charge falls linearly so that a full
 * battery lasts `runtimeAtLoad` seconds at the configured load; on mains it recharges. A timed
 * power-off cuts the output and brings it back `returnDelay` seconds after mains returns.
 */
export class SimulatorSource implements PowerSource {
  readonly kind = 'simulator';
  readonly id: string;
  private mains = true;
  private charge = 100;
  private outputOn = true;
  private offAt: number | undefined;
  private mainsSince: number;
  private lastTick: number;
  private timer: NodeJS.Timeout | undefined;
  private listener: SourceListener | undefined;

  constructor(
    private readonly config: SimulatorSourceConfig,
    private readonly clock: () => number = Date.now,
  ) {
    this.id = config.id;
    this.lastTick = clock();
    this.mainsSince = this.lastTick;
  }

  async start(listener: SourceListener): Promise<void> {
    this.listener = listener;
    this.lastTick = this.clock();
    this.emit();
    this.timer = setInterval(() => this.emit(), this.config.interval * 1000);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.listener = undefined;
  }

  /** Mains fails (false) or returns (true). The next reading goes out at once. */
  setMains(on: boolean): void {
    this.advance();
    if (on && !this.mains) this.mainsSince = this.clock();
    this.mains = on;
    this.emit();
  }

  get mainsPresent(): boolean {
    return this.mains;
  }

  async powerOff(delaySeconds: number): Promise<string> {
    this.offAt = this.clock() + delaySeconds * 1000;
    this.emit();
    return `simulated UPS output off in ${delaySeconds} s, back on ${this.config.returnDelay} s after mains returns`;
  }

  async powerOn(): Promise<string> {
    this.advance();
    this.offAt = undefined;
    if (this.outputOn) return 'simulated UPS output was already on';
    this.outputOn = true;
    this.emit();
    return 'simulated UPS output switched on';
  }

  private advance(): void {
    const now = this.clock();
    const dt = (now - this.lastTick) / 1000;
    this.lastTick = now;
    if (this.offAt !== undefined && now >= this.offAt) {
      this.outputOn = false;
      this.offAt = undefined;
    }
    if (!this.mains && this.outputOn) {
      this.charge = Math.max(0, this.charge - (100 / this.config.runtimeAtLoad) * dt);
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
    const runtime = Math.round((this.charge / 100) * this.config.runtimeAtLoad);
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
      'ups.load': String(this.outputOn ? this.config.load : 0),
      'ups.status': status.join(' '),
      'ups.timer.shutdown':
        this.offAt === undefined ? '-1' : String(Math.max(0, Math.round((this.offAt - now) / 1000))),
    };
  }

  private emit(): void {
    this.listener?.reading(this.vars());
  }
}
