import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** CI sets CI=true: there, a missing tool is a failure, not a skip. */
export const isCI = process.env.CI === 'true' || process.env.CI === '1';

// Debian's sbin/upsd and sbin/upsmon are wrappers that exit unless nut.conf sets MODE; the real
// daemons live in lib/nut, so it is searched first.
const nutDirs = ['/lib/nut', '/usr/lib/nut'];
const sbinDirs = ['/usr/sbin', '/sbin'];

/** Absolute path of an executable on PATH (plus NUT's and sbin directories), or undefined. */
export function findTool(name: string): string | undefined {
  if (name.includes('/')) return isExecutable(name) ? name : undefined;
  const dirs = [...nutDirs, ...(process.env.PATH ?? '').split(delimiter), ...sbinDirs];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Options for `test()`/`describe()` that skip with a visible reason when a tool is missing.
 * In CI nothing is skipped: the test runs and fails on the missing tool, as it should.
 */
export function needs(...tools: string[]): { skip?: string } {
  const missing = tools.filter((t) => !findTool(t));
  if (missing.length === 0 || isCI) return {};
  return {
    skip: `needs ${missing.join(', ')} (apt-get install nut-server nut-client or run .ci/run as root)`,
  };
}

/** Returns the path or throws a clear error (used inside tests once `needs` has let them run). */
export function requireTool(name: string): string {
  const path = findTool(name);
  if (!path) throw new Error(`required tool '${name}' is not installed`);
  return path;
}

/** A free TCP port on loopback. The port is released before returning, so there is a small race. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

/** A temporary directory that is removed when `remove()` is called. */
export function tempDir(prefix = 'blackstart-test-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(
  probe: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 50, what = 'condition' } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const detail = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await sleep(intervalMs);
  }
}

/**
 * The environment for a controller (or demo) process a test starts: the runner's own, without
 * DATABASE_URL and REDIS_URL. Those name the servers the harness makes private databases and key
 * prefixes on; a controller inheriting them would share one database and one job queue with every
 * other test's controller, and with earlier runs'. A test that wants PostgreSQL or Redis passes its
 * own `createTestDatabase()` / `createTestRedis()` URLs; the rest run on the embedded defaults.
 */
export function isolatedEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const { DATABASE_URL: _database, REDIS_URL: _redis, ...env } = process.env;
  return { ...env, ...extra };
}
