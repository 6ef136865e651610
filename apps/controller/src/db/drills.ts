import { desc, eq } from 'drizzle-orm';
import type { Database } from './client.ts';
import { drills } from './schema.ts';

export interface DrillRecord {
  id: string;
  startedAt: string;
  endedAt: string | null;
  status: string;
  planVersion: number | null;
  result: Record<string, unknown>;
}

/** Drill reports, kept after the drill so that past rehearsals can be compared. */
export class DrillStore {
  constructor(private readonly db: Database) {}

  async save(drill: DrillRecord): Promise<void> {
    const row = {
      id: drill.id,
      startedAt: new Date(drill.startedAt),
      endedAt: drill.endedAt ? new Date(drill.endedAt) : null,
      status: drill.status,
      planVersion: drill.planVersion,
      result: drill.result,
    };
    await this.db
      .insert(drills)
      .values(row)
      .onConflictDoUpdate({
        target: drills.id,
        set: { endedAt: row.endedAt, status: row.status, result: row.result },
      });
  }

  async list(limit = 50): Promise<DrillRecord[]> {
    const rows = await this.db.select().from(drills).orderBy(desc(drills.startedAt)).limit(limit);
    return rows.map(toRecord);
  }

  async get(id: string): Promise<DrillRecord | undefined> {
    const [row] = await this.db.select().from(drills).where(eq(drills.id, id));
    return row && toRecord(row);
  }
}

function toRecord(row: typeof drills.$inferSelect): DrillRecord {
  return {
    id: row.id,
    startedAt: row.startedAt.toISOString(),
    endedAt: row.endedAt?.toISOString() ?? null,
    status: row.status,
    planVersion: row.planVersion,
    result: row.result,
  };
}
