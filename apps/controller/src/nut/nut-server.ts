import { isIP } from 'node:net';
import { hashPassword, type NutIdentity, NutServer, readSystemCmdvartab } from '@blackstart/nut-protocol';
import type { Host, Plan } from '@blackstart/policy';
import type { NutServerConfig } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { TlsMaterial } from '../security/tls.ts';
import type { NutVars } from '../sources/source.ts';

export interface NutServerEventsSink {
  /** A nut-client host logged in: its health check. */
  healthy(host: string): void;
  /** A nut-client host that was told FSD left: its shutdown started. */
  poweringOff(host: string, commandId: string, detail: string): void;
}

interface RaisedFsd {
  commandId: string;
  identity: NutIdentity;
  names: string[];
}

/**
 * The controller's own upsd-compatible server, for NUT-only appliances (`nut-client` hosts: a
 * Synology as NUT secondary, a switch, a printer server). It serves the controller's sources as
 * virtual UPSes; at a nut-client's stage it raises FSD for that client alone (by NUT user and/or
 * source address), and the client leaving afterwards is its "powering off". A client logging in is
 * its health check on the way back.
 */
export class ControllerNutServer {
  readonly server: NutServer;
  /** Served UPS names per source id. */
  private readonly namesBySource = new Map<string, string[]>();
  private readonly raised = new Map<string, RaisedFsd>();

  constructor(
    private readonly config: NutServerConfig,
    sourceIds: readonly string[],
    /** The plan in force (its nut-client hosts and their supplies). */
    private readonly currentPlan: () => Plan,
    private readonly sink: NutServerEventsSink,
    private readonly log: Logger,
    tls?: TlsMaterial,
  ) {
    const served = config.ups ?? sourceIds.map((id) => ({ name: id, source: id }));
    this.server = new NutServer({
      host: config.host,
      port: config.port,
      users: config.users.map((u) => ({
        name: u.name,
        passwordHash: u.passwordHash ?? hashPassword(u.password!),
        upsmon: u.upsmon,
      })),
      banner: 'Network UPS Tools upsd 2.8.0 (Blackstart controller)',
      descriptions: readSystemCmdvartab(),
      ...(config.tls && tls && { tls: { key: tls.key, cert: tls.cert } }),
    });
    for (const { name, source } of served) {
      this.server.addUps(name, {
        description: `Blackstart: ${source}`,
        availability: 'driver-not-connected',
      });
      this.namesBySource.set(source, [...(this.namesBySource.get(source) ?? []), name]);
    }
    this.server.on('login', (client) => {
      for (const host of this.hostsMatching(client.user, client.address)) {
        if (this.raised.has(host)) continue; // still told to go down: not a sign of health
        this.log.info({ host, user: client.user, address: client.address }, 'NUT client logged in');
        this.sink.healthy(host);
      }
    });
    this.server.on('disconnect', (client) => {
      if (client.reason === 'server-closed') return;
      for (const host of this.hostsMatching(client.user, client.address)) {
        const raised = this.raised.get(host);
        if (!raised) continue;
        this.sink.poweringOff(
          host,
          raised.commandId,
          `NUT client ${client.user ?? '?'}@${client.address} left after FSD (${client.reason})`,
        );
      }
    });
  }

  async listen(): Promise<{ port: number; addresses: string[] }> {
    const result = await this.server.listen();
    this.log.info({ port: result.port, addresses: result.addresses }, 'NUT server listening');
    return result;
  }

  get port(): number {
    return this.server.port;
  }

  private get plan(): Plan {
    return this.currentPlan();
  }

  /** A source's latest variables, on every UPS name it is served under. */
  update(source: string, vars: NutVars): void {
    for (const name of this.namesBySource.get(source) ?? []) {
      const valid: NutVars = {};
      for (const [k, v] of Object.entries(vars)) {
        // Variables a NUT client could not parse are left out rather than break the whole update.
        if (PRINTABLE_NAME.test(k) && Buffer.byteLength(v) <= 255 && !CONTROL.test(v)) valid[k] = v;
      }
      const stale = Object.keys(this.server.getVars(name)).filter((k) => !(k in valid));
      if (stale.length > 0) this.server.deleteVars(name, stale);
      this.server.setVars(name, valid);
      this.server.setAvailability(name, 'ok');
    }
  }

  /** The source has no data: its clients get ERR DATA-STALE, as from upsd. */
  lost(source: string): void {
    for (const name of this.namesBySource.get(source) ?? []) this.server.setAvailability(name, 'stale');
  }

  /** How a nut-client host is recognised: configured user and/or address, else its plan address. */
  identityOf(hostId: string): NutIdentity | undefined {
    const configured = this.config.clients[hostId];
    if (configured && (configured.user || configured.address))
      return {
        ...(configured.user !== undefined && { user: configured.user }),
        ...(configured.address !== undefined && { address: configured.address }),
      };
    const host = this.plan.hosts.find((h) => h.id === hostId);
    return host?.address && isIP(host.address) ? { address: host.address } : undefined;
  }

  /** The served UPS names feeding a host (its supplies; every UPS when it lists none). */
  namesFor(host: Host): string[] {
    const supplies = host.supplies.length > 0 ? host.supplies : this.plan.ups.map((u) => u.id);
    return supplies.flatMap((s) => this.namesBySource.get(s) ?? []);
  }

  /** Raises FSD for one nut-client host only; returns who will see it and whether it is connected now. */
  raiseFor(
    hostId: string,
    commandId: string,
  ): { identity: NutIdentity; names: string[]; connected: boolean } {
    const host = this.plan.hosts.find((h) => h.id === hostId);
    const identity = this.identityOf(hostId);
    if (!host || !identity) throw new Error(`no NUT identity for host '${hostId}'`);
    const names = this.namesFor(host);
    for (const name of names) this.server.raiseFsd(name, identity);
    this.raised.set(hostId, { commandId, identity, names });
    return { identity, names, connected: this.isLoggedIn(identity) };
  }

  /** Withdraws a host's FSD (its shutdown was cancelled, or it is being woken). */
  clearFor(hostId: string): boolean {
    const raised = this.raised.get(hostId);
    if (!raised) return false;
    for (const name of raised.names) this.server.clearFsd(name, raised.identity);
    this.raised.delete(hostId);
    return true;
  }

  isRaised(hostId: string): boolean {
    return this.raised.has(hostId);
  }

  isLoggedIn(identity: NutIdentity): boolean {
    return this.server
      .clients()
      .some(
        (c) =>
          c.ups !== undefined &&
          (identity.user === undefined || identity.user === c.user) &&
          (identity.address === undefined || sameAddress(identity.address, c.address)),
      );
  }

  private hostsMatching(user: string | undefined, address: string): string[] {
    return this.plan.hosts
      .filter((h) => h.kind === 'nut-client')
      .filter((h) => {
        const identity = this.identityOf(h.id);
        return (
          identity !== undefined &&
          (identity.user === undefined || identity.user === user) &&
          (identity.address === undefined || sameAddress(identity.address, address))
        );
      })
      .map((h) => h.id);
  }

  async close(): Promise<void> {
    await this.server.close();
  }
}

const PRINTABLE_NAME = /^[!-~]+$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it rejects
const CONTROL = /[\x00-\x1f]/;

function sameAddress(a: string, b: string): boolean {
  const norm = (x: string) => (x.startsWith('::ffff:') && x.includes('.') ? x.slice(7) : x);
  return norm(a) === norm(b);
}
