import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

// The real `blackstart` binary, as a user runs it (TypeScript sources through tsx in the workspace).
const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(root, 'apps/controller/bin/blackstart.mjs');
const dir = mkdtempSync(join(tmpdir(), 'blackstart-plan-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function blackstart(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: root, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('blackstart plan', () => {
  test('check: a valid plan prints its critical path against the runtime and exits 0', async () => {
    const r = await blackstart('plan', 'check', 'docs/examples/home-server.yaml');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      'docs/examples/home-server.yaml: valid plan, 1 UPS, 1 host\n' +
        '  ups: this plan needs 45 s on its critical path (homeserver); at the current load (30 %) the runtime is 1500 s\n',
    );
    assert.equal(r.stderr, '');
  });

  test('check: errors go to stderr, addressed by path, exit 1', async () => {
    const cycle = file(
      'cycle.yaml',
      'ups: [{ id: ups }]\nhosts:\n  - { id: a, kind: agent, dependsOn: [b] }\n  - { id: b, kind: agent, dependsOn: [a] }\n',
    );
    const r = await blackstart('plan', 'check', cycle);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.equal(
      r.stderr,
      `blackstart plan check: ${cycle} is not a valid plan:\n  /hosts/1/dependsOn: dependency cycle: a → b → a\n`,
    );
  });

  test('check: a plan the battery cannot carry, exit 1; YAML syntax errors name the line', async () => {
    const tight = file(
      'tight.json',
      JSON.stringify({
        ups: [{ id: 'ups', battery: { load: 50, samples: [{ load: 50, runtime: 100 }] } }],
        hosts: [{ id: 'db', kind: 'agent', shutdown: { expectedDuration: 150 } }],
      }),
    );
    const r = await blackstart('plan', 'check', tight);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /does not fit its battery:\n {2}\/ups\/0: ups: this plan needs 150 s on its critical path \(db\); at the current load \(50 %\) the runtime is 100 s: the battery runs out 50 s before the last host is down\n$/,
    );
    const broken = file('broken.yaml', 'ups:\n  - id: ups\n hosts: [\n');
    const y = await blackstart('plan', 'check', broken);
    assert.equal(y.code, 1);
    assert.match(y.stderr, new RegExp(`^blackstart plan check: ${broken}:\\d+:\\d+: `));
    const missing = await blackstart('plan', 'check', join(dir, 'nope.yaml'));
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot read .*nope\.yaml: no such file/);
  });

  test('usage errors exit 2 with the usage', async () => {
    for (const args of [
      ['plan', 'frobnicate', 'x'],
      ['plan', 'simulate', 'p.yaml', '--load', 'lots'],
    ]) {
      const r = await blackstart(...args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, /usage: blackstart plan check <plan>/);
    }
  });

  test('simulate --json: the complete predicted timeline of an outage and its restore', async () => {
    const r = await blackstart(
      'plan',
      'simulate',
      'docs/examples/synology-lab.yaml',
      '--mains-back',
      '1800',
      '--json',
    );
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as {
      outages: Array<{ outcome: string }>;
      crashes: unknown[];
      timeline: Array<{ kind: string; action?: { type: string; host?: string } }>;
    };
    assert.deepEqual(
      result.outages.map((o) => o.outcome),
      ['restored'],
    );
    assert.deepEqual(result.crashes, []);
    const woken = result.timeline.filter((e) => e.action?.type === 'wake-host').map((e) => e.action!.host);
    assert.deepEqual(woken, ['nas', 'app1', 'app2', 'pve']);
  });

  test('simulate --scenario: a host that never acknowledges, in text; a host that loses power exits 1', async () => {
    const scenario = file(
      'scenario.yaml',
      'ups:\n  ups: { load: 30 }\nhosts:\n  homeserver: { acknowledges: false }\n',
    );
    const r = await blackstart('plan', 'simulate', 'docs/examples/home-server.yaml', '--scenario', scenario);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^Simulated outage for docs\/examples\/home-server\.yaml\n {2}ups: mains fails at 0:00, 25:00 of runtime at 30 % load\n/,
    );
    assert.match(r.stdout, /\n {4}5:00 {2}homeserver {2}shutdown sent \(controller, deadline \+3:00\)\n/);
    assert.match(r.stdout, /No host lost power before it was down\.\n$/);
    // Even at 190 % load the budget trigger starts early enough…
    const heavy = await blackstart('plan', 'simulate', 'docs/examples/home-server.yaml', '--load', '190');
    assert.equal(heavy.code, 0, heavy.stdout);
    // …but a host needing 150 s on a 100 s battery loses power.
    const tight = file(
      'tight.yaml',
      'ups:\n  - { id: ups, powerOff: { enabled: false }, battery: { load: 50, samples: [{ load: 50, runtime: 100 }] } }\n' +
        'hosts:\n  - { id: db, kind: agent, shutdown: { triggers: [{ type: budget }], expectedDuration: 150 } }\n',
    );
    const crash = await blackstart('plan', 'simulate', tight);
    assert.equal(crash.code, 1);
    assert.match(crash.stdout, /\n {4}1:40 {2}db {8}lost power\n/);
    assert.match(
      crash.stdout,
      /LOST POWER while running: db at 1:40\. This plan does not hold in this scenario\.\n$/,
    );
  });
});
