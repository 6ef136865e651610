// Agents in their own network namespaces (own addresses, on a private bridge) against a real
// controller (HTTPS with a self-signed certificate, pinned by the agents). Pulling an agent's cable
// while the controller streams "on mains" only makes it reconnect; pulling it while the UPS is on
// battery makes it shut down on its own (dry-run) at its fail-safe deadline, while the agent that
// keeps its link does nothing on its own.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  NET_LAB_TOOLS,
  NetLab,
  needs,
  type Spawned,
  sleep,
  spawnTracked,
  tempDir,
  waitFor,
} from '@blackstart/tests';
import { parseConfig } from '../../apps/controller/src/config.ts';
import { type Controller, startController } from '../../apps/controller/src/controller.ts';
import { createLogger } from '../../apps/controller/src/logger.ts';
import type { SimulatorSource } from '../../apps/controller/src/sources/simulator.ts';

const root = resolve(import.meta.dirname, '..', '..');
const agentBin = join(root, 'apps/agent/bin/blackstart-agent.mjs');
const DEADLINE_S = 3;
const HEARTBEAT_S = 0.5;

interface Status {
  connected: boolean;
  failsafe: {
    ups: { onBattery: boolean } | null;
    controller: string;
    shutdownAt: number | null;
    triggered: boolean;
  };
}

