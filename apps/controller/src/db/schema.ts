import {
  bigint,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  real,
  text,
  timestamp,
} from 'drizzle-orm/pg-core';

const at = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/** One outage: from the first confirmed on-battery reading until mains is back and nothing is in flight. */
export const outages = pgTable('outages', {
  id: text('id').primaryKey(),
  startedAt: at('started_at').notNull(),
  endedAt: at('ended_at'),
  /** averted | completed | powered-off; null while running. */
  outcome: text('outcome'),
  sources: jsonb('sources').$type<string[]>().notNull(),
});

/**
 * Every event and action of an outage, in journal order. `seq` is the local journal's sequence
 * number: with the outage's id it is the key, so flushing the journal twice never duplicates a row,
 * and a controller whose journal starts again (a new data directory on the same database, or two
 * controllers sharing one) never collides with the rows it wrote before.
 */
export const timelineEvents = pgTable(
  'timeline_events',
  {
    seq: bigint('seq', { mode: 'number' }).notNull(),
    outageId: text('outage_id')
      .notNull()
      .references(() => outages.id, { onDelete: 'cascade' }),
    at: at('at').notNull(),
    /** The engine event or action type: reading, shutdown-host, host-progress, power-off-ups, … */
    kind: text('kind').notNull(),
    host: text('host'),
    source: text('source'),
    data: jsonb('data').$type<Record<string, unknown>>().notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.outageId, t.seq] }),
    index('timeline_events_outage_at').on(t.outageId, t.at),
  ],
);

/** UPS telemetry recorded while an outage runs. */
export const upsReadings = pgTable(
  'ups_readings',
  {
    seq: bigint('seq', { mode: 'number' }).notNull(),
    outageId: text('outage_id')
      .notNull()
      .references(() => outages.id, { onDelete: 'cascade' }),
    source: text('source').notNull(),
    at: at('at').notNull(),
    status: text('status').notNull(),
    charge: real('charge'),
    runtime: real('runtime'),
    load: real('load'),
    inputVoltage: real('input_voltage'),
  },
  (t) => [primaryKey({ columns: [t.outageId, t.seq] }), index('ups_readings_outage_at').on(t.outageId, t.at)],
);

/** Enrolled agents and the public key each signs its session tokens with. */
export const agents = pgTable('agents', {
  host: text('host').primaryKey(),
  publicJwk: jsonb('public_jwk').$type<Record<string, string>>().notNull(),
  keyId: text('key_id').notNull(),
  facts: jsonb('facts').$type<Record<string, unknown>>().notNull(),
  enrolledAt: at('enrolled_at').notNull(),
  lastSeenAt: at('last_seen_at'),
});

/** Single-use, expiring enrollment tokens. Only the SHA-256 of a token is stored. */
export const enrollmentTokens = pgTable('enrollment_tokens', {
  hash: text('hash').primaryKey(),
  /** The host id the token is for; null lets the agent choose its id. */
  host: text('host'),
  createdAt: at('created_at').notNull(),
  expiresAt: at('expires_at').notNull(),
  usedAt: at('used_at'),
  usedBy: text('used_by'),
});

/** Long-lived API tokens for scripts and integrations. Only the SHA-256 of a token is stored. */
export const apiTokens = pgTable('api_tokens', {
  hash: text('hash').primaryKey(),
  name: text('name').notNull(),
  /** admin | viewer */
  role: text('role').notNull(),
  createdAt: at('created_at').notNull(),
  revokedAt: at('revoked_at'),
});

/**
 * Every version of the plan that was in force: from the configuration file or the API. Versions
 * are numbered per data directory (`lineage`): a controller started on a new data directory with
 * the same database counts from 1 again without touching an earlier directory's versions.
 */
export const planVersions = pgTable(
  'plan_versions',
  {
    /** The data directory's id (plan.json); `legacy` for versions written before lineages. */
    lineage: text('lineage').notNull().default('legacy'),
    version: integer('version').notNull(),
    /** file | api */
    origin: text('origin').notNull(),
    author: text('author'),
    createdAt: at('created_at').notNull(),
    plan: jsonb('plan').$type<Record<string, unknown>>().notNull(),
  },
  (t) => [primaryKey({ columns: [t.lineage, t.version] })],
);

/** Rehearsals: the plan run against a simulated outage with every power action held back. */
export const drills = pgTable('drills', {
  id: text('id').primaryKey(),
  startedAt: at('started_at').notNull(),
  endedAt: at('ended_at'),
  /** running | completed | failed | aborted | timed-out */
  status: text('status').notNull(),
  planVersion: integer('plan_version'),
  result: jsonb('result').$type<Record<string, unknown>>().notNull(),
});
