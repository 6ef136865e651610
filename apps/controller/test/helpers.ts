/**
 * A controller started in-process on a loopback port with real agents (the agent package's own
 * runAgent, configured through its documented environment variables, in dry-run) for tests that
 * look inside the controller.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAgentConfig, type RunningAgent, runAgent } from '@blackstart/agent';
import { tempDir, waitFor } from '@blackstart/tests';
import { parseConfig } from '../src/config.ts';
import { type Controller, startController } from '../src/controller.ts';
import type { OutageTimeline } from '../src/db/index.ts';
import { createLogger } from '../src/logger.ts';

export const silent = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

export interface TestController {
  controller: Controller;
  dir: string;
  /** An admin API token. */
  token: string;
  /** Starts a real agent for `host` (enrolled with a fresh token), in dry-run. */
  agent(host: string): Promise<RunningAgent>;
  /** What the agent of `host` recorded instead of powering off. */
  dryRuns(host: string): Array<Record<string, unknown>>;
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  /** The outage's timeline from the database once the journal is flushed. */
  timeline(outage: string): Promise<OutageTimeline>;
  close(): Promise<void>;
}

export async function startTestController(config: Record<string, unknown>): Promise<TestController> {
  const dir = tempDir('blackstart-ctl-test-');
  const parsed = parseConfig(
    { server: { host: '127.0.0.1', port: 0 }, dataDir: join(dir.path, 'controller'), ...config },
    {},
  );
  const controller = await startController(parsed, silent);
  const { token } = await controller.auth.createToken('test', 'admin', Date.now());
  const agents: RunningAgent[] = [];
  const stateDir = (host: string) => join(dir.path, 'agents', host);
  return {
    controller,
    dir: dir.path,
    token,
    async agent(host) {
      const enrollment = await controller.agents.mintToken({ host, ttlSeconds: 600, now: new Date() });
      const agentConfig = loadAgentConfig([], {
        BLACKSTART_CONTROLLER: controller.url,
        BLACKSTART_HOST: host,
        BLACKSTART_STATE_DIR: stateDir(host),
        BLACKSTART_TOKEN: enrollment.token,
        BLACKSTART_PIN: controller.identity.keys.kid,
        BLACKSTART_POWER_ACTION: 'dry-run',
      });
      const agent = await runAgent(agentConfig, silent);
      agents.push(agent);
      await waitFor(() => controller.hub.isConnected(host), { timeoutMs: 15_000, what: `agent ${host}` });
      return agent;
    },
    dryRuns(host) {
      const file = join(stateDir(host), 'dry-run.jsonl');
      if (!existsSync(file)) return [];
      return readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    async api<T>(method: string, path: string, body?: unknown) {
      const response = await fetch(`${controller.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body !== undefined && { 'content-type': 'application/json' }),
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      let parsedBody: unknown = text;
      try {
        parsedBody = JSON.parse(text);
      } catch {
        // CSV and other text stay as text
      }
      return { status: response.status, body: parsedBody as T };
    },
    async timeline(outage) {
      await controller.flusher.whenFlushed();
      const found = await controller.timeline.timeline(outage);
      if (!found) throw new Error(`no outage ${outage} in the database`);
      return found;
    },
    async close() {
      for (const a of agents) a.stop();
      await controller.close();
      dir.remove();
    },
  };
}
