import { spawn } from 'node:child_process';
import type { Hook } from '@blackstart/agent-protocol';

export interface HookResult {
  ok: boolean;
  /** e.g. "exit 0 in 1.2 s", "timed out after 60 s" */
  summary: string;
  /** The last few KB of combined stdout and stderr. */
  output: string;
}

const OUTPUT_TAIL = 2048;

/** Runs one hook with its timeout; a hook that overruns is killed with its whole process group. */
export function runHook(hook: Hook, env: Record<string, string>): Promise<HookResult> {
  if (hook.type !== 'command') {
    return Promise.resolve({
      ok: false,
      summary: `hook type '${hook.type}' is not supported by this agent version`,
      output: '',
    });
  }
  const run = hook.run;
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', run], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-OUTPUT_TAIL);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, hook.timeout * 1000);
    const finish = (result: HookResult) => {
      clearTimeout(timer);
      resolve(result);
    };
    child.on('error', (error) => finish({ ok: false, summary: `could not start: ${error.message}`, output }));
    child.on('close', (code, signal) => {
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      if (timedOut) finish({ ok: false, summary: `timed out after ${hook.timeout} s`, output });
      else
        finish({
          ok: code === 0,
          summary: code === null ? `killed by ${signal} after ${seconds} s` : `exit ${code} in ${seconds} s`,
          output,
        });
    });
  });
}
