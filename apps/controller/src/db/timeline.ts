import { and, asc, desc, eq, sql } from 'drizzle-orm';
import type { JournalRecord, RecordedReading } from '../runtime/journal.ts';
import type { Database } from './client.ts';
import { outages, planVersions, timelineEvents, upsReadings } from './schema.ts';

export interface OutageSummary {
  id: string;
  startedAt: string;
  endedAt: string | null;
  outcome: string | null;
  sources: string[];
}

export interface TimelineEntry {
  seq: number;
  at: string;
  kind: string;
  host: string | null;
  source: string | null;
  data: Record<string, unknown>;
}

export interface TelemetryPoint {
  source: string;
  at: string;
  status: string;
  charge: number | null;
  runtime: number | null;
  load: number | null;
  inputVoltage: number | null;
}

/** The lineage of plan versions written before lineages existed (see `planVersions`). */
export const LEGACY_LINEAGE = 'legacy';

export interface PlanVersionSummary {
  version: number;
  origin: string;
  author: string | null;
  createdAt: string;
}

export interface OutageTimeline extends OutageSummary {
  events: TimelineEntry[];
  readings: TelemetryPoint[];
}

type TimelineRow = typeof timelineEvents.$inferInsert;
type ReadingRow = typeof upsReadings.$inferInsert;

export interface TimelineRows {
  started: Array<typeof outages.$inferInsert>;
  ended: Array<{ id: string; at: Date; outcome: string }>;
  events: TimelineRow[];
  readings: ReadingRow[];
  plans: Array<typeof planVersions.$inferInsert>;
}

/**
 * What journal records mean for outages' timelines: the rows the database stores, and what the live
 * feed shows as it happens. Records that belong to no outage have no rows.
 */
export function timelineRows(records: readonly JournalRecord[]): TimelineRows {
  const started: Array<typeof outages.$inferInsert> = [];
  const ended: Array<{ id: string; at: Date; outcome: string }> = [];
  const events: TimelineRow[] = [];
  const readings: ReadingRow[] = [];
  const plans: Array<typeof planVersions.$inferInsert> = [];
  const addReading = (outageId: string, r: RecordedReading) => {
    readings.push({
      seq: r.seq,
      outageId,
      source: r.source,
      at: new Date(r.at),
      status: r.reading.status.join(' '),
      charge: r.reading.charge ?? null,
      runtime: r.reading.runtime ?? null,
      load: r.reading.load ?? null,
      inputVoltage: r.reading.inputVoltage ?? null,
    });
    if (r.statusChanged) {
      events.push({
        seq: r.seq,
        outageId,
        at: new Date(r.at),
        kind: 'ups-status',
        source: r.source,
        host: null,
        data: { status: r.reading.status.join(' '), charge: r.reading.charge, runtime: r.reading.runtime },
      });
    }
  };

  for (const record of records) {
    switch (record.kind) {
      case 'snapshot':
        break;
      case 'plan':
        plans.push({
          lineage: record.lineage ?? LEGACY_LINEAGE,
          version: record.version,
          origin: record.origin,
          author: record.author ?? null,
          createdAt: new Date(record.at),
          plan: record.plan as unknown as Record<string, unknown>,
        });
        break;
      case 'backfill':
        for (const r of record.readings) addReading(record.outage, r);
        break;
      case 'event': {
        if (!record.outage) break;
        const { event } = record;
        if (event.type === 'reading') {
          addReading(record.outage, {
            seq: record.seq,
            at: record.at,
            source: event.source,
            reading: event.reading,
            statusChanged: record.statusChanged === true,
          });
        } else if (event.type === 'host-progress') {
          events.push({
            seq: record.seq,
            outageId: record.outage,
            at: new Date(record.at),
            kind: 'host-progress',
            host: event.host,
            source: null,
            data: { ...event },
          });
        } else if (event.type === 'source-lost') {
          events.push({
            seq: record.seq,
            outageId: record.outage,
            at: new Date(record.at),
            kind: 'source-lost',
            host: null,
            source: event.source,
            data: { ...event },
          });
        }
        break;
      }
      case 'action': {
        const { action } = record;
        if (action.type === 'outage-started')
          started.push({ id: action.outage, startedAt: new Date(record.at), sources: action.sources });
        if (action.type === 'outage-ended')
          ended.push({ id: action.outage, at: new Date(record.at), outcome: action.outcome });
        const host = 'host' in action ? action.host : null;
        const source = 'source' in action ? action.source : null;
        events.push({
          seq: record.seq,
          outageId: action.outage,
          at: new Date(record.at),
          kind: action.type,
          host,
          source,
          data: { ...action },
        });
        break;
      }
      case 'note':
        if (!record.outage) break;
        events.push({
          seq: record.seq,
          outageId: record.outage,
          at: new Date(record.at),
          kind: 'note',
          host: record.host ?? null,
          source: record.source ?? null,
          data: { message: record.message, ...record.data },
        });
        break;
    }
  }
  return { started, ended, events, readings, plans };
}

/** A stored event row as the API shows it. */
export function timelineEntry(row: TimelineRow): TimelineEntry {
  return {
    seq: row.seq,
    at: row.at.toISOString(),
    kind: row.kind,
    host: row.host ?? null,
    source: row.source ?? null,
    data: row.data as Record<string, unknown>,
  };
}

/** Outages and their timelines in the database, written from the journal and read by the API. */
export class TimelineStore {
  constructor(private readonly db: Database) {}

