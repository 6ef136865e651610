// Local receivers for the notification tests: an HTTP server that records what each channel posts,
// a real SMTP server (smtp-server) that records what the e-mail channel sends, and a driver that runs
// the real policy engine in real time and feeds its actions and readings to a Notifier.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type EngineAction,
  type EngineEvent,
  type EngineState,
  type HostStep,
  initialState,
  nextWakeAt,
  type Plan,
  readingFromNutVars,
  step,
  validatePlan,
} from '@blackstart/policy';
import { waitFor } from '@blackstart/tests';
import { SMTPServer } from 'smtp-server';
import type { Notifier } from '../src/notifications/index.ts';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** The body parsed as JSON, or undefined. */
  json: unknown;
  /** The status the receiver answered. */
  status: number;
}

export type Responder = (
  request: Omit<ReceivedRequest, 'status'>,
) => { status: number; body?: string; contentType?: string; hang?: boolean } | undefined;

/** An HTTP server on loopback that records every request and answers as `respond` says (default 200). */
export class HttpReceiver {
  readonly requests: ReceivedRequest[] = [];
  respond: Responder = () => undefined;
  private readonly hanging = new Set<import('node:http').ServerResponse>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(): Promise<HttpReceiver> {
    let receiver: HttpReceiver | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => receiver!.handle(req, Buffer.concat(chunks).toString('utf8'), res));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    receiver = new HttpReceiver(server, (server.address() as AddressInfo).port);
    return receiver;
  }

  private handle(req: IncomingMessage, body: string, res: import('node:http').ServerResponse): void {
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {}
    const request = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, json };
    const answer = this.respond(request) ?? { status: 200, body: '{"errcode":0,"errmsg":"ok"}' };
    this.requests.push({ ...request, status: answer.status });
    if (answer.hang) {
      this.hanging.add(res);
      return;
    }
    res.writeHead(answer.status, { 'content-type': answer.contentType ?? 'application/json' });
    res.end(answer.body ?? '');
  }

  url(path = '/'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Requests to `path` that were answered 2xx. */
  accepted(path?: string): ReceivedRequest[] {
    return this.requests.filter((r) => (path === undefined || r.path === path) && r.status < 300);
  }

  async waitForAccepted(count: number, path?: string, timeoutMs = 10_000): Promise<ReceivedRequest[]> {
    await waitFor(() => this.accepted(path).length >= count, {
      timeoutMs,
      what: `${count} accepted request(s)${path ? ` to ${path}` : ''} (have ${this.accepted(path).length})`,
    });
    return this.accepted(path);
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export interface ReceivedMail {
  from: string;
  to: string[];
  user?: string;
  secure: boolean;
  raw: string;
  headers: Map<string, string>;
  subject: string;
  /** Decoded bodies by content type (text/plain, text/html). */
  parts: Map<string, string>;
}

/** A real SMTP server (the `smtp-server` package) on loopback that keeps every message it receives. */
export class SmtpSink {
  readonly messages: ReceivedMail[] = [];

  private constructor(
    private readonly server: SMTPServer,
    readonly port: number,
  ) {}

  static async start(
    options: { user?: string; password?: string; starttls?: boolean } = {},
  ): Promise<SmtpSink> {
    let sink: SmtpSink | undefined;
    const server = new SMTPServer({
      authOptional: !options.user,
      allowInsecureAuth: true,
      // Without a certificate of its own the sink offers no STARTTLS (unless told to pretend).
      ...(options.starttls ? {} : { disabledCommands: ['STARTTLS'] }),
      logger: false,
      onAuth(auth, _session, callback) {
        if (auth.username === options.user && auth.password === options.password)
          callback(null, { user: auth.username });
        else callback(new Error('Invalid username or password'));
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          sink!.messages.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            ...(typeof session.user === 'string' && { user: session.user }),
            secure: session.secure,
            raw,
            ...parseMail(raw),
          });
          callback();
        });
      },
    });
    server.on('error', () => {});
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.server.address() as AddressInfo;
    sink = new SmtpSink(server, address.port);
    return sink;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

// ---- a minimal MIME reader (enough for what nodemailer writes) ---------------------------------

function parseHeaders(block: string): Map<string, string> {
  const headers = new Map<string, string>();
  const unfolded = block.replace(/\r?\n[ \t]+/g, ' ');
  for (const line of unfolded.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return headers;
}

/** RFC 2047 encoded words (`=?UTF-8?Q?…?=` / `=?UTF-8?B?…?=`). */
function decodeWords(value: string): string {
  return value
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=/g, (_m, _charset: string, enc: string, text: string) =>
      enc.toUpperCase() === 'B'
        ? Buffer.from(text, 'base64').toString('utf8')
        : decodeQuotedPrintable(text.replaceAll('_', ' ')),
    );
}

