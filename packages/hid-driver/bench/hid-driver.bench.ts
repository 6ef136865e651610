/**
 * HID driver benchmark: how long an interrupt report takes to reach a `status` listener, and what
 * parsing a descriptor and polling a UPS cost the driver itself (USB transfer time excluded — the
 * replay transport answers from memory). Uses the real APC BK650M2-CH descriptor and reports from
 * the shared NUT DDL dump when present, the self-written CyberPower fixture otherwise.
 *
 *   pnpm bench hid-driver            # print the section
 *   pnpm bench --write hid-driver    # and update docs/benchmarks.md
 */
import { cpus, loadavg, totalmem } from 'node:os';
import {
  fromHex,
  type HidFixture,
  loadFixtureFile,
  openReplay,
  parseReportDescriptor,
  ReplayDevice,
} from '../src/index.ts';
import { BK650, CYBERPOWER_DEVICE, cyberPower, nutDdlFile } from '../test/fixtures.ts';

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

interface Source {
  name: string;
  fixture: HidFixture;
  /** Two interrupt reports that flip ups.status between them. */
  onBattery: Uint8Array;
  onLine: Uint8Array;
}

async function source(): Promise<Source> {
  const real = nutDdlFile(BK650);
  if (real) {
    return {
      name: 'APC Back-UPS BK650M2-CH (NUT DDL log, 743-byte descriptor, 42 feature reports)',
      fixture: await loadFixtureFile(real),
      // The logged status report, with and without the ACPresent bit.
      onBattery: fromHex('16 0a 00 00 00'),
      onLine: fromHex('16 0e 00 00 00'),
    };
  }
  const b = cyberPower();
  return {
    name: 'synthetic CyberPower CP1500PFCLCD fixture (shared NUT DDL dump not found)',
    fixture: b.fixture(CYBERPOWER_DEVICE, 'synthetic CP1500PFCLCD'),
    onBattery: b.inputReport(0x0b, { acPresent: 0, discharging: 1, fullyCharged: 0 }),
    onLine: b.inputReport(0x0b, {}),
  };
}

function percentiles(samples: number[]): { p50: number; p99: number; max: number; mean: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return {
    p50: at(0.5),
    p99: at(0.99),
    max: sorted.at(-1)!,
    mean: samples.reduce((s, x) => s + x, 0) / samples.length,
  };
}

const us = (ns: number) => (ns / 1000).toFixed(1);

async function interruptLatency(src: Source, iterations: number) {
  const device = new ReplayDevice(src.fixture, { playInputs: false });
  const ups = await openReplay(device, { pollIntervalMs: 0 });
  let received = 0n;
  ups.on('status', () => {
    received = process.hrtime.bigint();
  });
  const samples: number[] = [];
  const run = (n: number, keep: boolean) => {
    for (let i = 0; i < n; i++) {
      const sent = process.hrtime.bigint();
      device.injectInput(i % 2 === 0 ? src.onBattery : src.onLine);
      if (received < sent) throw new Error('an interrupt report did not produce a status event');
      if (keep) samples.push(Number(received - sent));
    }
  };
  run(2000, false);
  gc();
  run(iterations, true);
  await ups.close();
  return percentiles(samples);
}

async function timeIt(iterations: number, body: () => unknown | Promise<unknown>) {
  for (let i = 0; i < Math.min(200, iterations); i++) await body();
  gc();
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const start = process.hrtime.bigint();
    await body();
    samples.push(Number(process.hrtime.bigint() - start));
  }
  return percentiles(samples);
}

const src = await source();
const descriptor = fromHex(src.fixture.descriptor);
const latency = await interruptLatency(src, 20_000);
const parse = await timeIt(2000, () => parseReportDescriptor(descriptor));
const device = new ReplayDevice(src.fixture, { playInputs: false });
const ups = await openReplay(device, { pollIntervalMs: 0 });
const full = await timeIt(2000, () => ups.read());
const quick = await timeIt(2000, () => ups.read({ quick: true }));
device.reads.length = 0;
await ups.read();
const reportsPerFull = new Set(device.reads.map((r) => r.reportId)).size;
await ups.close();

const cpu = cpus();
const row = (what: string, n: number, s: ReturnType<typeof percentiles>) => [
  what,
  String(n),
  us(s.p50),
  us(s.p99),
  us(s.max),
  us(s.mean),
];

/** A Markdown table with aligned columns, the way Biome formats docs/benchmarks.md. */
function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(3, h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

process.stdout.write(
  [
    '## HID driver: interrupt-to-event latency, descriptor parsing, polling',
    '',
    'Command: `pnpm bench hid-driver` (writes this section with `pnpm bench --write hid-driver`).',
    '',
    `Machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' / ')} at the start — shared with other work, so treat the tails as noisy.`,
    '',
    `Device: ${src.name}, replayed from memory: the figures are the driver's own cost. A real UPS adds`,
    'USB time before a report reaches JavaScript: up to its interrupt endpoint interval (10 ms on the',
    "CyberPower UT2200E in the NUT DDL) plus hidapi's reader thread. For the NUT path, usbhid-ups reads",
    'the interrupt pipe once per `pollinterval` (2 s default) before upsd and its clients see a change.',
    '',
    ...table(
      ['what', 'runs', 'p50 µs', 'p99 µs', 'max µs', 'mean µs'],
      [
        row('interrupt report → `status` listener (OL ↔ OB flips)', 20_000, latency),
        row(`parse the ${descriptor.length}-byte report descriptor`, 2000, parse),
        row(`full poll \`read()\` (${reportsPerFull} feature reports)`, 2000, full),
        row('quick poll `read({ quick: true })`', 2000, quick),
      ],
    ),
    '',
  ].join('\n'),
);
