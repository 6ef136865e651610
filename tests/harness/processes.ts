import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { appendFileSync, openSync } from 'node:fs';

/**
 * Child processes started by the harness. Every PID is recorded; `killAll` and the process exit
 * hook kill exactly those, so a failed test never leaves daemons behind.
 */
const live = new Map<number, { name: string; child: ChildProcess }>();

process.once('exit', () => {
  for (const pid of live.keys()) killGroup(pid, 'SIGKILL');
});
// A test process stopped by a signal (a timeout, Ctrl-C) skips 'exit' hooks: clean up, then die
// of the same signal.
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.once(signal, () => {
    for (const pid of live.keys()) killGroup(pid, 'SIGKILL');
    process.kill(process.pid, signal);
  });
}

export interface Spawned {
  name: string;
  pid: number;
  child: ChildProcess;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Spawns a process in its own process group (so its children die with it), logging stdout and
 * stderr to `logFile` when given. `pidFile` records the PID for tear-down by other processes.
 * `background` servers live until the test process exits.
 */
export function spawnTracked(
  name: string,
  command: string,
  args: string[],
  options: SpawnOptions & { logFile?: string; pidFile?: string; background?: boolean } = {},
): Spawned {
  const { logFile, pidFile, background, ...spawnOptions } = options;
  const out = logFile ? openSync(logFile, 'a') : 'ignore';
  const child = spawn(command, args, { stdio: ['ignore', out, out], detached: true, ...spawnOptions });
  if (child.pid === undefined) throw new Error(`could not start ${name} (${command})`);
  const pid = child.pid;
  // Servers shared by a whole test file must not keep its process alive; the exit hook kills them.
  if (background) child.unref();
  live.set(pid, { name, child });
  if (pidFile) appendFileSync(pidFile, `${pid} ${name}\n`);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      live.delete(pid);
      resolve(code);
    });
  });
  return {
    name,
    pid,
    child,
    exited,
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (!live.has(pid)) return;
      killGroup(pid, signal);
      const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

export async function killAll(): Promise<void> {
  await Promise.all(
    [...live.keys()].map(async (pid) => {
      const entry = live.get(pid);
      if (!entry) return;
      killGroup(pid, 'SIGTERM');
      await new Promise((resolve) => {
        const timer = setTimeout(() => {
          killGroup(pid, 'SIGKILL');
          resolve(undefined);
        }, 3000);
        entry.child.once('exit', () => {
          clearTimeout(timer);
          resolve(undefined);
        });
      });
    }),
  );
}
