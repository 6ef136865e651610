// NutServer vs real upsd 2.8.0 serving the same UPS, in the same run: requests/s and latency of
// GET VAR and LIST VAR at 1, 100 and 1000 concurrent clients (closed loop: each client sends its
// next request when the previous answer is complete). Beside them, the Node floor (node-floor.ts):
// what a Node server costs with no protocol at all. Each server runs in a process of its own; the
// load comes from loadgen.c, compiled here, which costs far less CPU per request than any of them.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findTool, NUT_LAB_TOOLS, NutLab, tempDir } from '../../../tests/harness/index.ts';
import { NutClient } from '../src/index.ts';
import { markdownTable } from './table.ts';

const CLIENTS = (process.env.NUT_BENCH_CLIENTS ?? '1,100,1000').split(',').map(Number);
const WARMUP_MS = 500;
const DEFAULT_MEASURE_MS = 2000;
const DEFAULT_ROUNDS = 6;
const MEASURE_MS = Number(process.env.NUT_BENCH_MS ?? DEFAULT_MEASURE_MS);
const ROUNDS = Number(process.env.NUT_BENCH_ROUNDS ?? DEFAULT_ROUNDS);

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

const TARGETS = ['upsd', 'ours', 'floor'] as const;
type Target = (typeof TARGETS)[number];

/**
 * Measures the servers for one cell in ROUNDS rounds, rotating which goes first (the machine is
 * shared and its speed drifts by tens of percent within a minute), pooling the samples of all rounds.
 */
