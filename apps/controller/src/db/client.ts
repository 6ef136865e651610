import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import * as schema from './schema.ts';

export type Database = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface OpenDatabase {
  db: Database;
  kind: 'pglite' | 'postgres';
  close(): Promise<void>;
}

/**
 * Where the database lives: a postgres:// URL (postgres.js), a PGlite data directory, or PGlite in
 * memory (tests). Migrations are applied before this resolves.
 */
export type DatabaseLocation = { url: string } | { pgliteDir: string } | { memory: true };

export async function openDatabase(location: DatabaseLocation): Promise<OpenDatabase> {
  const migrationsFolder = findMigrations();
  if ('url' in location) {
    const { default: postgres } = await import('postgres');
    const { drizzle } = await import('drizzle-orm/postgres-js');
    const { migrate } = await import('drizzle-orm/postgres-js/migrator');
    const sql = postgres(location.url, { max: 5, onnotice: () => {}, connect_timeout: 10 });
    const db = drizzle(sql, { schema });
    try {
      await migrate(db, { migrationsFolder, migrationsTable: 'migrations', migrationsSchema: 'public' });
    } catch (error) {
      await sql.end({ timeout: 1 });
      throw error;
    }
    return { db: db as unknown as Database, kind: 'postgres', close: () => sql.end({ timeout: 5 }) };
  }
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  const { migrate } = await import('drizzle-orm/pglite/migrator');
  if ('pgliteDir' in location) mkdirSync(location.pgliteDir, { recursive: true });
  const client = 'pgliteDir' in location ? new PGlite(location.pgliteDir) : new PGlite();
  const db = drizzle(client, { schema });
  await migrate(db, { migrationsFolder, migrationsTable: 'migrations', migrationsSchema: 'public' });
  return { db: db as unknown as Database, kind: 'pglite', close: () => client.close() };
}

/** The committed drizzle-kit migrations: beside the bundle when shipped, in the app when run from source. */
function findMigrations(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'drizzle'), join(here, '..', '..', 'drizzle')];
  const found = candidates.find((dir) => existsSync(join(dir, 'meta', '_journal.json')));
  if (!found) throw new Error(`database migrations not found (looked in ${candidates.join(', ')})`);
  return found;
}
