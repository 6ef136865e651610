import { execFileSync } from 'node:child_process';
import { chownSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { findTool, freePort, tempDir, waitFor } from './env.ts';
import { postgresBinDir } from './postgres.ts';
import { type Spawned, spawnTracked } from './processes.ts';

/**
 * A PostgreSQL server of the test's own (never the machine's shared one) that the test can stop
 * and start again — to prove what happens while the database is away. Same data and port after a
 * restart.
 */
export class PrivatePostgres {
  private server: Spawned | undefined;

  private constructor(
    private readonly bin: string,
    private readonly dir: { path: string; remove(): void },
    readonly port: number,
  ) {}

  /** postgres:// URL of the `blackstart` database on this server. */
  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/blackstart`;
  }

  static async start(): Promise<PrivatePostgres> {
    const bin = postgresBinDir();
    if (!bin) throw new Error('PostgreSQL is not installed (initdb not found)');
    const dir = tempDir('blackstart-private-pg-');
    const pg = new PrivatePostgres(bin, dir, await freePort());
    if (process.getuid?.() === 0) chownSync(dir.path, ...pg.postgresIds());
    execFileSync(
      ...pg.asServerUser(join(bin, 'initdb'), ['-D', pg.data, '-A', 'trust', '-U', 'postgres', '--no-sync']),
      {
        stdio: 'ignore',
      },
    );
    await pg.resume();
    const admin = postgres(`postgres://postgres@127.0.0.1:${pg.port}/postgres`, {
      max: 1,
      onnotice: () => {},
    });
    try {
      await admin.unsafe('CREATE DATABASE blackstart');
    } finally {
      await admin.end();
    }
    return pg;
  }

  private get data(): string {
    return join(this.dir.path, 'data');
  }

  private postgresIds(): [number, number] {
    return [
      Number(execFileSync('id', ['-u', 'postgres']).toString().trim()),
      Number(execFileSync('id', ['-g', 'postgres']).toString().trim()),
    ];
  }

  /** initdb and postgres refuse to run as root: as root they run as the postgres system user. */
  private asServerUser(command: string, args: string[]): [string, string[]] {
    return process.getuid?.() === 0
      ? ['runuser', ['-u', 'postgres', '--', command, ...args]]
      : [command, args];
  }

  /** Starts (again) and waits until it answers. */
  async resume(): Promise<void> {
    const [command, args] = this.asServerUser(join(this.bin, 'postgres'), [
      '-D',
      this.data,
      '-p',
      String(this.port),
      '-k',
      this.dir.path,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'fsync=off',
    ]);
    this.server = spawnTracked('private-postgres', command, args, {
      logFile: join(this.dir.path, 'postgres.log'),
    });
    await waitFor(
      async () => {
        const sql = postgres(`postgres://postgres@127.0.0.1:${this.port}/postgres`, {
          max: 1,
          connect_timeout: 1,
          onnotice: () => {},
        });
        try {
          await sql`select 1`;
          return true;
        } finally {
          await sql.end();
        }
      },
      { timeoutMs: 20_000, intervalMs: 200, what: 'the private PostgreSQL server' },
    );
  }

  /** Stops the server (fast shutdown: clients are disconnected). */
  async stop(): Promise<void> {
    await this.server?.kill('SIGINT');
    this.server = undefined;
  }

  async remove(): Promise<void> {
    await this.stop();
    this.dir.remove();
  }
}

/** A Redis server of the test's own that the test can stop and start again (same port, no persistence). */
export class PrivateRedis {
  private server: Spawned | undefined;

  private constructor(
    private readonly bin: string,
    private readonly dir: { path: string; remove(): void },
    readonly port: number,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<PrivateRedis> {
    const bin = findTool('redis-server');
    if (!bin) throw new Error('redis-server is not installed');
    const redis = new PrivateRedis(bin, tempDir('blackstart-private-redis-'), await freePort());
    await redis.resume();
    return redis;
  }

  async resume(): Promise<void> {
    this.server = spawnTracked(
      'private-redis',
      this.bin,
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        this.dir.path,
      ],
      { logFile: join(this.dir.path, 'redis.log') },
    );
    await waitFor(
      async () => {
        const client = new Redis(this.url, {
          maxRetriesPerRequest: 0,
          lazyConnect: true,
          retryStrategy: () => null,
        });
        client.on('error', () => {});
        try {
          await client.connect();
          return (await client.ping()) === 'PONG';
        } finally {
          client.disconnect();
        }
      },
      { timeoutMs: 10_000, intervalMs: 100, what: 'the private Redis server' },
    );
  }

  async stop(): Promise<void> {
    await this.server?.kill('SIGTERM');
    this.server = undefined;
  }

  async remove(): Promise<void> {
    await this.stop();
    this.dir.remove();
  }
}
