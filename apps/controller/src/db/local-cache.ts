import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

/**
 * A copy in the data directory of what the controller needs from the database to start (enrolled
 * agents' keys, API tokens), so that it starts, and agents reconnect, while PostgreSQL is away —
 * it may live on a host the outage shut down. Written atomically (0600) whenever the database
 * answers; read only when it does not.
 */
export class LocalCache<T> {
  constructor(private readonly file: string) {}

  read(): T | undefined {
    if (!existsSync(this.file)) return undefined;
    try {
      return JSON.parse(readFileSync(this.file, 'utf8')) as T;
    } catch {
      return undefined;
    }
  }

  write(value: T): void {
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(value)}\n`, { mode: 0o600 });
    renameSync(tmp, this.file);
  }
}
