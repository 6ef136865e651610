// Detection: from a status change in dummy-ups' .dev file to the first shutdown command leaving the
// controller (its NUT source polling a real upsd at the default 1 s, the plan starting the outage
// and commanding a host on the first on-battery reading), beside a real upsmon 2.8.0 with its
// default settings (POLLFREQ 5, POLLFREQALERT 5) noticing the same change (its ONBATT NOTIFY), in
// the same run. When upsd serves the change is measured with a 20 ms probe and reported apart: the
// time before that is dummy-ups noticing its file, the same for everyone.
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { loadAgentConfig, runAgent } from '@blackstart/agent';
import { NutClient } from '@blackstart/nut-protocol';
import { markdownTable } from '../../../packages/nut-protocol/bench/table.ts';
import { findTool, NUT_LAB_TOOLS, NutLab, sleep, tempDir, waitFor } from '../../../tests/harness/index.ts';
import { parseConfig } from '../src/config.ts';
import { startController } from '../src/controller.ts';
import { createLogger } from '../src/logger.ts';

const CHANGES = Number(process.env.DETECTION_CHANGES ?? 10);
const log = createLogger({ level: 'silent' });

function stats(xs: number[]): string[] {
  if (xs.length === 0) return ['–', '–', '–'];
  const s = [...xs].sort((a, b) => a - b);
  const median = s[Math.floor(s.length / 2)] ?? Number.NaN;
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return [median, mean, s.at(-1) ?? Number.NaN].map((n) => String(Math.round(n)));
}

