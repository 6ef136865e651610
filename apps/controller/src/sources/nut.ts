import { readFileSync } from 'node:fs';
import { NutClient, NutPoller, type NutTlsOptions } from '@blackstart/nut-protocol';
import type { NutSourceConfig } from '../config.ts';
import type { Logger } from '../logger.ts';
import {
  capabilitiesFrom,
  type PowerSource,
  type SourceCapabilities,
  type SourceListener,
  type SourceStatus,
  UNKNOWN_CAPABILITIES,
} from './source.ts';

/** How long a tracked INSTCMD / SET VAR may stay PENDING before we stop waiting for its outcome. */
const TRACKING_WAIT_MS = 10_000;

/**
 * A UPS on a NUT server (upsd, a Synology, another Blackstart): polled with `LIST VAR` every
 * `interval` (NutPoller), with "no data" (DATA-STALE, driver gone, connection lost) reported as
 * such. Power commands go over the same connection with the configured user, tracked where the
 * server supports it.
 */
export class NutSource implements PowerSource {
  readonly kind = 'nut';
  readonly id: string;
  private client: NutClient | undefined;
  private poller: NutPoller | undefined;
  private known: SourceCapabilities | undefined;
  private current: SourceStatus;

  constructor(
    private readonly config: NutSourceConfig,
    private readonly log: Logger,
  ) {
    this.id = config.id;
    this.current = { state: 'starting', description: this.description };
  }

  get description(): string {
    const host = this.config.host.includes(':') ? `[${this.config.host}]` : this.config.host;
    return `${this.config.ups}@${host}:${this.config.port}`;
  }

  async start(listener: SourceListener): Promise<void> {
    const { config } = this;
    this.client = new NutClient({
      host: config.host,
      port: config.port,
      ...(config.tls.mode !== 'off' && { tls: this.tlsOptions() }),
      timeouts: { connectMs: config.timeout * 1000, requestMs: config.timeout * 1000 },
      ...(config.username !== undefined && {
        session: {
          username: config.username,
          ...(config.password !== undefined && { password: config.password }),
        },
      }),
    });
    this.client.on('connect', (info) => {
      this.log.info({ source: this.id, server: this.description, tls: info.tls }, 'connected to NUT server');
      // Find out early (before any outage) whether this UPS can be power-cycled.
      if (!this.known) void this.capabilities().catch(() => {});
    });
    this.poller = new NutPoller({ ups: config.ups, intervalMs: config.interval * 1000, client: this.client });
    this.poller.on('reading', (reading) => {
      this.current = { state: 'data', lastReadingAt: reading.at, description: this.description };
      listener.reading(reading.vars);
    });
    this.poller.on('state', (state) => {
      if (state.state !== 'no-data') return;
      this.current = {
        state: 'no-data',
        reason: `${state.reason}: ${state.error.message}`,
        ...(this.current.lastReadingAt !== undefined && { lastReadingAt: this.current.lastReadingAt }),
        description: this.description,
      };
      this.log.warn({ source: this.id, reason: state.reason, err: state.error.message }, 'no data from UPS');
      listener.lost(state.reason);
    });
    this.poller.start();
  }

  private tlsOptions(): NutTlsOptions {
    const { tls } = this.config;
    return {
      mode: tls.mode,
      allowPlaintextFallback: tls.allowPlaintextFallback,
      ...(tls.ca !== undefined && { ca: readFileSync(tls.ca) }),
      ...(tls.fingerprint !== undefined && { fingerprint256: tls.fingerprint.replace(/^sha256:/i, '') }),
      ...(tls.servername !== undefined && { servername: tls.servername }),
    };
  }

  async stop(): Promise<void> {
    this.poller?.stop();
    this.client?.close();
  }

  status(): SourceStatus {
    return this.current;
  }

  async capabilities(): Promise<SourceCapabilities> {
    if (this.known) return this.known;
    const client = this.connectedClient();
    if (!client) return UNKNOWN_CAPABILITIES;
    const commands = await client.listCmds(this.config.ups);
    this.known = capabilitiesFrom(commands, this.config.powerOff.command);
    return this.known;
  }

  private connectedClient(): NutClient | undefined {
    return this.client?.connected ? this.client : undefined;
  }

  private requireClient(): NutClient {
    const client = this.connectedClient();
    if (!client) throw new Error(`not connected to ${this.description}`);
    return client;
  }

  async powerOff(delaySeconds: number): Promise<string> {
    const client = this.requireClient();
    const ups = this.config.ups;
    const caps = await this.capabilities();
    const command = caps.powerOffCommand;
    if (!command) throw new Error(`${this.description} ${caps.summary}`);
    const tracking = await client.setTracking(true).then(
      () => true,
      () => false,
    );
    const delay = String(Math.round(delaySeconds));
    const parts: string[] = [];
    // The delay is the driver's ups.delay.shutdown: set it when the server lets us, else pass it
    // with the command (drivers that take no argument use their own offdelay, reported below).
    const writable = await client.listRw(ups).catch(() => ({}) as Record<string, string>);
    let parameter: string | undefined = delay;
    if ('ups.delay.shutdown' in writable) {
      const set = await client.setVar(ups, 'ups.delay.shutdown', delay);
      parts.push(`ups.delay.shutdown set to ${delay} s${await this.outcome(client, set.tracking)}`);
      parameter = undefined;
    }
    const sent = await client.instcmd(ups, command, parameter);
    parts.push(
      `INSTCMD ${command}${parameter ? ` ${parameter}` : ''}${await this.outcome(client, sent.tracking)}`,
    );
    if (!tracking) parts.push('(the server does not track commands: the driver accepted it)');
    const current = await client.getVar(ups, 'ups.delay.shutdown').catch(() => undefined);
    if (current !== undefined && current !== delay)
      parts.push(`the UPS reports ups.delay.shutdown ${current} s`);
    return `${this.description}: ${parts.join('; ')}`;
  }

  /** Waits for a tracked command's outcome: ' (SUCCESS)', or throws what the driver said. */
  private async outcome(client: NutClient, id: string | undefined): Promise<string> {
    if (!id) return '';
    const until = Date.now() + TRACKING_WAIT_MS;
    for (;;) {
      const result = await client.getTrackingResult(id);
      if (result === 'SUCCESS') return ' (SUCCESS)';
      if (Date.now() > until) return ' (still PENDING after 10 s)';
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  async powerOn(): Promise<string> {
    const client = this.requireClient();
    const status = await client.getVar(this.config.ups, 'ups.status').catch(() => '');
    if (status && !status.split(' ').includes('OFF'))
      return `${this.description}: output already on (${status})`;
    const caps = await this.capabilities();
    if (!caps.loadOn) throw new Error(`${this.description} does not offer load.on`);
    await client.setTracking(true).catch(() => {});
    const sent = await client.instcmd(this.config.ups, 'load.on');
    return `${this.description}: INSTCMD load.on${await this.outcome(client, sent.tracking)}`;
  }
}
