// NutServer vs real upsd 2.8.0 serving the same UPS, in the same run: requests/s and latency of
// GET VAR and LIST VAR at 1, 100 and 1000 concurrent clients (closed loop: each client sends its
// next request when the previous answer is complete). Both servers run in processes of their own;
// the load comes from loadgen.c, compiled here, which costs far less CPU per request than either.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findTool, NUT_LAB_TOOLS, NutLab, tempDir } from '../../../tests/harness/index.ts';
import { NutClient } from '../src/index.ts';
import { markdownTable } from './table.ts';

const CLIENTS = (process.env.NUT_BENCH_CLIENTS ?? '1,100,1000').split(',').map(Number);
const WARMUP_MS = 500;
const MEASURE_MS = Number(process.env.NUT_BENCH_MS ?? 2000);
const ROUNDS = Number(process.env.NUT_BENCH_ROUNDS ?? 4);

const REQUESTS = {
  'GET VAR': { line: 'GET VAR ups ups.status\n', end: '\n' },
  'LIST VAR': { line: 'LIST VAR ups\n', end: 'END LIST VAR ups\n' },
} as const;
type RequestName = keyof typeof REQUESTS;

const percentile = (sorted: number[], p: number) =>
  sorted.length ? (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0) : 0;

interface Round {
  latencies: number[];
  elapsed: number;
  serverCpu: number;
  generatorCpu: number;
}

/** Runs the load generator once against one server. */
function measureOnce(
  loadgen: string,
  server: { port: number; pid: number },
  name: RequestName,
  clients: number,
): Round {
  const latencyFile = `${loadgen}.latencies`;
  const { line, end } = REQUESTS[name];
  const escapeNewlines = (text: string) => text.replaceAll('\n', '\\n');
  const args = [
    server.port,
    server.pid,
    clients,
    escapeNewlines(line),
    escapeNewlines(end),
    WARMUP_MS,
    MEASURE_MS,
    latencyFile,
  ];
  const run = spawnSync(loadgen, args.map(String), { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`loadgen failed (${run.status}): ${run.stderr}`);
  const result = JSON.parse(run.stdout) as { elapsedMs: number; serverCpuMs: number; generatorCpuMs: number };
  const bytes = readFileSync(latencyFile);
  const latencies = Array.from(new Float64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8));
  return {
    latencies,
    elapsed: result.elapsedMs,
    serverCpu: result.serverCpuMs,
    generatorCpu: result.generatorCpuMs,
  };
}

/**
 * Measures both servers for one cell in ROUNDS rounds, alternating which goes first (the machine is
 * shared and its speed drifts by tens of percent within a minute), pooling the samples of all rounds.
 */
function measure(
  loadgen: string,
  servers: Record<'upsd' | 'ours', { port: number; pid: number }>,
  name: RequestName,
  clients: number,
) {
  const empty = (): Round => ({ latencies: [], elapsed: 0, serverCpu: 0, generatorCpu: 0 });
  const pooled = { upsd: empty(), ours: empty() };
  const rps = (r: Round) => r.latencies.length / (r.elapsed / 1000);
  /** Per round, ours / upsd: how far the machine's drift moves one comparison. */
  const roundRatios: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? (['upsd', 'ours'] as const) : (['ours', 'upsd'] as const);
    const results = {} as Record<'upsd' | 'ours', Round>;
    for (const target of order) {
      const r = measureOnce(loadgen, servers[target], name, clients);
      results[target] = r;
      const p = pooled[target];
      p.latencies = p.latencies.concat(r.latencies);
      p.elapsed += r.elapsed;
      p.serverCpu += r.serverCpu;
      p.generatorCpu += r.generatorCpu;
    }
    roundRatios.push(rps(results.ours) / rps(results.upsd));
  }
  const summary = (r: Round) => {
    const sorted = r.latencies.sort((a, b) => a - b);
    const answers = Math.max(1, sorted.length);
    return {
      rps: rps(r),
      /** CPU time per answered request, µs. */
      serverCpuPerRequest: (r.serverCpu * 1000) / answers,
      generatorCpuPerRequest: (r.generatorCpu * 1000) / answers,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
    };
  };
  return { upsd: summary(pooled.upsd), ours: summary(pooled.ours), roundRatios };
}

/** Compiles the C load generator into `dir`. */
function buildLoadgen(dir: string): string {
  const cc = findTool('cc');
  if (!cc) throw new Error('needs a C compiler (cc) to build the load generator');
  const binary = join(dir, 'loadgen');
  const source = fileURLToPath(new URL('./loadgen.c', import.meta.url));
  const build = spawnSync(cc, ['-O2', '-Wall', '-Wextra', '-Werror', '-o', binary, source], {
    encoding: 'utf8',
  });
  if (build.status !== 0) throw new Error(`compiling loadgen.c failed: ${build.stderr}`);
  return binary;
}