async function main() {
  if (![...NUT_LAB_TOOLS, 'upsmon'].every((t) => findTool(t)))
    throw new Error('needs nut-server and nut-client');
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  const lab = await NutLab.start();
  const dir = tempDir('blackstart-detection-');
  const controller = await startController(
    parseConfig(
      {
        server: { host: '127.0.0.1', port: 0 },
        dataDir: join(dir.path, 'controller'),
        sources: [
          { id: 'ups', type: 'nut', host: lab.host, port: lab.port, username: 'monuser', password: 'secret' },
        ],
        plan: {
          ups: [{ id: 'ups', powerOff: { enabled: false } }],
          hosts: [
            {
              id: 'app',
              kind: 'agent',
              shutdown: { triggers: [{ type: 'on-battery', after: 0 }], timeout: 60 },
            },
          ],
          settings: { debounce: 0, mainsBackAfter: 0 },
          restore: { mainsStableFor: 0, minCharge: 0 },
        },
      },
      {},
    ),
    log,
  );
  const enrollment = await controller.agents.mintToken({ host: 'app', ttlSeconds: 600, now: new Date() });
  const agent = await runAgent(
    loadAgentConfig([], {
      BLACKSTART_CONTROLLER: controller.url,
      BLACKSTART_HOST: 'app',
      BLACKSTART_STATE_DIR: join(dir.path, 'agent'),
      BLACKSTART_TOKEN: enrollment.token,
      BLACKSTART_PIN: controller.identity.keys.kid,
      BLACKSTART_POWER_ACTION: 'dry-run',
    }),
    log,
  );
  const probe = await NutClient.connect({ host: lab.host, port: lab.port });
  const fromWrite = { upsd: [] as number[], upsmon: [] as number[], controller: [] as number[] };
  const afterUpsd = { upsmon: [] as number[], controller: [] as number[] };
  try {
    await waitFor(() => controller.hub.isConnected('app'), { timeoutMs: 15_000, what: 'the agent' });
    for (let i = 0; i < CHANGES; i++) {
      // A fresh upsmon each time: its polling phase is random relative to the change, like ours.
      const upsmon = await lab.startUpsmon({
        role: 'secondary',
        user: 'secuser',
        password: 'secpass',
        name: `bench-upsmon-${i}`,
        settings: { POLLFREQ: 5, POLLFREQALERT: 5, HOSTSYNC: 15, DEADTIME: 15, FINALDELAY: 5 },
      });
      await waitFor(async () => (await probe.listClients(lab.upsName)).length === 1, {
        timeoutMs: 15_000,
        what: 'upsmon to log in',
      });
      // dummy-ups and the controller's poller each keep their own beat: restarting the driver at a
      // random moment gives their phases a random offset for every change, as in real life.
      await sleep(Math.random() * 1000);
      await lab.killDriver();
      lab.startDriver();
      await lab.waitForData();
      await sleep(1500 + Math.random() * 1000);
      let sentAt: number | undefined;
      const onSent = ({ at }: { at: number }) => {
        sentAt ??= at;
      };
      controller.hub.on('command-sent', onSent);
      const ended = new Promise((resolve) => controller.runtime.once('outage-ended', resolve));
      await lab.setStatus('OB DISCHRG', { wait: false });
      const writtenAt = Date.now();
      let servedAt: number | undefined;
      await waitFor(
        async () => {
          const status = await probe.getVar(lab.upsName, 'ups.status');
          if (status === 'OB DISCHRG') servedAt ??= Date.now();
          return servedAt !== undefined;
        },
        { timeoutMs: 15_000, intervalMs: 20, what: 'upsd to serve OB' },
      );
      await waitFor(() => sentAt, { timeoutMs: 15_000, what: 'the first command' });
      const onBatt = await waitFor(() => upsmon.notifications().find((n) => n.type === 'ONBATT'), {
        timeoutMs: 20_000,
        what: 'upsmon ONBATT',
      });
      controller.hub.off('command-sent', onSent);
      fromWrite.upsd.push(servedAt! - writtenAt);
      fromWrite.controller.push(sentAt! - writtenAt);
      fromWrite.upsmon.push(onBatt.at * 1000 - writtenAt);
      afterUpsd.controller.push(sentAt! - servedAt!);
      afterUpsd.upsmon.push(onBatt.at * 1000 - servedAt!);
      await upsmon.stop();
      await lab.setStatus('OL');
      await ended;
      process.stderr.write(`change ${i + 1}/${CHANGES}\n`);
    }
  } finally {
    probe.close();
    agent.stop();
    await controller.close();
    await lab.stop();
    dir.remove();
  }
  const rows = [
    ['upsd serves it', String(CHANGES), ...stats(fromWrite.upsd), '–', '–', '–'],
    [
      'upsmon 2.8.0, defaults (ONBATT)',
      String(CHANGES),
      ...stats(fromWrite.upsmon),
      ...stats(afterUpsd.upsmon),
    ],
    [
      'Blackstart: first command sent',
      String(CHANGES),
      ...stats(fromWrite.controller),
      ...stats(afterUpsd.controller),
    ],
  ];
  const out = [
    '## Controller detection: UPS status change → first command leaving the controller',
    '',
    'Command: `pnpm bench controller-detection` (`DETECTION_CHANGES` sets the number of outages, default 10).',
    '',
    `Machine: ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}, Node ${process.version}, load average at start ${load} (shared with other work: figures are noisy).`,
    '',
    'Real upsd 2.8.0 + dummy-ups; `ups.status` goes OL → OB DISCHRG in the `.dev` file (back to OL between outages).',
    'The controller polls upsd with its NUT source at the default 1 s; its plan starts the outage and commands',
    'a host on the first on-battery reading (debounce 0, trigger on battery for 0 s), and the time is when the',
    'signed command is written to the (connected, real) agent’s socket. Beside it, a real upsmon with NUT’s',
    'default POLLFREQ 5 / POLLFREQALERT 5 (started afresh for every change, so its phase is random too) runs',
    'its NOTIFYCMD for ONBATT. Times in ms from the file write, and from when upsd serves the change (a probe',
    'asks every 20 ms; the time before that is dummy-ups noticing its file, the same for both).',
    '',
    ...markdownTable(
      [
        'detector',
        'outages',
        'from write: median',
        'mean',
        'max',
        'after upsd serves it: median',
        'mean',
        'max',
      ],
      ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
      rows,
    ),
    '',
    'Goal: ≤ 1 s (after upsd serves the change: the part Blackstart controls).',
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}

await main();
