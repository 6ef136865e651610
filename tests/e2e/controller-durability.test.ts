/**
 * The outage path never waits on PostgreSQL or Redis: the controller process runs on a private
 * PostgreSQL and a private Redis (never the machine's shared ones), and the test stops each in the
 * middle of an outage. With PostgreSQL gone the run goes on and the journal is flushed once it is
 * back, every record of the outage in the database; with Redis gone commands go out at once and
 * side-effect jobs run in-process.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  PrivatePostgres,
  PrivateRedis,
  postgresSkipReason,
  redisSkipReason,
  tempDir,
  waitFor,
} from '../harness/index.ts';
import { AgentProcess, ControllerProcess, waitForAgents } from './controller-processes.ts';

interface Record_ {
  seq: number;
  at: number;
  kind: string;
  outage?: string;
  event?: { type: string; host?: string; step?: string };
  action?: { type: string; host?: string; outage?: string };
  statusChanged?: boolean;
  readings?: unknown[];
}

const HOSTS = ['web', 'db', 'cache'];
const skip = postgresSkipReason() ?? redisSkipReason();

describe('controller with its database and Redis going away', { skip }, () => {
  const dir = tempDir('blackstart-e2e-durability-');
  const packets: Buffer[] = [];
  const udp = createSocket('udp4');
  let pg: PrivatePostgres;
  let redis: PrivateRedis;
  let controller: ControllerProcess;
  const agents: AgentProcess[] = [];

  /** The controller's journal, read from its files (what it wrote and fsync'd). */
  function journal(): Record_[] {
    const jdir = join(controller.dir, 'data', 'journal');
    return readdirSync(jdir)
      .filter((f) => /^journal-\d+\.jsonl$/.test(f))
      .sort((a, b) => Number(a.match(/\d+/)![0]) - Number(b.match(/\d+/)![0]))
      .flatMap((f) =>
        readFileSync(join(jdir, f), 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record_),
      );
  }
  const actions = (outage: string, type: string) =>
    journal().filter((r) => r.kind === 'action' && r.action?.type === type && r.action.outage === outage);

  /** Mains fails; once the UPS is told to power off, mains returns. Resolves with the ended outage. */
  async function outage(during?: (id: string) => Promise<void>): Promise<string> {
    assert.equal(
      (await controller.api('POST', '/api/v1/sources/ups/simulate', { mains: false })).status,
      202,
    );
    const id = await waitFor(async () => (await controller.health()).outage, { what: 'the outage to start' });
    await during?.(id);
    await waitFor(() => actions(id, 'power-off-ups').length > 0, {
      timeoutMs: 30_000,
      what: 'the power-off',
    });
    await controller.api('POST', '/api/v1/sources/ups/simulate', { mains: true });
    await waitFor(() => actions(id, 'outage-ended').length > 0, {
      timeoutMs: 30_000,
      what: 'the outage to end',
    });
    return id;
  }

  before(async () => {
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    udp.on('message', (m) => packets.push(m));
    [pg, redis] = await Promise.all([PrivatePostgres.start(), PrivateRedis.start()]);
    controller = await ControllerProcess.start(
      join(dir.path, 'controller'),
      {
        sources: [{ id: 'ups', type: 'simulator', interval: 0.2, returnDelay: 0 }],
        wake: { networks: [{ broadcast: '127.0.0.1', port: udp.address().port }], resendEvery: 1 },
        plan: {
          ups: [{ id: 'ups', powerOff: { delay: 1, offFor: 1 } }],
          hosts: [
            { id: 'web', kind: 'agent', dependsOn: ['db'], shutdown: { timeout: 30 } },
            { id: 'db', kind: 'agent', shutdown: { timeout: 30 } },
            {
              id: 'cache',
              kind: 'agent',
              shutdown: { timeout: 30 },
              wake: { method: 'wol', mac: '02:00:00:00:00:0c', timeout: 30 },
            },
          ],
          settings: { debounce: 1, mainsBackAfter: 1, defaultTriggers: [{ type: 'on-battery', after: 1 }] },
          restore: { mainsStableFor: 1, minCharge: 0 },
        },
      },
      { DATABASE_URL: pg.url, REDIS_URL: redis.url },
    );
    for (const host of HOSTS) agents.push(await AgentProcess.start(controller, host, dir.path));
    await waitForAgents(controller, HOSTS);
  });

  after(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await controller?.stop();
    await Promise.all([pg?.remove(), redis?.remove()]);
    udp.close();
    dir.remove();
  });

  test('PostgreSQL stopped during an outage: the run goes on, and no timeline record is lost', async () => {
    const id = await outage(async () => {
      await pg.stop();
    });
    const health = await controller.health();
    assert.equal(health.database.reachable, false);
    assert.ok(health.journal.pendingFlush > 0, 'the outage waits in the journal');
    for (const host of HOSTS)
      assert.equal(
        actions(id, 'host-down').filter((r) => r.action?.host === host).length,
        1,
        `${host} went down while the database was away`,
      );

    await pg.resume();
    await waitFor(async () => (await controller.health()).journal.pendingFlush === 0, {
      timeoutMs: 30_000,
      what: 'the journal to be flushed',
    });
    const timeline = (await controller.timeline(id))!;
    assert.equal(timeline.outcome, 'restored');
    // Every record of the outage that belongs in its timeline is in the database, by journal seq.
    const records = journal().filter((r) => r.outage === id);
    const expected = records
      .filter(
        (r) =>
          r.kind === 'action' ||
          r.kind === 'note' ||
          (r.kind === 'event' && (r.event?.type !== 'reading' || r.statusChanged)),
      )
      .filter((r) => !(r.kind === 'event' && r.event?.type === 'tick'))
      .filter((r) => !(r.kind === 'event' && r.event?.type === 'host-healthy'))
      .map((r) => r.seq);
    assert.deepEqual(
      timeline.events.map((e) => e.seq).filter((s) => expected.includes(s)),
      expected,
    );
    const readings =
      records.filter((r) => r.kind === 'event' && r.event?.type === 'reading').length +
      records.filter((r) => r.kind === 'backfill').reduce((n, r) => n + (r.readings?.length ?? 0), 0);
    assert.equal(timeline.readings.length, readings);
  });

  test('Redis stopped: commands go out at once and jobs run in-process', async () => {
    const queue = ((await (await fetch(`${controller.url}/api/v1/health`)).json()) as { queue: string })
      .queue;
    assert.equal(queue, 'bullmq');
    await redis.stop();
    packets.length = 0;
    assert.equal(
      (await controller.api('POST', '/api/v1/sources/ups/simulate', { mains: false })).status,
      202,
    );
    const id = await waitFor(async () => (await controller.health()).outage, { what: 'the outage to start' });
    await waitFor(() => actions(id, 'power-off-ups').length > 0, {
      timeoutMs: 30_000,
      what: 'the power-off',
    });
    // This time cache really goes down (its agent stops): the restore has to wake it.
    const cacheIndex = agents.findIndex((a) => a.host === 'cache');
    await agents[cacheIndex]!.stop();
    await controller.api('POST', '/api/v1/sources/ups/simulate', { mains: true });
    // The Wake-on-LAN job runs in-process (Redis is down); the packet arrives; cache boots.
    await waitFor(() => packets.length > 0, { timeoutMs: 30_000, what: 'the Wake-on-LAN packet for cache' });
    agents[cacheIndex] = await AgentProcess.start(controller, 'cache', dir.path);
    await waitFor(() => actions(id, 'outage-ended').length > 0, {
      timeoutMs: 30_000,
      what: 'the outage to end',
    });
    const records = journal().filter((r) => r.outage === id);
    for (const host of HOSTS) {
      const commanded = records.find(
        (r) => r.kind === 'action' && r.action?.type === 'shutdown-host' && r.action.host === host,
      )!;
      const received = records.find(
        (r) =>
          r.kind === 'event' &&
          r.event?.type === 'host-progress' &&
          r.event.host === host &&
          r.event.step === 'received',
      );
      assert.ok(received, `${host} acknowledged its command`);
      // Generous: the command and its acknowledgement are a loopback round trip apart.
      assert.ok(
        received.at - commanded.at < 2000,
        `${host}: ${received.at - commanded.at} ms from decision to receipt`,
      );
    }
    assert.equal(
      records.filter((r) => r.kind === 'action' && r.action?.type === 'host-up' && r.action.host === 'cache')
        .length,
      1,
      'cache came back',
    );
    assert.match(controller.log(), /Redis unavailable; running the job in-process/);
    await redis.resume();
  });
});
