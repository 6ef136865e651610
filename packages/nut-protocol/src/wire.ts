import type { Socket } from 'node:net';
import { NutError, NutTransportError } from './errors.ts';
import { encodeLine, tokenize } from './tokenizer.ts';

/** One line of an answer: as received, and split into words. */
export interface ReplyLine {
  raw: string;
  words: string[];
}

/** A client never needs lines this long (upsd's are < 512 bytes); longer input is a broken peer. */
const MAX_REPLY_LINE_BYTES = 16 * 1024;

type Expectation =
  | { kind: 'line' }
  /** `LIST <query…>`: BEGIN LIST <query…>, items starting with `itemPrefix`, END LIST <query…>. */
  | { kind: 'list'; query: string[]; itemPrefix: string[] };

interface Pending {
  request: string;
  expect: Expectation;
  lines: ReplyLine[];
  resolve(lines: ReplyLine[]): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout | undefined;
}

const sameWord = (a: string | undefined, b: string) => a !== undefined && a.toLowerCase() === b.toLowerCase();
const startsWithWords = (words: readonly string[], prefix: readonly string[]) =>
  prefix.every((p, i) => sameWord(words[i], p));

/**
 * One client connection: writes request lines, reads answer lines and hands each to the oldest
 * waiting request (NUT answers pipelined requests in order). Anything that breaks that order — a
 * timeout, an answer that does not fit — ends the connection, because later answers could no
 * longer be matched to their requests.
 */
export class Wire {
  private socket: Socket;
  private readonly queue: Pending[] = [];
  private chunks: Buffer[] = [];
  private buffered = 0;
  private failure: Error | undefined;
  lastWriteAt = Date.now();

  constructor(
    socket: Socket,
    private readonly requestTimeoutMs: number,
    private readonly onClosed: (error: Error) => void,
  ) {
    this.socket = socket;
    this.attach(socket);
  }

  get closed(): boolean {
    return this.failure !== undefined;
  }

  get idle(): boolean {
    return this.queue.length === 0;
  }

  get encrypted(): boolean {
    return 'encrypted' in this.socket && this.socket.encrypted === true;
  }

  /** Sends `words` as one line and resolves with the answer line(s), or rejects (ERR → `NutError`). */
  request(words: readonly string[], expect: Expectation = { kind: 'line' }): Promise<ReplyLine[]> {
    if (this.failure) return Promise.reject(this.failure);
    let line: string;
    try {
      line = encodeLine(words);
    } catch (error) {
      return Promise.reject(error);
    }
    const request = line.slice(0, -1);
    return new Promise<ReplyLine[]>((resolve, reject) => {
      const pending: Pending = { request, expect, lines: [], resolve, reject, timer: undefined };
      if (this.requestTimeoutMs > 0) {
        pending.timer = setTimeout(() => {
          this.fail(
            new NutTransportError('timeout', `no answer to '${request}' within ${this.requestTimeoutMs} ms`),
          );
        }, this.requestTimeoutMs);
        pending.timer.unref?.();
      }
      this.queue.push(pending);
      this.lastWriteAt = Date.now();
      this.socket.write(line);
    });
  }

