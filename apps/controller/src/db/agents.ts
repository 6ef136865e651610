import { createHash, randomBytes } from 'node:crypto';
import { and, eq, gt, isNull } from 'drizzle-orm';
import type { Database } from './client.ts';
import { LocalCache } from './local-cache.ts';
import { agents, enrollmentTokens } from './schema.ts';

export interface EnrolledAgent {
  host: string;
  publicJwk: Record<string, string>;
  keyId: string;
  facts: Record<string, unknown>;
  enrolledAt: Date;
  lastSeenAt: Date | null;
}

export class EnrollmentError extends Error {
  constructor(
    readonly code: 'invalid-token' | 'host-mismatch' | 'host-taken',
    message: string,
  ) {
    super(message);
    this.name = 'EnrollmentError';
  }
}

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

type CachedAgent = Pick<EnrolledAgent, 'host' | 'publicJwk' | 'keyId'>;

/** Enrollment tokens and enrolled agents. */
export class AgentStore {
  private readonly cache: LocalCache<CachedAgent[]> | undefined;

  /** `cacheFile` keeps the agents' keys beside the database (see LocalCache). */
  constructor(
    private readonly db: Database,
    cacheFile?: string,
  ) {
    this.cache = cacheFile ? new LocalCache(cacheFile) : undefined;
  }

  /** Mints a single-use token valid for `ttlSeconds`. Only its hash is stored. */
  async mintToken(options: {
    host?: string;
    ttlSeconds: number;
    now: Date;
  }): Promise<{ token: string; expiresAt: Date }> {
    const token = `bst_${randomBytes(24).toString('base64url')}`;
    const expiresAt = new Date(options.now.getTime() + options.ttlSeconds * 1000);
    await this.db
      .insert(enrollmentTokens)
      .values({ hash: hashToken(token), host: options.host ?? null, createdAt: options.now, expiresAt });
    return { token, expiresAt };
  }

  /**
   * Consumes a token and records the agent's public key, atomically: a token works once, before
   * it expires, for the host it was minted for. Re-enrolling an existing host replaces its key.
   */
  async enroll(options: {
    token: string;
    host: string;
    publicJwk: Record<string, string>;
    keyId: string;
    facts: Record<string, unknown>;
    now: Date;
  }): Promise<EnrolledAgent> {
    const enrolled = await this.db.transaction(async (tx) => {
      const [claimed] = await tx
        .update(enrollmentTokens)
        .set({ usedAt: options.now, usedBy: options.host })
        .where(
          and(
            eq(enrollmentTokens.hash, hashToken(options.token)),
            isNull(enrollmentTokens.usedAt),
            gt(enrollmentTokens.expiresAt, options.now),
          ),
        )
        .returning();
      if (!claimed)
        throw new EnrollmentError('invalid-token', 'enrollment token is unknown, used or expired');
      if (claimed.host !== null && claimed.host !== options.host) {
        throw new EnrollmentError('host-mismatch', `token was minted for host '${claimed.host}'`);
      }
      const row = {
        host: options.host,
        publicJwk: options.publicJwk,
        keyId: options.keyId,
        facts: options.facts,
        enrolledAt: options.now,
        lastSeenAt: null,
      };
      await tx
        .insert(agents)
        .values(row)
        .onConflictDoUpdate({
          target: agents.host,
          set: { publicJwk: row.publicJwk, keyId: row.keyId, facts: row.facts, enrolledAt: row.enrolledAt },
        });
      return row;
    });
    if (this.cache) {
      const others = (this.cache.read() ?? []).filter((a) => a.host !== options.host);
      this.cache.write([
        ...others,
        { host: options.host, publicJwk: options.publicJwk, keyId: options.keyId },
      ]);
    }
    return enrolled;
  }

  async list(): Promise<EnrolledAgent[]> {
    const rows = await this.db.select().from(agents).orderBy(agents.host);
    this.cache?.write(rows.map((r) => ({ host: r.host, publicJwk: r.publicJwk, keyId: r.keyId })));
    return rows;
  }

  /**
   * The enrolled agents' keys: from the database, or — when it cannot be asked (`reachable` false)
   * or does not answer — from the local copy.
   */
  async trusted(reachable: boolean): Promise<CachedAgent[]> {
    if (reachable) {
      try {
        return await this.list();
      } catch (error) {
        if (!this.cache) throw error;
      }
    }
    return this.cache?.read() ?? [];
  }

  async markSeen(host: string, at: Date): Promise<void> {
    await this.db.update(agents).set({ lastSeenAt: at }).where(eq(agents.host, host));
  }
}
