import { type HidUps, openReplay, openUps, parseSelector, type UpsOptions } from '@blackstart/hid-driver';
import type { HidSourceConfig } from '../config.ts';
import type { Logger } from '../logger.ts';
import {
  capabilitiesFrom,
  type PowerSource,
  type SourceCapabilities,
  type SourceListener,
  type SourceStatus,
  UNKNOWN_CAPABILITIES,
} from './source.ts';

const REOPEN_FIRST_MS = 2000;
const REOPEN_MAX_MS = 30_000;

/**
 * A UPS on the controller's own USB port, read by `@blackstart/hid-driver` (no NUT needed). Status
 * changes arrive by interrupt the moment the UPS sends them; between them the driver's quick poll
 * runs every `interval` and the latest variables are passed on, so the engine always has fresh
 * readings. Unplugged (or not yet plugged in, or not permitted) is "no data", and the device is
 * opened again in the background.
 */
export class HidSource implements PowerSource {
  readonly kind = 'hid';
  readonly id: string;
  private ups: HidUps | undefined;
  private listener: SourceListener | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private reopenTimer: NodeJS.Timeout | undefined;
  private reopenDelay = REOPEN_FIRST_MS;
  private stopped = false;
  private current: SourceStatus;

  constructor(
    private readonly config: HidSourceConfig,
    private readonly log: Logger,
    /** How the device is opened; the default follows `config.device` / `config.replay`. */
    private readonly open: (options: UpsOptions) => Promise<HidUps> = (options) =>
      config.replay !== undefined
        ? openReplay(config.replay, options)
        : openUps(parseSelector(config.device), options),
  ) {
    this.id = config.id;
    this.current = { state: 'starting', description: this.deviceName() };
  }

  private deviceName(): string {
    if (this.ups) return this.ups.description;
    return this.config.replay !== undefined ? `replay of ${this.config.replay}` : `USB ${this.config.device}`;
  }

  async start(listener: SourceListener): Promise<void> {
    this.listener = listener;
    this.stopped = false;
    await this.connect();
    this.heartbeat = setInterval(() => this.emit(), this.config.interval * 1000);
  }

  private async connect(): Promise<void> {
    try {
      const ups = await this.open({
        pollIntervalMs: this.config.interval * 1000,
        ...(this.config.offDelay !== undefined && { offDelay: this.config.offDelay }),
        ...(this.config.onDelay !== undefined && { onDelay: this.config.onDelay }),
      });
      if (this.stopped) {
        await ups.close();
        return;
      }
      this.ups = ups;
      this.reopenDelay = REOPEN_FIRST_MS;
      ups.on('update', () => this.emit());
      ups.on('disconnect', ({ error }) => this.noData(`unplugged: ${error.message}`));
      ups.on('reconnect', () => this.emit());
      ups.on('warning', (message) => this.log.debug({ source: this.id, warning: message }, 'HID driver'));
      const caps = await this.capabilities();
      this.log.info({ source: this.id, device: ups.description, powerOff: caps.summary }, 'USB UPS opened');
      this.emit();
    } catch (error) {
      this.noData((error as Error).message);
      this.log.error(
        { source: this.id, err: (error as Error).message, retryInMs: this.reopenDelay },
        'cannot open the USB UPS',
      );
      this.reopenTimer = setTimeout(() => {
        this.reopenTimer = undefined;
        void this.connect();
      }, this.reopenDelay);
      this.reopenDelay = Math.min(REOPEN_MAX_MS, this.reopenDelay * 2);
    }
  }

  private noData(reason: string): void {
    this.current = {
      state: 'no-data',
      reason,
      ...(this.current.lastReadingAt !== undefined && { lastReadingAt: this.current.lastReadingAt }),
      description: this.deviceName(),
    };
    this.listener?.lost(reason);
  }

  private emit(): void {
    const ups = this.ups;
    if (!ups?.connected || !this.listener) return;
    const vars = ups.variables();
    if (!vars['ups.status']) return;
    this.current = { state: 'data', lastReadingAt: Date.now(), description: ups.description };
    this.listener.reading({ ...vars });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    this.listener = undefined;
    await this.ups?.close();
    this.ups = undefined;
  }

  status(): SourceStatus {
    return this.current;
  }

  async capabilities(): Promise<SourceCapabilities> {
    if (!this.ups) return UNKNOWN_CAPABILITIES;
    return capabilitiesFrom(this.ups.supportedCommands(), this.config.powerOff.command);
  }

  private requireUps(): HidUps {
    if (!this.ups?.connected) throw new Error(`${this.deviceName()} is not connected`);
    return this.ups;
  }

  async powerOff(delaySeconds: number): Promise<string> {
    const ups = this.requireUps();
    const caps = await this.capabilities();
    const command = caps.powerOffCommand;
    if (!command) throw new Error(`${ups.description} ${caps.summary}`);
    const delay = Math.round(delaySeconds);
    await ups.runCommand(command, delay);
    const vars = ups.variables();
    return `${ups.description}: ${command} ${delay} s (ups.timer.shutdown ${vars['ups.timer.shutdown'] ?? '?'}, ups.delay.start ${vars['ups.delay.start'] ?? '?'})`;
  }

  async powerOn(): Promise<string> {
    const ups = this.requireUps();
    const status = ups.variables()['ups.status'] ?? '';
    if (!status.split(' ').includes('OFF')) return `${ups.description}: output already on (${status})`;
    await ups.runCommand('load.on');
    return `${ups.description}: load.on`;
  }
}