describe('agent fail-safe across network namespaces', needs(...NET_LAB_TOOLS), () => {
  const work = tempDir('blackstart-netns-');
  let lab: NetLab;
  let controller: Controller;
  const agents = new Map<string, { process: Spawned; stateDir: string }>();

  const status = (host: string): Status | undefined => {
    const file = join(agents.get(host)!.stateDir, 'status.json');
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as Status;
    } catch {
      return undefined;
    }
  };
  const dryRuns = (host: string) => {
    const file = join(agents.get(host)!.stateDir, 'dry-run.jsonl');
    return existsSync(file)
      ? readFileSync(file, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { origin: string; reason: string; requestedAt: number })
      : [];
  };

  before(async () => {
    lab = NetLab.create();
    const config = parseConfig(
      {
        server: { host: lab.gateway, port: 0 },
        dataDir: join(work.path, 'controller'),
        sources: [
          { id: 'ups', type: 'simulator', interval: 0.5, load: 35, runtimeAtLoad: 3600, returnDelay: 2 },
        ],
        plan: {
          ups: [{ id: 'ups', name: 'UPS', powerOff: { delay: 5, offFor: 2 } }],
          // Far-off triggers: the controller sends nothing during the test; only the fail-safe acts.
          hosts: ['a1', 'a2'].map((id) => ({
            id,
            name: id,
            kind: 'agent',
            shutdown: { triggers: [{ type: 'on-battery', after: 3600 }], timeout: 60 },
          })),
        },
      },
      {},
    );
    controller = await startController(config, createLogger({ level: 'warn' }));
    assert.ok(controller.tls, 'off loopback the controller serves HTTPS with its self-signed certificate');
    for (const host of ['a1', 'a2']) {
      lab.addHost(host);
      const stateDir = join(work.path, host);
      const { token } = await controller.agents.mintToken({ host, ttlSeconds: 600, now: new Date() });
      const { command, args } = lab.exec(host, process.execPath, [agentBin, 'run']);
      const child = spawnTracked(`agent-${host}`, command, args, {
        env: {
          PATH: process.env.PATH,
          BLACKSTART_CONTROLLER: controller.url,
          BLACKSTART_HOST: host,
          BLACKSTART_STATE_DIR: stateDir,
          BLACKSTART_TOKEN: token,
          BLACKSTART_PIN: controller.tls.fingerprint,
          BLACKSTART_POWER_ACTION: 'dry-run',
          BLACKSTART_FAILSAFE_DEADLINE: String(DEADLINE_S),
          BLACKSTART_HEARTBEAT: String(HEARTBEAT_S),
          LOG_LEVEL: 'info',
        },
        logFile: join(work.path, `${host}.log`),
      });
      agents.set(host, { process: child, stateDir });
    }
    await waitFor(() => ['a1', 'a2'].every((h) => controller.hub.isConnected(h)), {
      timeoutMs: 30_000,
      what: 'both agents to connect from their namespaces',
    });
  });

  after(async () => {
    // Links back first, so the controller hears the agents go (a dead link would hold its close).
    for (const host of agents.keys()) lab.restore(host);
    for (const { process } of agents.values()) await process.kill();
    await controller?.close();
    lab?.remove();
    work.remove();
  });

  test('each agent has its own address: the controller sees them connect from the lab network', async () => {
    const agentsOnController = await controller.agents.list();
    for (const host of ['a1', 'a2']) {
      const facts = agentsOnController.find((a) => a.host === host)!.facts as {
        interfaces: Array<{ address: string }>;
      };
      assert.deepEqual(
        facts.interfaces.map((i) => i.address).filter((a) => a.startsWith(lab.prefix)),
        [lab.hosts.get(host)!.address],
      );
    }
  });

  test('on mains: a cut link means reconnecting, never shutting down', async () => {
    await waitFor(() => status('a2')?.failsafe.ups?.onBattery === false, {
      what: 'a2 to hear the UPS is on mains',
    });
    lab.cut('a2');
    await waitFor(() => status('a2')?.connected === false, {
      timeoutMs: 10_000,
      what: 'a2 to notice the cut',
    });
    assert.equal(status('a2')!.failsafe.shutdownAt, null, 'no fail-safe deadline armed on mains');
    await sleep((DEADLINE_S + 2) * 1000);
    assert.deepEqual(dryRuns('a2'), [], 'nothing was powered off');
    assert.equal(status('a2')!.failsafe.triggered, false);
    lab.restore('a2');
    await waitFor(() => controller.hub.isConnected('a2') && status('a2')?.connected, {
      timeoutMs: 30_000,
      what: 'a2 to reconnect once the link is back',
    });
  });

  test('on battery: the agent that loses the controller shuts down (dry-run) at its deadline; the connected one does not', async () => {
    (controller.sources.get('ups') as SimulatorSource).setMains(false);
    await waitFor(() => ['a1', 'a2'].every((h) => status(h)?.failsafe.ups?.onBattery === true), {
      what: 'both agents to hear the UPS is on battery',
    });
    const cutAt = Date.now();
    lab.cut('a1');
    await waitFor(() => status('a1')?.failsafe.shutdownAt, {
      timeoutMs: 10_000,
      what: 'a1 to arm its deadline',
    });
    const armed = status('a1')!.failsafe.shutdownAt!;
    const [record] = await waitFor(() => (dryRuns('a1').length > 0 ? dryRuns('a1') : undefined), {
      timeoutMs: 30_000,
      what: 'a1 to shut itself down',
    });
    assert.equal(record!.origin, 'failsafe');
    assert.match(record!.reason, /controller unreachable for 3 s while on battery/);
    // Not before the deadline counted from the moment the loss was noticed, and not long after.
    assert.ok(
      record!.requestedAt >= armed - 50,
      `shut down ${armed - record!.requestedAt} ms before the deadline`,
    );
    assert.ok(
      record!.requestedAt - armed < 2000,
      `shut down ${record!.requestedAt - armed} ms after the deadline`,
    );
    assert.ok(
      record!.requestedAt - cutAt >= DEADLINE_S * 1000,
      'the deadline is never shorter than configured after the cut',
    );
    assert.ok(
      record!.requestedAt - cutAt <= (DEADLINE_S + 3 * HEARTBEAT_S + 3) * 1000,
      `loss noticed within three heartbeats (${record!.requestedAt - cutAt} ms after the cut)`,
    );
    assert.equal(status('a1')!.failsafe.triggered, true);
    // a2 kept its link: on battery, but the controller is there to decide, so it does nothing alone.
    await sleep(1000);
    assert.ok(controller.hub.isConnected('a2'));
    assert.deepEqual(dryRuns('a2'), []);
    assert.equal(status('a2')!.failsafe.shutdownAt, null);
  });
});
