/**
 * Real processes for the controller's end-to-end tests: `blackstart serve` with a configuration
 * file, and `blackstart-agent` processes in dry-run, every one tracked by the harness (killed when
 * the test process exits) and logging to a file that failures print.
 */

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort, isolatedEnv, type Spawned, spawnTracked, waitFor } from '../harness/index.ts';

const root = resolve(import.meta.dirname, '..', '..');
const blackstart = join(root, 'apps/controller/bin/blackstart.mjs');
const agentMain = join(root, 'apps/agent/src/main.ts');
const tsx = import.meta.resolve('tsx');

export const ADMIN_PASSWORD = 'admin-password-for-tests';

export interface TimelineEvent {
  seq: number;
  at: string;
  kind: string;
  host: string | null;
  source: string | null;
  data: Record<string, unknown>;
}
export interface Timeline {
  id: string;
  outcome: string | null;
  events: TimelineEvent[];
  readings: Array<{ status: string; at: string }>;
}

/** A controller run as `blackstart serve`, restartable on the same data directory and port. */
export class ControllerProcess {
  private process: Spawned | undefined;
  private session: string | undefined;
  readonly url: string;
  readonly logFile: string;

  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly configFile: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {
    this.url = `http://127.0.0.1:${port}`;
    this.logFile = join(dir, 'controller.log');
  }

  /** Writes the configuration (JSON is YAML) and starts the controller; `config.server` is set here. */
  static async start(
    dir: string,
    config: Record<string, unknown>,
    env: NodeJS.ProcessEnv = {},
  ): Promise<ControllerProcess> {
    mkdirSync(dir, { recursive: true });
    const port = await freePort();
    const configFile = join(dir, 'blackstart.yaml');
    writeFileSync(
      configFile,
      JSON.stringify({ server: { host: '127.0.0.1', port }, dataDir: join(dir, 'data'), ...config }, null, 2),
    );
    const controller = new ControllerProcess(dir, port, configFile, env);
    await controller.restart();
    return controller;
  }

  get pid(): number | undefined {
    return this.process?.pid;
  }

  /** Starts (again) and waits until the API answers. */
  async restart(): Promise<void> {
    this.process = spawnTracked(
      process.execPath,
      process.execPath,
      [blackstart, 'serve', '--config', this.configFile],
      {
        cwd: this.dir,
        env: isolatedEnv({
          LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'info',
          BLACKSTART_ADMIN_PASSWORD: ADMIN_PASSWORD,
          ...this.env,
        }),
        logFile: this.logFile,
      },
    );
    this.session = undefined;
    await waitFor(() => fetch(`${this.url}/api/v1/health`).then((r) => r.ok), {
      timeoutMs: 60_000,
      intervalMs: 100,
      what: `the controller to answer (log: ${this.logFile})`,
    });
  }

  /** SIGKILL: no shutdown code runs, as in a crash or a power cut. */
  async kill9(): Promise<void> {
    await this.process?.kill('SIGKILL');
    this.process = undefined;
  }

  async stop(): Promise<void> {
    await this.process?.kill('SIGTERM');
    this.process = undefined;
  }

  /** The thumbprint agents pin: of the key in the controller's data directory. */
  pin(): string {
    const jwk = JSON.parse(readFileSync(join(this.dir, 'data', 'controller-key.json'), 'utf8')) as {
      crv: string;
      kty: string;
      x: string;
    };
    // RFC 7638: SHA-256 of the required members, in lexical order, without whitespace.
    const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x });
    return createHash('sha256').update(canonical).digest('base64url');
  }

  async api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    if (!this.session) {
      const login = await fetch(`${this.url}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }),
      });
      this.session = ((await login.json()) as { token: string }).token;
    }
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.session}`,
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json().catch(() => undefined)) as T };
  }

  async health(): Promise<{
    outage: string | null;
    journal: { pendingFlush: number };
    database: { reachable: boolean };
  }> {
    return (await fetch(`${this.url}/api/v1/health`)).json() as never;
  }

  /** The outage's timeline as the API serves it (from the database), or undefined. */
  async timeline(outage: string): Promise<Timeline | undefined> {
    const r = await this.api<Timeline>('GET', `/api/v1/outages/${outage}/timeline`);
    return r.status === 200 ? r.body : undefined;
  }

  log(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8').slice(-6000) : '';
  }
}

/** A `blackstart-agent` process in dry-run for one host, enrolled with a fresh token. */
export class AgentProcess {
  private constructor(
    readonly host: string,
    readonly stateDir: string,
    private readonly process: Spawned,
  ) {}

  /** `token`: an enrollment token minted elsewhere (the web UI); by default one is minted here. */
  static async start(
    controller: ControllerProcess,
    host: string,
    dir: string,
    token?: string,
  ): Promise<AgentProcess> {
    const stateDir = join(dir, 'agents', host);
    mkdirSync(stateDir, { recursive: true });
    const minted = token
      ? { status: 201, body: { token } }
      : await controller.api<{ token: string }>('POST', '/api/v1/enrollment-tokens', { host });
    if (minted.status !== 201) throw new Error(`enrollment token: ${minted.status}`);
    const child = spawnTracked(`agent-${host}`, process.execPath, ['--import', tsx, agentMain], {
      env: {
        ...process.env,
        BLACKSTART_CONTROLLER: controller.url,
        BLACKSTART_HOST: host,
        BLACKSTART_STATE_DIR: stateDir,
        BLACKSTART_TOKEN: minted.body.token,
        BLACKSTART_PIN: controller.pin(),
        BLACKSTART_POWER_ACTION: 'dry-run',
        LOG_LEVEL: 'info',
      },
      logFile: join(stateDir, 'agent.log'),
    });
    return new AgentProcess(host, stateDir, child);
  }

  /** What it recorded instead of powering its host off. */
  dryRuns(): Array<{ commandId: string; outage: string }> {
    const file = join(this.stateDir, 'dry-run.jsonl');
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { commandId: string; outage: string });
  }

  stop(): Promise<void> {
    return this.process.kill();
  }
}

/** Waits until every host is connected (as the health endpoint lists them). */
export async function waitForAgents(controller: ControllerProcess, hosts: string[]): Promise<void> {
  await waitFor(
    async () => {
      const health = (await (await fetch(`${controller.url}/api/v1/health`)).json()) as {
        agents: { connected: string[] };
      };
      return hosts.every((h) => health.agents.connected.includes(h));
    },
    { timeoutMs: 60_000, intervalMs: 200, what: `agents ${hosts.join(', ')} to connect` },
  );
}

export function dump(timeline: Timeline): string {
  return timeline.events
    .map(
      (e) =>
        `${e.seq} ${e.at.slice(11, 23)} ${e.kind} ${e.host ?? e.source ?? ''} ${JSON.stringify(e.data).slice(0, 140)}`,
    )
    .join('\n');
}
