// Notifications: how long from an engine action to a local webhook receiver accepting the message,
// through the in-process queue and through BullMQ on Redis (REDIS_URL, or a private redis-server),
// in the same run; how fast one channel drains a burst (deliveries to a channel go one at a time);
// and what handling one engine step costs the notifier when 1000 hosts are triggered at once.
// Prints one Markdown section (pnpm bench --write notifications).
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import type { EngineAction } from '@blackstart/policy';
import Value from 'typebox/value';
import { markdownTable } from '../../../packages/nut-protocol/bench/table.ts';
import { createTestRedis, tempDir, waitFor } from '../../../tests/harness/index.ts';
import { BullQueue, InProcessQueue, type JobQueue } from '../src/jobs/queue.ts';
import { createLogger } from '../src/logger.ts';
import {
  type NotificationsConfig,
  NotificationsSchema,
  Notifier,
  prepareNotifications,
} from '../src/notifications/index.ts';
import { HttpReceiver } from '../test/notifications-receivers.ts';

const SAMPLES = Number(process.env.NOTIFY_BENCH_SAMPLES ?? 100);
const BURST = 500;
const log = createLogger({ level: 'silent' });
const quantile = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

function config(url: string): NotificationsConfig {
  return Value.Default(
    NotificationsSchema,
    prepareNotifications(
      { quietPeriod: 0, channels: [{ id: 'bench', type: 'webhook', url }] },
      () => undefined,
    ),
  ) as NotificationsConfig;
}

const receiver = await HttpReceiver.start();
const dir = tempDir('blackstart-notify-bench-');
const rows: string[][] = [];

async function latency(name: string, queue: JobQueue): Promise<void> {
  const notifier = new Notifier({
    config: config(receiver.url('/')),
    queue,
    log,
    stateFile: join(dir.path, `${name}.json`),
  });
  notifier.start();
  const arrived = new Map<string, number>();
  const previous = receiver.respond;
  receiver.respond = (r) => {
    arrived.set((r.json as { outage: string }).outage, performance.now());
    return undefined;
  };
  const samples: number[] = [];
  for (let i = 0; i < SAMPLES + 5; i++) {
    const outage = `outage-${name}-${i}`;
    const sent = performance.now();
    notifier.actions([{ type: 'outage-started', outage, sources: ['ups'] }]);
    await waitFor(() => arrived.has(outage), { timeoutMs: 10_000, intervalMs: 1, what: 'the delivery' });
    if (i >= 5) samples.push(arrived.get(outage)! - sent); // the first few warm up
  }
  receiver.respond = previous;
  rows.push([
    `action → receiver, ${name}`,
    `${ms(quantile(samples, 0.5))} ms`,
    `p95 ${ms(quantile(samples, 0.95))} ms, max ${ms(Math.max(...samples))} ms; ${SAMPLES} outages one after another`,
  ]);

  // A burst: one step's worth of distinct messages to one channel, drained one at a time.
  const before = receiver.accepted().length;
  const started = performance.now();
  notifier.actions(
    Array.from(
      { length: BURST },
      (_, i): EngineAction => ({ type: 'outage-started', outage: `burst-${name}-${i}`, sources: ['ups'] }),
    ),
  );
  await waitFor(() => receiver.accepted().length - before >= BURST, {
    timeoutMs: 120_000,
    intervalMs: 5,
    what: 'the burst',
  });
  const seconds = (performance.now() - started) / 1000;
  rows.push([
    `${BURST} messages to one channel, ${name}`,
    `${Math.round(BURST / seconds)} /s`,
    `${ms(seconds * 1000)} ms in all`,
  ]);
  await queue.close();
  await notifier.close();
}

await latency('in-process', new InProcessQueue(log));
const redis = await createTestRedis();
const bull = new BullQueue(redis.url, log, { prefix: redis.prefix });
await waitFor(() => bull.connected, { what: 'Redis' });
await latency('BullMQ', bull);
await redis.cleanup();

// One step that triggers 1000 hosts: grouped into one message, its 1000 event ids recorded.
{
  const notifier = new Notifier({ config: config(receiver.url('/')), queue: new InProcessQueue(log), log });
  const times: number[] = [];
  for (let k = 0; k < 7; k++) {
    const outage = `outage-wave-${k}`;
    const actions: EngineAction[] = [{ type: 'outage-started', outage, sources: ['ups'] }];
    for (let h = 0; h < 1000; h++)
      actions.push({ type: 'host-triggered', outage, host: `host-${h}`, trigger: 'ups on battery for 60 s' });
    const t = performance.now();
    notifier.actions(actions);
    times.push(performance.now() - t);
  }
  rows.push([
    'one engine step triggering 1000 hosts',
    `${ms(quantile(times, 0.5))} ms`,
    'median of 7; one stage message',
  ]);
  await notifier.close();
}

await receiver.close();
dir.remove();

const cpu = cpus();
console.log(
  [
    '## Notifications: delivery latency and throughput',
    '',
    '`pnpm bench notifications` — a Notifier with one generic-webhook channel (quiet period 0) and a',
    'local HTTP receiver on loopback. Latency: from `notifier.actions([outage-started])` to the receiver',
    'accepting the on-battery message, through the in-process queue and through BullMQ on a local',
    'Redis, in the same run. Burst: distinct messages created at once; one channel takes them one at a',
    'time, in order.',
    '',
    `Machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? 'CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version};`,
    `load average ${loadavg()[0]!.toFixed(1)} at the end. Measured while other engineers' builds and tests shared`,
    'the machine: figures are noisy upwards. Deliveries include rewriting the state file (fsync).',
    '',
    ...markdownTable(['measurement', 'result', 'detail'], ['left', 'right', 'left'], rows),
  ].join('\n'),
);
process.exit(0);
