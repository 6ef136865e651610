import type { Socket } from 'node:net';

/** Stops and restarts reading from a socket set up by `readIntoSharedBuffer`. */
export interface ReadSwitch {
  stop(): void;
  start(): void;
}

interface InternalHandle {
  reading?: boolean;
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
 * `buffer` may be shared by many sockets: `onRead` must use the bytes before it returns. End of
 * input and errors still reach the socket as usual ('end', 'error', 'close').
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
