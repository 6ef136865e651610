import { EventEmitter } from 'node:events';
import { isIP, type Socket, connect as tcpConnect } from 'node:net';
import { checkServerIdentity, type PeerCertificate, type TLSSocket, connect as tlsConnect } from 'node:tls';
import { NutError, NutTransportError } from './errors.ts';
import { type ReplyLine, Wire } from './wire.ts';

export const NUT_DEFAULT_PORT = 3493;

export interface NutTlsOptions {
  /**
   * 'off': never STARTTLS. 'require': STARTTLS must be accepted and the certificate must verify.
   * 'try': STARTTLS is attempted; when the server refuses it, the session continues in clear text
   * only if `allowPlaintextFallback` is true (otherwise the connection fails).
   */
  mode: 'off' | 'try' | 'require';
  /** Trusted CA certificate(s), PEM. Without `ca` or `fingerprint256`, the system CAs are used. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** SHA-256 fingerprint of the server certificate ("AB:CD:…" or plain hex): pins it instead of a CA. */
  fingerprint256?: string;
  allowPlaintextFallback?: boolean;
  /** false accepts any certificate — what NUT's own clients do without a certificate database. */
  verify?: boolean;
  /** Name to verify the certificate against (default: host). */
  servername?: string;
}

export interface NutTimeouts {
  /** TCP connect and TLS handshake, each (default 5000). */
  connectMs?: number;
  /** Longest wait for an answer; on expiry the connection is dropped (default 5000, libupsclient's). */
  requestMs?: number;
  /** A `VER` is sent after this long without a request, inside upsd's 60 s idle limit (default 30000). */
  keepAliveMs?: number;
}

export interface NutReconnectOptions {
  initialDelayMs?: number;
  maxDelayMs?: number;
  factor?: number;
}

/** What every (re)connection does before it is ready, in this order. */
export interface NutSessionOptions {
  username?: string;
  password?: string;
  /** `LOGIN <ups>` (counts in NUMLOGINS, as upsmon does). */
  login?: string;
  /** `PRIMARY <login ups>` (falling back to MASTER), as a primary upsmon does. */
  primary?: boolean;
}

export interface NutClientOptions {
  host: string;
  port?: number;
  tls?: NutTlsOptions;
  timeouts?: NutTimeouts;
  /** Reconnect with exponential backoff after a connection is lost (default on; false to disable). */
  reconnect?: NutReconnectOptions | false;
  session?: NutSessionOptions;
}

export interface NutVarType {
  writable: boolean;
  enum: boolean;
  range: boolean;
  /** Maximum length for STRING:n variables. */
  maxLength?: number;
  number: boolean;
  /** The type words as sent (after `TYPE <ups> <var>`). */
  words: string[];
}

export interface NutRange {
  min: number;
  max: number;
}

export interface NutClientEvents {
  /** A connection (and its session set-up) is ready. */
  connect: [info: { host: string; port: number; tls: boolean }];
  /** The connection ended; requests fail until the next `connect`. */
  disconnect: [error: Error];
  /** The next attempt is scheduled. */
  reconnecting: [info: { attempt: number; delayMs: number; error: Error }];
}

const DEFAULTS = { connectMs: 5000, requestMs: 5000, keepAliveMs: 30_000 };
const RECONNECT_DEFAULTS = { initialDelayMs: 250, maxDelayMs: 30_000, factor: 2 };

const normalizeFingerprint = (f: string) => f.replace(/[^0-9a-f]/gi, '').toUpperCase();

/**
 * A client of the NUT network protocol (upsd 2.7/2.8 and compatible servers). One method per
 * protocol request; requests may be issued concurrently and are pipelined on one connection.
 */
