import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { createSecureContext, type SecureContext, TLSSocket } from 'node:tls';
import type { NutDescriptions } from './descriptions.ts';
import { NutError } from './errors.ts';
import { type DirectWriter, type ReadSwitch, readIntoSharedBuffer, writeDirectly } from './fast-socket.ts';
import { escapeValue, PconfTokenizer, plainLineWords, readPlainLine } from './tokenizer.ts';
import {
  assertPasswordHash,
  type NutServerUser,
  PasswordCheckCache,
  userActions,
  verifyPassword,
} from './users.ts';

/** How upsd sees a UPS's driver: fresh data, silent for too long, or not connected at all. */
export type NutAvailability = 'ok' | 'stale' | 'driver-not-connected';

/** Type information of a variable (what a driver declares with dstate_setflags/setaux/addenum/addrange). */
export interface NutVarInfo {
  /** Listed by LIST RW and settable by SET VAR. */
  writable?: boolean;
  /** A STRING variable of at most this many characters (`TYPE … STRING:<n>`); otherwise NUMBER. */
  maxLength?: number;
  /** Allowed values (`LIST ENUM`), in order. */
  enum?: string[];
  /** Allowed integer ranges (`LIST RANGE`). */
  ranges?: Array<{ min: number; max: number }>;
}

export interface NutUpsDefinition {
  description?: string;
  vars?: Record<string, string>;
  info?: Record<string, NutVarInfo>;
  /** Instant commands clients may send (`LIST CMD`, `INSTCMD`). */
  commands?: string[];
  /** Default 'ok'. */
  availability?: NutAvailability;
}

/** A client identity for per-client FSD: a user name, a source address, or both (both must match). */
export interface NutIdentity {
  user?: string;
  address?: string;
}

export interface NutClientInfo {
  id: number;
  address: string;
  port: number;
  user?: string;
  /** The UPS this connection logged into (LOGIN), if any. */
  ups?: string;
  /** PRIMARY/MASTER was granted on this connection. */
  primary: boolean;
  tls: boolean;
  connectedAt: number;
}

/** Why a logged-in client left. 'closed' without LOGOUT is how upsmon starts its host's shutdown. */
export type NutDisconnectReason =
  | 'closed'
  | 'logout'
  | 'idle-timeout'
  | 'line-too-long'
  | 'output-overflow'
  | 'server-closed';

export interface NutCommandRequest {
  ups: string;
  user: string;
  address: string;
  /** Set when the client turned tracking on: the id it was given. */
  tracking?: string;
}

export interface NutServerEvents {
  login: [client: NutClientInfo & { user: string; ups: string }];
  /** A client that had logged in is gone; `reason` 'closed' means it dropped without LOGOUT. */
  disconnect: [client: NutClientInfo & { ups: string; reason: NutDisconnectReason }];
  /** A client set the FSD latch on a UPS. */
  fsd: [event: { ups: string; user: string; address: string }];
}

