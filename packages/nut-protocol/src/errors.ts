/**
 * Error codes of the NUT network protocol (server/neterr.h), plus the legacy ones libupsclient still
 * recognises. Codes a server sends that are not listed here are kept verbatim (`NutError.known`).
 */
export const NUT_ERROR_CODES = [
  'ACCESS-DENIED',
  'UNKNOWN-UPS',
  'VAR-NOT-SUPPORTED',
  'CMD-NOT-SUPPORTED',
  'INVALID-ARGUMENT',
  'INSTCMD-FAILED',
  'SET-FAILED',
  'READONLY',
  'TOO-LONG',
  'FEATURE-NOT-SUPPORTED',
  'FEATURE-NOT-CONFIGURED',
  'ALREADY-SSL-MODE',
  'DRIVER-NOT-CONNECTED',
  'DATA-STALE',
  'ALREADY-LOGGED-IN',
  'INVALID-PASSWORD',
  'ALREADY-SET-PASSWORD',
  'INVALID-USERNAME',
  'ALREADY-SET-USERNAME',
  'USERNAME-REQUIRED',
  'PASSWORD-REQUIRED',
  'UNKNOWN-COMMAND',
  'INVALID-VALUE',
  // Defined in neterr.h but never sent by upsd 2.8.
  'VAR-UNKNOWN',
  'UNKNOWN-TYPE',
  'UNKNOWN-INSTCMD',
  'MISSING-ARGUMENT',
  // Legacy codes libupsclient still maps.
  'PASSWORD-INCORRECT',
  'UNKNOWN-VAR',
  // Answers to `GET TRACKING <id>`.
  'UNKNOWN',
  'FAILED',
] as const;

export type KnownNutErrorCode = (typeof NUT_ERROR_CODES)[number];
/** A known code, or any other word a server sent. */
export type NutErrorCode = KnownNutErrorCode | (string & {});

const KNOWN = new Set<string>(NUT_ERROR_CODES);

/** The server answered `ERR <code> [extra…]`. */
export class NutError extends Error {
  override name = 'NutError';
  /** True when `code` is one NUT defines. Unknown codes are kept, never turned into a crash. */
  readonly known: boolean;

  constructor(
    readonly code: NutErrorCode,
    /** The request line that was answered (without its newline). */
    readonly request: string,
    /** Words after the code, if the server sent any. */
    readonly extra: readonly string[] = [],
  ) {
    super(`${request.split(' ')[0] ?? 'request'} failed: ERR ${[code, ...extra].join(' ')}`);
    this.known = KNOWN.has(code);
  }
}

/** Reasons a request failed without an `ERR` answer. */
export type NutTransportFailure =
  | 'connect' // could not open the TCP connection
  | 'closed' // the connection closed before the answer came
  | 'timeout' // no answer in time; the connection is dropped to stay in sync
  | 'tls' // STARTTLS refused or the handshake / certificate check failed
  | 'protocol' // the answer does not match the request (wrong echo, broken list framing)
  | 'not-connected'; // the client is between connections

/** The request failed on the way: no connection, a timeout, TLS, or an answer that does not fit. */
export class NutTransportError extends Error {
  override name = 'NutTransportError';
  constructor(
    readonly reason: NutTransportFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** The system error code (ECONNREFUSED, ENOTFOUND, …) when the failure came from the socket. */
  get syscallCode(): string | undefined {
    // Several addresses tried (happy eyeballs) fail as an AggregateError: the last one counts.
    const cause = this.cause as { code?: unknown; errors?: Array<{ code?: unknown }> } | undefined;
    const code = cause?.code ?? cause?.errors?.at(-1)?.code;
    return typeof code === 'string' ? code : undefined;
  }
}

/**
 * "No data" rather than a reading: the server has no fresh data for the UPS (driver gone or stale),
 * or there is no connection to the server. This is never evidence of an outage.
 */
export function isNoDataError(error: unknown): boolean {
  if (error instanceof NutError) return error.code === 'DATA-STALE' || error.code === 'DRIVER-NOT-CONNECTED';
  return error instanceof NutTransportError;
}
