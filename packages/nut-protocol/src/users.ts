import { createHash, randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';

/**
 * A user of the upsd-compatible server, with upsd.users-style rights:
 * `upsmon primary` grants LOGIN, MASTER (= PRIMARY) and FSD; `upsmon secondary` grants LOGIN;
 * `actions` adds SET, FSD, LOGIN, PRIMARY or MASTER; `instcmds` lists commands (or ALL).
 */
export interface NutServerUser {
  name: string;
  /** Output of `hashPassword()`; the clear-text password is never stored. */
  passwordHash: string;
  upsmon?: 'primary' | 'secondary' | 'master' | 'slave';
  actions?: string[];
  instcmds?: string[];
}

const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 32 };
const PREFIX = 'scrypt';

/** Hashes a password with scrypt (N=16384, r=8, p=1, random 16-byte salt). */
export function hashPassword(password: string): string {
  const salt = randomBytes(16);
  const hash = scryptSync(password, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p });
  return [PREFIX, SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64'), hash.toString('base64')].join('$');
}

interface ParsedHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

function parseHash(encoded: string): ParsedHash | undefined {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== PREFIX) return undefined;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  const salt = Buffer.from(parts[4] ?? '', 'base64');
  const hash = Buffer.from(parts[5] ?? '', 'base64');
  if (!N || !r || !p || salt.length === 0 || hash.length === 0) return undefined;
  return { N, r, p, salt, hash };
}

/** Throws if `encoded` is not a `hashPassword()` result (so a bad config fails at start-up). */
export function assertPasswordHash(encoded: string, user: string): void {
  if (!parseHash(encoded))
    throw new RangeError(`user '${user}': passwordHash is not a hashPassword() result`);
}

/** Checks a password against a `hashPassword()` result, in constant time, off the event loop. */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const parsed = parseHash(encoded);
  if (!parsed) return false;
  const derived = await new Promise<Buffer>((resolve, reject) =>
    scrypt(
      password,
      parsed.salt,
      parsed.hash.length,
      { N: parsed.N, r: parsed.r, p: parsed.p, maxmem: 256 * parsed.N * parsed.r },
      (error, key) => (error ? reject(error) : resolve(key)),
    ),
  );
  return timingSafeEqual(derived, parsed.hash);
}

/** The actions a user may perform, upper-cased, as upsd derives them from upsd.users. */
export function userActions(user: NutServerUser): Set<string> {
  const actions = new Set((user.actions ?? []).map((a) => a.toUpperCase()));
  const role = user.upsmon?.toLowerCase();
  if (role === 'primary' || role === 'master') for (const a of ['LOGIN', 'MASTER', 'FSD']) actions.add(a);
  if (role === 'secondary' || role === 'slave') actions.add('LOGIN');
  return actions;
}

/**
 * Remembers password checks so that a client reconnecting every few seconds does not cost an
 * scrypt run each time. Keys are digests of the candidate password; the cache is bounded.
 */
export class PasswordCheckCache {
  private readonly results = new Map<string, boolean>();
  constructor(private readonly limit = 256) {}

  key(user: string, password: string): string {
    return `${user}\0${createHash('sha256').update(password).digest('base64')}`;
  }

  get(key: string): boolean | undefined {
    return this.results.get(key);
  }

  set(key: string, ok: boolean): void {
    if (this.results.size >= this.limit) {
      const oldest = this.results.keys().next().value;
      if (oldest !== undefined) this.results.delete(oldest);
    }
    this.results.set(key, ok);
  }

  clear(): void {
    this.results.clear();
  }
}
