import { createTestDatabase, postgresSkipReason } from './postgres.ts';

/** Where a repository test runs. PGlite in memory, or a private database on real PostgreSQL. */
export type DatabaseTarget = { kind: 'pglite' } | { kind: 'postgres'; url: string };

export interface DatabaseTargetFactory {
  name: 'pglite' | 'postgres';
  /** A visible reason when this target cannot run here (never set in CI). */
  skip?: string;
  open(): Promise<{ target: DatabaseTarget; close(): Promise<void> }>;
}

/**
 * The two database targets every repository test runs against:
 *   for (const db of databaseTargets()) describe(`… on ${db.name}`, { skip: db.skip }, () => …)
 */
export function databaseTargets(): DatabaseTargetFactory[] {
  const pgSkip = postgresSkipReason();
  return [
    { name: 'pglite', open: async () => ({ target: { kind: 'pglite' }, close: async () => {} }) },
    {
      name: 'postgres',
      ...(pgSkip ? { skip: pgSkip } : {}),
      open: async () => {
        const db = await createTestDatabase();
        return { target: { kind: 'postgres', url: db.url }, close: () => db.drop() };
      },
    },
  ];
}
