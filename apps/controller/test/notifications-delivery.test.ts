// The notifier end to end: the real policy engine drives outages in real time, deliveries run as
// jobs (in-process, and on BullMQ with Redis), and a local HTTP receiver records what arrives.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import type { EngineAction } from '@blackstart/policy';
import { createTestRedis, redisSkipReason, sleep, tempDir, waitFor } from '@blackstart/tests';
import Value from 'typebox/value';
import { BullQueue, InProcessQueue, type JobQueue } from '../src/jobs/queue.ts';
import { createLogger } from '../src/logger.ts';
import {
  type Delivery,
  type DeliveryFailure,
  NOTIFICATION_JOB,
  type NotificationsConfig,
  NotificationsSchema,
  Notifier,
  prepareNotifications,
  type Suppression,
  timelineLink,
} from '../src/notifications/index.ts';
import { EngineDriver, HttpReceiver, ON_BATTERY, ON_LINE, plan } from './notifications-receivers.ts';

const log = createLogger({ level: 'silent' });

function notificationsConfig(input: Record<string, unknown>): NotificationsConfig {
  const value = Value.Default(
    NotificationsSchema,
    prepareNotifications(structuredClone(input), () => undefined),
  );
  assert.ok(Value.Check(NotificationsSchema, value), 'valid notifications config');
  return value as NotificationsConfig;
}

interface Payload {
  id: string;
  event: string;
  severity: string;
  title: string;
  text: string;
  outage: string | null;
  hosts: string[];
  link: string | null;
}
const payloads = (receiver: HttpReceiver, path: string) =>
  receiver.accepted(path).map((r) => r.json as Payload);

/** Starts a notifier and records what it reports; everything is closed after each test. */
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

function startNotifier(
  input: Record<string, unknown>,
  options: { queue?: JobQueue; stateFile?: string; plan?: ReturnType<typeof plan> } = {},
) {
  const queue = options.queue ?? new InProcessQueue(log);
  const notifier = new Notifier({
    config: notificationsConfig(input),
    queue,
    log,
    timelineUrl: timelineLink('http://controller.test:7393'),
    sweepIntervalMs: 100,
    strandedAfterMs: 300,
    ...(options.stateFile && { stateFile: options.stateFile }),
    ...(options.plan && { plan: options.plan }),
  });
  const delivered: Delivery[] = [];
  const failed: DeliveryFailure[] = [];
  const suppressed: Suppression[] = [];
  notifier.on('delivered', (d) => delivered.push(d));
  notifier.on('failed', (f) => failed.push(f));
  notifier.on('suppressed', (s) => suppressed.push(s));
  notifier.start();
  const close = async () => {
    await queue.close();
    await notifier.close();
  };
  cleanups.push(close);
  return { notifier, queue, delivered, failed, suppressed, close };
}

async function receiver(): Promise<HttpReceiver> {
  const r = await HttpReceiver.start();
  cleanups.push(() => r.close());
  return r;
}

const outagePlan = plan({
  ups: [{ id: 'ups', powerOff: { delay: 1, offFor: 0 } }],
  hosts: [
    {
      id: 'app',
      kind: 'agent',
      dependsOn: ['nas'],
      shutdown: { triggers: [{ type: 'on-battery', after: 0.2 }], timeout: 1 },
    },
    {
      id: 'db',
      kind: 'agent',
      dependsOn: ['nas'],
      shutdown: { triggers: [{ type: 'on-battery', after: 0.2 }], timeout: 1 },
    },
    { id: 'nas', kind: 'agent', shutdown: { triggers: [{ type: 'on-battery', after: 0.4 }], timeout: 1 } },
  ],
  settings: { debounce: 0.1, mainsBackAfter: 0.2 },
  restore: { mainsStableFor: 0.2, minCharge: 0 },
});

