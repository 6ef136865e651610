// Agent benchmark: idle footprint while connected, and the time from a command's receipt to the
// power-action request with no hooks. The agent is the shipped bundle run as its systemd unit runs
// it; the controller (in this process, on loopback, PGlite, simulator streaming UPS state) is real.
//
//   pnpm bench agent            (BENCH_IDLE_SECONDS=600 by default; shorter for a quick look)
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { tempDir, waitFor } from '@blackstart/tests';
import { parseConfig } from '../../controller/src/config.ts';
import { startController } from '../../controller/src/controller.ts';
import { createLogger } from '../../controller/src/logger.ts';

const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 600);
const SAMPLE_MS = 5000;
const COMMANDS = Number(process.env.BENCH_COMMANDS ?? 200);
const SYSTEMD_PATH_RUNS = 10;
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());
const agentDir = resolve(import.meta.dirname, '..');
const bundle = join(agentDir, 'dist', 'blackstart-agent.mjs');
// The node flags deploy/agent/blackstart-agent.service starts the agent with (or BENCH_NODE_FLAGS).
const unitExecStart = /^ExecStart=\S+ (.*?) ?\S+\.mjs run$/m.exec(
  readFileSync(resolve(agentDir, '../../deploy/agent/blackstart-agent.service'), 'utf8'),
);
if (!unitExecStart) throw new Error('cannot read the node flags from blackstart-agent.service');
const NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? unitExecStart[1]!).split(' ').filter(Boolean);
// The runtime: this Node.js, or BENCH_NODE (e.g. the Node.js 24 shipped in the artifact).
const NODE = process.env.BENCH_NODE ?? process.execPath;
const nodeVersion = execFileSync(NODE, ['--version']).toString().trim();

const load = loadavg()
  .map((l) => l.toFixed(2))
  .join(' / ');
execFileSync(process.execPath, ['build.mjs'], { cwd: agentDir });
const work = tempDir('blackstart-agent-bench-');
delete process.env.DATABASE_URL;
delete process.env.REDIS_URL;
const controller = await startController(
  parseConfig(
    {
      server: { host: '127.0.0.1', port: 0 },
      dataDir: join(work.path, 'controller'),
      sources: [{ id: 'ups', type: 'simulator', interval: 2, load: 35, runtimeAtLoad: 3600, returnDelay: 2 }],
      plan: {
        ups: [{ id: 'ups', name: 'UPS', powerOff: { delay: 5, offFor: 2 } }],
        hosts: [
          {
            id: 'bench',
            name: 'bench',
            kind: 'agent',
            shutdown: { triggers: [{ type: 'on-battery', after: 3600 }], timeout: 60 },
          },
        ],
      },
    },
    {},
  ),
  createLogger({ level: 'error' }),
);

function startAgent(stateDir: string, env: Record<string, string> = {}) {
  return spawn(NODE, [...NODE_FLAGS, bundle, 'run'], {
    stdio: 'ignore',
    env: {
      PATH: process.env.PATH,
      BLACKSTART_CONTROLLER: controller.url,
      BLACKSTART_HOST: 'bench',
      BLACKSTART_STATE_DIR: stateDir,
      BLACKSTART_PIN: controller.identity.keys.kid,
      BLACKSTART_POWER_ACTION: 'dry-run',
      LOG_LEVEL: 'warn',
      ...env,
    },
  });
}

async function stopAgent(child: ReturnType<typeof spawn>) {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

async function enrolledAgent(stateDir: string, env: Record<string, string> = {}) {
  const { token } = await controller.agents.mintToken({ host: 'bench', ttlSeconds: 600, now: new Date() });
  const child = startAgent(
    stateDir,
    existsSync(join(stateDir, 'controller-key.json')) ? env : { ...env, BLACKSTART_TOKEN: token },
  );
  await waitFor(() => controller.hub.isConnected('bench'), {
    timeoutMs: 30_000,
    what: 'the agent to connect',
  });
  return child;
}

const cpuTicks = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]);
};
const statusKb = (pid: number, field: string) =>
  Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
const rssKb = (pid: number) => statusKb(pid, 'VmRSS');
const quantile = (xs: number[], q: number) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};

// ---- idle -----------------------------------------------------------------------------------
const stateDir = join(work.path, 'agent');
let agent = await enrolledAgent(stateDir);
await new Promise((r) => setTimeout(r, 10_000)); // settle after start-up
const pid = agent.pid!;
const rss: number[] = [];
const anon: number[] = [];
const ticks0 = cpuTicks(pid);
const t0 = performance.now();
while (performance.now() - t0 < IDLE_SECONDS * 1000) {
  rss.push(rssKb(pid));
  anon.push(statusKb(pid, 'RssAnon'));
  await new Promise((r) => setTimeout(r, SAMPLE_MS));
}
const cpuSeconds = (cpuTicks(pid) - ticks0) / CLK_TCK;
const idleSeconds = (performance.now() - t0) / 1000;
const stillConnected = controller.hub.isConnected('bench');

