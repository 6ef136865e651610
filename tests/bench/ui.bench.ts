// The web UI: what a first visit downloads (the production build, gzip -9 and brotli as served), how
// long the controller takes to build it in memory at start from source, and — in Debian's Chromium
// when it is installed — how long the dashboard takes to show a UPS going on battery or back on mains
// after the simulator is told to flip. Prints one Markdown section (pnpm bench --write ui).
import { cpus, loadavg, totalmem } from 'node:os';
import { buildUi } from '../../apps/controller/ui/build.ts';
import { markdownTable } from '../../packages/nut-protocol/bench/table.ts';
import { ADMIN_PASSWORD, ControllerProcess } from '../e2e/controller-processes.ts';
import { launchChromium } from '../harness/browser.ts';
import { findTool, tempDir } from '../harness/index.ts';

const FLIPS = Number(process.env.UI_BENCH_FLIPS ?? 20);
const SIMULATOR_INTERVAL = 0.2;
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
const quantile = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

const rows: string[][] = [];

// Build: the first build loads esbuild; the median of the next five is what a start costs.
await buildUi({ minify: true });
const buildTimes: number[] = [];
let build = await buildUi({ minify: true });
for (let i = 0; i < 5; i++) {
  const start = performance.now();
  build = await buildUi({ minify: true });
  buildTimes.push(performance.now() - start);
}
const script = build.assets.find((a) => a.path.endsWith('.js'))!;
const style = build.assets.find((a) => a.path.endsWith('.css'))!;
const html = build.assets.find((a) => a.path === '/index.html')!;
const gz = (a: typeof script) => a.gzip?.length ?? a.body.length;
const br = (a: typeof script) => a.brotli?.length ?? a.body.length;
rows.push(
  [
    'first-load JavaScript, gzip -9',
    kb(gz(script)),
    `${kb(script.body.length)} minified; brotli ${kb(br(script))}; one file, goal ≤ 100 KB`,
  ],
  ['stylesheet, gzip -9', kb(gz(style)), `${kb(style.body.length)} minified; brotli ${kb(br(style))}`],
  [
    'first visit in all (HTML + JS + CSS), gzip',
    kb(gz(html) + gz(script) + gz(style)),
    'what a browser downloads before the API calls',
  ],
  ['build in memory at start (from source)', `${quantile(buildTimes, 0.5).toFixed(0)} ms`, 'median of 5'],
);

const browserPath = findTool('chromium');
if (browserPath) {
  const dir = tempDir('blackstart-ui-bench-');
  const controller = await ControllerProcess.start(dir.path, {
    sources: [{ id: 'ups', type: 'simulator', interval: SIMULATOR_INTERVAL, load: 35, runtimeAtLoad: 3600 }],
    // A debounce longer than the run: flips never become an outage.
    plan: { ups: [{ id: 'ups' }], hosts: [], settings: { debounce: 3600 } },
  });
  const browser = await launchChromium(browserPath);
  try {
    const page = await browser.newPage();
    await page.goto(controller.url);
    await page.getByLabel('User').fill('admin');
    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    const status = page.getByTestId('ups-status-ups');
    await status.filter({ hasText: 'on mains' }).waitFor();
    const latencies: number[] = [];
    for (let i = 0; i < FLIPS; i++) {
      const mains = i % 2 === 1;
      const start = performance.now();
      await controller.api('POST', '/api/v1/sources/ups/simulate', { mains });
      await status.filter({ hasText: mains ? 'on mains' : 'on battery' }).waitFor({ timeout: 10_000 });
      latencies.push(performance.now() - start);
    }
    rows.push([
      'simulator flip → dashboard shows it',
      `${quantile(latencies, 0.5).toFixed(0)} ms`,
      `p95 ${quantile(latencies, 0.95).toFixed(0)} ms, max ${Math.max(...latencies).toFixed(0)} ms; ${FLIPS} flips, simulator reading every ${SIMULATOR_INTERVAL * 1000} ms`,
    ]);
  } finally {
    await browser.close();
    await controller.stop();
    dir.remove();
  }
} else {
  rows.push(['simulator flip → dashboard shows it', 'skipped', 'no chromium on this machine']);
}

const cpu = cpus();
console.log(
  [
    '## Web UI: first-load size and live latency',
    '',
    '`pnpm bench ui` — the production build of `apps/controller/ui` (Preact, esbuild, minified), sizes',
    'as the controller serves them precompressed; the in-memory build a source checkout runs at start;',
    "and, in Debian's Chromium against a real controller process (`blackstart serve`), the time from",
    '`POST /api/v1/sources/ups/simulate` to the dashboard showing the new UPS status (the simulator',
    "applies the flip at its next reading, then the live feed's coalescing and the browser's render).",
    '',
    `Machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? 'CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version};`,
    `load average ${loadavg()[0]!.toFixed(1)} at the end; the machine was shared with other builds and tests.`,
    '',
    ...markdownTable(['measurement', 'result', 'detail'], ['left', 'right', 'left'], rows),
  ].join('\n'),
);
process.exit(0);