  /**
   * Writes journal records idempotently (keyed by outage and journal sequence number) in one transaction.
   * Records that belong to no outage are not stored.
   */
  async write(records: readonly JournalRecord[]): Promise<void> {
    const { started, ended, events, readings, plans } = timelineRows(records);
    if (started.length + ended.length + events.length + readings.length + plans.length === 0) return;
    await this.db.transaction(async (tx) => {
      if (plans.length > 0) await tx.insert(planVersions).values(plans).onConflictDoNothing();
      if (started.length > 0) await tx.insert(outages).values(started).onConflictDoNothing();
      for (const chunk of chunks(events, 500))
        await tx.insert(timelineEvents).values(chunk).onConflictDoNothing();
      for (const chunk of chunks(readings, 500))
        await tx.insert(upsReadings).values(chunk).onConflictDoNothing();
      for (const e of ended)
        await tx.update(outages).set({ endedAt: e.at, outcome: e.outcome }).where(eq(outages.id, e.id));
    });
  }

  async listOutages(limit = 100): Promise<OutageSummary[]> {
    const rows = await this.db.select().from(outages).orderBy(desc(outages.startedAt)).limit(limit);
    return rows.map(summary);
  }

  async timeline(id: string): Promise<OutageTimeline | undefined> {
    const [row] = await this.db.select().from(outages).where(eq(outages.id, id));
    if (!row) return undefined;
    const events = await this.db
      .select()
      .from(timelineEvents)
      .where(eq(timelineEvents.outageId, id))
      .orderBy(asc(timelineEvents.seq));
    const readings = await this.db
      .select()
      .from(upsReadings)
      .where(and(eq(upsReadings.outageId, id)))
      .orderBy(asc(upsReadings.seq));
    return {
      ...summary(row),
      events: events.map(timelineEntry),
      readings: readings.map((r) => ({
        source: r.source,
        at: r.at.toISOString(),
        status: r.status,
        charge: r.charge,
        runtime: r.runtime,
        load: r.load,
        inputVoltage: r.inputVoltage,
      })),
    };
  }

  /** A lineage's plan versions, newest first (without the plans themselves). */
  async listPlanVersions(lineage: string, limit = 100): Promise<PlanVersionSummary[]> {
    const rows = await this.db
      .select({
        version: planVersions.version,
        origin: planVersions.origin,
        author: planVersions.author,
        createdAt: planVersions.createdAt,
      })
      .from(planVersions)
      .where(eq(planVersions.lineage, lineage))
      .orderBy(desc(planVersions.version))
      .limit(limit);
    return rows.map((r) => ({ ...r, createdAt: r.createdAt.toISOString() }));
  }

  async planVersion(
    lineage: string,
    version: number,
  ): Promise<(PlanVersionSummary & { plan: unknown }) | undefined> {
    const [row] = await this.db
      .select()
      .from(planVersions)
      .where(and(eq(planVersions.lineage, lineage), eq(planVersions.version, version)));
    if (!row) return undefined;
    const { lineage: _, ...rest } = row;
    return { ...rest, createdAt: row.createdAt.toISOString() };
  }

  /** A cheap round trip used by the health endpoint. */
  async ping(): Promise<void> {
    await this.db.execute(sql`select 1`);
  }
}

function summary(row: typeof outages.$inferSelect): OutageSummary {
  return {
    id: row.id,
    startedAt: row.startedAt.toISOString(),
    endedAt: row.endedAt?.toISOString() ?? null,
    outcome: row.outcome,
    sources: row.sources,
  };
}

function* chunks<T>(items: T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

const CSV_COLUMNS = [
  'at',
  'offset_s',
  'type',
  'host',
  'source',
  'status',
  'charge',
  'runtime',
  'load',
  'input_voltage',
  'detail',
] as const;

function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text =
    typeof value === 'string' ? value : typeof value === 'number' ? String(value) : JSON.stringify(value);
  // Cells a spreadsheet would run as a formula get a leading quote (CSV injection).
  const safe = /^[=+\-@\t\r]/.test(text) && typeof value === 'string' ? `'${text}` : text;
  return /[",\n\r]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

/**
 * An outage as CSV: one row per timeline event and per UPS reading, in time order (events before
 * readings at the same instant), with the offset from the outage start. RFC 4180 quoting.
 */
export function timelineCsv(timeline: OutageTimeline): string {
  const start = Date.parse(timeline.startedAt);
  type Row = { at: string; order: number; cells: Record<(typeof CSV_COLUMNS)[number], unknown> };
  const rows: Row[] = [];
  for (const e of timeline.events) {
    const { message, ...rest } = e.data as { message?: unknown };
    const detail =
      e.kind === 'note'
        ? [message, Object.keys(rest).length > 0 ? JSON.stringify(rest) : undefined].filter(Boolean).join(' ')
        : JSON.stringify(e.data);
    rows.push({
      at: e.at,
      order: 0,
      cells: {
        at: e.at,
        offset_s: ((Date.parse(e.at) - start) / 1000).toFixed(3),
        type: e.kind,
        host: e.host,
        source: e.source,
        status: e.kind === 'ups-status' ? (e.data.status as string) : null,
        charge: null,
        runtime: null,
        load: null,
        input_voltage: null,
        detail,
      },
    });
  }
  for (const r of timeline.readings) {
    rows.push({
      at: r.at,
      order: 1,
      cells: {
        at: r.at,
        offset_s: ((Date.parse(r.at) - start) / 1000).toFixed(3),
        type: 'reading',
        host: null,
        source: r.source,
        status: r.status,
        charge: r.charge,
        runtime: r.runtime,
        load: r.load,
        input_voltage: r.inputVoltage,
        detail: null,
      },
    });
  }
  rows.sort((a, b) => Date.parse(a.at) - Date.parse(b.at) || a.order - b.order);
  const lines = [CSV_COLUMNS.join(',')];
  for (const row of rows) lines.push(CSV_COLUMNS.map((c) => csvField(row.cells[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}