function measure(
  loadgen: string,
  servers: Record<Target, { port: number; pid: number }>,
  name: RequestName,
  clients: number,
) {
  const empty = (): Round => ({ latencies: [], elapsed: 0, serverCpu: 0, generatorCpu: 0 });
  const pooled = { upsd: empty(), ours: empty(), floor: empty() };
  /** Per round, against upsd's: how far the machine's drift moves one comparison. */
  const roundRatios = { ours: [] as number[], floor: [] as number[] };
  for (let round = 0; round < ROUNDS; round++) {
    const order = TARGETS.map((_, i) => TARGETS[(i + round) % TARGETS.length]!);
    const results = {} as Record<Target, Round>;
    for (const target of order) {
      const r = measureOnce(loadgen, servers[target], name, clients);
      results[target] = r;
      const p = pooled[target];
      p.latencies = p.latencies.concat(r.latencies);
      p.elapsed += r.elapsed;
      p.serverCpu += r.serverCpu;
      p.generatorCpu += r.generatorCpu;
    }
    roundRatios.ours.push(rps(results.ours) / rps(results.upsd));
    roundRatios.floor.push(rps(results.floor) / rps(results.upsd));
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
  return {
    upsd: summary(pooled.upsd),
    ours: summary(pooled.ours),
    floor: summary(pooled.floor),
    roundRatios,
  };
}

const rps = (r: Round) => r.latencies.length / (r.elapsed / 1000);

/** What a server answers to `line`, byte for byte (up to and including `end`). */
async function rawAnswer(port: number, line: string, end: string): Promise<string> {
  const socket = createConnection({ host: '127.0.0.1', port });
  try {
    socket.setEncoding('latin1');
    socket.write(line);
    let answer = '';
    for await (const chunk of socket) {
      answer += chunk as string;
      if (answer.endsWith(end)) return answer;
    }
    throw new Error(`the server closed the connection before answering ${JSON.stringify(line)}`);
  } finally {
    socket.destroy();
  }
}

/** Starts a bench server script in its own process; resolves when it prints its port. */
async function startServer(script: string, argument: string, children: Array<ReturnType<typeof spawn>>) {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL(script, import.meta.url)), argument],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  children.push(proc);
  const port = await new Promise<number>((resolve, reject) => {
    proc.stdout?.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    proc.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
  return { port, pid: proc.pid! };
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
  const children: Array<ReturnType<typeof spawn>> = [];
  try {
    // Our server serves exactly what upsd serves; the floor answers exactly what upsd answers.
    const client = await NutClient.connect({ host: lab.host, port: lab.port, reconnect: false });
    const vars = await client.listVars('ups');
    const description = await client.getUpsDesc('ups');
    client.close();
    const definitionFile = join(dir.path, 'ups.json');
    writeFileSync(definitionFile, JSON.stringify({ description, vars }));
    const repliesFile = join(dir.path, 'replies.json');
    writeFileSync(
      repliesFile,
      JSON.stringify({
        get: await rawAnswer(lab.port, REQUESTS['GET VAR'].line, REQUESTS['GET VAR'].end),
        list: await rawAnswer(lab.port, REQUESTS['LIST VAR'].line, REQUESTS['LIST VAR'].end),
      }),
    );
    const servers = {
      upsd: { port: lab.port, pid: lab.upsdPid! },
      ours: await startServer('./serve.ts', definitionFile, children),
      floor: await startServer('./node-floor.ts', repliesFile, children),
    };

    const loadgen = buildLoadgen(dir.path);
    const rows: string[][] = [];
    const names = (process.env.NUT_BENCH_REQUESTS?.split(',') ?? Object.keys(REQUESTS)) as RequestName[];
    for (const name of names) {
      for (const clients of CLIENTS) {
        const { upsd, ours, floor, roundRatios } = measure(loadgen, servers, name, clients);
        const f = (n: number) => n.toFixed(n < 10 ? 2 : 1);
        const perRound = (ratios: number[]) => {
          const sorted = [...ratios].sort((a, b) => a - b);
          const median = sorted[Math.floor((sorted.length - 1) / 2)] ?? 0;
          return `${median.toFixed(2)}× (${sorted[0]?.toFixed(2)}–${sorted.at(-1)?.toFixed(2)})`;
        };
        const row = [name, String(clients), String(Math.round(upsd.rps)), f(upsd.p50), f(upsd.p99)];
        row.push(
          String(Math.round(ours.rps)),
          f(ours.p50),
          f(ours.p99),
          `${(ours.rps / upsd.rps).toFixed(2)}×`,
          perRound(roundRatios.ours),
          String(Math.round(floor.rps)),
          `${(floor.rps / upsd.rps).toFixed(2)}×`,
          perRound(roundRatios.floor),
          [upsd, ours, floor].map((r) => r.serverCpuPerRequest.toFixed(1)).join(' / '),
          [upsd, ours, floor].map((r) => r.generatorCpuPerRequest.toFixed(1)).join(' / '),
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
        `Command: \`pnpm bench nut-server\` (\`NUT_BENCH_MS\` sets the measured window per round, default ${DEFAULT_MEASURE_MS};`,
        `\`NUT_BENCH_ROUNDS\` the rounds per cell, default ${DEFAULT_ROUNDS}). Needs nut-server, nut-client and a C compiler.`,
        '',
        `Machine: ${cpu.length} × ${cpu[0]?.model ?? 'CPU'}, Node ${process.version}, load average at start ` +
          `${loadavg()
            .map((l) => l.toFixed(2))
            .join(' ')} (shared with other work: figures are noisy).`,
        '',
        'Both servers serve the same UPS (the harness BX1600MI dummy, 32 variables) on loopback, each in',
        'its own process. A third, the Node floor (`bench/node-floor.ts`), is what any NUT server in Node',
        "costs before it does any work: NutServer's socket path with no protocol, answering every read",
        "with upsd's answer, fixed in advance. The load comes from `bench/loadgen.c`: closed-loop clients",
        'on one epoll loop, in C so that it needs less CPU per request than the servers (a Node load',
        'generator used a whole core and was the bottleneck).',
        `${ROUNDS} rounds per cell, the order rotating, each ${WARMUP_MS} ms warm-up then ${MEASURE_MS} ms measured;`,
        'throughput and latency (ms) pooled over the rounds. The per-round ratios show how much the',
        "machine's drift moves one comparison; their median is less swayed by one fast or slow round.",
        'upsd writes each line of a list with its own write() and without TCP_NODELAY, so its list',
        "answers wait for the client's delayed ACK (about 40 ms, Nagle).",
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
            'NutServer p99',
            'NutServer / upsd',
            'per round: median (range)',
            'Node floor req/s',
            'floor / upsd',
            'per round: median (range)',
            'server CPU µs/request, upsd / NutServer / floor',
            'load generator CPU µs/request, same order',
          ],
          ['left', ...Array<'right'>(14).fill('right')],
          rows,
        ),
        '',
      ].join('\n'),
    );
  } finally {
    for (const proc of children) proc.kill('SIGTERM');
    await lab.stop();
    dir.remove();
  }
}

await main();