describe('notifications from outages', () => {
  test('a whole outage reaches a channel once per event, ends with its summary and timeline link', async () => {
    const http = await receiver();
    const { notifier, failed } = startNotifier({
      quietPeriod: 0.3,
      channels: [
        { id: 'all', type: 'webhook', url: http.url('/all') },
        { id: 'summaries', type: 'webhook', url: http.url('/summary'), events: ['outage-summary'] },
      ],
    });
    const engine = new EngineDriver(outagePlan, notifier);
    cleanups.push(() => engine.stop());

    engine.reading('ups', ON_BATTERY);
    await engine.until('shutdown-host', { host: 'app' });
    engine.ack('app');
    await engine.until('shutdown-host', { host: 'nas' }); // after db's deadline passed
    engine.ack('nas');
    await engine.until('power-off-ups');
    engine.reading('ups', ON_LINE);
    await engine.until('wake-host', { host: 'nas' });
    engine.healthy('nas');
    await engine.until('wake-host', { host: 'db' });
    engine.healthy('app');
    engine.healthy('db');
    await engine.until('outage-ended');

    const outage = (engine.actions[0] as Extract<EngineAction, { type: 'outage-started' }>).outage;
    await http.waitForAccepted(14, '/all');
    await sleep(100); // nothing more is on its way
    const got = payloads(http, '/all');
    assert.deepEqual(got.map((p) => p.event).sort(), [
      'host-down',
      'host-down',
      'host-no-ack',
      'host-up',
      'host-up',
      'host-up',
      'mains-returned',
      'on-battery',
      'outage-summary',
      'restore-done',
      'restore-started',
      'stage-started',
      'stage-started',
      'ups-powered-off',
    ]);
    assert.equal(new Set(got.map((p) => p.id)).size, got.length, 'every notification once');
    // One channel gets its messages in order (events whose order the outage fixes, whatever the timing).
    const ordered = [
      'on-battery',
      'host-no-ack',
      'ups-powered-off',
      'mains-returned',
      'restore-started',
      'restore-done',
      'outage-summary',
    ];
    assert.deepEqual(
      got.map((p) => p.event).filter((e) => ordered.includes(e)),
      ordered,
    );
    assert.equal(got[0]?.event, 'on-battery', 'the held on-battery notice goes out before the first stage');
    const stages = got.filter((p) => p.event === 'stage-started');
    assert.deepEqual(
      stages.map((s) => s.hosts),
      [['app', 'db'], ['nas']],
      'hosts triggered together are one stage',
    );
    assert.match(stages[0]!.text, /^app: ups on battery for 0\.2 s\ndb: ups on battery for 0\.2 s$/);
    const noAck = got.find((p) => p.event === 'host-no-ack')!;
    assert.deepEqual([noAck.severity, noAck.hosts], ['critical', ['db']]);
    for (const p of got) assert.equal(p.link, `http://controller.test:7393/outages/${outage}`);

    const [summary] = payloads(http, '/summary');
    assert.equal(http.accepted('/summary').length, 1, 'the filtered channel gets the summary only');
    assert.equal(summary?.title, 'Outage over: every host is back');
    assert.match(summary!.text, /Shut down: app, db and nas\./);
    assert.match(summary!.text, /Did not acknowledge: db\./);
    assert.match(summary!.text, /UPS output switched off: ups\./);
    assert.match(summary!.text, /lowest charge 85 %/);
    assert.deepEqual(failed, []);
  });

  test('the quiet period: blips page nobody, a real outage is notified once the quiet period is over', async () => {
    const http = await receiver();
    const quietPlan = plan({
      ups: [{ id: 'ups' }],
      hosts: [{ id: 'nas', kind: 'agent', shutdown: { triggers: [{ type: 'on-battery', after: 600 }] } }],
      settings: { debounce: 0.05, mainsBackAfter: 0.1 },
    });
    const { notifier, suppressed } = startNotifier({
      quietPeriod: 0.4,
      channels: [{ id: 'phone', type: 'webhook', url: http.url('/') }],
    });
    const engine = new EngineDriver(quietPlan, notifier);
    cleanups.push(() => engine.stop());

    // A blip: past the engine's debounce (an outage starts), but mains is back within the quiet period.
    engine.reading('ups', ON_BATTERY);
    await engine.until('outage-started');
    engine.reading('ups', ON_LINE);
    await engine.until('outage-ended');
    assert.equal((engine.actions.at(-1) as { outcome?: string }).outcome, 'averted');
    await sleep(600); // past the quiet period
    assert.equal(http.requests.length, 0, 'nothing was sent for the blip');
    assert.deepEqual(
      suppressed.map((s) => [s.kind, s.reason]),
      [['on-battery', 'mains returned within the quiet period']],
    );

    // A real outage: held for the quiet period, then notified; its end is notified too.
    engine.reading('ups', ON_BATTERY);
    await engine.until('outage-started', { times: 2 });
    assert.equal(http.requests.length, 0, 'held during the quiet period');
    const [onBattery] = await http.waitForAccepted(1);
    assert.equal((onBattery!.json as Payload).event, 'on-battery');
    assert.match((onBattery!.json as Payload).text, /^Mains power failed; on battery since /);
    engine.reading('ups', ON_LINE);
    await engine.until('outage-ended', { times: 2 });
    const all = await http.waitForAccepted(3);
    assert.deepEqual(
      all.map((r) => (r.json as Payload).event),
      ['on-battery', 'mains-returned', 'outage-summary'],
    );
    assert.equal((all[2]!.json as Payload).title, 'Outage over: averted, nothing was shut down');
  });

  test('mains back on every UPS when the quiet period ends silences the outage before the engine confirms it', async () => {
    const http = await receiver();
    const slowConfirm = plan({
      ups: [{ id: 'ups' }],
      hosts: [],
      settings: { debounce: 0.05, mainsBackAfter: 1 },
    });
    const { notifier, suppressed } = startNotifier({
      quietPeriod: 0.3,
      channels: [{ id: 'phone', type: 'webhook', url: http.url('/') }],
    });
    const engine = new EngineDriver(slowConfirm, notifier);
    cleanups.push(() => engine.stop());
    engine.reading('ups', ON_BATTERY);
    await engine.until('outage-started');
    engine.reading('ups', ON_LINE);
    await engine.until('outage-ended');
    await sleep(100);
    assert.equal(http.requests.length, 0);
    assert.equal(suppressed[0]?.reason, 'mains returned within the quiet period');
  });
});

