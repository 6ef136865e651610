import type { UpsStateMessage } from '@blackstart/agent-protocol';
import { NutPoller, type NutPollerState, type NutReading } from '@blackstart/nut-protocol';
import type { Logger } from 'pino';
import type { NutFallback } from './config.ts';
import type { UpsSnapshot } from './executor.ts';

interface KnownUps extends UpsSnapshot {
  at: number;
  source: 'controller' | 'nut';
}

export interface FailSafeOptions {
  /** How long the agent waits for the controller, once gone while on battery, before shutting down. */
  deadlineMs: number;
  /** Runs the agent's own shutdown (hooks, then the power action). */
  shutDown: (reason: string) => Promise<void>;
  log: Logger;
  /** A NUT server followed directly while the controller is unreachable. */
  nut?: NutFallback;
  clock?: () => number;
}

export interface FailSafeStatus {
  ups: KnownUps | null;
  controller: 'connected' | 'lost';
  /** Epoch ms at which the agent shuts down on its own unless the controller returns (or mains does). */
  shutdownAt: number | null;
  triggered: boolean;
  nut: string | null;
}

/**
 * The agent's protection when the controller vanishes. The controller streams the UPS state; if the
 * link is lost while the UPS was last seen on battery, the agent shuts its host down on its own once
 * the deadline passes — unless the controller comes back first. Losing the controller on mains only
 * means reconnecting. With a NUT fallback the agent follows the UPS directly while the controller is
 * gone: on battery arms the deadline, back on mains disarms it, low battery or FSD shuts down at once.
 */
export class FailSafe {
  private ups: KnownUps | undefined;
  private connected = false;
  private shutdownAt: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private triggered = false;
  private poller: NutPoller | undefined;
  private stopped = false;

  constructor(
    private readonly options: FailSafeOptions,
    private readonly onChange: (status: FailSafeStatus) => void = () => {},
  ) {}

  private now(): number {
    return (this.options.clock ?? Date.now)();
  }

  /** The last UPS state known, from the controller or NUT (for the hooks' environment). */
  snapshot(): UpsSnapshot | undefined {
    if (!this.ups) return undefined;
    const { onBattery, charge, runtime } = this.ups;
    return { onBattery, ...(charge !== undefined && { charge }), ...(runtime !== undefined && { runtime }) };
  }

  status(): FailSafeStatus {
    return {
      ups: this.ups ?? null,
      controller: this.connected ? 'connected' : 'lost',
      shutdownAt: this.shutdownAt ?? null,
      triggered: this.triggered,
      nut: this.options.nut
        ? `${this.options.nut.ups}@${this.options.nut.host}:${this.options.nut.port}`
        : null,
    };
  }

  upsFromController(message: UpsStateMessage): void {
    const changed = this.ups?.onBattery !== message.onBattery;
    this.ups = {
      onBattery: message.onBattery,
      ...(message.charge !== undefined && { charge: message.charge }),
      ...(message.runtime !== undefined && { runtime: message.runtime }),
      at: this.now(),
      source: 'controller',
    };
    if (changed) {
      this.options.log.info({ onBattery: message.onBattery }, 'UPS state from the controller');
      this.onChange(this.status());
    }
  }

  controllerConnected(): void {
    this.connected = true;
    this.stopNut();
    if (this.shutdownAt !== undefined && !this.triggered)
      this.options.log.warn('controller is back before the fail-safe deadline; standing down');
    this.disarm();
    // A fail-safe run (a dry-run or a failed power-off leaves the agent running) does not disable the next one.
    this.triggered = false;
    this.onChange(this.status());
  }

  /** Starts following NUT (if configured) until the controller is first reached. */
  start(): void {
    if (!this.connected) this.startNut();
  }

  controllerLost(): void {
    this.connected = false;
    if (this.ups?.onBattery) this.arm('the controller is unreachable and the UPS was last seen on battery');
    else
      this.options.log.warn(
        { ups: this.ups ? 'on mains' : 'unknown' },
        'controller unreachable; reconnecting (no fail-safe shutdown while the UPS is not on battery)',
      );
    this.startNut();
    this.onChange(this.status());
  }

  private arm(why: string): void {
    if (this.triggered || this.timer || this.stopped) return;
    this.shutdownAt = this.now() + this.options.deadlineMs;
    this.options.log.warn(
      {
        deadlineSeconds: this.options.deadlineMs / 1000,
        shutdownAt: new Date(this.shutdownAt).toISOString(),
      },
      `${why}: shutting down on my own at the deadline unless the controller comes back`,
    );
    this.timer = setTimeout(
      () =>
        this.trigger(
          `fail-safe: controller unreachable for ${this.options.deadlineMs / 1000} s while on battery`,
        ),
      this.options.deadlineMs,
    );
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.shutdownAt = undefined;
  }

  private trigger(reason: string): void {
    if (this.triggered || this.stopped) return;
    this.disarm();
    this.triggered = true;
    this.options.log.error({ reason }, 'fail-safe shutdown');
    this.onChange(this.status());
    this.options.shutDown(reason).catch((error: unknown) => {
      this.options.log.error({ err: error }, 'fail-safe shutdown failed');
    });
  }

  private startNut(): void {
    const nut = this.options.nut;
    if (!nut || this.poller || this.stopped) return;
    this.poller = new NutPoller({
      ups: nut.ups,
      intervalMs: nut.intervalMs,
      client: {
        host: nut.host,
        port: nut.port,
        ...((nut.username || nut.password) && {
          session: {
            ...(nut.username && { username: nut.username }),
            ...(nut.password && { password: nut.password }),
          },
        }),
      },
    });
    this.poller.on('reading', (reading) => this.onNutReading(reading));
    this.poller.on('state', (state: NutPollerState) => {
      if (state.state === 'no-data')
        this.options.log.warn(
          { reason: state.reason },
          'NUT fallback has no data; keeping the last known UPS state',
        );
    });
    this.poller.start();
    this.options.log.info(
      { nut: this.status().nut },
      'following the NUT server while the controller is gone',
    );
  }

  private stopNut(): void {
    this.poller?.stop();
    this.poller = undefined;
  }

  private onNutReading(reading: NutReading): void {
    if (this.connected) return;
    const { status, vars } = reading;
    const onBattery = status.onBattery && !status.onLine;
    const number = (name: string) => {
      const n = Number(vars[name]);
      return vars[name] !== undefined && Number.isFinite(n) ? n : undefined;
    };
    const charge = number('battery.charge');
    const runtime = number('battery.runtime');
    const was = this.ups?.onBattery;
    this.ups = {
      onBattery,
      ...(charge !== undefined && { charge }),
      ...(runtime !== undefined && { runtime }),
      at: reading.at,
      source: 'nut',
    };
    if (status.forcedShutdown || (onBattery && status.lowBattery)) {
      this.trigger(`fail-safe: NUT reports ${status.raw} while the controller is unreachable`);
      return;
    }
    if (onBattery)
      this.arm(`NUT reports the UPS on battery (${status.raw}) and the controller is unreachable`);
    else if (this.timer) {
      this.options.log.warn({ status: status.raw }, 'NUT reports mains power back; fail-safe stands down');
      this.disarm();
    }
    if (was !== onBattery) this.onChange(this.status());
  }

  stop(): void {
    this.stopped = true;
    this.disarm();
    this.stopNut();
  }
}