export class NutClient extends EventEmitter<NutClientEvents> {
  readonly host: string;
  readonly port: number;
  private readonly timeouts: Required<NutTimeouts>;
  private readonly reconnectOptions: Required<NutReconnectOptions> | false;
  private wire: Wire | undefined;
  private closed = false;
  private connecting: Promise<void> | undefined;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private keepAliveTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: NutClientOptions) {
    super();
    this.host = options.host;
    this.port = options.port ?? NUT_DEFAULT_PORT;
    this.timeouts = { ...DEFAULTS, ...options.timeouts };
    if (this.timeouts.keepAliveMs >= 60_000) {
      throw new RangeError('timeouts.keepAliveMs must stay below upsd’s 60 s idle limit');
    }
    this.reconnectOptions =
      options.reconnect === false ? false : { ...RECONNECT_DEFAULTS, ...options.reconnect };
  }

  /** Connects once (rejecting on failure, with no retries) and returns the ready client. */
  static async connect(options: NutClientOptions): Promise<NutClient> {
    const client = new NutClient(options);
    try {
      await client.connect();
      return client;
    } catch (error) {
      client.close({ logout: false });
      throw error;
    }
  }

  /** True while a connection is ready for requests. */
  get connected(): boolean {
    return this.wire !== undefined && !this.wire.closed;
  }

  /** True when the current connection runs inside TLS (STARTTLS accepted). */
  get encrypted(): boolean {
    return this.wire?.encrypted ?? false;
  }

  /**
   * Opens the connection and runs the session set-up. Rejects if this attempt fails; with
   * `reconnect` enabled the client keeps trying in the background until `close()`.
   */
  connect(): Promise<void> {
    if (this.closed) return Promise.reject(new NutTransportError('closed', 'client is closed'));
    if (this.connected) return Promise.resolve();
    this.connecting ??= this.open().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  /**
   * Ends the connection and stops reconnecting. By default an open session first says `LOGOUT`
   * (an upsd-compatible server then knows this was an orderly exit, not a host going down).
   */
  close({ logout = true } = {}): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.keepAliveTimer);
    const wire = this.wire;
    this.wire = undefined;
    if (!wire || wire.closed) return;
    if (logout) {
      wire.request(['LOGOUT']).catch(() => {});
      wire.end();
    } else {
      wire.destroy();
    }
  }

  // ---- protocol requests -------------------------------------------------------------------

  /** `VER`: the server's version banner. */
  async ver(): Promise<string> {
    return (await this.line(['VER'])).raw;
  }

  /** `NETVER`: the protocol version ("1.3" for upsd 2.8). */
  async netver(): Promise<string> {
    return (await this.line(['NETVER'])).raw.trim();
  }

  /** `PROTVER` (alias of NETVER since 2.8.0; 2.7 answers ERR UNKNOWN-COMMAND). */
  async protver(): Promise<string> {
    return (await this.line(['PROTVER'])).raw.trim();
  }

  /** `HELP`: the server's command list as sent. */
  async help(): Promise<string> {
    return (await this.line(['HELP'])).raw;
  }

  async getVar(ups: string, name: string): Promise<string> {
    return this.value(await this.line(['GET', 'VAR', ups, name]), ['VAR', ups, name]);
  }

  async getType(ups: string, name: string): Promise<NutVarType> {
    const reply = await this.line(['GET', 'TYPE', ups, name]);
    this.echo(reply, ['TYPE', ups, name]);
    const words = reply.words.slice(3);
    const upper = words.map((w) => w.toUpperCase());
    const string = upper.find((w) => w.startsWith('STRING:'));
    const type: NutVarType = {
      writable: upper.includes('RW'),
      enum: upper.includes('ENUM'),
      range: upper.includes('RANGE'),
      number: upper.includes('NUMBER'),
      words,
    };
    if (string) type.maxLength = Number.parseInt(string.slice(7), 10);
    return type;
  }

  async getDesc(ups: string, name: string): Promise<string> {
    return this.value(await this.line(['GET', 'DESC', ups, name]), ['DESC', ups, name]);
  }

  async getCmdDesc(ups: string, command: string): Promise<string> {
    return this.value(await this.line(['GET', 'CMDDESC', ups, command]), ['CMDDESC', ups, command]);
  }

  async getUpsDesc(ups: string): Promise<string> {
    return this.value(await this.line(['GET', 'UPSDESC', ups]), ['UPSDESC', ups]);
  }

  /** `GET NUMLOGINS`: how many connections did `LOGIN <ups>` (upsmon counts its secondaries this way). */
  async getNumLogins(ups: string): Promise<number> {
    const text = this.value(await this.line(['GET', 'NUMLOGINS', ups]), ['NUMLOGINS', ups]);
    const n = Number(text);
    if (!Number.isInteger(n)) throw new NutTransportError('protocol', `NUMLOGINS is not a number: ${text}`);
    return n;
  }

  /** `GET TRACKING`: whether this connection has tracking on. */
  async getTracking(): Promise<boolean> {
    const reply = await this.line(['GET', 'TRACKING']);
    const word = reply.words[0];
    if (word === 'ON' || word === 'OFF') return word === 'ON';
    throw new NutTransportError('protocol', `GET TRACKING answered ${JSON.stringify(reply.raw)}`);
  }

  /**
   * `GET TRACKING <id>`: 'PENDING' or 'SUCCESS'. A failed or unknown command throws `NutError`
   * with code FAILED, INVALID-ARGUMENT or UNKNOWN (expired or never handled by the driver).
   */
  async getTrackingResult(id: string): Promise<'PENDING' | 'SUCCESS'> {
    const reply = await this.line(['GET', 'TRACKING', id]);
    const word = reply.words[0];
    if (word === 'PENDING' || word === 'SUCCESS') return word;
    throw new NutTransportError('protocol', `GET TRACKING ${id} answered ${JSON.stringify(reply.raw)}`);
  }

  async listUps(): Promise<Array<{ name: string; description: string }>> {
    const items = await this.list(['UPS'], ['UPS']);
    return items.map((l) => ({ name: l.words[1] ?? '', description: l.words[2] ?? '' }));
  }

  /** `LIST VAR`: every variable and its value, in the server's order (alphabetical for upsd). */
  async listVars(ups: string): Promise<Record<string, string>> {
    return this.pairs(await this.list(['VAR', ups], ['VAR', ups]));
  }

  /** `LIST RW`: the writable variables and their values. */
  async listRw(ups: string): Promise<Record<string, string>> {
    return this.pairs(await this.list(['RW', ups], ['RW', ups]));
  }

  async listCmds(ups: string): Promise<string[]> {
    return (await this.list(['CMD', ups], ['CMD', ups])).map((l) => l.words[2] ?? '');
  }

  async listEnum(ups: string, name: string): Promise<string[]> {
    return (await this.list(['ENUM', ups, name], ['ENUM', ups, name])).map((l) => l.words[3] ?? '');
  }

  async listRange(ups: string, name: string): Promise<NutRange[]> {
    return (await this.list(['RANGE', ups, name], ['RANGE', ups, name])).map((l) => ({
      min: Number(l.words[3]),
      max: Number(l.words[4]),
    }));
  }

  /** `LIST CLIENT`: the address of every connection logged into the UPS. */
  async listClients(ups: string): Promise<string[]> {
    return (await this.list(['CLIENT', ups], ['CLIENT', ups])).map((l) => l.words[2] ?? '');
  }

  async username(name: string): Promise<void> {
    this.ok(await this.line(['USERNAME', name]));
  }

  async password(password: string): Promise<void> {
    this.ok(await this.line(['PASSWORD', password]));
  }

  async login(ups: string): Promise<void> {
    this.ok(await this.line(['LOGIN', ups]));
  }

  /** `LOGOUT`: the server answers and closes the connection; this client does not reconnect. */
  async logout(): Promise<void> {
    const wire = this.requireWire();
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.keepAliveTimer);
    try {
      const [reply] = await wire.request(['LOGOUT']);
      if (!reply || !(reply.words[0] === 'OK' || reply.raw.startsWith('Goodbye'))) {
        throw new NutTransportError('protocol', `LOGOUT answered ${JSON.stringify(reply?.raw)}`);
      }
    } finally {
      this.wire = undefined;
      wire.end();
    }
  }

  /**
   * `PRIMARY <ups>`, falling back to `MASTER <ups>` on any error as upsmon 2.8 does (2.7 servers
   * only know MASTER). Resolves with the command that was granted.
   */
  async primary(ups: string): Promise<'PRIMARY' | 'MASTER'> {
    try {
      this.ok(await this.line(['PRIMARY', ups]));
      return 'PRIMARY';
    } catch (error) {
      if (!(error instanceof NutError)) throw error;
      await this.master(ups);
      return 'MASTER';
    }
  }

  /** `MASTER <ups>` (deprecated name of PRIMARY). */
  async master(ups: string): Promise<void> {
    this.ok(await this.line(['MASTER', ups]));
  }

  /** `FSD <ups>`: sets the forced-shutdown latch on the server. */
  async fsd(ups: string): Promise<void> {
    this.ok(await this.line(['FSD', ups]));
  }

  /** `SET VAR`. `OK` only means "passed to the driver"; with tracking on, the id tells the outcome. */
  async setVar(ups: string, name: string, value: string): Promise<{ tracking?: string }> {
    return this.tracked(await this.line(['SET', 'VAR', ups, name, value]));
  }

  /** `INSTCMD <ups> <command> [<parameter>]`. */
  async instcmd(ups: string, command: string, parameter?: string): Promise<{ tracking?: string }> {
    const words = ['INSTCMD', ups, command];
    if (parameter !== undefined) words.push(parameter);
    return this.tracked(await this.line(words));
  }

  /** `SET TRACKING ON|OFF` for this connection (needs USERNAME and PASSWORD first). */
  async setTracking(on: boolean): Promise<void> {
    this.ok(await this.line(['SET', 'TRACKING', on ? 'ON' : 'OFF']));
  }

  /**
   * `STARTTLS` on the open connection, verifying the certificate as configured in `tls`. Resolves
   * false when the server refuses and clear text is allowed, throws otherwise.
   */
  async startTls(): Promise<boolean> {
    return this.negotiateTls(this.requireWire(), this.options.tls ?? { mode: 'require' });
  }

  // ---- connection management ---------------------------------------------------------------

  private async open(): Promise<void> {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    let wire: Wire | undefined;
    try {
      const socket = await this.dial();
      wire = new Wire(socket, this.timeouts.requestMs, (error) => this.lost(wire, error));
      await this.setUp(wire);
      if (this.closed) {
        wire.destroy();
        throw new NutTransportError('closed', 'client is closed');
      }
      this.wire = wire;
      this.attempt = 0;
      this.armKeepAlive();
      this.emit('connect', { host: this.host, port: this.port, tls: wire.encrypted });
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      if (wire && !wire.closed) wire.destroy(failure);
      this.scheduleReconnect(failure);
      throw failure;
    }
  }

  private dial(): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = tcpConnect({ host: this.host, port: this.port });
      socket.setNoDelay(true);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new NutTransportError('connect', `connect to ${this.host}:${this.port} timed out`));
      }, this.timeouts.connectMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(socket);
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(
          new NutTransportError('connect', `cannot connect to ${this.host}:${this.port}: ${error.message}`, {
            cause: error,
          }),
        );
      });
    });
  }

  private async setUp(wire: Wire): Promise<void> {
    const tls = this.options.tls;
    if (tls && tls.mode !== 'off') await this.negotiateTls(wire, tls);
    const session = this.options.session;
    if (!session) return;
    const ok = async (words: string[]) => this.ok((await wire.request(words))[0]);
    if (session.username !== undefined) await ok(['USERNAME', session.username]);
    if (session.password !== undefined) await ok(['PASSWORD', session.password]);
    if (session.login !== undefined) {
      await ok(['LOGIN', session.login]);
      if (session.primary) {
        try {
          await ok(['PRIMARY', session.login]);
        } catch (error) {
          if (!(error instanceof NutError)) throw error;
          await ok(['MASTER', session.login]);
        }
      }
    }
  }

  private async negotiateTls(wire: Wire, tls: NutTlsOptions): Promise<boolean> {
    let reply: ReplyLine | undefined;
    try {
      [reply] = await wire.request(['STARTTLS']);
    } catch (error) {
      if (!(error instanceof NutError)) throw error;
      if (tls.mode === 'try' && tls.allowPlaintextFallback) return false;
      throw new NutTransportError('tls', `server refused STARTTLS (ERR ${error.code})`, { cause: error });
    }
    if (!reply?.raw.startsWith('OK STARTTLS')) {
      throw new NutTransportError('tls', `STARTTLS answered ${JSON.stringify(reply?.raw)}`);
    }
    await wire.upgrade((socket) => this.handshake(socket, tls));
    return true;
  }

  private handshake(socket: Socket, tls: NutTlsOptions): Promise<Socket> {
    const servername = tls.servername ?? this.host;
    const pinned = tls.fingerprint256 ? normalizeFingerprint(tls.fingerprint256) : undefined;
    const verifyChain = tls.verify !== false && pinned === undefined;
    return new Promise<Socket>((resolve, reject) => {
      const secure: TLSSocket = tlsConnect({
        socket,
        ...(isIP(servername) ? {} : { servername }),
        ...(tls.ca !== undefined && { ca: tls.ca }),
        rejectUnauthorized: verifyChain,
        checkServerIdentity: (_host: string, cert: PeerCertificate) =>
          verifyChain ? checkServerIdentity(servername, cert) : undefined,
      });
      const timer = setTimeout(() => {
        secure.destroy();
        reject(new NutTransportError('tls', `TLS handshake with ${this.host} timed out`));
      }, this.timeouts.connectMs);
      secure.once('secureConnect', () => {
        clearTimeout(timer);
        secure.removeAllListeners('error');
        if (pinned !== undefined) {
          const actual = normalizeFingerprint(secure.getPeerCertificate().fingerprint256 ?? '');
          if (actual !== pinned) {
            secure.destroy();
            reject(
              new NutTransportError('tls', `server certificate fingerprint ${actual} is not the pinned one`),
            );
            return;
          }
        }
        resolve(secure);
      });
      secure.once('error', (error) => {
        clearTimeout(timer);
        reject(new NutTransportError('tls', `TLS handshake failed: ${error.message}`, { cause: error }));
      });
    });
  }

  private lost(wire: Wire | undefined, error: Error): void {
    if (!wire || this.wire !== wire) return; // a set-up that failed reports through open()
    this.wire = undefined;
    clearTimeout(this.keepAliveTimer);
    this.emit('disconnect', error);
    this.scheduleReconnect(error);
  }

  private scheduleReconnect(error: Error): void {
    if (this.closed || !this.reconnectOptions || this.retryTimer !== undefined) return;
    const { initialDelayMs, maxDelayMs, factor } = this.reconnectOptions;
    const base = Math.min(maxDelayMs, initialDelayMs * factor ** this.attempt);
    const delayMs = Math.round(base * (0.8 + Math.random() * 0.4));
    this.attempt++;
    this.emit('reconnecting', { attempt: this.attempt, delayMs, error });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.closed) this.connect().catch(() => {});
    }, delayMs);
  }

  private armKeepAlive(): void {
    clearTimeout(this.keepAliveTimer);
    const wire = this.wire;
    if (!wire) return;
    const due = wire.lastWriteAt + this.timeouts.keepAliveMs - Date.now();
    this.keepAliveTimer = setTimeout(
      () => {
        if (this.wire !== wire || wire.closed) return;
        if (Date.now() - wire.lastWriteAt >= this.timeouts.keepAliveMs) {
          wire.request(['VER']).catch(() => {}); // a failure drops the connection, which reconnects
        }
        this.armKeepAlive();
      },
      Math.max(0, due),
    );
    this.keepAliveTimer.unref();
  }

  // ---- answer helpers ------------------------------------------------------------------------

  private requireWire(): Wire {
    const wire = this.wire;
    if (!wire || wire.closed) {
      throw new NutTransportError('not-connected', `not connected to ${this.host}:${this.port}`);
    }
    return wire;
  }

  private async line(words: string[]): Promise<ReplyLine> {
    const [reply] = await this.requireWire().request(words);
    if (!reply) throw new NutTransportError('protocol', 'empty answer');
    return reply;
  }

  private async list(query: string[], itemPrefix: string[]): Promise<ReplyLine[]> {
    return this.requireWire().request(['LIST', ...query], { kind: 'list', query, itemPrefix });
  }

  /** Checks that an answer repeats the request's words (case-insensitively), as libupsclient does. */
  private echo(reply: ReplyLine, expected: string[]): void {
    const ok = expected.every((w, i) => reply.words[i]?.toLowerCase() === w.toLowerCase());
    if (!ok) {
      throw new NutTransportError(
        'protocol',
        `expected '${expected.join(' ')} …', got ${JSON.stringify(reply.raw)}`,
      );
    }
  }

  private value(reply: ReplyLine, expected: string[]): string {
    this.echo(reply, expected);
    const value = reply.words[expected.length];
    if (value === undefined)
      throw new NutTransportError('protocol', `no value in ${JSON.stringify(reply.raw)}`);
    return value;
  }

  private pairs(items: ReplyLine[]): Record<string, string> {
    const out: Record<string, string> = {};
    for (const { words } of items) out[words[2] ?? ''] = words[3] ?? '';
    return out;
  }

  private ok(reply: ReplyLine | undefined): void {
    if (reply?.words[0] !== 'OK') {
      throw new NutTransportError('protocol', `expected OK, got ${JSON.stringify(reply?.raw)}`);
    }
  }

  private tracked(reply: ReplyLine): { tracking?: string } {
    this.ok(reply);
    return reply.words[1] === 'TRACKING' && reply.words[2] ? { tracking: reply.words[2] } : {};
  }
}