describe('delivery', () => {
  const started = (outage: string): EngineAction => ({ type: 'outage-started', outage, sources: ['ups'] });

  async function failsTwice(queue?: JobQueue) {
    const http = await receiver();
    let calls = 0;
    http.respond = () => (++calls <= 2 ? { status: 500, body: `failure ${calls}` } : undefined);
    const { notifier, delivered, failed } = startNotifier(
      {
        quietPeriod: 0,
        retry: { attempts: 3, backoff: 0.05 },
        channels: [{ id: 'flaky', type: 'webhook', url: http.url('/flaky') }],
      },
      queue ? { queue } : {},
    );
    notifier.actions([started('outage-retry')]);
    await waitFor(() => delivered.length === 1, { what: 'the delivery' });
    assert.equal(delivered[0]?.attempts, 3);
    assert.equal(http.requests.length, 3);
    assert.deepEqual(
      http.requests.map((r) => r.status),
      [500, 500, 200],
    );
    assert.equal(new Set(http.requests.map((r) => r.body)).size, 1, 'the same message each time');
    assert.deepEqual(failed, []);
  }

  test('a receiver that fails twice gets the message on the third try (in-process)', async () => {
    await failsTwice();
  });

  test('a receiver that fails twice gets the message on the third try (BullMQ)', {
    skip: redisSkipReason(),
  }, async () => {
    const redis = await createTestRedis();
    cleanups.push(() => redis.cleanup());
    await failsTwice(new BullQueue(redis.url, log, { prefix: redis.prefix }));
  });

  test('a notification that finally fails is reported, listed, and counted in the outage summary', async () => {
    const http = await receiver();
    http.respond = (r) =>
      r.path === '/down'
        ? { status: 503, body: 'down' }
        : r.path === '/gone'
          ? { status: 404, body: 'gone' }
          : undefined;
    const { notifier, failed } = startNotifier({
      quietPeriod: 0,
      retry: { attempts: 2, backoff: 0.05 },
      channels: [
        { id: 'down', type: 'webhook', url: http.url('/down') },
        { id: 'gone', type: 'slack', url: http.url('/gone') },
        { id: 'ok', type: 'webhook', url: http.url('/ok') },
      ],
    });
    notifier.actions([started('outage-fail')]);
    await waitFor(() => failed.length === 2, { what: 'two failures' });
    const byChannel = Object.fromEntries(failed.map((f) => [f.channel, f]));
    assert.deepEqual(
      {
        attempts: byChannel.down?.attempts,
        error: byChannel.down?.error,
        kind: byChannel.down?.notification.kind,
      },
      { attempts: 2, error: 'webhook answered HTTP 503: down', kind: 'on-battery' },
    );
    assert.equal(byChannel.down?.notification.outage, 'outage-fail');
    assert.equal(byChannel.gone?.attempts, 1, 'a 404 is not retried');
    assert.deepEqual(
      notifier
        .failures()
        .map((f) => f.channel)
        .sort(),
      ['down', 'gone'],
    );
    const status = Object.fromEntries(notifier.channels().map((c) => [c.id, c]));
    assert.equal(status.down?.lastError, 'webhook answered HTTP 503: down');
    assert.equal(status.ok?.lastError, undefined);
    assert.ok(status.ok?.lastDeliveredAt);

    // The test button: straight to the channel, with the outcome.
    assert.deepEqual(
      { ...(await notifier.test('down')), ms: 0 },
      { ok: false, ms: 0, error: 'webhook answered HTTP 503: down' },
    );
    assert.equal((await notifier.test('ok')).ok, true);
    await assert.rejects(notifier.test('nope'), /no notification channel 'nope'/);

    notifier.actions([{ type: 'outage-ended', outage: 'outage-fail', outcome: 'averted' }]);
    const summary = (await http.waitForAccepted(3, '/ok')).at(-1);
    assert.match(
      (summary!.json as Payload).text,
      /2 notification\(s\) could not be delivered during this outage\./,
    );
  });

  test('after a restart nothing is sent twice, and what was pending is delivered', async () => {
    const dir = tempDir('blackstart-notify-');
    cleanups.push(() => dir.remove());
    const stateFile = join(dir.path, 'notifications.json');
    const http = await receiver();
    let down = false;
    http.respond = () => (down ? { status: 502, body: 'bad gateway' } : undefined);
    const config = {
      quietPeriod: 0,
      retry: { attempts: 5, backoff: 0.3 },
      channels: [{ id: 'ops', type: 'webhook', url: http.url('/') }],
    };
    const actions: EngineAction[] = [
      started('outage-r'),
      { type: 'host-triggered', outage: 'outage-r', host: 'nas', trigger: 'ups on battery for 60 s' },
    ];

    const first = startNotifier(config, { stateFile });
    first.notifier.actions(actions.slice(0, 1));
    await http.waitForAccepted(1);
    down = true;
    first.notifier.actions(actions.slice(1));
    await waitFor(() => http.requests.length === 2, { what: 'the failed attempt' });
    await first.close();

    down = false;
    const second = startNotifier(config, { stateFile });
    await http.waitForAccepted(2);
    // The runtime may hand the running outage's actions over again after a restart: all known.
    second.notifier.actions(actions);
    await sleep(400);
    assert.deepEqual(
      http.accepted().map((r) => (r.json as Payload).event),
      ['on-battery', 'stage-started'],
    );
    assert.equal(second.delivered[0]?.attempts, 2, 'the second run counted the first run’s attempt');
  });

  test('a damaged state file is set aside, and malformed input is ignored', async () => {
    const dir = tempDir('blackstart-notify-');
    cleanups.push(() => dir.remove());
    const stateFile = join(dir.path, 'notifications.json');
    writeFileSync(stateFile, '{"version":1,"outbox":[1,2');
    const http = await receiver();
    const { notifier, queue, delivered } = startNotifier(
      { quietPeriod: 0, channels: [{ id: 'ops', type: 'webhook', url: http.url('/') }] },
      { stateFile },
    );
    notifier.reading('ups', { status: 'OB' } as never);
    notifier.reading('ups', null as never);
    notifier.actions([{ type: 'no-such-action' } as never]);
    await queue.add(NOTIFICATION_JOB, { delivery: 42 });
    await queue.add(NOTIFICATION_JOB, 'garbage');
    notifier.actions([started('outage-ok')]);
    await waitFor(() => delivered.length === 1, { what: 'a delivery after the garbage' });
    assert.equal(http.requests.length, 1);
  });
});

