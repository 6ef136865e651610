/**
 * The controller carrying out a whole outage in-process, with real agents (dry-run), a NUT client
 * on its NUT server standing in for an appliance, Wake-on-LAN received on a loopback UDP socket,
 * and a TCP health check: shutdown in dependency order, FSD for the nut-client only at its stage,
 * the controller's own host last, then the restore in reverse order.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { NutClient } from '@blackstart/nut-protocol';
import type { EngineAction } from '@blackstart/policy';
import {
  createTestRedis,
  freePort,
  indexOfEvent,
  redisSkipReason,
  type TestRedis,
  tempDir,
  waitFor,
} from '@blackstart/tests';
import type { OutageTimeline } from '../src/db/index.ts';
import { certificateFingerprint } from '../src/security/tls.ts';
import type { SimulatorSource } from '../src/sources/simulator.ts';
import { magicPacket } from '../src/wake/network.ts';
import { startTestController, type TestController } from './helpers.ts';

const NAS_MAC = '02:00:00:00:00:0b';
const APP_MAC = '02:00:00:00:00:0a';

/** A NUT secondary the way an appliance runs one: polls ups.status, drops the connection on FSD. */
class Appliance {
  readonly client: NutClient;
  fsdAt: number | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(port: number, user: string, password: string, fingerprint?: string) {
    this.client = new NutClient({
      host: '127.0.0.1',
      port,
      reconnect: false,
      session: { username: user, password, login: 'ups' },
      ...(fingerprint && { tls: { mode: 'require', fingerprint256: fingerprint, servername: '127.0.0.1' } }),
    });
  }

  async start(): Promise<this> {
    await this.client.connect();
    this.timer = setInterval(async () => {
      const status = await this.client.getVar('ups', 'ups.status').catch(() => '');
      if (status.startsWith('FSD') && this.fsdAt === undefined) {
        this.fsdAt = Date.now();
        this.stop({ logout: false });
      }
    }, 100);
    return this;
  }

  stop(options: { logout: boolean } = { logout: true }): void {
    clearInterval(this.timer);
    this.client.close(options);
  }
}