// ---- receipt → power-action request (dry-run) ---------------------------------------------
rmSync(join(stateDir, 'dry-run.jsonl'), { force: true });
const body = { action: 'shutdown' as const, outage: 'bench', reason: 'benchmark', hooks: [], powerOff: true };
for (let i = 0; i < COMMANDS; i++) {
  await controller.hub.sendCommand({ host: 'bench', id: `bench-${i}`, body, ttlSeconds: 60 });
  await waitFor(
    () =>
      existsSync(join(stateDir, 'dry-run.jsonl')) &&
      readFileSync(join(stateDir, 'dry-run.jsonl'), 'utf8').split('\n').length > i + 1,
    {
      timeoutMs: 10_000,
      intervalMs: 2,
      what: `command ${i}`,
    },
  );
}
const dryRun = readFileSync(join(stateDir, 'dry-run.jsonl'), 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l) as { receivedAt: number; requestedAt: number })
  .map((r) => r.requestedAt - r.receivedAt);
const rssAfter = rssKb(pid);
await stopAgent(agent);

// ---- receipt → power-action request (systemd-path: the request file) -----------------------
const systemdPath: number[] = [];
for (let i = 0; i < SYSTEMD_PATH_RUNS; i++) {
  const requestDir = join(work.path, `run-${i}`);
  agent = await enrolledAgent(stateDir, {
    BLACKSTART_POWER_ACTION: 'systemd-path',
    BLACKSTART_POWER_REQUEST_DIR: requestDir,
  });
  execFileSync('mkdir', ['-p', requestDir]);
  await controller.hub.sendCommand({ host: 'bench', id: `path-${i}`, body, ttlSeconds: 60 });
  const file = join(requestDir, 'poweroff-request');
  await waitFor(() => existsSync(file), { timeoutMs: 10_000, intervalMs: 2, what: 'the request file' });
  const request = JSON.parse(readFileSync(file, 'utf8')) as { receivedAt: number; requestedAt: number };
  systemdPath.push(request.requestedAt - request.receivedAt);
  await stopAgent(agent);
  await waitFor(() => !controller.hub.isConnected('bench'), { what: 'the agent to leave' });
}
await controller.close();
work.remove();

const ms = (x: number) => x.toFixed(2);
const mb = (kb: number) => (kb / 1024).toFixed(1);
const lines = [
  '## Agent: idle footprint and command receipt → power-action request',
  '',
  `Command: \`${process.env.BENCH_NODE ? 'BENCH_NODE=<artifact>/blackstart-agent/runtime/node ' : ''}pnpm bench agent\` — with \`BENCH_NODE\` the agent runs on the Node.js 24 runtime the artifact ships (\`node deploy/agent/build.mjs\`, then unpack the x64 tarball); without it, on the Node.js running the bench. \`--write\` refreshes this section; \`BENCH_IDLE_SECONDS\` shortens the idle period.`,
  '',
  `Machine: ${cpus().length} × ${cpus()[0]?.model.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, load average ${load} at the start — shared with other engineers' builds and tests, so figures are noisy upwards.`,
  '',
  `The agent is the shipped bundle (\`apps/agent/dist/blackstart-agent.mjs\`) on Node ${nodeVersion}, started as its systemd unit starts it (\`node ${NODE_FLAGS.join(' ')}\`), connected to a real controller on loopback whose simulator streams the UPS state every 2 s; the agent pings every 15 s (default heartbeat). RSS sampled from /proc every ${SAMPLE_MS / 1000} s; CPU from utime+stime.`,
  '',
  '| measurement | result | detail | goal |',
  '| --- | --- | --- | --- |',
  `| idle RSS, connected, ${Math.round(idleSeconds)} s | ${mb(quantile(rss, 0.5))} MB median | min ${mb(Math.min(...rss))} MB, max ${mb(Math.max(...rss))} MB over ${rss.length} samples; still connected at the end: ${stillConnected ? 'yes' : 'NO'} | ≤ 60 MB |`,
  `| idle private memory (RssAnon), connected | ${mb(quantile(anon, 0.5))} MB median | the rest of RSS is the runtime's shared, file-backed code pages | |`,
  `| idle CPU, connected, ${Math.round(idleSeconds)} s | ${((100 * cpuSeconds) / idleSeconds).toFixed(3)} % of one core | ${cpuSeconds.toFixed(2)} s CPU in ${Math.round(idleSeconds)} s | ≈ 0 |`,
  `| receipt → power-action request, dry-run, no hooks | ${ms(quantile(dryRun, 0.5))} ms median | p90 ${ms(quantile(dryRun, 0.9))} ms, p99 ${ms(quantile(dryRun, 0.99))} ms, max ${ms(Math.max(...dryRun))} ms over ${dryRun.length} commands (verify signature, remember id, acks, record) | |`,
  `| receipt → power-action request, systemd-path, no hooks | ${ms(quantile(systemdPath, 0.5))} ms median | max ${ms(Math.max(...systemdPath))} ms over ${systemdPath.length} fresh agents (first command after start: colder code) | |`,
  `| RSS after ${dryRun.length} commands | ${mb(rssAfter)} MB | | |`,
];
process.stdout.write(`${lines.join('\n')}\n`);
process.exit(0);