describe('conditions', () => {
  test('low battery at once; battery replacement, UPS and agent losses only when they outlast the quiet period', async () => {
    const http = await receiver();
    const chainPlan = plan({
      ups: [{ id: 'ups' }, { id: 'ups2' }],
      hosts: [
        { id: 'web', kind: 'agent', dependsOn: ['nas'], supplies: ['ups'], shutdown: { timeout: 100 } },
        { id: 'nas', kind: 'agent', supplies: ['ups'], shutdown: { timeout: 100 } },
      ],
    });
    const { notifier, suppressed } = startNotifier(
      { quietPeriod: 0.3, channels: [{ id: 'ops', type: 'webhook', url: http.url('/') }] },
      { plan: chainPlan },
    );
    const events = () => payloads(http, '/').map((p) => p.event);
    const reading = (source: string, status: string, extra: Record<string, number> = {}) =>
      notifier.reading(source, { status: status.split(' '), charge: 100, runtime: 3000, ...extra });

    // Low battery on battery: immediately, critical.
    reading('ups2', 'OB DISCHRG LB', { charge: 8, runtime: 90 });
    const [lb] = await http.waitForAccepted(1);
    assert.equal((lb!.json as Payload).event, 'low-battery');
    assert.equal((lb!.json as Payload).severity, 'critical');
    assert.match((lb!.json as Payload).text, /charge 8 %, runtime 1 min 30 s/);
    reading('ups2', 'OB DISCHRG LB', { charge: 7 });
    reading('ups2', 'OL CHRG', { charge: 9 });

    // A UPS silent for a moment, an agent restarting: nothing.
    notifier.sourceLost('ups', 'connection reset');
    reading('ups', 'OL');
    notifier.agentDisconnected('web');
    notifier.agentConnected('web');
    // Battery replacement: held, then notified once.
    reading('ups', 'OL RB');
    await sleep(450);
    reading('ups', 'OL RB');
    await http.waitForAccepted(2);
    assert.deepEqual(events(), ['low-battery', 'battery-replace']);
    assert.deepEqual(
      suppressed.map((s) => [s.kind, s.subject]),
      [
        ['ups-comm-lost', 'ups'],
        ['agent-lost', 'web'],
      ],
    );

    // Lost for longer than the quiet period: notified, then the all-clear once it holds.
    notifier.sourceLost('ups', 'connection refused');
    notifier.agentDisconnected('web');
    await http.waitForAccepted(4);
    reading('ups', 'OL');
    notifier.agentConnected('web');
    await http.waitForAccepted(6);
    assert.deepEqual(events().slice(2).sort(), [
      'agent-back',
      'agent-lost',
      'ups-comm-lost',
      'ups-comm-restored',
    ]);
    const lost = payloads(http, '/').find((p) => p.event === 'ups-comm-lost')!;
    assert.match(lost.text, /connection refused/);

    // A short runtime seen on battery, mains back (recharging) within the quiet period: dropped.
    reading('ups', 'OB DISCHRG', { charge: 90, runtime: 120 });
    reading('ups', 'OL CHRG', { charge: 89, runtime: 120 });
    assert.deepEqual([suppressed.at(-1)?.kind, suppressed.at(-1)?.subject], ['runtime-short', 'ups']);

    // The plan needs web then nas shut down (100 s each by their timeouts): a full battery at
    // this load lasting 150 s is not enough.
    reading('ups', 'OL', { charge: 100, runtime: 150, load: 80 });
    await http.waitForAccepted(7);
    const short = payloads(http, '/').at(-1)!;
    assert.equal(short.event, 'runtime-short');
    assert.match(
      short.text,
      /^ups reports 2 min 30 s of runtime at 80 % load; the plan needs 3 min 20 s to shut down web → nas\./,
    );
    // Charging after an outage is not a warning.
    reading('ups2', 'OL CHRG', { charge: 40, runtime: 20 });

    // An agent that disconnects because its host is being shut down is not lost.
    notifier.actions([
      { type: 'outage-started', outage: 'outage-c', sources: ['ups'] },
      { type: 'host-triggered', outage: 'outage-c', host: 'nas', trigger: 'ups on battery for 60 s' },
    ]);
    notifier.agentDisconnected('nas');
    await http.waitForAccepted(9); // on-battery (escalated by the stage) and the stage
    await sleep(450);
    assert.deepEqual(events().slice(7), ['on-battery', 'stage-started']);
  });
});