export interface NutServerOptions {
  /** Addresses to listen on (default 127.0.0.1 and ::1, like upsd). */
  host?: string | string[];
  /** Default 3493; 0 picks a free port (shared by every host). */
  port?: number;
  users?: NutServerUser[];
  /** PEM key and certificate for STARTTLS; without them STARTTLS answers ERR FEATURE-NOT-CONFIGURED. */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** Clients silent (no complete line) for longer are dropped (default 60000, upsd's). */
  idleTimeoutMs?: number;
  maxConnections?: number;
  /** A request line longer than this closes the connection (default 16384). */
  maxLineBytes?: number;
  /** Answers a client leaves unread beyond this close the connection (default 262144). */
  maxOutputBytes?: number;
  /** Reported by `GET VAR <ups> server.version` (default "2.8.0", the upsd we answer like). */
  version?: string;
  /** The `VER` answer and `server.info`. */
  banner?: string;
  /** GET DESC / GET CMDDESC texts, e.g. `readSystemCmdvartab()`. */
  descriptions?: Partial<NutDescriptions>;
  /** INSTCMD from a client; resolve = done, reject = failed (tracking reports it). */
  onInstcmd?: (request: NutCommandRequest & { command: string; parameter?: string }) => unknown;
  /** SET VAR from a client (after type, enum and range checks). */
  onSetVar?: (request: NutCommandRequest & { name: string; value: string }) => unknown;
  /**
   * Plain connections read into a shared buffer and write straight to the socket's handle where
   * Node allows it (default true; see fast-socket.ts). false uses the socket's stream API, the path
   * taken otherwise — the tests run both.
   */
  fastSocketPath?: boolean;
}

interface VarEntry {
  name: string;
  raw: string;
  /** The value as sent on the wire (pconf_encode'd), computed once per change. */
  escaped: string;
  info: NutVarInfo;
}

interface UpsState {
  name: string;
  description: string | undefined;
  vars: Map<string, VarEntry>;
  sorted: VarEntry[] | undefined;
  commands: Map<string, string>;
  availability: NutAvailability;
  /** The FSD latch every client sees (set by an `FSD` request or `raiseFsd(ups)`). */
  fsd: boolean;
  /** Identities that see FSD although the latch is not set. */
  fsdFor: NutIdentity[];
  numLogins: number;
}

type TrackingStatus = 'PENDING' | 'SUCCESS' | 'ERR UNKNOWN' | 'ERR INVALID-ARGUMENT' | 'ERR FAILED';

const HELP = 'Commands: HELP VER GET LIST SET INSTCMD LOGIN LOGOUT USERNAME PASSWORD STARTTLS';
const NETVER = '1.3';
/** upsd reads at most this much per read(): a parse error drops the rest of it. */
const READ_WINDOW = 512;
/** upsd formats answers into a 512-byte buffer: longer answers are cut (without their newline). */
const ANSWER_MAX = 512;
/** ST_MAX_VALUE_LEN: a value upsd can store. */
const MAX_VALUE_BYTES = 255;
const MAX_INBOX_BYTES = 64 * 1024;
const TRACKING_TTL_MS = 3600_000;
const MAX_TRACKING = 10_000;
/** Bound of the GET VAR / LIST VAR answer cache: clients may ask for any number of names. */
const MAX_CACHED_REPLIES = 1024;

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it rejects
const CONTROL = /[\x00-\x1f]/;
const NAME = /^[!$%&'()*+,\-./0-9:;<>?@A-Z[\]^_`a-z{|}~]+$/;

/** Plain connections read into this much of the server's shared read buffer at a time. */
const SHARED_READ_BYTES = 64 * 1024;

const upper = (s: string) => s.toUpperCase();
const lower = (s: string) => s.toLowerCase();

/** C `atoi`: optional whitespace and sign, then digits; anything else reads as 0. */
function atoi(s: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(s);
  return m ? Number.parseInt(m[1] ?? '0', 10) : 0;
}

function normalizeAddress(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

function checkName(kind: string, name: string): void {
  if (!NAME.test(name)) throw new RangeError(`invalid ${kind} name ${JSON.stringify(name)}`);
}

function checkValue(name: string, value: string): void {
  if (typeof value !== 'string') throw new TypeError(`variable ${name}: value must be a string`);
  if (CONTROL.test(value)) throw new RangeError(`variable ${name}: value contains control characters`);
  if (Buffer.byteLength(value) > MAX_VALUE_BYTES) {
    throw new RangeError(`variable ${name}: value longer than ${MAX_VALUE_BYTES} bytes`);
  }
}

/** One client connection, with upsd's per-connection state. */
class Session {
  username: string | undefined;
  password: string | undefined;
  loginUps: string | undefined;
  primary = false;
  tracking = false;
  tls = false;
  lastHeard = Date.now();
  readonly connectedAt = Date.now();
  readonly parser = new PconfTokenizer({ strict: true });
  /** Input that waits behind a password check, in the buffers it arrived in (copies, never shared). */
  inbox: Buffer[] = [];
  inboxBytes = 0;
  /** The read window being run: `window[windowPos..windowEnd)` is still to be read. */
  window: Buffer | undefined;
  windowPos = 0;
  windowEnd = 0;
  /** Bumped when unread input is thrown away (STARTTLS), so that a read being run stops there. */
  inputGeneration = 0;
  /** Set while the socket reads into the server's shared buffer (plain connections). */
  readSwitch: ReadSwitch | undefined;
  /**
   * The connection's last request line whose answer is cached (with its newline), that answer, and
   * the answers generation it belongs to: a client repeating its request (as pollers do) is answered
   * without even decoding the line.
   */
  repeatLine: Buffer | undefined;
  repeatReply = '';
  repeatGeneration = -1;
  /** Set while answers are written straight to the socket's handle (plain connections). */
  writer: DirectWriter | undefined;
  readingStopped = false;
  lineBytes = 0;
  busy = false;
  closeAfterWindow = false;
  closing: NutDisconnectReason | undefined;
  out = '';

  constructor(
    readonly id: number,
    public socket: Socket,
    readonly address: string,
    readonly port: number,
  ) {}

  info(): NutClientInfo {
    return {
      id: this.id,
      address: this.address,
      port: this.port,
      ...(this.username !== undefined && { user: this.username }),
      ...(this.loginUps !== undefined && { ups: this.loginUps }),
      primary: this.primary,
      tls: this.tls,
      connectedAt: this.connectedAt,
    };
  }
}

/**
 * A NUT network server that answers like upsd 2.8.0 — same replies, error codes and check order —
 * for virtual UPSes whose variables the caller supplies. Beyond upsd: per-client FSD views, login
 * and disconnect events, hashed passwords, and bounded memory per connection.
 */
export class NutServer extends EventEmitter<NutServerEvents> {
  private readonly upses = new Map<string, UpsState>();
  /** Newest first, as upsd lists them. */
  private upsOrder: UpsState[] = [];
  private users = new Map<string, { user: NutServerUser; actions: Set<string>; instcmds: Set<string> }>();
  private readonly passwordChecks = new PasswordCheckCache();
  private readonly sessions = new Map<number, Session>();
  private readonly tracking = new Map<string, { status: TrackingStatus; at: number }>();
  private readonly servers: Server[] = [];
  /**
   * GET VAR and LIST VAR answers by request line, for lines whose answer is the same on every
   * connection. Cleared whenever what they answer can change (values, availability, FSD, UPSes).
   */
  private readonly sharedReplies = new Map<string, string>();
  /** Bumped with every change of what GET VAR and LIST VAR answer (see Session.repeatLine). */
  private answersGeneration = 0;
  /** Set by the command just run when its answer does not depend on the connection. */
  private replyIsShared = false;
  /** The last answer queued (all lines of a list), as sent. */
  private lastAnswer = '';
  /** Where plain connections read: each read is run before the next one lands here. */
  private readonly readBuffer = Buffer.allocUnsafe(SHARED_READ_BYTES);
  private readonly secureContext: SecureContext | undefined;
  private readonly descriptions: NutDescriptions;
  private nextId = 1;
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly idleTimeoutMs: number;
  private readonly maxConnections: number;
  private readonly maxLineBytes: number;
  private readonly maxOutputBytes: number;
  readonly version: string;
  readonly banner: string;

  constructor(private readonly options: NutServerOptions = {}) {
    super();
    this.idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
    this.maxConnections = options.maxConnections ?? 1024;
    this.maxLineBytes = options.maxLineBytes ?? 16 * 1024;
    this.maxOutputBytes = options.maxOutputBytes ?? 256 * 1024;
    this.version = options.version ?? '2.8.0';
    this.banner = options.banner ?? `Blackstart NUT server (upsd ${this.version} compatible)`;
    checkValue('banner', this.banner);
    this.descriptions = {
      variables: Object.fromEntries(
        Object.entries(options.descriptions?.variables ?? {}).map(([k, v]) => [lower(k), v]),
      ),
      commands: Object.fromEntries(
        Object.entries(options.descriptions?.commands ?? {}).map(([k, v]) => [lower(k), v]),
      ),
    };
    this.secureContext = options.tls
      ? createSecureContext({ key: options.tls.key, cert: options.tls.cert })
      : undefined;
    this.setUsers(options.users ?? []);
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  /** Starts listening; resolves with the port and the addresses bound. */
  async listen(): Promise<{ port: number; addresses: string[] }> {
    const hosts = [this.options.host ?? ['127.0.0.1', '::1']].flat();
    let port = this.options.port ?? 3493;
    for (const host of hosts) {
      const server = createServer({ noDelay: true, pauseOnConnect: true }, (socket) => this.accept(socket));
      server.on('error', () => {}); // listen errors are reported by the promise below
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ host, port }, () => {
            server.off('error', reject);
            resolve();
          });
        });
      } catch (error) {
        await this.close();
        throw new Error(`cannot listen on ${host} port ${port}: ${(error as Error).message}`, {
          cause: error,
        });
      }
      const address = server.address();
      if (address && typeof address === 'object') port = address.port;
      this.servers.push(server);
    }
    this.sweepTimer = setInterval(() => this.sweep(), Math.min(1000, this.idleTimeoutMs));
    this.sweepTimer.unref();
    return { port, addresses: hosts };
  }

  /** The port listened on (after `listen()`). */
  get port(): number {
    const address = this.servers[0]?.address();
    return address && typeof address === 'object' ? address.port : (this.options.port ?? 3493);
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    for (const session of this.sessions.values()) this.drop(session, 'server-closed');
    await Promise.all(this.servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
  }

  // ---- what the caller serves --------------------------------------------------------------

  addUps(name: string, definition: NutUpsDefinition = {}): void {
    checkName('UPS', name);
    if (this.upses.has(lower(name))) throw new RangeError(`UPS ${name} is already defined`);
    if (definition.description !== undefined) checkValue('description', definition.description);
    const ups: UpsState = {
      name,
      description: definition.description,
      vars: new Map(),
      sorted: undefined,
      commands: new Map(),
      availability: definition.availability ?? 'ok',
      fsd: false,
      fsdFor: [],
      numLogins: 0,
    };
    this.upses.set(lower(name), ups);
    this.answersChanged();
    this.upsOrder.unshift(ups);
    if (definition.vars) this.setVars(name, definition.vars);
    for (const [varName, info] of Object.entries(definition.info ?? {})) this.setVarInfo(name, varName, info);
    if (definition.commands) this.setCommands(name, definition.commands);
  }

  removeUps(name: string): void {
    const ups = this.ups(name);
    this.upses.delete(lower(name));
    this.answersChanged();
    this.upsOrder = this.upsOrder.filter((u) => u !== ups);
  }

  /** Sets (adds or updates) variables. Values must be printable and at most 255 bytes. */
  setVars(upsName: string, vars: Record<string, string>): void {
    const ups = this.ups(upsName);
    for (const [name, value] of Object.entries(vars)) {
      checkName('variable', name);
      checkValue(name, value);
    }
    for (const [name, value] of Object.entries(vars)) {
      const key = lower(name);
      const entry = ups.vars.get(key);
      if (entry) {
        if (entry.raw !== value) {
          entry.raw = value;
          entry.escaped = escapeValue(value);
          this.answersChanged();
        }
      } else {
        ups.vars.set(key, { name, raw: value, escaped: escapeValue(value), info: {} });
        ups.sorted = undefined;
        this.answersChanged();
      }
    }
  }

  deleteVars(upsName: string, names: string[]): void {
    const ups = this.ups(upsName);
    for (const name of names) {
      if (ups.vars.delete(lower(name))) {
        ups.sorted = undefined;
        this.answersChanged();
      }
    }
  }

  /** The values served for a UPS (without any FSD prefix). */
  getVars(upsName: string): Record<string, string> {
    return Object.fromEntries(this.sortedVars(this.ups(upsName)).map((v) => [v.name, v.raw]));
  }

  setVarInfo(upsName: string, name: string, info: NutVarInfo): void {
    const entry = this.ups(upsName).vars.get(lower(name));
    if (!entry) throw new RangeError(`UPS ${upsName} has no variable ${name}`);
    if (info.maxLength !== undefined && !(Number.isInteger(info.maxLength) && info.maxLength >= 1)) {
      throw new RangeError(`variable ${name}: maxLength must be a positive integer`);
    }
    for (const value of info.enum ?? []) checkValue(name, value);
    for (const r of info.ranges ?? []) {
      if (!Number.isInteger(r.min) || !Number.isInteger(r.max) || r.min > r.max) {
        throw new RangeError(`variable ${name}: ranges need integers with min <= max`);
      }
    }
    entry.info = { ...info };
  }

  setCommands(upsName: string, commands: string[]): void {
    const ups = this.ups(upsName);
    for (const c of commands) checkName('command', c);
    ups.commands = new Map(
      [...new Set(commands)].sort((a, b) => (lower(a) < lower(b) ? -1 : 1)).map((c) => [lower(c), c]),
    );
  }

  /** 'stale' answers ERR DATA-STALE and 'driver-not-connected' ERR DRIVER-NOT-CONNECTED, as upsd does. */
  setAvailability(upsName: string, availability: NutAvailability): void {
    this.ups(upsName).availability = availability;
    this.answersChanged();
  }

  /**
   * Raises FSD: without `identity`, the latch every client sees (like an `FSD` request); with one,
   * only the connections of that user and/or address see `FSD` in ups.status.
   */
  raiseFsd(upsName: string, identity?: NutIdentity): void {
    const ups = this.ups(upsName);
    this.answersChanged();
    if (!identity) {
      ups.fsd = true;
      return;
    }
    const target = this.identity(identity);
    if (!ups.fsdFor.some((t) => t.user === target.user && t.address === target.address))
      ups.fsdFor.push(target);
  }

  /** Clears FSD: everything (latch and identities) without `identity`, or that identity's view. */
  clearFsd(upsName: string, identity?: NutIdentity): void {
    const ups = this.ups(upsName);
    this.answersChanged();
    if (!identity) {
      ups.fsd = false;
      ups.fsdFor = [];
      return;
    }
    const target = this.identity(identity);
    ups.fsdFor = ups.fsdFor.filter((t) => !(t.user === target.user && t.address === target.address));
  }

  /** Whether FSD is in force for everyone, or (with `identity`) for that client. */
  isFsd(upsName: string, identity?: NutIdentity): boolean {
    const ups = this.ups(upsName);
    if (ups.fsd) return true;
    if (!identity) return false;
    const who = { user: identity.user, address: normalizeAddress(identity.address) };
    return ups.fsdFor.some((t) => this.matches(t, who.user, who.address));
  }

  setUsers(users: NutServerUser[]): void {
    const next = new Map<string, { user: NutServerUser; actions: Set<string>; instcmds: Set<string> }>();
    for (const user of users) {
      assertPasswordHash(user.passwordHash, user.name);
      if (next.has(user.name)) continue; // upsd: "Ignoring duplicate user"
      next.set(user.name, {
        user,
        actions: userActions(user),
        instcmds: new Set((user.instcmds ?? []).map(lower)),
      });
    }
    this.users = next;
    this.passwordChecks.clear();
  }

  numLogins(upsName: string): number {
    return this.ups(upsName).numLogins;
  }

  clients(): NutClientInfo[] {
    return [...this.sessions.values()].map((s) => s.info());
  }

  // ---- connections -------------------------------------------------------------------------

  private accept(socket: Socket): void {
    if (this.sessions.size >= this.maxConnections) {
      socket.on('error', () => {});
      socket.destroy();
      return;
    }
    const session = new Session(
      this.nextId++,
      socket,
      normalizeAddress(socket.remoteAddress),
      socket.remotePort ?? 0,
    );
    this.sessions.set(session.id, session);
    this.attach(session, socket);
  }

  private attach(session: Session, socket: Socket): void {
    // Plain connections read into one buffer shared by all and write straight to their handle (see
    // fast-socket.ts); TLS ones, and any Node without the internals that needs, use the stream API.
    session.readSwitch =
      socket instanceof TLSSocket || this.options.fastSocketPath === false
        ? undefined
        : readIntoSharedBuffer(socket, this.readBuffer, (length) => {
            // After STARTTLS the TLS socket reads; the plain one must not feed commands any more.
            if (session.socket === socket) this.receive(session, this.readBuffer, length, true);
          });
    session.writer = session.readSwitch ? writeDirectly(socket) : undefined;
    if (!session.readSwitch)
      socket.on('data', (data: Buffer) => this.receive(session, data, data.length, false));
    socket.on('close', () => this.closed(session));
    socket.on('error', () => {}); // 'close' follows; a client's network error is not ours to raise
    socket.resume(); // accepted with pauseOnConnect
  }

  /**
   * Runs what a read brought, in upsd's 512-byte read windows. `shared` input (the shared read buffer)
   * is only valid during this call: whatever has to wait is copied.
   */
  private receive(session: Session, data: Buffer, length: number, shared: boolean): void {
    if (session.closing) return;
    if (session.busy || session.window || session.inbox.length > 0) {
      this.queueInput(session, data, 0, length, shared);
      this.drain(session);
      return;
    }
    const generation = session.inputGeneration;
    for (let start = 0; start < length; start += READ_WINDOW) {
      const end = Math.min(start + READ_WINDOW, length);
      session.window = data;
      session.windowPos = start;
      session.windowEnd = end;
      if (this.runWindow(session)) continue;
      if (session.closing || session.inputGeneration !== generation) return;
      // A password check is running: keep the rest of this window, and what follows, for later.
      if (shared && session.window === data) {
        session.window = Buffer.from(data.subarray(session.windowPos, end));
        session.windowPos = 0;
        session.windowEnd = session.window.length;
      }
      this.queueInput(session, data, end, length, shared);
      return;
    }
    this.flush(session);
  }

  private queueInput(session: Session, data: Buffer, start: number, end: number, shared: boolean): void {
    if (start >= end) return;
    const chunk = shared ? Buffer.from(data.subarray(start, end)) : data.subarray(start, end);
    session.inbox.push(chunk);
    session.inboxBytes += chunk.length;
    if (session.inboxBytes > MAX_INBOX_BYTES) this.stopReading(session);
  }

  private stopReading(session: Session): void {
    if (session.readingStopped) return;
    session.readingStopped = true;
    if (session.readSwitch) session.readSwitch.stop();
    else session.socket.pause();
  }

  private startReading(session: Session): void {
    if (!session.readingStopped) return;
    session.readingStopped = false;
    if (session.readSwitch) session.readSwitch.start();
    else session.socket.resume();
  }

  /** Runs queued input window by window until it runs out or a command waits. */
  private drain(session: Session): void {
    while (!session.busy && !session.closing) {
      if (!session.window) {
        const chunk = session.inbox[0];
        if (!chunk) break;
        if (chunk.length <= READ_WINDOW) {
          session.inbox.shift();
          session.window = chunk;
        } else {
          session.window = chunk.subarray(0, READ_WINDOW);
          session.inbox[0] = chunk.subarray(READ_WINDOW);
        }
        session.inboxBytes -= session.window.length;
        session.windowPos = 0;
        session.windowEnd = session.window.length;
      }
      if (!this.runWindow(session)) return;
    }
    this.flush(session);
    if (session.inboxBytes <= MAX_INBOX_BYTES && !session.closing) this.startReading(session);
  }

  /**
   * Runs every complete line of the current read window. True when the window is used up and the
   * next one may follow; false when a command waits (a password check), the connection is closing,
   * or the rest of the input was thrown away (STARTTLS).
   */
  private runWindow(session: Session): boolean {
    const window = session.window as Buffer;
    const generation = session.inputGeneration;
    let heardAt = 0;
    // A line that failed the plain-line shortcut goes through the tokenizer to its end.
    let tryPlain = true;
    while (session.windowPos < session.windowEnd) {
      const atLineStart = tryPlain && session.parser.atLineStart;
      if (atLineStart && this.takeRepeatedLine(session)) {
        if (heardAt === 0) heardAt = Date.now();
        session.lastHeard = heardAt;
        session.closeAfterWindow = false;
        session.out += session.repeatReply;
        continue;
      }
      let words: string[] | undefined;
      /** The request line, when its answer may be cached under it. */
      let cacheKey: string | undefined;
      const lineStart = session.windowPos;
      const plain = atLineStart
        ? readPlainLine(
            window,
            session.windowPos,
            Math.min(session.windowEnd, session.windowPos + this.maxLineBytes - session.lineBytes),
          )
        : undefined;
      if (plain) {
        session.windowPos = plain.next;
        session.lineBytes = 0;
        if (plain.singleSpaced) {
          const reply = this.sharedReplies.get(plain.text);
          if (reply !== undefined) {
            this.rememberLine(session, window, lineStart, plain.next, reply);
            if (heardAt === 0) heardAt = Date.now();
            session.lastHeard = heardAt;
            session.closeAfterWindow = false;
            session.out += reply;
            continue;
          }
          cacheKey = plain.text;
        }
        words = plainLineWords(plain);
      } else {
        tryPlain = false;
        const byte = window[session.windowPos++] as number;
        if (++session.lineBytes > this.maxLineBytes) {
          this.drop(session, 'line-too-long');
          return false;
        }
        const r = session.parser.push(byte);
        if (r === 0) continue;
        session.lineBytes = 0;
        tryPlain = true;
        if (r === -1) {
          // upsd logs "Parse error on sock" and discards the rest of what it read.
          session.parser.take();
          session.windowPos = session.windowEnd;
          break;
        }
        words = session.parser.take();
      }
      // One clock reading per window: the idle timeout counts in seconds.
      if (heardAt === 0) heardAt = Date.now();
      session.lastHeard = heardAt;
      // upsd closes a LOGOUT connection by zeroing its last_heard; any later line of the same
      // read sets it again, so the connection then stays open.
      session.closeAfterWindow = false;
      this.replyIsShared = false;
      const pending = this.dispatch(session, words);
      if (cacheKey !== undefined && this.replyIsShared) {
        this.cacheReply(cacheKey, this.lastAnswer);
        this.rememberLine(session, window, lineStart, session.windowPos, this.lastAnswer);
      }
      if (pending) {
        this.wait(session, pending);
        return false;
      }
      if (session.closing || session.inputGeneration !== generation) return false;
    }
    session.window = undefined;
    if (session.closeAfterWindow) {
      this.flush(session);
      this.drop(session, 'logout');
      return false;
    }
    return true;
  }

  /** What GET VAR and LIST VAR answer changed: cached answers are void. */
  private answersChanged(): void {
    this.sharedReplies.clear();
    this.answersGeneration++;
  }

  /** When the window goes on with the connection's last cached request line: takes it. */
  private takeRepeatedLine(session: Session): boolean {
    const line = session.repeatLine;
    if (line === undefined || session.repeatGeneration !== this.answersGeneration) return false;
    const window = session.window as Buffer;
    const start = session.windowPos;
    if (start + line.length > session.windowEnd || session.lineBytes + line.length > this.maxLineBytes)
      return false;
    for (let i = 0; i < line.length; i++) if (window[start + i] !== line[i]) return false;
    session.windowPos = start + line.length;
    session.lineBytes = 0;
    return true;
  }

  private rememberLine(session: Session, window: Buffer, start: number, end: number, reply: string): void {
    session.repeatLine = Buffer.from(window.subarray(start, end));
    session.repeatReply = reply;
    session.repeatGeneration = this.answersGeneration;
  }

  private cacheReply(line: string, reply: string): void {
    if (this.sharedReplies.size >= MAX_CACHED_REPLIES) this.sharedReplies.clear();
    this.sharedReplies.set(line, reply);
  }

  /** Holds the connection's input until a command's password check settles, then carries on. */
  private wait(session: Session, pending: Promise<void>): void {
    session.busy = true;
    this.flush(session);
    pending.then(
      () => {
        session.busy = false;
        this.flush(session);
        this.drain(session);
      },
      () => this.drop(session, 'closed'),
    );
  }

  private send(session: Session, line: string): undefined {
    const full = `${line}\n`;
    this.lastAnswer = full.length > ANSWER_MAX / 3 ? truncate(full) : full;
    session.out += this.lastAnswer;
    return undefined;
  }

  private err(session: Session, code: string): undefined {
    return this.send(session, `ERR ${code}`);
  }

  private flush(session: Session): void {
    if (!session.out || session.closing) return;
    const out = session.out;
    session.out = '';
    if (session.writer) {
      if (session.writer.write(out) > this.maxOutputBytes) this.drop(session, 'output-overflow');
      return;
    }
    session.socket.write(out);
    if (session.socket.writableLength > this.maxOutputBytes) this.drop(session, 'output-overflow');
  }

  private drop(session: Session, reason: NutDisconnectReason): void {
    if (session.closing) return;
    session.closing = reason;
    if (reason === 'logout' || reason === 'server-closed') session.socket.end();
    else session.socket.destroy();
    session.socket.destroySoon?.();
  }

  private closed(session: Session): void {
    if (!this.sessions.delete(session.id)) return;
    session.closing ??= 'closed';
    const loginUps = session.loginUps;
    if (loginUps === undefined) return;
    const ups = this.upses.get(lower(loginUps));
    if (ups && ups.numLogins > 0) ups.numLogins--;
    this.emit('disconnect', { ...session.info(), ups: loginUps, reason: session.closing });
  }

  private sweep(): void {
    const now = Date.now();
    for (const session of this.sessions.values()) {
      if (now - session.lastHeard > this.idleTimeoutMs) this.drop(session, 'idle-timeout');
    }
    for (const [id, entry] of this.tracking) {
      if (now - entry.at > TRACKING_TTL_MS) this.tracking.delete(id);
    }
  }

  // ---- the protocol ------------------------------------------------------------------------

  /** Answers one request line like upsd's parse_net(); returns a promise when a password check runs. */
  private dispatch(session: Session, words: string[]): Promise<void> | undefined {
    const [command, ...args] = words;
    if (command === undefined) {
      this.err(session, 'UNKNOWN-COMMAND');
      return undefined;
    }
    const name = upper(command);
    const needsUser =
      name === 'LOGIN' ||
      name === 'PRIMARY' ||
      name === 'MASTER' ||
      name === 'FSD' ||
      name === 'SET' ||
      name === 'INSTCMD';
    if (needsUser) {
      if (session.username === undefined) return this.err(session, 'USERNAME-REQUIRED');
      if (session.password === undefined) return this.err(session, 'PASSWORD-REQUIRED');
    }
    switch (name) {
      case 'VER':
        return args.length ? this.err(session, 'INVALID-ARGUMENT') : this.send(session, this.banner);
      case 'NETVER':
      case 'PROTVER':
        return args.length ? this.err(session, 'INVALID-ARGUMENT') : this.send(session, NETVER);
      case 'HELP':
        return args.length ? this.err(session, 'INVALID-ARGUMENT') : this.send(session, HELP);
      case 'STARTTLS':
        return this.startTls(session);
      case 'GET':
        return this.get(session, args);
      case 'LIST':
        return this.list(session, args);
      case 'USERNAME':
        if (args.length !== 1) return this.err(session, 'INVALID-ARGUMENT');
        if (session.username !== undefined) return this.err(session, 'ALREADY-SET-USERNAME');
        session.username = args[0];
        return this.send(session, 'OK');
      case 'PASSWORD':
        if (args.length !== 1) return this.err(session, 'INVALID-ARGUMENT');
        if (session.password !== undefined) return this.err(session, 'ALREADY-SET-PASSWORD');
        session.password = args[0];
        return this.send(session, 'OK');
      case 'LOGIN':
        return this.login(session, args);
      case 'LOGOUT':
        if (args.length !== 0) return this.err(session, 'INVALID-ARGUMENT');
        this.send(session, 'OK Goodbye');
        session.closeAfterWindow = true;
        return undefined;
      case 'PRIMARY':
      case 'MASTER':
        return this.primary(session, name, args);
      case 'FSD':
        return this.fsd(session, args);
      case 'SET':
        return this.set(session, args);
      case 'INSTCMD':
        return this.instcmd(session, args);
      default:
        return this.err(session, 'UNKNOWN-COMMAND');
    }
  }

  private startTls(session: Session): undefined {
    if (session.tls) return this.err(session, 'ALREADY-SSL-MODE');
    if (!this.secureContext) return this.err(session, 'FEATURE-NOT-CONFIGURED');
    this.send(session, 'OK STARTTLS');
    this.flush(session);
    // What follows STARTTLS in the same packet would be TLS bytes: it is not read as commands.
    session.inputGeneration++;
    session.window = undefined;
    session.inbox = [];
    session.inboxBytes = 0;
    this.startReading(session);
    const plain = session.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    const secure = new TLSSocket(plain, { isServer: true, secureContext: this.secureContext });
    session.socket = secure;
    session.tls = true;
    this.attach(session, secure);
    return undefined;
  }

  private get(session: Session, args: string[]): undefined {
    const [sub, a1, a2] = args;
    if (sub === undefined) return this.err(session, 'INVALID-ARGUMENT');
    const kind = upper(sub);
    if (kind === 'TRACKING') {
      if (a1 === undefined) return this.send(session, session.tracking ? 'ON' : 'OFF');
      if (!session.tracking) return this.err(session, 'FEATURE-NOT-CONFIGURED');
      return this.send(session, this.tracking.get(upper(a1))?.status ?? 'ERR UNKNOWN');
    }
    if (a1 === undefined) return this.err(session, 'INVALID-ARGUMENT');
    if (kind === 'NUMLOGINS') {
      const ups = this.available(session, a1);
      return ups ? this.send(session, `NUMLOGINS ${a1} ${ups.numLogins}`) : undefined;
    }
    if (kind === 'UPSDESC') {
      const ups = this.upses.get(lower(a1));
      if (!ups) return this.err(session, 'UNKNOWN-UPS');
      const desc = ups.description !== undefined ? escapeValue(ups.description) : 'Unavailable';
      return this.send(session, `UPSDESC ${a1} "${desc}"`);
    }
    if (a2 === undefined) return this.err(session, 'INVALID-ARGUMENT');
    switch (kind) {
      case 'VAR':
        return this.getVar(session, a1, a2);
      case 'TYPE': {
        const ups = this.available(session, a1);
        if (!ups) return undefined;
        const entry = ups.vars.get(lower(a2));
        if (!entry) return this.err(session, 'VAR-NOT-SUPPORTED');
        const { info } = entry;
        let line = `TYPE ${a1} ${a2}`;
        if (info.writable) line += ' RW';
        if (info.enum?.length) line += ' ENUM';
        if (info.ranges?.length) line += ' RANGE';
        line += info.maxLength !== undefined ? ` STRING:${info.maxLength}` : ' NUMBER';
        return this.send(session, line);
      }
      case 'DESC': {
        if (!this.available(session, a1)) return undefined;
        const desc = this.descriptions.variables[lower(a2)] ?? 'Description unavailable';
        return this.send(session, `DESC ${a1} ${a2} "${desc}"`);
      }
      case 'CMDDESC': {
        if (!this.available(session, a1)) return undefined;
        const desc = this.descriptions.commands[lower(a2)] ?? 'Description unavailable';
        return this.send(session, `CMDDESC ${a1} ${a2} "${desc}"`);
      }
      default:
        return this.err(session, 'INVALID-ARGUMENT');
    }
  }

  private getVar(session: Session, upsName: string, name: string): undefined {
    const key = lower(name);
    // Only ups.status under a per-identity FSD depends on who asks.
    this.replyIsShared = true;
    if (key.startsWith('server.')) {
      if (key === 'server.info')
        return this.send(session, `VAR ${upsName} server.info "${escapeValue(this.banner)}"`);
      if (key === 'server.version')
        return this.send(session, `VAR ${upsName} server.version "${this.version}"`);
      return this.err(session, 'VAR-NOT-SUPPORTED');
    }
    const ups = this.available(session, upsName);
    if (!ups) return undefined;
    const entry = ups.vars.get(key);
    if (!entry) return this.err(session, 'VAR-NOT-SUPPORTED');
    if (key === 'ups.status' && ups.fsdFor.length > 0) this.replyIsShared = false;
    const fsd = key === 'ups.status' && this.fsdFor(ups, session);
    return this.send(session, `VAR ${upsName} ${name} "${fsd ? 'FSD ' : ''}${entry.escaped}"`);
  }

  private list(session: Session, args: string[]): undefined {
    const [sub, a1, a2] = args;
    if (sub === undefined) return this.err(session, 'INVALID-ARGUMENT');
    const kind = upper(sub);
    if (kind === 'UPS') {
      const lines = ['BEGIN LIST UPS'];
      for (const ups of this.upsOrder) {
        const desc = ups.description !== undefined ? escapeValue(ups.description) : 'Description unavailable';
        lines.push(`UPS ${ups.name} "${desc}"`);
      }
      lines.push('END LIST UPS');
      return this.sendLines(session, lines);
    }
    if (a1 === undefined) return this.err(session, 'INVALID-ARGUMENT');
    switch (kind) {
      case 'VAR':
      case 'RW': {
        // LIST VAR answers like GET VAR: the same on every connection unless FSD is raised for
        // some of them (LIST RW also depends on what is writable, so it is not cached).
        this.replyIsShared = kind === 'VAR';
        const ups = this.available(session, a1);
        if (!ups) return undefined;
        if (ups.fsdFor.length > 0) this.replyIsShared = false;
        const rw = kind === 'RW';
        const fsd = !rw && this.fsdFor(ups, session);
        const lines = [`BEGIN LIST ${kind} ${a1}`];
        for (const v of this.sortedVars(ups)) {
          if (rw && !v.info.writable) continue;
          const prefix = fsd && lower(v.name) === 'ups.status' ? 'FSD ' : '';
          lines.push(`${kind} ${a1} ${v.name} "${prefix}${v.escaped}"`);
        }
        lines.push(`END LIST ${kind} ${a1}`);
        return this.sendLines(session, lines);
      }
      case 'CMD': {
        const ups = this.available(session, a1);
        if (!ups) return undefined;
        const lines = [`BEGIN LIST CMD ${a1}`, ...[...ups.commands.values()].map((c) => `CMD ${a1} ${c}`)];
        lines.push(`END LIST CMD ${a1}`);
        return this.sendLines(session, lines);
      }
      case 'CLIENT': {
        const ups = this.upses.get(lower(a1));
        if (!ups) return this.err(session, 'UNKNOWN-UPS');
        const lines = [`BEGIN LIST CLIENT ${a1}`];
        const newestFirst = [...this.sessions.values()].reverse();
        for (const s of newestFirst) {
          if (s.loginUps !== undefined && lower(s.loginUps) === lower(ups.name)) {
            lines.push(`CLIENT ${s.loginUps} ${s.address}`);
          }
        }
        lines.push(`END LIST CLIENT ${a1}`);
        return this.sendLines(session, lines);
      }
    }
    if (a2 === undefined) return this.err(session, 'INVALID-ARGUMENT');
    if (kind !== 'ENUM' && kind !== 'RANGE') return this.err(session, 'INVALID-ARGUMENT');
    const ups = this.available(session, a1);
    if (!ups) return undefined;
    const entry = ups.vars.get(lower(a2));
    if (!entry) return this.err(session, 'VAR-NOT-SUPPORTED');
    const lines = [`BEGIN LIST ${kind} ${a1} ${a2}`];
    if (kind === 'ENUM')
      for (const value of entry.info.enum ?? []) lines.push(`ENUM ${a1} ${a2} "${escapeValue(value)}"`);
    else for (const r of entry.info.ranges ?? []) lines.push(`RANGE ${a1} ${a2} "${r.min}" "${r.max}"`);
    lines.push(`END LIST ${kind} ${a1} ${a2}`);
    return this.sendLines(session, lines);
  }

  /** Sends a multi-line answer, line by line (each one cut at 512 bytes like upsd's sendback()). */
  private sendLines(session: Session, lines: string[]): undefined {
    let answer = '';
    for (const line of lines) {
      this.send(session, line);
      answer += this.lastAnswer;
    }
    this.lastAnswer = answer;
    return undefined;
  }

  private login(session: Session, args: string[]): Promise<void> | undefined {
    if (args.length !== 1) return this.err(session, 'INVALID-ARGUMENT');
    if (session.loginUps !== undefined) return this.err(session, 'ALREADY-LOGGED-IN');
    const ups = this.upses.get(lower(args[0] as string));
    if (!ups) return this.err(session, 'UNKNOWN-UPS');
    return this.authorize(
      session,
      (u) => u.actions.has('LOGIN'),
      () => {
        ups.numLogins++;
        session.loginUps = ups.name;
        this.send(session, 'OK');
        this.emit('login', { ...session.info(), user: session.username ?? '', ups: ups.name });
      },
    );
  }

  private primary(session: Session, name: 'PRIMARY' | 'MASTER', args: string[]): Promise<void> | undefined {
    if (args.length !== 1) return this.err(session, 'INVALID-ARGUMENT');
    if (!this.upses.has(lower(args[0] as string))) return this.err(session, 'UNKNOWN-UPS');
    return this.authorize(
      session,
      (u) => u.actions.has('PRIMARY') || u.actions.has('MASTER'),
      () => {
        session.primary = true;
        this.send(session, `OK ${name}-GRANTED`);
      },
    );
  }

  private fsd(session: Session, args: string[]): Promise<void> | undefined {
    if (args.length !== 1) return this.err(session, 'INVALID-ARGUMENT');
    const ups = this.upses.get(lower(args[0] as string));
    if (!ups) return this.err(session, 'UNKNOWN-UPS');
    return this.authorize(
      session,
      (u) => u.actions.has('FSD'),
      () => {
        ups.fsd = true;
        this.answersChanged();
        this.send(session, 'OK FSD-SET');
        this.emit('fsd', { ups: ups.name, user: session.username ?? '', address: session.address });
      },
    );
  }

  private set(session: Session, args: string[]): Promise<void> | undefined {
    const [sub, a1, a2, a3] = args;
    if (sub === undefined || a1 === undefined) return this.err(session, 'INVALID-ARGUMENT');
    const kind = upper(sub);
    if (kind === 'VAR') {
      if (a2 === undefined || a3 === undefined) return this.err(session, 'INVALID-ARGUMENT');
      const ups = this.available(session, a1);
      if (!ups) return undefined;
      return this.authorize(
        session,
        (u) => u.actions.has('SET'),
        () => {
          const entry = ups.vars.get(lower(a2));
          if (!entry) return this.err(session, 'VAR-NOT-SUPPORTED');
          const { info } = entry;
          if (!info.writable) return this.err(session, 'READONLY');
          if (info.maxLength !== undefined && a3.length > info.maxLength)
            return this.err(session, 'TOO-LONG');
          if (info.enum?.length && !info.enum.includes(a3)) return this.err(session, 'INVALID-VALUE');
          if (info.ranges?.length) {
            const n = atoi(a3);
            if (!info.ranges.some((r) => n >= r.min && n <= r.max)) return this.err(session, 'INVALID-VALUE');
          }
          const handler = this.options.onSetVar;
          if (!handler) return this.err(session, 'SET-FAILED');
          return this.forward(session, (tracking) =>
            handler({ ...this.requester(session, ups, tracking), name: entry.name, value: a3 }),
          );
        },
      );
    }
    if (kind === 'TRACKING') {
      const value = upper(a1);
      if (value !== 'ON' && value !== 'OFF') return this.err(session, 'INVALID-ARGUMENT');
      session.tracking = value === 'ON';
      return this.send(session, 'OK');
    }
    return this.err(session, 'INVALID-ARGUMENT');
  }

  private instcmd(session: Session, args: string[]): Promise<void> | undefined {
    const [upsName, command, parameter] = args;
    if (upsName === undefined || command === undefined) return this.err(session, 'INVALID-ARGUMENT');
    const ups = this.available(session, upsName);
    if (!ups) return undefined;
    const known = ups.commands.get(lower(command));
    if (known === undefined) return this.err(session, 'CMD-NOT-SUPPORTED');
    // upsd passes the parameter only when exactly one follows the command.
    const param = args.length === 3 ? parameter : undefined;
    return this.authorize(
      session,
      (u) => u.instcmds.has(lower(command)) || u.instcmds.has('all'),
      () => {
        const handler = this.options.onInstcmd;
        if (!handler) return this.err(session, 'INSTCMD-FAILED');
        return this.forward(session, (tracking) =>
          handler({
            ...this.requester(session, ups, tracking),
            command: known,
            ...(param !== undefined && { parameter: param }),
          }),
        );
      },
    );
  }

  /** Hands a SET/INSTCMD to the caller and answers OK (with a tracking id when tracking is on), as upsd does. */
  private forward(session: Session, run: (tracking: string | undefined) => unknown): undefined {
    const id = session.tracking ? randomUUID().toUpperCase() : undefined;
    if (id) {
      if (this.tracking.size >= MAX_TRACKING) {
        const oldest = this.tracking.keys().next().value;
        if (oldest !== undefined) this.tracking.delete(oldest);
      }
      this.tracking.set(id, { status: 'PENDING', at: Date.now() });
    }
    const settle = (status: TrackingStatus) => {
      if (id && this.tracking.has(id)) this.tracking.set(id, { status, at: Date.now() });
    };
    const failed = (error: unknown) =>
      settle(
        error instanceof NutError && error.code === 'INVALID-ARGUMENT'
          ? 'ERR INVALID-ARGUMENT'
          : error instanceof NutError && error.code === 'UNKNOWN'
            ? 'ERR UNKNOWN'
            : 'ERR FAILED',
      );
    try {
      Promise.resolve(run(id)).then(() => settle('SUCCESS'), failed);
    } catch (error) {
      failed(error);
    }
    return this.send(session, id ? `OK TRACKING ${id}` : 'OK');
  }

  private requester(session: Session, ups: UpsState, tracking: string | undefined): NutCommandRequest {
    return {
      ups: ups.name,
      user: session.username ?? '',
      address: session.address,
      ...(tracking !== undefined && { tracking }),
    };
  }

  /**
   * upsd's user_checkaction(): the user must exist, the password match, and the right be granted;
   * any failure is ERR ACCESS-DENIED. Cached password checks answer synchronously.
   */
  private authorize(
    session: Session,
    allowed: (u: { actions: Set<string>; instcmds: Set<string> }) => boolean,
    then: () => void,
  ): Promise<void> | undefined {
    const entry = this.users.get(session.username ?? '');
    const password = session.password ?? '';
    const decide = (passwordOk: boolean): undefined => {
      if (!this.sessions.has(session.id)) return; // gone while the password was checked
      if (entry && passwordOk && allowed(entry)) then();
      else this.err(session, 'ACCESS-DENIED');
    };
    if (!entry) return decide(false);
    const key = this.passwordChecks.key(entry.user.name, password);
    const cached = this.passwordChecks.get(key);
    if (cached !== undefined) return decide(cached);
    const users = this.users;
    return verifyPassword(password, entry.user.passwordHash).then(
      (ok) => {
        if (this.users === users) this.passwordChecks.set(key, ok);
        decide(ok);
      },
      () => decide(false),
    );
  }

  /** upsd's get_ups_ptr() + ups_available(): UNKNOWN-UPS, then DRIVER-NOT-CONNECTED or DATA-STALE. */
  private available(session: Session, name: string): UpsState | undefined {
    const ups = this.upses.get(lower(name));
    if (!ups) {
      this.err(session, 'UNKNOWN-UPS');
      return undefined;
    }
    if (ups.availability === 'driver-not-connected') {
      this.err(session, 'DRIVER-NOT-CONNECTED');
      return undefined;
    }
    if (ups.availability === 'stale') {
      this.err(session, 'DATA-STALE');
      return undefined;
    }
    return ups;
  }

  private fsdFor(ups: UpsState, session: Session): boolean {
    return ups.fsd || ups.fsdFor.some((t) => this.matches(t, session.username, session.address));
  }

  private matches(target: NutIdentity, user: string | undefined, address: string): boolean {
    return (
      (target.user === undefined || target.user === user) &&
      (target.address === undefined || target.address === address)
    );
  }

  private identity(identity: NutIdentity): NutIdentity {
    if (identity.user === undefined && identity.address === undefined) {
      throw new RangeError('an FSD identity needs a user, an address, or both');
    }
    return {
      ...(identity.user !== undefined && { user: identity.user }),
      ...(identity.address !== undefined && { address: normalizeAddress(identity.address) }),
    };
  }

  private sortedVars(ups: UpsState): VarEntry[] {
    ups.sorted ??= [...ups.vars.values()].sort((a, b) => {
      const x = lower(a.name);
      const y = lower(b.name);
      return x < y ? -1 : x > y ? 1 : 0;
    });
    return ups.sorted;
  }

  private ups(name: string): UpsState {
    const ups = this.upses.get(lower(name));
    if (!ups) throw new RangeError(`unknown UPS ${name}`);
    return ups;
  }
}

/** upsd's vsnprintf into a 513-byte buffer: at most 512 bytes, and the newline is lost. */
function truncate(line: string): string {
  const bytes = Buffer.from(line);
  return bytes.length > ANSWER_MAX ? bytes.subarray(0, ANSWER_MAX).toString() : line;
}
