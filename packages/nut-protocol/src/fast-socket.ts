import type { Socket } from 'node:net';

/** Stops and restarts reading from a socket set up by `readIntoSharedBuffer`. */
export interface ReadSwitch {
  stop(): void;
  start(): void;
}

interface InternalHandle {
  reading?: boolean;
  /** Called by the handle's C++ side after every read, with the byte count in streamBaseState. */
  onread?: (arrayBuffer: unknown) => unknown;
  readStart?: () => number;
  readStop?: () => number;
  useUserBuffer?: (buffer: Uint8Array) => void;
}

type InternalSocket = Socket & { _handle?: InternalHandle | null } & Record<symbol, unknown>;

/**
 * Makes an accepted socket read into `buffer` and call `onRead(length)` instead of emitting 'data'.
 *
 * This is what `new net.Socket({ onread })` does, and it skips what costs Node most per read: a fresh
 * 64 KiB allocation, an ArrayBuffer and a Buffer, and the Readable stream's push and 'data' event
 * (about two thirds of a small request's JavaScript-side cost, measured with callgrind). `net.Server`
 * cannot ask for it (Node 20 has no `onread` option for accepted sockets), so this repeats the
 * constructor's setup on a socket accepted with `pauseOnConnect`, before it has started reading. It
 * relies on Node internals (the socket's handle and its kBuffer/kBufferCb fields): when they are not
 * there it changes nothing and returns undefined, and the caller reads 'data' events instead.
 *
 * Where it can, it also takes the handle's read callback for reads that brought data, so that a read
 * skips Node's generic one (socket timeout refresh, symbol lookups); end of input and errors go on
 * to Node's callback and reach the socket as usual ('end', 'error', 'close').
 *
 * `buffer` may be shared by many sockets: `onRead` must use the bytes before it returns.
 */
export function readIntoSharedBuffer(
  socket: Socket,
  buffer: Buffer,
  onRead: (length: number) => void,
): ReadSwitch | undefined {
  const s = socket as InternalSocket;
  const handle = s._handle;
  const symbols = Object.getOwnPropertySymbols(s);
  const kBuffer = symbols.find((sym) => sym.description === 'kBuffer');
  const kBufferCb = symbols.find((sym) => sym.description === 'kBufferCb');
  if (
    !handle ||
    handle.reading ||
    typeof handle.useUserBuffer !== 'function' ||
    typeof handle.readStart !== 'function' ||
    typeof handle.readStop !== 'function' ||
    kBuffer === undefined ||
    kBufferCb === undefined ||
    s[kBuffer] !== null ||
    s[kBufferCb] !== null
  ) {
    return undefined;
  }
  s[kBuffer] = buffer;
  s[kBufferCb] = (length: number) => {
    onRead(length);
  };
  handle.useUserBuffer(buffer);
  const nodeOnRead = handle.onread;
  if (streamWrap && typeof nodeOnRead === 'function') {
    const { streamBaseState, kReadBytesOrError } = streamWrap;
    // No socket timeout is refreshed here: callers that use this keep their own idle clock.
    handle.onread = function onread(this: unknown, arrayBuffer: unknown) {
      const length = streamBaseState[kReadBytesOrError] ?? 0;
      if (length > 0) {
        if (!s.destroyed) onRead(length);
        return undefined;
      }
      return nodeOnRead.call(this, arrayBuffer);
    };
  }
  return {
    stop() {
      const h = s._handle;
      if (h?.reading) {
        h.reading = false;
        h.readStop?.();
      }
    },
    start() {
      const h = s._handle;
      if (h && !h.reading && !s.destroyed) {
        h.reading = true;
        const error = h.readStart?.();
        if (error) s.destroy(new Error(`cannot read from socket (${error})`));
      }
    },
  };
}

/** Writes to a socket set up by `writeDirectly`. */
export interface DirectWriter {
  /**
   * Writes `text` (UTF-8). Answers how many bytes wait in libuv's queue because the kernel did not
   * take them yet, or -1 when the socket is gone or failed (it is then destroyed).
   */
  write(text: string): number;
}

interface WriteReq {
  handle: unknown;
  oncomplete: (status: number) => void;
  async: boolean;
  bytes: number;
  buffer: null;
}

interface WritableHandle {
  writeUtf8String?: (req: WriteReq, text: string) => number;
  writeQueueSize?: number;
}

interface StreamWrapBinding {
  WriteWrap?: new () => WriteReq;
  /**
   * Results of the last stream operation: `[kLastWriteWasAsync]` is 1 when a write was queued,
   * `[kReadBytesOrError]` what the last read brought (bytes, or a negative libuv error).
   */
  streamBaseState?: Int32Array;
  kLastWriteWasAsync?: number;
  kReadBytesOrError?: number;
}

/**
 * Node's WriteWrap (the request object a stream handle's write takes), and where writes and reads
 * report their results; undefined where not reachable.
 */
const streamWrap = (() => {
  try {
    const binding = (process as unknown as { binding(name: string): StreamWrapBinding }).binding(
      'stream_wrap',
    );
    const { WriteWrap, streamBaseState, kLastWriteWasAsync, kReadBytesOrError } = binding;
    if (typeof WriteWrap !== 'function' || !(streamBaseState instanceof Int32Array)) return undefined;
    if (typeof kLastWriteWasAsync !== 'number' || typeof kReadBytesOrError !== 'number') return undefined;
    return { WriteWrap, streamBaseState, kLastWriteWasAsync, kReadBytesOrError };
  } catch {
    return undefined;
  }
})();

/**
 * Writes straight to a socket's handle, as `socket.write()` ends up doing, without the Writable
 * stream's bookkeeping, callbacks and next-tick work per write. Like `readIntoSharedBuffer`, it
 * relies on Node internals (the handle and its WriteWrap requests) and returns undefined where they
 * are missing. What the kernel does not take at once is queued by libuv in order (and counted in
 * `write`'s answer); `socket.end()` still waits for it. The socket's own `write()` must not be used too.
 */
export function writeDirectly(socket: Socket): DirectWriter | undefined {
  const s = socket as InternalSocket;
  const handle = s._handle as (InternalHandle & WritableHandle) | null | undefined;
  if (!streamWrap || !handle || typeof handle.writeUtf8String !== 'function') return undefined;
  if (typeof handle.writeQueueSize !== 'number') return undefined;
  const { WriteWrap: Request, streamBaseState, kLastWriteWasAsync } = streamWrap;
  const onComplete = (status: number) => {
    if (status < 0) socket.destroy();
  };
  const request = (): WriteReq => {
    const req = new Request();
    req.handle = handle;
    req.oncomplete = onComplete;
    req.async = false;
    req.bytes = 0;
    req.buffer = null;
    return req;
  };
  // A request that completed at once is not kept by the handle and serves the next write.
  let spare = request();
  return {
    write(text) {
      if (s._handle !== handle || socket.destroyed) return -1;
      const error = handle.writeUtf8String?.(spare, text) ?? -1;
      if (error !== 0) {
        socket.destroy();
        return -1;
      }
      // Written at once (the usual case): nothing queued, and the request is free again.
      if (streamBaseState[kLastWriteWasAsync] === 0) return 0;
      spare = request();
      return handle.writeQueueSize ?? 0;
    },
  };
}
