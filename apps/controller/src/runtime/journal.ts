import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { EngineAction, EngineEvent, EngineState, Plan, UpsReading } from '@blackstart/policy';

/** A reading as recorded: the source, when, the normalised reading and whether its status changed. */
export interface RecordedReading {
  seq: number;
  at: number;
  source: string;
  reading: UpsReading;
  statusChanged: boolean;
}

/**
 * What the journal holds. `snapshot` and `event` records drive recovery; `note` records with
 * `done` tell it which side effects were carried out; the rest is history.
 */
export type JournalEntry =
  | { kind: 'snapshot'; state: EngineState }
  | {
      kind: 'event';
      outage?: string;
      event: EngineEvent;
      statusChanged?: boolean;
      /**
       * On the first event of a step that applied several events at once (acknowledgements that
       * arrived together): how many consecutive event records the step took. Recovery replays them
       * with one `stepMany`, exactly as they were applied.
       */
      batch?: number;
    }
  | { kind: 'action'; outage?: string; action: EngineAction }
  /** Readings from before an outage started (its on-battery prelude), attached to it once it does. */
  | { kind: 'backfill'; outage: string; readings: RecordedReading[] }
  /** Something the runtime did or saw while carrying out an action (delivery, errors). */
  | {
      kind: 'note';
      outage?: string;
      host?: string;
      source?: string;
      message: string;
      data?: Record<string, unknown>;
      /** The sequence number of the action record whose side effect this note reports as carried out. */
      done?: number;
    }
  /**
   * The plan in force from here on (a new version from the configuration file or the API). The
   * lineage (the data directory's id) is missing in journals written before lineages: `legacy`.
   */
  | { kind: 'plan'; lineage?: string; version: number; origin: 'file' | 'api'; author?: string; plan: Plan };

export type JournalRecord = JournalEntry & { seq: number; at: number };

/**
 * The controller's local, append-only journal: JSON lines, fsync'd before anything they describe is
 * acted on. It lives on the controller's own disk so the outage path never waits on PostgreSQL or
 * Redis. Segments are `journal-<first seq>.jsonl`; a new segment starts with a snapshot, and
 * segments whose records have all been flushed to the database are deleted.
 */
export class Journal {
  private fd: number;
  private nextSeq: number;
  private segmentFirstSeq: number;

  private constructor(
    readonly dir: string,
    lastSeq: number,
    segmentFirstSeq: number,
  ) {
    this.nextSeq = lastSeq + 1;
    this.segmentFirstSeq = segmentFirstSeq;
    this.fd = openSync(this.segmentPath(segmentFirstSeq), 'a');
  }

  static open(dir: string): Journal {
    mkdirSync(dir, { recursive: true });
    const segments = Journal.segments(dir);
    const last = segments.at(-1);
    let lastSeq = 0;
    if (last !== undefined) {
      const records = Journal.readSegment(join(dir, `journal-${last}.jsonl`));
      lastSeq = records.at(-1)?.seq ?? last - 1;
    }
    return new Journal(dir, lastSeq, last ?? 1);
  }

  private static segments(dir: string): number[] {
    return readdirSync(dir)
      .map((f) => /^journal-(\d+)\.jsonl$/.exec(f)?.[1])
      .filter((s): s is string => s !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  }

  /** Reads one segment. A torn last line (crash mid-write) is dropped; anything else corrupt throws. */
  private static readSegment(path: string): JournalRecord[] {
    const lines = readFileSync(path, 'utf8').split('\n');
    const records: JournalRecord[] = [];
    lines.forEach((line, i) => {
      if (line === '') return;
      try {
        records.push(JSON.parse(line) as JournalRecord);
      } catch (error) {
        const isLast = lines.slice(i + 1).every((l) => l === '');
        if (!isLast)
          throw new Error(`journal ${path} is corrupt at line ${i + 1}: ${(error as Error).message}`);
      }
    });
    return records;
  }

  private segmentPath(firstSeq: number): string {
    return join(this.dir, `journal-${firstSeq}.jsonl`);
  }

  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  /** Appends entries with one write and one fsync; returns them with their sequence numbers. */
  append(entries: JournalEntry[], at: number): JournalRecord[] {
    if (entries.length === 0) return [];
    const records = entries.map((e) => ({ seq: this.nextSeq++, at, ...e }) as JournalRecord);
    writeSync(this.fd, `${records.map((r) => JSON.stringify(r)).join('\n')}\n`);
    fsyncSync(this.fd);
    return records;
  }

  /** Every record with seq > `after`, oldest first. */
  read(after = 0): JournalRecord[] {
    const out: JournalRecord[] = [];
    for (const first of Journal.segments(this.dir)) {
      for (const r of Journal.readSegment(this.segmentPath(first))) if (r.seq > after) out.push(r);
    }
    return out;
  }

  /** The latest snapshot and every record after it: what recovery replays. */
  recoveryRecords(): { snapshot?: EngineState; after: JournalRecord[] } {
    const all = this.read();
    let index = -1;
    for (let i = all.length - 1; i >= 0; i--) {
      if (all[i]!.kind === 'snapshot') {
        index = i;
        break;
      }
    }
    if (index < 0) return { after: all };
    return {
      snapshot: (all[index] as Extract<JournalRecord, { kind: 'snapshot' }>).state,
      after: all.slice(index + 1),
    };
  }

  /**
   * Starts a new segment with a snapshot of `state`, then deletes older segments whose records are
   * all at or below `flushedSeq` (already in the database).
   */
  compact(state: EngineState, at: number, flushedSeq: number): void {
    closeSync(this.fd);
    this.segmentFirstSeq = this.nextSeq;
    this.fd = openSync(this.segmentPath(this.segmentFirstSeq), 'a');
    this.append([{ kind: 'snapshot', state }], at);
    const segments = Journal.segments(this.dir);
    for (let i = 0; i < segments.length - 1; i++) {
      const next = segments[i + 1]!;
      if (next - 1 <= flushedSeq) unlinkSync(this.segmentPath(segments[i]!));
    }
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** A small durable counter file (written atomically): how far the journal has been flushed. */
export class Cursor {
  constructor(private readonly path: string) {}

  get(): number {
    if (!existsSync(this.path)) return 0;
    const n = Number(readFileSync(this.path, 'utf8').trim());
    return Number.isFinite(n) ? n : 0;
  }

  set(value: number): void {
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, `${value}\n`);
    const fd = openSync(tmp, 'r');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.path);
  }
}