describe('an outage carried out end to end', { skip: redisSkipReason() }, () => {
  let t: TestController;
  let udpPort: number;
  let tcpPort: number;
  let health: Server | undefined;
  let redis: TestRedis | undefined;
  const scratch = tempDir();
  const requestFile = join(scratch.path, 'poweroff');
  const packets: Buffer[] = [];
  const udp = createSocket('udp4');
  const appliances: Appliance[] = [];

  before(async () => {
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    udp.on('message', (m) => packets.push(m));
    udpPort = udp.address().port;
    tcpPort = await freePort();
    // Wake-on-LAN and TCP probes are retried as BullMQ jobs on a real Redis, under a private prefix.
    redis = await createTestRedis();
    t = await startTestController({
      redis: { url: redis.url, prefix: redis.prefix },
      sources: [{ id: 'ups', type: 'simulator', interval: 0.2, returnDelay: 1 }],
      nutServer: {
        host: ['127.0.0.1'],
        port: 0,
        users: [
          { name: 'nas', password: 'naspass' },
          { name: 'other', password: 'otherpass' },
        ],
        clients: { nas: { user: 'nas' } },
        tls: true,
      },
      controllerHost: { powerOff: 'systemd-path', requestFile },
      wake: { networks: [{ broadcast: '127.0.0.1', port: udpPort }], resendEvery: 1, probeEvery: 0.3 },
      plan: {
        ups: [{ id: 'ups', powerOff: { delay: 2, offFor: 1 } }],
        hosts: [
          {
            id: 'app',
            kind: 'agent',
            dependsOn: ['db'],
            shutdown: {
              hooks: [{ type: 'command', name: 'stop app', run: 'sleep 0.2', timeout: 10 }],
              timeout: 20,
            },
            wake: {
              method: 'relay',
              via: 'db',
              mac: APP_MAC,
              broadcast: '127.0.0.1',
              health: { type: 'tcp', host: '127.0.0.1', port: tcpPort },
              timeout: 30,
            },
          },
          { id: 'db', kind: 'agent', dependsOn: ['nas'], shutdown: { timeout: 20 } },
          {
            id: 'nas',
            kind: 'nut-client',
            shutdown: { timeout: 20 },
            wake: { method: 'wol', mac: NAS_MAC, timeout: 30 },
          },
          { id: 'pi', kind: 'controller' },
        ],
        settings: { debounce: 1, mainsBackAfter: 1, defaultTriggers: [{ type: 'on-battery', after: 1 }] },
        restore: { mainsStableFor: 1, minCharge: 0 },
      },
    });
  });
  after(async () => {
    for (const a of appliances) a.stop();
    health?.close();
    udp.close();
    scratch.remove();
    await t?.close();
    await redis?.cleanup();
  });

  test('shutdown in dependency order, FSD for the nut-client at its stage only, controller host last; restore in reverse', async () => {
    const { controller } = t;
    await t.agent('app');
    await t.agent('db');
    const nutPort = controller.nut!.port;
    // The NAS talks STARTTLS, pinning the certificate the controller made for its NUT server.
    const pin = certificateFingerprint(readFileSync(join(t.dir, 'controller', 'tls-cert.pem'), 'utf8'));
    const nas = await new Appliance(nutPort, 'nas', 'naspass', pin.replace(/^sha256:/, '')).start();
    const other = await new Appliance(nutPort, 'other', 'otherpass').start();
    appliances.push(nas, other);
    await waitFor(() => controller.nut!.server.numLogins('ups') === 2, {
      what: 'both NUT clients to log in',
    });

    const actions: EngineAction[] = [];
    controller.runtime.on('action', (a) => actions.push(a));
    const sim = controller.sources.get('ups') as SimulatorSource;
    const ended = new Promise<{ outage: string; outcome: string }>((resolve) =>
      controller.runtime.once('outage-ended', resolve),
    );
    sim.setMains(false);
    await waitFor(() => existsSync(requestFile), {
      timeoutMs: 30_000,
      what: 'the controller host’s power request',
    });
    const request = JSON.parse(readFileSync(requestFile, 'utf8')) as { outage: string; commandId: string };
    assert.match(request.commandId, /:pi:shutdown$/);
    assert.ok(nas.fsdAt !== undefined, 'the appliance saw FSD');
    assert.equal(other.fsdAt, undefined, 'a client with another identity never sees FSD');

    // Mains returns: the restore wakes nas (Wake-on-LAN), then db, then app (relayed by db, TCP health).
    sim.setMains(true);
    await waitFor(() => packets.some((p) => p.equals(magicPacket(NAS_MAC))), {
      timeoutMs: 30_000,
      what: 'the Wake-on-LAN packet for nas',
    });
    appliances.push(await new Appliance(nutPort, 'nas', 'naspass').start());
    await waitFor(() => actions.some((a) => a.type === 'wake-host' && a.host === 'app'), {
      timeoutMs: 30_000,
      what: 'app to be woken',
    });
    // The health port opens a little later: probes fail first, then succeed.
    await new Promise((resolve) => setTimeout(resolve, 800));
    health = createServer((s) => s.end()).listen(tcpPort, '127.0.0.1');
    const { outage, outcome } = await ended;
    assert.equal(outcome, 'restored');
    assert.equal(request.outage, outage);

    const timeline = await t.timeline(outage);
    const at = (kind: string, where: Parameters<typeof indexOfEvent>[2]) => {
      const i = indexOfEvent(timeline, kind, where);
      assert.ok(i >= 0, `${kind} ${JSON.stringify(where)} missing:\n${dump(timeline)}`);
      return i;
    };
    const order = [
      at('host-down', { host: 'app' }),
      at('shutdown-host', { host: 'db' }),
      at('host-down', { host: 'db' }),
      at('shutdown-host', { host: 'nas' }),
      at('note', { host: 'nas', message: /^FSD raised for user nas on ups$/ }),
      at('host-progress', { host: 'nas', step: 'powering-off' }),
      at('power-off-ups', { source: 'ups' }),
      at('shutdown-host', { host: 'pi' }),
      at('host-progress', { host: 'pi', step: 'powering-off' }),
      at('note', { host: 'pi', message: /^power-off requested through .*poweroff$/ }),
      at('ups-output-on', { source: 'ups' }),
      at('note', {
        host: 'nas',
        message: /^Wake-on-LAN packet for 02:00:00:00:00:0b sent to 127\.0\.0\.1:\d+/,
      }),
      at('host-up', { host: 'nas' }),
      at('host-up', { host: 'db' }),
      at('wake-host', { host: 'app' }),
      at('note', { host: 'db', message: /^relay finished: .*app: sent to 02:00:00:00:00:0a/s }),
      at('host-up', { host: 'app' }),
      at('outage-ended', {}),
    ];
    assert.deepEqual(
      order,
      [...order].sort((a, b) => a - b),
      `out of order:\n${dump(timeline)}`,
    );
    assert.equal(timeline.events.filter((e) => e.kind === 'power-off-ups').length, 1);
    assert.equal(t.dryRuns('app').length, 1, 'app powered off once (dry-run)');
    assert.equal(t.dryRuns('db').length, 1, 'db powered off once (dry-run)');
    assert.ok(
      timeline.readings.some((r) => r.status.startsWith('OB')),
      'readings during the outage are kept',
    );

    // The same outage as CSV: a header, then events and readings in time order.
    const csv = await t.api<string>('GET', `/api/v1/outages/${outage}/timeline.csv`);
    assert.equal(csv.status, 200);
    const lines = csv.body.trimEnd().split('\r\n');
    assert.equal(lines[0], 'at,offset_s,type,host,source,status,charge,runtime,load,input_voltage,detail');
    assert.equal(lines.length, 1 + timeline.events.length + timeline.readings.length);
    assert.ok(lines.some((l) => /,reading,,ups,OB DISCHRG,/.test(l)));
    const times = lines.slice(1).map((l) => Date.parse(l.split(',')[0]!));
    assert.deepEqual(
      times,
      [...times].sort((a, b) => a - b),
    );

    assert.equal(t.controller.queue.kind, 'bullmq');
    const sources = await t.api<{ sources: Array<{ id: string; capabilities: { restore: string } }> }>(
      'GET',
      '/api/v1/sources',
    );
    assert.equal(sources.body.sources[0]?.capabilities.restore, 'power-cycle');
  });
});

function dump(timeline: OutageTimeline): string {
  return timeline.events
    .map((e) => `${e.seq} ${e.kind} ${e.host ?? e.source ?? ''} ${JSON.stringify(e.data).slice(0, 120)}`)
    .join('\n');
}