  /**
   * Hands the socket to `upgrade` (STARTTLS) and continues on the socket it returns. Only valid
   * with no request in flight and nothing unread: TLS bytes must not be read as lines.
   */
  async upgrade(upgrade: (socket: Socket) => Promise<Socket>): Promise<void> {
    if (!this.idle || this.buffered > 0) {
      throw new NutTransportError('protocol', 'STARTTLS needs an idle connection');
    }
    this.detach(this.socket);
    this.socket.on('error', () => {}); // the TLS socket reports failures from here on
    try {
      const secure = await upgrade(this.socket);
      this.socket = secure;
      this.attach(secure);
    } catch (error) {
      this.socket.destroy();
      this.fail(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
  }

  /** Ends the connection: pending requests fail with `error`. */
  destroy(error: Error = new NutTransportError('closed', 'connection closed by the client')): void {
    this.fail(error);
  }

  /** Ends the connection after the data already written has been sent. */
  end(): void {
    if (!this.failure) this.failure = new NutTransportError('closed', 'connection closed by the client');
    this.rejectAll(this.failure);
    this.socket.end();
    this.socket.destroySoon?.();
  }

  private readonly onData = (data: Buffer) => {
    let start = 0;
    for (;;) {
      const nl = data.indexOf(10, start);
      if (nl < 0) break;
      const piece = data.subarray(start, nl);
      let bytes: Buffer = piece;
      if (this.buffered > 0) {
        this.chunks.push(piece);
        bytes = Buffer.concat(this.chunks);
        this.chunks = [];
        this.buffered = 0;
      }
      this.onLine(bytes.toString('utf8'));
      if (this.failure) return;
      start = nl + 1;
    }
    if (start < data.length) {
      const rest = data.subarray(start);
      this.chunks.push(rest);
      this.buffered += rest.length;
      if (this.buffered > MAX_REPLY_LINE_BYTES) {
        this.fail(new NutTransportError('protocol', `answer line longer than ${MAX_REPLY_LINE_BYTES} bytes`));
      }
    }
  };

  private readonly onEnd = () => this.fail(new NutTransportError('closed', 'server closed the connection'));
  private readonly onError = (error: Error) =>
    this.fail(new NutTransportError('closed', `connection error: ${error.message}`, { cause: error }));

  private attach(socket: Socket): void {
    socket.on('data', this.onData);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
  }

  private detach(socket: Socket): void {
    socket.off('data', this.onData);
    socket.off('close', this.onEnd);
    socket.off('error', this.onError);
  }

  private onLine(raw: string): void {
    const pending = this.queue[0];
    if (!pending) {
      this.fail(new NutTransportError('protocol', `unexpected line from server: ${JSON.stringify(raw)}`));
      return;
    }
    const { words } = tokenize(raw);
    const line = { raw, words };
    const error = this.check(pending, line);
    if (error === 'more') return;
    this.queue.shift();
    if (pending.timer) clearTimeout(pending.timer);
    if (error instanceof NutTransportError) {
      pending.reject(error);
      this.fail(error);
    } else if (error) {
      pending.reject(error);
    } else {
      pending.resolve(pending.lines);
    }
  }

  /** Adds `line` to `pending`: 'more' while a list goes on, an error, or undefined when complete. */
  private check(pending: Pending, line: ReplyLine): 'more' | Error | undefined {
    const { words } = line;
    const first = pending.lines.length === 0;
    const isErr = words[0] === 'ERR';
    if (pending.expect.kind === 'line') {
      pending.lines.push(line);
      return isErr ? new NutError(words[1] ?? '', pending.request, words.slice(2)) : undefined;
    }
    const { query, itemPrefix } = pending.expect;
    if (first) {
      if (isErr) return new NutError(words[1] ?? '', pending.request, words.slice(2));
      if (!(words[0] === 'BEGIN' && words[1] === 'LIST' && startsWithWords(words.slice(2), query))) {
        return new NutTransportError(
          'protocol',
          `'${pending.request}' answered by ${JSON.stringify(line.raw)}`,
        );
      }
      pending.lines.push(line);
      return 'more';
    }
    if (words[0] === 'END' && words[1] === 'LIST') {
      if (!startsWithWords(words.slice(2), query) || words.length !== query.length + 2) {
        return new NutTransportError(
          'protocol',
          `list '${pending.request}' ended by ${JSON.stringify(line.raw)}`,
        );
      }
      pending.lines.shift(); // BEGIN LIST
      return undefined;
    }
    if (isErr || !startsWithWords(words, itemPrefix)) {
      return new NutTransportError(
        'protocol',
        `unexpected item in '${pending.request}': ${JSON.stringify(line.raw)}`,
      );
    }
    pending.lines.push(line);
    return 'more';
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.rejectAll(error);
    this.detach(this.socket);
    this.socket.on('error', () => {});
    this.socket.destroy();
    this.onClosed(error);
  }

  private rejectAll(error: Error): void {
    for (const pending of this.queue.splice(0)) {
      if (pending.timer) clearTimeout(pending.timer);
      pending.reject(error);
    }
  }
}
