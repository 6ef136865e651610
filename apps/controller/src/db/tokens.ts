import { createHash, randomBytes } from 'node:crypto';
import { and, eq, isNull } from 'drizzle-orm';
import type { Database } from './client.ts';
import { LocalCache } from './local-cache.ts';
import { apiTokens } from './schema.ts';

export type Role = 'admin' | 'viewer';

export interface ApiToken {
  id: string;
  name: string;
  role: Role;
  createdAt: Date;
}

export const hashApiToken = (token: string) => createHash('sha256').update(token).digest('hex');

type CachedToken = Omit<ApiToken, 'createdAt'> & { hash: string; createdAt: string };

/** API tokens: created once (the secret is shown only then), listed by id, revoked. */
export class ApiTokenStore {
  private readonly cache: LocalCache<CachedToken[]> | undefined;

  /** `cacheFile` keeps the active tokens' hashes beside the database (see LocalCache). */
  constructor(
    private readonly db: Database,
    cacheFile?: string,
  ) {
    this.cache = cacheFile ? new LocalCache(cacheFile) : undefined;
  }

  async create(name: string, role: Role, now: Date): Promise<{ token: string; record: ApiToken }> {
    const token = `bsk_${randomBytes(32).toString('base64url')}`;
    const hash = hashApiToken(token);
    await this.db.insert(apiTokens).values({ hash, name, role, createdAt: now });
    return { token, record: { id: hash.slice(0, 16), name, role, createdAt: now } };
  }

  /** Active tokens keyed by hash (the auth layer keeps them in memory). */
  async active(): Promise<Map<string, ApiToken>> {
    const rows = await this.db.select().from(apiTokens).where(isNull(apiTokens.revokedAt));
    const tokens = new Map(
      rows.map((r) => [
        r.hash,
        { id: r.hash.slice(0, 16), name: r.name, role: r.role as Role, createdAt: r.createdAt },
      ]),
    );
    this.remember(tokens);
    return tokens;
  }

  /** Active tokens from the database, or — when it cannot be asked or does not answer — the local copy. */
  async activeOrCached(reachable: boolean): Promise<Map<string, ApiToken>> {
    if (reachable) {
      try {
        return await this.active();
      } catch (error) {
        if (!this.cache) throw error;
      }
    }
    return new Map(
      (this.cache?.read() ?? []).map(({ hash, createdAt, ...t }) => [
        hash,
        { ...t, createdAt: new Date(createdAt) },
      ]),
    );
  }

  /** Keeps the local copy in step with what the auth layer holds. */
  remember(tokens: ReadonlyMap<string, ApiToken>): void {
    this.cache?.write([...tokens].map(([hash, t]) => ({ ...t, hash, createdAt: t.createdAt.toISOString() })));
  }

  /** Revokes by id (the first 16 hex digits of the hash); returns the full hash when found. */
  async revoke(id: string, now: Date): Promise<string | undefined> {
    const rows = await this.db
      .select({ hash: apiTokens.hash })
      .from(apiTokens)
      .where(isNull(apiTokens.revokedAt));
    const hash = rows.find((r) => r.hash.startsWith(id) && id.length >= 16)?.hash;
    if (!hash) return undefined;
    await this.db
      .update(apiTokens)
      .set({ revokedAt: now })
      .where(and(eq(apiTokens.hash, hash), isNull(apiTokens.revokedAt)));
    return hash;
  }
}
