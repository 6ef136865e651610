/**
 * Fan-out to many real agents (acknowledgements applied in batches), a drill through the API, and
 * replacing the plan over the API (validated, versioned, held back while an outage runs).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { learnedDurations } from '@blackstart/policy';
import { waitFor } from '@blackstart/tests';
import type { DrillReport } from '../src/drill/drill.ts';
import { Journal } from '../src/runtime/journal.ts';
import type { SimulatorSource } from '../src/sources/simulator.ts';
import { startTestController, type TestController } from './helpers.ts';

const WORKERS = Array.from({ length: 16 }, (_, i) => `w${String(i + 1).padStart(2, '0')}`);

const plan = {
  ups: [{ id: 'ups', powerOff: { delay: 1, offFor: 1 } }],
  hosts: [
    {
      id: 'web',
      kind: 'agent',
      dependsOn: ['db'],
      shutdown: { hooks: [{ type: 'command', name: 'drain', run: 'sleep 0.4', timeout: 10 }], timeout: 30 },
    },
    { id: 'db', kind: 'agent', shutdown: { timeout: 30 } },
    ...WORKERS.map((id) => ({ id, kind: 'agent', shutdown: { timeout: 30 } })),
  ],
  settings: { debounce: 1, mainsBackAfter: 1, defaultTriggers: [{ type: 'on-battery', after: 1 }] },
  restore: { mainsStableFor: 1, minCharge: 0 },
};

describe('operations', () => {
  let t: TestController;
  let sim: SimulatorSource;

  before(async () => {
    t = await startTestController({
      sources: [{ id: 'ups', type: 'simulator', interval: 0.2, returnDelay: 0 }],
      plan,
    });
    sim = t.controller.sources.get('ups') as SimulatorSource;
    await Promise.all(['web', 'db', ...WORKERS].map((h) => t.agent(h)));
  });
  after(() => t?.close());

  /** Fails mains, brings it back once the UPS is told to power off, and resolves with the outage. */
  async function outage(): Promise<{ outage: string; outcome: string }> {
    const { runtime } = t.controller;
    const ended = new Promise<{ outage: string; outcome: string }>((resolve) =>
      runtime.once('outage-ended', resolve),
    );
    const onAction = (a: { type: string }) => {
      if (a.type === 'power-off-ups') setTimeout(() => sim.setMains(true), 1500);
    };
    runtime.on('action', onAction);
    sim.setMains(false);
    try {
      return await ended;
    } finally {
      runtime.off('action', onAction);
    }
  }

  test('a fan-out: every agent commanded in one step, their acknowledgements applied in batches', async () => {
    const { outage: id, outcome } = await outage();
    assert.equal(outcome, 'restored');
    const timeline = await t.timeline(id);
    const commanded = timeline.events.filter((e) => e.kind === 'shutdown-host');
    assert.equal(commanded.length, WORKERS.length + 2);
    // db and the workers went in the first wave, web's dependency db only after web was down.
    const first = commanded.filter((e) => e.at === commanded[0]!.at).map((e) => e.host);
    assert.deepEqual(first.sort(), ['web', ...WORKERS].sort());
    for (const host of ['web', 'db', ...WORKERS]) {
      assert.equal(
        timeline.events.filter(
          (e) => e.kind === 'host-down' && e.host === host && e.data.how === 'acknowledged',
        ).length,
        1,
        `${host} down once, acknowledged`,
      );
      assert.equal(t.dryRuns(host).length, 1, `${host} powered off once (dry-run)`);
    }
    const journal = Journal.open(join(t.dir, 'controller', 'journal'));
    try {
      const batched = journal.read().filter((r) => r.kind === 'event' && (r.batch ?? 1) > 1);
      assert.ok(batched.length > 0, 'acknowledgements arriving together were applied in one step');
    } finally {
      journal.close();
    }
  });

  test('a drill runs the plan with every power action held back, times each host and feeds the planner', async () => {
    const before = Object.fromEntries(['web', 'db'].map((h) => [h, t.dryRuns(h).length]));
    const historyBefore = learnedDurations(t.controller.runtime.engineState).web?.length ?? 0;
    const started = await t.api<DrillReport>('POST', '/api/v1/drills', {});
    assert.equal(started.status, 202);
    assert.equal((await t.api('POST', '/api/v1/drills', {})).status, 409, 'one drill at a time');
    const report = await waitFor(
      async () => {
        const r = await t.api<DrillReport>('GET', `/api/v1/drills/${started.body.id}`);
        return r.body.status !== 'running' ? r.body : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: 'the drill to finish' },
    );
    assert.equal(report.status, 'completed', JSON.stringify(report, null, 2));
    const web = report.hosts.find((h) => h.host === 'web')!;
    const db = report.hosts.find((h) => h.host === 'db')!;
    assert.equal(web.how, 'acknowledged');
    // Simulated time skipped straight to the trigger (debounce 1 s, on battery for 1 s), no further.
    assert.ok(
      web.triggeredAfter !== undefined && web.triggeredAfter <= 2,
      `triggered after ${web.triggeredAfter} s`,
    );
    assert.ok(
      web.seconds !== undefined && web.seconds >= 0.4,
      `web's drain hook took its time: ${web.seconds}`,
    );
    assert.ok(web.steps.some((s) => s.step === 'hook-finished' && s.hook === 'drain'));
    assert.match(
      web.steps.find((s) => s.step === 'powering-off')?.detail ?? '',
      /drill: power action skipped/,
    );
    assert.ok(Date.parse(web.downAt!) <= Date.parse(db.commandedAt!), 'the drill keeps the dependency order');
    assert.equal(report.learned.web, web.seconds);
    assert.equal(report.ups[0]?.powerOff?.startsWith('would be powered off'), true);
    // Nothing was powered off, and the planner learned the measured durations.
    for (const h of ['web', 'db']) assert.equal(t.dryRuns(h).length, before[h], `${h} did not power off`);
    const history = learnedDurations(t.controller.runtime.engineState).web ?? [];
    assert.equal(history.length, historyBefore + 1);
    assert.equal(history.at(-1), web.seconds);
    assert.equal(t.controller.runtime.engineState.outage, undefined, 'the live engine never saw an outage');
    const listed = await t.api<{ drills: DrillReport[] }>('GET', '/api/v1/drills');
    assert.equal(listed.body.drills[0]?.id, report.id);
  });

  test('the plan is replaced over the API: validated, versioned, and held back while an outage runs', async () => {
    const current = await t.api<{ version: number; origin: string }>('GET', '/api/v1/plan');
    assert.deepEqual([current.body.version, current.body.origin], [1, 'file']);

    const invalid = await t.api<{ errors: Array<{ path: string }> }>('PUT', '/api/v1/plan', {
      ...plan,
      hosts: [{ id: 'web', kind: 'agent', dependsOn: ['nope'] }],
    });
    assert.equal(invalid.status, 400);
    assert.deepEqual(
      invalid.body.errors.map((e) => e.path),
      ['/hosts/0/dependsOn/0'],
    );
    const misfit = await t.api<{ errors: Array<{ path: string; message: string }> }>('PUT', '/api/v1/plan', {
      ...plan,
      ups: [{ id: 'other' }],
    });
    assert.deepEqual(misfit.body.errors, [
      { path: '/ups/0/id', message: "no source with id 'other' in /sources" },
    ]);

    const slower = {
      ...plan,
      hosts: plan.hosts.map((h) => ({ ...h, shutdown: { ...h.shutdown, timeout: 45 } })),
    };
    const replaced = await t.api<{ version: number; applied: boolean }>('PUT', '/api/v1/plan', slower);
    assert.deepEqual(replaced.body, { version: 2, applied: true });
    assert.equal(t.controller.runtime.plan.hosts[0]?.shutdown.timeout, 45);

    // During an outage the running plan stays; the new one applies when the outage ends.
    const running = outage();
    await waitFor(() => t.controller.runtime.engineState.outage, { what: 'the outage to start' });
    const during = await t.api<{ version: number; applied: boolean; message: string }>(
      'PUT',
      '/api/v1/plan',
      plan,
    );
    assert.deepEqual([during.body.version, during.body.applied], [3, false]);
    assert.equal(t.controller.runtime.plan.hosts[0]?.shutdown.timeout, 45);
    await running;
    assert.equal(t.controller.runtime.plan.hosts[0]?.shutdown.timeout, 30);

    await t.controller.flusher.whenFlushed();
    const versions = await t.api<{
      versions: Array<{ version: number; origin: string; author: string | null }>;
    }>('GET', '/api/v1/plan/versions');
    assert.deepEqual(
      versions.body.versions.map((v) => [v.version, v.origin, v.author]),
      [
        [3, 'api', 'token:test'],
        [2, 'api', 'token:test'],
        [1, 'file', null],
      ],
    );
    const second = await t.api<{ plan: { hosts: Array<{ shutdown: { timeout: number } }> } }>(
      'GET',
      '/api/v1/plan/versions/2',
    );
    assert.equal(second.body.plan.hosts[0]?.shutdown.timeout, 45);
  });

  test('blackstart drill runs one from the command line and prints each host', async () => {
    const bin = resolve(import.meta.dirname, '../bin/blackstart.mjs');
    const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
        execFile(
          process.execPath,
          [bin, 'drill', ...args],
          { timeout: 60_000, env: { ...process.env, ...env } },
          (error, stdout, stderr) => done({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
        );
      });
    const missing = await run(['--url', t.controller.url], { BLACKSTART_API_TOKEN: '' });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /an admin API token is needed/);
    const r = await run(['--url', t.controller.url], { BLACKSTART_API_TOKEN: t.token });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Drill drill-[a-z0-9]+: completed \(plan version \d+\)/);
    assert.match(r.stdout, /^ {2}web +\+ +\d+ s {2}shut down in [\d.]+ s — ups on battery for 1 s$/m);
    assert.match(r.stdout, /Learned for the budget: .*web [\d.]+ s/);
  });
});