function decodeQuotedPrintable(text: string): string {
  const bytes: number[] = [];
  const soft = text.replace(/=\r?\n/g, '');
  for (let i = 0; i < soft.length; i++) {
    if (soft[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(soft.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(soft.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(...Buffer.from(soft[i]!, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

function decodeBody(body: string, encoding: string | undefined): string {
  switch ((encoding ?? '7bit').toLowerCase()) {
    case 'base64':
      return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
    case 'quoted-printable':
      return decodeQuotedPrintable(body);
    default:
      return body;
  }
}

function parseMail(raw: string): Pick<ReceivedMail, 'headers' | 'subject' | 'parts'> {
  const split = raw.search(/\r?\n\r?\n/);
  const headers = parseHeaders(raw.slice(0, split));
  const body = raw.slice(split).replace(/^\r?\n\r?\n/, '');
  const parts = new Map<string, string>();
  collectParts(headers, body, parts);
  return { headers, subject: decodeWords(headers.get('subject') ?? ''), parts };
}

function collectParts(headers: Map<string, string>, body: string, parts: Map<string, string>): void {
  const type = headers.get('content-type') ?? 'text/plain';
  const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
  if (type.toLowerCase().startsWith('multipart/') && boundary) {
    for (const section of body.split(`--${boundary}`).slice(1)) {
      if (section.startsWith('--')) break;
      const at = section.search(/\r?\n\r?\n/);
      const sub = parseHeaders(section.slice(0, at).replace(/^\r?\n/, ''));
      collectParts(
        sub,
        section
          .slice(at)
          .replace(/^\r?\n\r?\n/, '')
          .replace(/\r?\n$/, ''),
        parts,
      );
    }
    return;
  }
  parts.set(
    type.split(';')[0]!.trim().toLowerCase(),
    decodeBody(body, headers.get('content-transfer-encoding')),
  );
}

// ---- the real engine, in real time -----------------------------------------------------------

export function plan(input: unknown): Plan {
  const v = validatePlan(input);
  if (!v.ok) throw new Error(`bad test plan: ${JSON.stringify(v.errors)}`);
  return v.plan;
}

export const ON_BATTERY = {
  'ups.status': 'OB DISCHRG',
  'battery.charge': '90',
  'battery.runtime': '900',
  'ups.load': '30',
};
export const ON_LINE = {
  'ups.status': 'OL CHRG',
  'battery.charge': '85',
  'battery.runtime': '900',
  'ups.load': '30',
};

/**
 * Runs the policy engine like the controller's runtime does (one timer from `nextWakeAt`, wall-clock
 * time) and hands every reading and every step's actions to the notifier.
 */
export class EngineDriver {
  state: EngineState;
  readonly actions: EngineAction[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    plan: Plan,
    private readonly notifier: Notifier,
  ) {
    this.state = initialState(plan);
  }

  private apply(event: EngineEvent): void {
    const now = Date.now();
    const result = step(this.state, event, now);
    this.state = result.state;
    this.actions.push(...result.actions);
    this.notifier.actions(result.actions, now);
    if (this.timer) clearTimeout(this.timer);
    const at = nextWakeAt(this.state);
    this.timer =
      at === undefined
        ? undefined
        : setTimeout(() => this.apply({ type: 'tick' }), Math.max(0, at - Date.now()));
  }

  reading(source: string, vars: Record<string, string>): void {
    const reading = readingFromNutVars(vars);
    this.notifier.reading(source, reading);
    this.apply({ type: 'reading', source, reading });
  }

  /** An agent's acknowledgement of its latest shutdown command. */
  ack(host: string, hostStep: HostStep = 'powering-off'): void {
    const command = this.actions.findLast((a) => a.type === 'shutdown-host' && a.host === host);
    if (command?.type !== 'shutdown-host') throw new Error(`no command for ${host}`);
    this.apply({ type: 'host-progress', host, commandId: command.commandId, step: hostStep });
  }

  healthy(host: string): void {
    this.apply({ type: 'host-healthy', host });
  }

  /** Waits until the engine emitted `times` actions of `type` (for `host`, if given). */
  async until(
    type: EngineAction['type'],
    { host, times = 1 }: { host?: string; times?: number } = {},
  ): Promise<void> {
    const count = () =>
      this.actions.filter((a) => a.type === type && (!host || ('host' in a && a.host === host))).length;
    await waitFor(() => count() >= times, {
      timeoutMs: 10_000,
      what: `engine action ${type}${host ? ` for ${host}` : ''} ×${times} (have ${count()})`,
    });
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}
