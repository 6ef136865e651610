import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { EngineAction } from '@blackstart/policy';
import { type Config, parseConfig } from '../config.ts';
import { type Controller, startController } from '../controller.ts';
import type { OutageTimeline } from '../db/timeline.ts';
import { createLogger } from '../logger.ts';
import type { SimulatorSource } from '../sources/simulator.ts';
import { type CliCommand, UsageError } from './command.ts';
import { formatTimeline } from './format-timeline.ts';

const DEMO_HOSTS = ['app', 'hypervisor', 'nas'] as const;

/** The demo's configuration: a simulated UPS, and `app` using storage on `nas`. */
export function demoConfig(options: { dataDir: string; port: number; databaseUrl?: string }): Config {
  return parseConfig(
    {
      server: { host: '127.0.0.1', port: options.port },
      dataDir: options.dataDir,
      database: options.databaseUrl ? { url: options.databaseUrl } : {},
      sources: [
        { id: 'ups', type: 'simulator', interval: 0.5, load: 35, runtimeAtLoad: 900, returnDelay: 2 },
      ],
      plan: {
        ups: [{ id: 'ups', name: 'Simulated UPS', powerOff: { delay: 5, offFor: 2 } }],
        hosts: [
          {
            id: 'app',
            name: 'Application server',
            kind: 'agent',
            dependsOn: ['nas'],
            shutdown: {
              triggers: [{ type: 'on-battery', after: 3 }],
              hooks: [
                {
                  type: 'command',
                  name: 'stop services',
                  run: 'echo "stopping services on $BLACKSTART_HOST"; sleep 0.3',
                  timeout: 30,
                },
              ],
              timeout: 60,
            },
          },
          {
            id: 'hypervisor',
            name: 'Hypervisor',
            kind: 'agent',
            shutdown: { triggers: [{ type: 'on-battery', after: 3 }], timeout: 60 },
          },
          {
            id: 'nas',
            name: 'NAS',
            kind: 'agent',
            shutdown: { triggers: [{ type: 'on-battery', after: 3 }], timeout: 60 },
          },
        ],
        settings: { debounce: 2, mainsBackAfter: 2 },
        restore: { mainsStableFor: 3, minCharge: 0 },
      },
    },
    {},
  );
}

/** How to start a real agent process: the bundle beside this one when shipped, the sources via tsx otherwise. */
function agentCommand(): { command: string; args: string[] } {
  const here = dirname(fileURLToPath(import.meta.url));
  const bundled = join(here, 'blackstart-agent.mjs');
  if (existsSync(bundled)) return { command: process.execPath, args: [bundled] };
  const source = join(here, '..', '..', '..', 'agent', 'src', 'main.ts');
  return { command: process.execPath, args: ['--import', import.meta.resolve('tsx'), source] };
}

