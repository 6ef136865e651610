import { createHash, randomUUID } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Plan, validatePlan } from '@blackstart/policy';
import { LEGACY_LINEAGE } from './db/timeline.ts';
import type { Logger } from './logger.ts';

export interface ActivePlan {
  /**
   * This data directory's id: versions are numbered per data directory, so a new one on the same
   * database does not collide with an earlier one's versions. Made with the first plan.json.
   */
  lineage: string;
  version: number;
  /** `file`: the configuration file's plan; `api`: replaced over the API. */
  origin: 'file' | 'api';
  author?: string;
  /** When this version was put in force. */
  at: string;
  /** Hash of the configuration file's plan this version was derived from (to notice edits). */
  fileHash: string;
  plan: Plan;
}

const hashPlan = (plan: Plan) => createHash('sha256').update(JSON.stringify(plan)).digest('hex');

/**
 * Which plan is in force, and its version. Kept in the data directory (`plan.json`) so the
 * controller starts without the database; every version also goes to the database through the
 * journal. A plan replaced over the API stays in force across restarts until the configuration
 * file's plan is edited — then the file wins, as a new version.
 */
export class PlanStore {
  private constructor(
    private readonly file: string,
    private active: ActivePlan,
    /** The version came into force at this start (it must be journaled). */
    readonly changedAtStart: boolean,
  ) {}

  static open(dataDir: string, filePlan: Plan, log: Logger): PlanStore {
    const file = join(dataDir, 'plan.json');
    const fileHash = hashPlan(filePlan);
    let stored: ActivePlan | undefined;
    if (existsSync(file)) {
      try {
        const parsed = JSON.parse(readFileSync(file, 'utf8')) as ActivePlan;
        const valid = validatePlan(parsed.plan);
        if (!valid.ok) throw new Error(valid.errors.map((e) => `${e.path}: ${e.message}`).join('; '));
        // A plan.json from before lineages: its versions are the database's `legacy` ones.
        stored = { ...parsed, lineage: parsed.lineage ?? LEGACY_LINEAGE, plan: valid.plan };
      } catch (error) {
        log.error(
          { file, err: (error as Error).message },
          'ignoring an unreadable plan.json; using the configured plan',
        );
      }
    }
    if (stored && stored.fileHash === fileHash) return new PlanStore(file, stored, false);
    const active: ActivePlan = {
      lineage: stored?.lineage ?? randomUUID(),
      version: (stored?.version ?? 0) + 1,
      origin: 'file',
      at: new Date().toISOString(),
      fileHash,
      plan: filePlan,
    };
    const store = new PlanStore(file, active, true);
    store.write();
    if (stored)
      log.info({ version: active.version }, 'the configuration file’s plan changed: it is in force now');
    return store;
  }

  get current(): ActivePlan {
    return this.active;
  }

  /** Puts a (validated) plan in force as a new version from the API. */
  replace(plan: Plan, author: string): ActivePlan {
    this.active = {
      lineage: this.active.lineage,
      version: this.active.version + 1,
      origin: 'api',
      author,
      at: new Date().toISOString(),
      fileHash: this.active.fileHash,
      plan,
    };
    this.write();
    return this.active;
  }

  private write(): void {
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(this.active, null, 2)}\n`, { mode: 0o600 });
    const fd = openSync(tmp, 'r');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.file);
  }
}
