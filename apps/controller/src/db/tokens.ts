import { createHash, randomBytes } from 'node:crypto';
import { and, eq, isNull } from 'drizzle-orm';
import type { Database } from './client.ts';
import { apiTokens } from './schema.ts';

export type Role = 'admin' | 'viewer';

export interface ApiToken {
  id: string;
  name: string;
  role: Role;
  createdAt: Date;
}

export const hashApiToken = (token: string) => createHash('sha256').update(token).digest('hex');

/** API tokens: created once (the secret is shown only then), listed by id, revoked. */
export class ApiTokenStore {
  constructor(private readonly db: Database) {}

  async create(name: string, role: Role, now: Date): Promise<{ token: string; record: ApiToken }> {
    const token = `bsk_${randomBytes(32).toString('base64url')}`;
    const hash = hashApiToken(token);
    await this.db.insert(apiTokens).values({ hash, name, role, createdAt: now });
    return { token, record: { id: hash.slice(0, 16), name, role, createdAt: now } };
  }

  /** Active tokens keyed by hash (the auth layer keeps them in memory). */
  async active(): Promise<Map<string, ApiToken>> {
    const rows = await this.db.select().from(apiTokens).where(isNull(apiTokens.revokedAt));
    return new Map(
      rows.map((r) => [
        r.hash,
        { id: r.hash.slice(0, 16), name: r.name, role: r.role as Role, createdAt: r.createdAt },
      ]),
    );
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