async function main() {
  if (!NUT_LAB_TOOLS.every((t) => findTool(t))) throw new Error('needs nut-server and nut-client installed');
  const lab = await NutLab.start();
  const dir = tempDir('blackstart-bench-');
  const child = { proc: undefined as ReturnType<typeof spawn> | undefined };
  try {
    // Our server serves exactly what upsd serves.
    const client = await NutClient.connect({ host: lab.host, port: lab.port, reconnect: false });
    const vars = await client.listVars('ups');
    const description = await client.getUpsDesc('ups');
    client.close();
    const definitionFile = join(dir.path, 'ups.json');
    writeFileSync(definitionFile, JSON.stringify({ description, vars }));
    const serve = fileURLToPath(new URL('./serve.ts', import.meta.url));
    child.proc = spawn(process.execPath, ['--import', 'tsx', serve, definitionFile], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const ourPort = await new Promise<number>((resolve, reject) => {
      child.proc?.stdout?.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      child.proc?.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    });

    const loadgen = buildLoadgen(dir.path);
    const rows: string[][] = [];
    const names = (process.env.NUT_BENCH_REQUESTS?.split(',') ?? Object.keys(REQUESTS)) as RequestName[];
    for (const name of names) {
      for (const clients of CLIENTS) {
        const { upsd, ours, roundRatios } = measure(
          loadgen,
          {
            upsd: { port: lab.port, pid: lab.upsdPid! },
            ours: { port: ourPort, pid: child.proc.pid! },
          },
          name,
          clients,
        );
        const f = (n: number) => n.toFixed(n < 10 ? 2 : 1);
        const row = [name, String(clients), String(Math.round(upsd.rps)), f(upsd.p50), f(upsd.p99)];
        row.push(
          String(Math.round(ours.rps)),
          f(ours.p50),
          f(ours.p99),
          `${(ours.rps / upsd.rps).toFixed(2)}×`,
          `${Math.min(...roundRatios).toFixed(2)}–${Math.max(...roundRatios).toFixed(2)}×`,
          `${upsd.serverCpuPerRequest.toFixed(1)} / ${ours.serverCpuPerRequest.toFixed(1)}`,
          `${upsd.generatorCpuPerRequest.toFixed(1)} / ${ours.generatorCpuPerRequest.toFixed(1)}`,
        );
        rows.push(row);
        process.stderr.write(`${row.join(' | ')}\n`);
      }
    }
    const cpu = cpus();
    process.stdout.write(
      [
        '## NUT server: NutServer vs upsd 2.8.0',
        '',
        'Command: `pnpm bench nut-server` (`NUT_BENCH_MS` sets the measured window per round, default 2000;',
        '`NUT_BENCH_ROUNDS` the rounds per cell, default 4). Needs nut-server, nut-client and a C compiler.',
        '',
        `Machine: ${cpu.length} × ${cpu[0]?.model ?? 'CPU'}, Node ${process.version}, load average at start ` +
          `${loadavg()
            .map((l) => l.toFixed(2))
            .join(' ')} (shared with other work: figures are noisy).`,
        '',
        'Both servers serve the same UPS (the harness BX1600MI dummy, 32 variables) on loopback, each in',
        'its own process. The load comes from `bench/loadgen.c`: closed-loop clients on one epoll loop, in',
        'C so that it needs less CPU per request than the servers (a Node load generator used a whole',
        'core and was the bottleneck for both). ' +
          `${ROUNDS} rounds per cell, the order alternating, each ${WARMUP_MS} ms warm-up then ${MEASURE_MS} ms measured;`,
        'throughput and latency (ms) pooled over the rounds; the per-round ratios show how much the',
        "machine's drift moves one comparison. upsd writes each line of a list with its own write() and",
        "without TCP_NODELAY, so its list answers wait for the client's delayed ACK (about 40 ms, Nagle).",
        'CPU: user + system time over the measured windows per answered request, for the server process',
        '(from /proc, in 10 ms ticks) and for the load generator. Where the server CPU times the',
        "throughput is close to one second per second, the server's core is the bottleneck.",
        '',
        ...markdownTable(
          [
            'request',
            'clients',
            'upsd req/s',
            'upsd p50',
            'upsd p99',
            'NutServer req/s',
            'NutServer p50',
          ].concat(
            'NutServer p99',
            'throughput ratio',
            'ratio per round',
            'server CPU µs/request, upsd / ours',
            'load generator CPU µs/request, upsd / ours',
          ),
          ['left', ...Array<'right'>(11).fill('right')],
          rows,
        ),
        '',
      ].join('\n'),
    );
  } finally {
    child.proc?.kill('SIGTERM');
    await lab.stop();
    dir.remove();
  }
}

await main();
