// NutServer vs real upsd 2.8.0 serving the same UPS, in the same run: requests/s and latency of
// GET VAR and LIST VAR at 1, 100 and 1000 concurrent clients (closed loop: each client sends its
// next request when the previous answer is complete). Both servers run in processes of their own;
// the load comes from this process.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findTool, NUT_LAB_TOOLS, NutLab, sleep, tempDir } from '../../../tests/harness/index.ts';
import { NutClient } from '../src/index.ts';
import { markdownTable } from './table.ts';

const CLIENTS = (process.env.NUT_BENCH_CLIENTS ?? '1,100,1000').split(',').map(Number);
const WARMUP_MS = 500;
const MEASURE_MS = Number(process.env.NUT_BENCH_MS ?? 3000);

const REQUESTS = {
  'GET VAR': { line: 'GET VAR ups ups.status\n', end: '\n' },
  'LIST VAR': { line: 'LIST VAR ups\n', end: 'END LIST VAR ups\n' },
} as const;
type RequestName = keyof typeof REQUESTS;

/** One closed-loop client on a raw socket (no client library in the measurement). */
class LoadClient {
  private buffer = '';
  private started = 0;
  latencies: number[] = [];
  recording = false;
  running = true;

  private constructor(
    private readonly socket: Socket,
    private readonly request: { line: string; end: string },
  ) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => this.onData(d));
    socket.on('error', () => {
      this.running = false;
    });
  }

  static open(port: number, request: { line: string; end: string }): Promise<LoadClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port }, () => resolve(new LoadClient(socket, request)));
      socket.setNoDelay(true);
      socket.once('error', reject);
    });
  }

  start(): void {
    this.send();
  }

  private send(): void {
    this.started = performance.now();
    this.socket.write(this.request.line);
  }

  private onData(data: string): void {
    this.buffer += data;
    if (!this.buffer.endsWith(this.request.end)) return;
    if (this.buffer.startsWith('ERR')) throw new Error(`server answered ${this.buffer}`);
    this.buffer = '';
    if (this.recording) this.latencies.push(performance.now() - this.started);
    if (this.running) this.send();
  }

  close(): void {
    this.running = false;
    this.socket.destroy();
  }
}

/** CPU time (user + system) a process has used, in ms; Linux accounts it in 10 ms clock ticks. */
function cpuMs(pid: number): number {
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

const percentile = (sorted: number[], p: number) =>
  sorted.length ? (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0) : 0;

async function measureOnce(server: { port: number; pid: number }, name: RequestName, clients: number) {
  const { port } = server;
  const load: LoadClient[] = [];
  // upsd listens with a backlog of 16: connect in small batches so no SYN is dropped.
  for (let i = 0; i < clients; i += 16) {
    const batch = Math.min(16, clients - i);
    load.push(
      ...(await Promise.all(Array.from({ length: batch }, () => LoadClient.open(port, REQUESTS[name])))),
    );
  }
  for (const c of load) c.start();
  await sleep(WARMUP_MS);
  for (const c of load) c.recording = true;
  const t0 = performance.now();
  const cpu0 = cpuMs(server.pid);
  await sleep(MEASURE_MS);
  const cpu = cpuMs(server.pid) - cpu0;
  const elapsed = performance.now() - t0;
  for (const c of load) c.recording = false;
  const latencies = load.flatMap((c) => c.latencies);
  for (const c of load) c.close();
  await sleep(200);
  return { latencies, elapsed, cpu };
}

/**
 * Measures both servers for one cell in two rounds, alternating which goes first (the machine is
 * shared and its load drifts), pooling the samples of both rounds.
 */
async function measure(
  servers: Record<'upsd' | 'ours', { port: number; pid: number }>,
  name: RequestName,
  clients: number,
) {
  const pooled = {
    upsd: { latencies: [] as number[], elapsed: 0, cpu: 0 },
    ours: { latencies: [] as number[], elapsed: 0, cpu: 0 },
  };
  for (const order of [['upsd', 'ours'] as const, ['ours', 'upsd'] as const]) {
    for (const target of order) {
      const r = await measureOnce(servers[target], name, clients);
      pooled[target].latencies = pooled[target].latencies.concat(r.latencies);
      pooled[target].elapsed += r.elapsed;
      pooled[target].cpu += r.cpu;
    }
  }
  const summary = ({ latencies, elapsed, cpu }: { latencies: number[]; elapsed: number; cpu: number }) => {
    const sorted = latencies.sort((a, b) => a - b);
    return {
      rps: sorted.length / (elapsed / 1000),
      /** The server process's CPU time per answered request, µs. */
      cpuPerRequest: (cpu * 1000) / Math.max(1, sorted.length),
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
    };
  };
  return { upsd: summary(pooled.upsd), ours: summary(pooled.ours) };
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

    const rows: string[][] = [];
    const names = (process.env.NUT_BENCH_REQUESTS?.split(',') ?? Object.keys(REQUESTS)) as RequestName[];
    for (const name of names) {
      for (const clients of CLIENTS) {
        const { upsd, ours } = await measure(
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
          `${upsd.cpuPerRequest.toFixed(1)} / ${ours.cpuPerRequest.toFixed(1)}`,
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
        'Command: `pnpm bench nut-server` (`NUT_BENCH_MS` sets the measured window per cell, default 3000).',
        '',
        `Machine: ${cpu.length} × ${cpu[0]?.model ?? 'CPU'}, Node ${process.version}, load average at start ` +
          `${loadavg()
            .map((l) => l.toFixed(2))
            .join(' ')} (shared with other work: figures are noisy).`,
        '',
        'Both servers serve the same UPS (the harness BX1600MI dummy, 32 variables) on loopback, each in',
        'its own process; closed-loop raw-socket clients in one process; ' +
          `two rounds per cell in alternating order, each ${WARMUP_MS} ms warm-up then ${MEASURE_MS} ms measured; ` +
          'latency in ms over both rounds. upsd writes each line of a list with its own write() and',
        "without TCP_NODELAY, so its list answers wait for the client's delayed ACK (about 40 ms, Nagle).",
        "Server CPU: the server process's user + system time over the measured windows (from /proc, in",
        '10 ms ticks) per answered request. On a machine with two cores the load-generating process',
        'needs one of them, so throughput is bounded by it as much as by the server.',
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
          ].concat('NutServer p99', 'throughput ratio', 'server CPU µs/request, upsd / ours'),
          ['left', ...Array<'right'>(9).fill('right')],
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
