// Detection latency: from a status change written to dummy-ups' .dev file to NutPoller's change
// event, beside a real upsmon's NOTIFY (ONBATT / ONLINE) for the same change, in the same run.
// The delay until upsd serves the change (dummy-ups noticing the file) is shared by all, so it is
// measured on its own with a fast probe and reported apart.
import { cpus, loadavg } from 'node:os';
import { findTool, NUT_LAB_TOOLS, NutLab, sleep, waitFor } from '../../../tests/harness/index.ts';
import { NutClient, NutPoller } from '../src/index.ts';
import { markdownTable } from './table.ts';

const CHANGES = Number(process.env.NUT_BENCH_CHANGES ?? 16);

/** Median, mean and maximum, rounded to ms. */
function stats(xs: number[] | undefined): string[] {
  if (!xs) return ['–', '–', '–'];
  const s = [...xs].sort((a, b) => a - b);
  const median = s[Math.floor(s.length / 2)] ?? Number.NaN;
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return [median, mean, s.at(-1) ?? Number.NaN].map((n) => String(Math.round(n)));
}

async function main() {
  if (![...NUT_LAB_TOOLS, 'upsmon'].every((t) => findTool(t)))
    throw new Error('needs nut-server and nut-client');
  const lab = await NutLab.start();
  const clients: NutClient[] = [];
  try {
    const probe = await NutClient.connect({ host: lab.host, port: lab.port });
    clients.push(probe);
    // upsmon polls on a beat of its own, as dummy-ups updates on its own: a fresh upsmon per change
    // gives it a random phase too (a long-running one keeps the same delay for every change).
    const startUpsmon = async (n: number) => {
      const upsmon = await lab.startUpsmon({
        role: 'secondary',
        user: 'secuser',
        password: 'secpass',
        name: `bench-upsmon-${n}`,
        settings: { POLLFREQ: 1, POLLFREQALERT: 1 },
      });
      await waitFor(async () => (await probe.listClients(lab.upsName)).length === 1, {
        timeoutMs: 15_000,
        what: 'upsmon to log in',
      });
      await sleep(1500); // its first polls: the initial status is never notified
      return upsmon;
    };
    const pollers = await Promise.all(
      [1000, 250].map(async (intervalMs) => {
        const client = await NutClient.connect({ host: lab.host, port: lab.port });
        clients.push(client);
        const poller = new NutPoller({ ups: lab.upsName, intervalMs, client });
        const changes: Array<{ at: number; status: string }> = [];
        poller.on('change', ({ reading, changed }) => {
          if (changed.includes('ups.status'))
            changes.push({ at: reading.at, status: reading.vars['ups.status'] ?? '' });
        });
        return { name: `NutPoller ${intervalMs} ms`, intervalMs, poller: poller.start(), changes };
      }),
    );
    await waitFor(() => pollers.every((p) => p.changes.length > 0), {
      timeoutMs: 10_000,
      what: 'first readings',
    });

    const names = ['upsmon (NOTIFY)', ...pollers.map((p) => p.name)];
    const fromWrite = new Map<string, number[]>([
      ['upsd serves it', []],
      ...names.map((n) => [n, []] as [string, number[]]),
    ]);
    const afterUpsd = new Map<string, number[]>(names.map((n) => [n, []]));
    for (let i = 0; i < CHANGES; i++) {
      const status = i % 2 === 0 ? 'OB DISCHRG' : 'OL';
      const event = i % 2 === 0 ? 'ONBATT' : 'ONLINE';
      const upsmon = await startUpsmon(i);
      // dummy-ups applies changes on its own beat: give every poller a fresh random phase each time,
      // or its delay would be the same constant for every change.
      await Promise.all(
        pollers.map(async (p) => {
          p.poller.stop();
          await sleep(Math.random() * p.intervalMs);
          p.poller.start();
        }),
      );
      await sleep(Math.random() * 1000);
      await lab.setStatus(status, { wait: false });
      const t0 = Date.now();
      let upsdAt = 0;
      while (!upsdAt && Date.now() - t0 < 15_000) {
        if ((await probe.getVar(lab.upsName, 'ups.status')) === status) upsdAt = Date.now();
        else await sleep(20);
      }
      const seen = (p: (typeof pollers)[number]) =>
        p.changes.find((c) => c.at >= t0 && c.status === status)?.at;
      const notified = () => upsmon.notifications().find((n) => n.type === event && n.at * 1000 >= t0)?.at;
      await waitFor(() => pollers.every(seen) && notified(), {
        timeoutMs: 15_000,
        what: `${status} everywhere`,
      });
      const detected = new Map<string, number>([
        ['upsmon (NOTIFY)', (notified() ?? 0) * 1000],
        ...pollers.map((p) => [p.name, seen(p) ?? 0] as [string, number]),
      ]);
      fromWrite.get('upsd serves it')?.push(upsdAt - t0);
      for (const [name, at] of detected) {
        fromWrite.get(name)?.push(at - t0);
        afterUpsd.get(name)?.push(at - upsdAt);
      }
      process.stderr.write(
        `change ${i + 1}/${CHANGES} ${status}: upsd +${upsdAt - t0} ms; ` +
          `${[...detected].map(([k, at]) => `${k} +${Math.round(at - upsdAt)}`).join(', ')} after upsd\n`,
      );
      await upsmon.stop();
      await sleep(1200);
    }
    for (const p of pollers) p.poller.stop();

    const cpu = cpus();
    process.stdout.write(
      [
        '## NUT detection latency: NutPoller vs upsmon 2.8.0',
        '',
        'Command: `pnpm bench nut-detection` (`NUT_BENCH_CHANGES` sets the number of status changes, default 16).',
        '',
        `Machine: ${cpu.length} × ${cpu[0]?.model ?? 'CPU'}, Node ${process.version}, load average at start ` +
          `${loadavg()
            .map((l) => l.toFixed(2))
            .join(' ')} (shared with other work: figures are noisy).`,
        '',
        'Real upsd 2.8.0 + dummy-ups; `ups.status` alternates OL / OB DISCHRG in the `.dev` file. Times in ms,',
        'from the file write and from the moment upsd serves the new status (a probe asks every 20 ms; the',
        'time before that is dummy-ups noticing the file, shared by every detector), until a real upsmon',
        '(secondary, POLLFREQ 1, POLLFREQALERT 1, started afresh for every change) runs its NOTIFYCMD for',
        'ONBATT/ONLINE, and until NutPoller emits `change` at its default 1000 ms interval and at 250 ms',
        '(phase randomised per change).',
        '',
        ...markdownTable(
          [
            'detector',
            'changes',
            'from write: median',
            'mean',
            'max',
            'after upsd serves it: median',
            'mean',
            'max',
          ],
          ['left', ...Array<'right'>(7).fill('right')],
          [...fromWrite].map(([name, xs]) => [
            name,
            String(xs.length),
            ...stats(xs),
            ...stats(afterUpsd.get(name)),
          ]),
        ),
        '',
      ].join('\n'),
    );
  } finally {
    for (const c of clients) c.close();
    await lab.stop();
  }
}

await main();
