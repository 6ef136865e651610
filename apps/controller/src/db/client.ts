import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import * as schema from './schema.ts';

export type Database = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface OpenDatabase {
  db: Database;
  kind: 'pglite' | 'postgres';
  /** Resolves once the schema is migrated (at once, unless PostgreSQL was unreachable at start). */
  ready: Promise<void>;
  /** Whether `ready` has resolved. */
  readonly isReady: boolean;
  close(): Promise<void>;
}

/**
 * Where the database lives: a postgres:// URL (postgres.js), a PGlite data directory, or PGlite in
 * memory (tests). Migrations are applied before this resolves.
 */
export type DatabaseLocation = { url: string } | { pgliteDir: string } | { memory: true };

/** Errors that say PostgreSQL cannot be reached (rather than that something is wrong with it). */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  // The server is starting up or shutting down.
  '57P03',
  '57P01',
]);

export function isUnreachable(error: unknown): boolean {
  const e = error as { code?: unknown; errors?: unknown[]; cause?: unknown };
  if (typeof e?.code === 'string' && UNREACHABLE.has(e.code)) return true;
  if (Array.isArray(e?.errors)) return e.errors.some(isUnreachable);
  return e?.cause !== undefined && isUnreachable(e.cause);
}

/**
 * Opens the database and applies the migrations. With `whenUnreachable: 'retry'`, a PostgreSQL
 * that cannot be reached does not stop the controller: the database opens at once, its queries fail
 * until the server is back, and the migrations are retried in the background (`ready`).
 */
export async function openDatabase(
  location: DatabaseLocation,
  options: { whenUnreachable?: 'fail' | 'retry'; onRetry?: (error: Error) => void; retryMs?: number } = {},
): Promise<OpenDatabase> {
  const migrationsFolder = findMigrations();
  if ('url' in location) {
    const { default: postgres } = await import('postgres');
    const { drizzle } = await import('drizzle-orm/postgres-js');
    const { migrate } = await import('drizzle-orm/postgres-js/migrator');
    const sql = postgres(location.url, { max: 5, onnotice: () => {}, connect_timeout: 10 });
    const db = drizzle(sql, { schema });
    const run = () =>
      migrate(db, { migrationsFolder, migrationsTable: 'migrations', migrationsSchema: 'public' });
    let closed = false;
    let isReady = false;
    let ready: Promise<void>;
    try {
      await run();
      isReady = true;
      ready = Promise.resolve();
    } catch (error) {
      if (options.whenUnreachable !== 'retry' || !isUnreachable(error)) {
        await sql.end({ timeout: 1 });
        throw error;
      }
      options.onRetry?.(error as Error);
      ready = (async () => {
        while (!closed) {
          await new Promise((resolve) => setTimeout(resolve, options.retryMs ?? 2000));
          if (closed) return;
          try {
            await run();
            isReady = true;
            return;
          } catch (retryError) {
            if (!isUnreachable(retryError)) throw retryError;
          }
        }
      })();
      ready.catch(() => {});
    }
    return {
      db: db as unknown as Database,
      kind: 'postgres',
      ready,
      get isReady() {
        return isReady;
      },
      close: () => {
        closed = true;
        return sql.end({ timeout: 5 });
      },
    };
  }
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  const { migrate } = await import('drizzle-orm/pglite/migrator');
  if ('pgliteDir' in location) mkdirSync(location.pgliteDir, { recursive: true });
  const client = 'pgliteDir' in location ? new PGlite(location.pgliteDir) : new PGlite();
  const db = drizzle(client, { schema });
  await migrate(db, { migrationsFolder, migrationsTable: 'migrations', migrationsSchema: 'public' });
  return {
    db: db as unknown as Database,
    kind: 'pglite',
    ready: Promise.resolve(),
    isReady: true,
    close: () => client.close(),
  };
}

/** The committed drizzle-kit migrations: beside the bundle when shipped, in the app when run from source. */
function findMigrations(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'drizzle'), join(here, '..', '..', 'drizzle')];
  const found = candidates.find((dir) => existsSync(join(dir, 'meta', '_journal.json')));
  if (!found) throw new Error(`database migrations not found (looked in ${candidates.join(', ')})`);
  return found;
}
