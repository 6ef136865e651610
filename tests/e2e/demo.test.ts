import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { isolatedEnv } from '../harness/index.ts';

const root = resolve(import.meta.dirname, '..', '..');

function run(
  command: string,
  args: string[],
  cwd: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun) => {
    const child = spawn(command, args, {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: isolatedEnv({ LOG_LEVEL: 'error' }),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr });
    });
  });
}

/** Lines of the printed timeline as [offset seconds, who, what]. */
function timelineLines(stdout: string): Array<[number, string, string]> {
  return stdout
    .split('\n')
    .map((line) => /^\s+([+-])\s*([\d.]+) s {2}(\S*)\s+(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [(m[1] === '-' ? -1 : 1) * Number(m[2]), m[3]!, m[4]!]);
}

function assertDemoTimeline(stdout: string) {
  const lines = timelineLines(stdout);
  const index = (who: string, what: RegExp) => lines.findIndex(([, w, text]) => w === who && what.test(text));
  const appDown = index('app', /^powering off/);
  const nasTold = index('nas', /^told to shut down/);
  const hypervisorTold = index('hypervisor', /^told to shut down/);
  assert.ok(appDown >= 0 && nasTold >= 0 && hypervisorTold >= 0, `timeline incomplete:\n${stdout}`);
  assert.ok(appDown < nasTold, `app must be down before nas is told to shut down:\n${stdout}`);
  assert.ok(index('app', /^hook finished — stop services: ok/) >= 0, 'the app hook ran on the real agent');
  for (const host of ['app', 'hypervisor', 'nas']) {
    assert.ok(index(host, /^acknowledged the command$/) >= 0, `${host} acknowledged over the WebSocket`);
    assert.ok(index(host, /^down \(acknowledged\)$/) >= 0, `${host} down`);
  }
  const powerOff = index('ups', /^UPS told to power off/);
  assert.ok(powerOff > index('nas', /^down/), 'the UPS is powered off only after every host is down');
  assert.match(stdout, /outage ended: restored/);
  const woken = (host: string) => index(host, /^back up/);
  assert.ok(woken('nas') >= 0 && woken('nas') < woken('app'), 'restore brings nas back before app');
  assert.match(stdout, /Web UI: +http:\/\/127\.0\.0\.1:\d+\/ /);
  assert.match(
    stdout,
    /Timeline as JSON: http:\/\/127\.0\.0\.1:\d+\/api\/v1\/outages\/outage-[a-z0-9]+\/timeline/,
  );
}

describe('blackstart demo --once', () => {
  test('runs a simulated outage through three real agent processes and prints the timeline', async () => {
    const r = await run(
      process.execPath,
      [join(root, 'apps/controller/bin/blackstart.mjs'), 'demo', '--once', '--port', '0'],
      root,
    );
    assert.equal(r.code, 0, `demo failed:\n${r.stdout}\n${r.stderr}`);
    assertDemoTimeline(r.stdout);
  });

  test('the shipped bundle runs the same demo on its own, outside the workspace', async () => {
    execFileSync(process.execPath, ['build.mjs'], { cwd: join(root, 'apps/agent') });
    execFileSync(process.execPath, ['build.mjs'], { cwd: join(root, 'apps/controller') });
    const dir = mkdtempSync(join(tmpdir(), 'blackstart-bundle-'));
    try {
      cpSync(join(root, 'apps/controller/dist'), join(dir, 'dist'), { recursive: true });
      const r = await run(
        process.execPath,
        [join(dir, 'dist/blackstart.mjs'), 'demo', '--once', '--port', '0'],
        dir,
      );
      assert.equal(r.code, 0, `bundled demo failed:\n${r.stdout}\n${r.stderr}`);
      assertDemoTimeline(r.stdout);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