function waitFor<T>(
  what: string,
  timeoutMs: number,
  subscribe: (done: (value: T) => void) => () => void,
): Promise<T> {
  return new Promise((resolvePromise, reject) => {
    let unsubscribe = () => {};
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`));
    }, timeoutMs);
    unsubscribe = subscribe((value) => {
      clearTimeout(timer);
      unsubscribe();
      resolvePromise(value);
    });
  });
}

export const demoCommand: CliCommand = {
  name: 'demo',
  summary: 'run a simulated outage against three local demo agents and print its timeline',
  usage: `usage: blackstart demo [--once] [--port <n>] [--data-dir <dir>]

Starts the controller on its embedded defaults (PGlite, the UPS simulator) with three real agent
processes in dry-run — app (depends on nas), hypervisor and nas — makes mains fail, and prints the
outage timeline: app is shut down before nas, then the UPS is powered off and mains returns.
Then it stays up and prints the URL to look at; --once prints the timeline and exits.

  --once            exit after printing the timeline (exit status 0 on success)
  --port <n>        HTTP port (default 7393, or any free port if that one is taken)
  --data-dir <dir>  keep the demo's data here (default: a new temporary directory)`,
  async run(args) {
    let values: { once?: boolean | undefined; port?: string | undefined; 'data-dir'?: string | undefined };
    try {
      ({ values } = parseArgs({
        args,
        options: { once: { type: 'boolean' }, port: { type: 'string' }, 'data-dir': { type: 'string' } },
        strict: true,
      }));
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const port = values.port !== undefined ? Number(values.port) : 7393;
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new UsageError(`--port: '${values.port}' is not a port number`);
    const dataDir = resolve(values['data-dir'] ?? mkdtempSync(join(tmpdir(), 'blackstart-demo-')));
    const out = (line = '') => process.stdout.write(`${line}\n`);

    // The console tells the story; only errors are logged (to stderr) unless LOG_LEVEL asks for more.
    const log = createLogger({ level: process.env.LOG_LEVEL ?? 'error', destination: process.stderr });
    let controller: Controller;
    try {
      controller = await startController(demoConfig({ dataDir, port }), log);
    } catch (error) {
      if ((error as { code?: string }).code !== 'EADDRINUSE' || values.port !== undefined) throw error;
      controller = await startController(demoConfig({ dataDir, port: 0 }), log);
    }
    out(`Blackstart demo — controller ${controller.identity.id} at ${controller.url}`);
    out(
      `  data directory ${dataDir} (database: ${controller.database.kind}, jobs: ${controller.queue.kind})`,
    );
    if (controller.auth.generatedAdminPassword)
      out(`  log in as admin with password ${controller.auth.generatedAdminPassword}`);

    const agents = await startDemoAgents(controller, dataDir);
    const stopAll = async () => {
      for (const child of agents) child.kill('SIGTERM');
      await controller.close();
    };
    try {
      await waitFor<void>('the three demo agents to connect', 60_000, (done) => {
        const check = () => DEMO_HOSTS.every((h) => controller.hub.isConnected(h)) && done();
        const timer = setInterval(check, 100);
        check();
        return () => clearInterval(timer);
      });
      out(
        `  agents connected: ${controller.hub.connectedHosts().join(', ')} (dry-run: nothing is really powered off)`,
      );
      out('');

      const simulator = controller.sources.get('ups') as SimulatorSource;
      const ended = waitFor<{ outage: string; outcome: string }>('the outage to end', 120_000, (done) => {
        controller.runtime.on('outage-ended', done);
        return () => controller.runtime.off('outage-ended', done);
      });
      // Mains returns a little after the UPS has been told to power off: the power race, won.
      const onAction = (action: EngineAction) => {
        if (action.type === 'power-off-ups')
          setTimeout(() => simulator.setMains(true), (action.delaySeconds + 2) * 1000);
      };
      controller.runtime.on('action', onAction);
      out('Mains power fails now…');
      simulator.setMains(false);
      const { outage } = await ended;
      controller.runtime.off('action', onAction);
      await controller.flusher.whenFlushed();

      // The timeline is read through the API, as any client would, with a read-only token.
      const { token } = await controller.auth.createToken('demo', 'viewer', Date.now());
      const response = await fetch(
        `${controller.url}/api/v1/outages/${encodeURIComponent(outage)}/timeline`,
        { headers: { authorization: `Bearer ${token}` } },
      );
      if (!response.ok) throw new Error(`timeline request failed: ${response.status}`);
      const timeline = (await response.json()) as OutageTimeline;
      out(formatTimeline(timeline));
      out('');
      out(`Web UI:           ${controller.url}/  (log in as admin with the password above)`);
      out(`This outage:      ${controller.url}/#/outages/${outage}`);
      out(`Timeline as JSON: ${controller.url}/api/v1/outages/${outage}/timeline`);
      out(`Health:           ${controller.url}/api/v1/health`);
      out(
        '(the API wants a login: POST /api/v1/auth/login with {"username":"admin","password":"…"}, then the cookie or "Authorization: Bearer <token>")',
      );
      if (values.once) {
        await stopAll();
        return 0;
      }
      out('');
      out('The controller keeps running with its simulator and agents. Press Ctrl-C to stop.');
      await new Promise<void>((resolveStop) => {
        process.once('SIGINT', resolveStop);
        process.once('SIGTERM', resolveStop);
      });
      await stopAll();
      return 0;
    } catch (error) {
      await stopAll();
      throw error;
    }
  },
};

/** Mints an enrollment token per demo host and starts a real agent process for each, in dry-run. */
async function startDemoAgents(controller: Controller, dataDir: string) {
  const { command, args } = agentCommand();
  const children = [];
  for (const host of DEMO_HOSTS) {
    const { token } = await controller.agents.mintToken({ host, ttlSeconds: 600, now: new Date() });
    const child = spawn(command, args, {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: {
        ...process.env,
        BLACKSTART_CONTROLLER: controller.url,
        BLACKSTART_HOST: host,
        BLACKSTART_STATE_DIR: join(dataDir, 'agents', host),
        BLACKSTART_TOKEN: token,
        BLACKSTART_PIN: controller.identity.keys.kid,
        BLACKSTART_POWER_ACTION: 'dry-run',
        LOG_LEVEL: 'warn',
      },
    });
    children.push(child);
  }
  return children;
}
