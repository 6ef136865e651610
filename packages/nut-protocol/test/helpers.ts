import { readFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import type { NutUser } from '../../../tests/harness/index.ts';
import {
  hashPassword,
  type NutClient,
  type NutServerUser,
  type NutUpsDefinition,
  type NutVarInfo,
} from '../src/index.ts';

/** Reads everything a server says about one UPS, to serve the same UPS from NutServer. */
export async function mirrorUps(client: NutClient, ups: string): Promise<NutUpsDefinition> {
  const vars = await client.listVars(ups);
  const info: Record<string, NutVarInfo> = {};
  for (const name of Object.keys(vars)) {
    const type = await client.getType(ups, name);
    const entry: NutVarInfo = { writable: type.writable };
    if (type.maxLength !== undefined) entry.maxLength = type.maxLength;
    if (type.enum) entry.enum = await client.listEnum(ups, name);
    if (type.range) entry.ranges = await client.listRange(ups, name);
    info[name] = entry;
  }
  return {
    description: await client.getUpsDesc(ups),
    vars,
    info,
    commands: await client.listCmds(ups),
  };
}

/** The harness's upsd.users entries as NutServer users (same names, passwords and rights). */
export function serverUsers(users: NutUser[]): NutServerUser[] {
  return users.map((u) => {
    const user: NutServerUser = { name: u.name, passwordHash: hashPassword(u.password) };
    for (const right of u.rights) {
      const words = right.split(/[\s=]+/).filter(Boolean);
      const [key, ...values] = words;
      if (key === 'upsmon') user.upsmon = values[0] as NutServerUser['upsmon'];
      if (key === 'actions') user.actions = [...(user.actions ?? []), ...values];
      if (key === 'instcmds') user.instcmds = [...(user.instcmds ?? []), ...values];
    }
    return user;
  });
}

/**
 * A raw TCP connection for byte-exact checks: `send` writes one packet and resolves with what
 * came back once the server has been quiet for `quietMs` (or closed the connection).
 */
export class RawConnection {
  received: Buffer[] = [];
  closed = false;
  private readonly socket: Socket;
  private wake: (() => void) | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.received.push(d);
      this.wake?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
    socket.on('error', () => {});
  }

  static open(port: number, host = '127.0.0.1'): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port }, () => {
        socket.off('error', reject);
        resolve(new RawConnection(socket));
      });
      socket.setNoDelay(true);
      socket.once('error', reject);
    });
  }

  get text(): string {
    return Buffer.concat(this.received).toString('latin1');
  }

  /** Sends one packet; resolves with the bytes received for it. */
  async send(packet: Buffer, { quietMs = 25, silentMs = 150, maxMs = 3000 } = {}): Promise<Buffer> {
    const before = this.received.length;
    if (!this.closed) this.socket.write(packet);
    const start = Date.now();
    let lastCount = before;
    let lastChange = start;
    while (!this.closed) {
      const now = Date.now();
      if (this.received.length !== lastCount) {
        lastCount = this.received.length;
        lastChange = now;
      }
      const got = lastCount > before;
      if (got && now - lastChange >= quietMs) break;
      if (!got && now - start >= silentMs) break;
      if (now - start >= maxMs) break;
      await new Promise<void>((r) => {
        const timer = setTimeout(r, 5);
        this.wake = () => {
          clearTimeout(timer);
          r();
        };
      });
      this.wake = undefined;
    }
    return Buffer.concat(this.received.slice(before));
  }

  /** Writes without waiting for answers. */
  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Stops reading: what the server sends piles up in the kernel buffers, then in the server. */
  pause(): void {
    this.socket.pause();
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * A TCP peer that answers each request line with whatever `answer` returns (a string is written
 * as is; undefined writes nothing) — for client behaviour no real server shows on demand: old
 * servers, broken framing, silence.
 */
export async function scriptedPeer(
  answer: (line: string, socket: Socket) => string | undefined,
): Promise<{ port: number; lines: string[]; connections: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const state = { lines: [] as string[], connections: 0 };
  const server = createServer((socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffer = '';
    socket.on('data', (d) => {
      buffer += d.toString('latin1');
      for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 1);
        state.lines.push(line);
        const reply = answer(line, socket);
        if (reply !== undefined) socket.write(reply);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = address && typeof address === 'object' ? address.port : 0;
  return {
    port,
    get lines() {
      return state.lines;
    },
    get connections() {
      return state.connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export type UpsState = 'ok' | 'driver-not-connected';

export interface Packet {
  conn: string;
  bytes: Buffer;
  line: number;
}

export interface Case {
  name: string;
  state: UpsState;
  packets: Packet[];
}

/** Parses corpus.nut (syntax in its header). */
export function parseCorpus(
  text = readFileSync(new URL('./conformance/corpus.nut', import.meta.url), 'utf8'),
): Case[] {
  const cases: Case[] = [];
  let state: UpsState = 'ok';
  let current: Case | undefined;
  for (const [index, raw] of text.split('\n').entries()) {
    const line = index + 1;
    if (raw.trim() === '' || raw.startsWith('#')) continue;
    const fail = (why: string): never => {
      throw new Error(`corpus.nut:${line}: ${why}`);
    };
    if (raw.startsWith('state ')) {
      const next = raw.slice(6).trim();
      if (next !== 'ok' && next !== 'driver-not-connected') fail(`unknown state ${next}`);
      state = next as UpsState;
      continue;
    }
    if (raw.startsWith('case ')) {
      current = { name: raw.slice(5).trim(), state, packets: [] };
      cases.push(current);
      continue;
    }
    if (!current) fail('packet outside a case');
    const m = /^(?:@(\w+) )?([|>])(?: (.*))?$/.exec(raw);
    if (!m || !current) return fail(`cannot read ${JSON.stringify(raw)}`);
    const [, conn = 'a', kind, rest = ''] = m;
    let text: string;
    if (kind === '|') {
      text = `${rest}\n`;
    } else {
      const value: unknown = JSON.parse(rest);
      const parts = Array.isArray(value) ? value : [value];
      text = parts
        .map((p: unknown) => (Array.isArray(p) ? String(p[0]).repeat(Number(p[1])) : String(p)))
        .join('');
    }
    if ([...text].some((c) => c.charCodeAt(0) > 0xff)) fail('packets are bytes: use \\u0000-\\u00ff');
    current.packets.push({ conn, bytes: Buffer.from(text, 'latin1'), line });
  }
  return cases;
}
