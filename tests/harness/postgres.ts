import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { findTool, freePort, isCI, tempDir, waitFor } from './env.ts';
import { type Spawned, spawnTracked } from './processes.ts';

export interface TestDatabase {
  /** postgres:// URL of a database that exists only for this test file. */
  url: string;
  drop(): Promise<void>;
}

let ownServer: Promise<{ adminUrl: string; server: Spawned }> | undefined;

/** Where the real-PostgreSQL tests run: DATABASE_URL, or a private server started on demand. */
export function postgresSkipReason(): string | undefined {
  if (process.env.DATABASE_URL || postgresBinDir() || isCI) return undefined;
  return 'needs PostgreSQL: set DATABASE_URL or install postgresql';
}

/**
 * A fresh, empty database on the real PostgreSQL server: on DATABASE_URL's server when set,
 * otherwise on a throw-away server this process starts (initdb on a random loopback port).
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = process.env.DATABASE_URL ?? (await startOwnServer()).adminUrl;
  const name = `bs_test_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
      try {
        await sql.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await sql.end();
      }
    },
  };
}

export function postgresBinDir(): string | undefined {
  if (findTool('initdb') && findTool('postgres')) return dirnameOf('initdb');
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const dir = join(base, v, 'bin');
    if (existsSync(join(dir, 'initdb'))) return dir;
  }
  return undefined;
}

function dirnameOf(tool: string): string | undefined {
  const path = findTool(tool);
  return path ? path.slice(0, path.lastIndexOf('/')) : undefined;
}

async function startOwnServer(): Promise<{ adminUrl: string; server: Spawned }> {
  ownServer ??= (async () => {
    const bin = postgresBinDir();
    if (!bin) throw new Error('PostgreSQL is not installed (initdb not found) and DATABASE_URL is not set');
    const dir = tempDir('blackstart-pg-');
    const data = join(dir.path, 'data');
    const port = await freePort();
    // initdb refuses to run as root; run the server as the postgres system user in that case.
    const asRoot = process.getuid?.() === 0;
    const runAs = (cmd: string, args: string[]) =>
      (asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args]) as [string, string[]];
    if (asRoot) {
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
      chownSync(dir.path, uid, gid);
    }
    const [initCmd, initArgs] = runAs(join(bin, 'initdb'), [
      '-D',
      data,
      '-A',
      'trust',
      '-U',
      'postgres',
      '--no-sync',
    ]);
    execFileSync(initCmd, initArgs, { stdio: 'ignore' });
    const [cmd, args] = runAs(join(bin, 'postgres'), [
      '-D',
      data,
      '-p',
      String(port),
      '-k',
      dir.path,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'fsync=off',
    ]);
    const server = spawnTracked('postgres', cmd, args, {
      logFile: join(dir.path, 'postgres.log'),
      background: true,
    });
    const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
    await waitFor(
      async () => {
        const sql = postgres(adminUrl, { max: 1, connect_timeout: 1, onnotice: () => {} });
        try {
          await sql`select 1`;
          return true;
        } finally {
          await sql.end();
        }
      },
      { timeoutMs: 20_000, intervalMs: 200, what: 'private PostgreSQL server' },
    );
    process.once('exit', () => dir.remove());
    return { adminUrl, server };
  })();
  return ownServer;
}
