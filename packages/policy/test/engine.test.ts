import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  ACKNOWLEDGED,
  HostTableDraft,
  idleTable,
  POWERING_OFF,
  RELEASED,
  readRun,
  UNVERIFIED,
  WAKING,
} from '../src/host-table.ts';
import {
  budgetTable,
  compilePlan,
  type EngineAction,
  type EngineEvent,
  type EngineState,
  type HostRun,
  hostRuns,
  initialState,
  learnedDurations,
  learnedInPlanOrder,
  nextWakeAt,
  prepare,
  step,
  upgradeState,
} from '../src/index.ts';
import { Driver, plan, reading } from './driver.ts';

const OB = reading('OB DISCHRG', { charge: 90, runtime: 1200 });
const OL = reading('OL', { charge: 100, runtime: 3000 });

/** app needs nas; hypervisor stands alone; the controller's host goes last. */
const lab = plan({
  ups: [{ id: 'ups', powerOff: { delay: 30 } }],
  hosts: [
    {
      id: 'app',
      kind: 'agent',
      dependsOn: ['nas'],
      shutdown: { triggers: [{ type: 'on-battery', after: 10 }] },
    },
    { id: 'hypervisor', kind: 'agent', shutdown: { triggers: [{ type: 'on-battery', after: 10 }] } },
    { id: 'nas', kind: 'agent', shutdown: { triggers: [{ type: 'on-battery', after: 10 }] } },
    { id: 'ctl', kind: 'controller' },
  ],
  settings: { debounce: 5 },
  restore: { mainsStableFor: 60, minCharge: 50 },
});

describe('staged shutdown', () => {
  test('dependents go first, the UPS is powered off once all are down, the controller last', () => {
    const d = new Driver(lab).set('ups', OB).until(60_000);
    assert.deepEqual(d.actions('outage-started'), [
      [5000, { type: 'outage-started', outage: 'outage-3uw', sources: ['ups'] }],
    ]);
    assert.deepEqual(d.hosts('shutdown-host'), [
      [10_000, 'app'],
      [10_000, 'hypervisor'],
      [12_000, 'nas'],
      [14_000, 'ctl'],
    ]);
    assert.deepEqual(
      d.hosts('host-down').map(([t, h]) => `${t / 1000}:${h}`),
      ['12:app', '12:hypervisor', '14:nas', '16:ctl'],
    );
    const powerOff = d.actions('power-off-ups');
    assert.deepEqual(powerOff, [
      [14_000, { type: 'power-off-ups', outage: 'outage-3uw', source: 'ups', delaySeconds: 30 }],
    ]);
    // The controller's host is told to go right after the UPS power-off, never before.
    const types = d.types();
    assert.ok(types.indexOf('power-off-ups') < types.lastIndexOf('shutdown-host'));
    const [, ctl] = d.actions('shutdown-host').at(-1)!;
    assert.equal(ctl.kind, 'controller');
    assert.equal(ctl.reason, 'last host: ups powering off');
  });

  test('a host going down pulls down the hosts that depend on it, whatever their own triggers', () => {
    const p = plan({
      ups: [{ id: 'ups' }],
      hosts: [
        { id: 'app', kind: 'agent', dependsOn: ['nas'], shutdown: { triggers: [{ type: 'low-battery' }] } },
        { id: 'nas', kind: 'nut-client', shutdown: { triggers: [{ type: 'on-battery', after: 30 }] } },
      ],
    });
    const d = new Driver(p).set('ups', OB).until(60_000);
    assert.deepEqual(
      d.actions('host-triggered').map(([t, a]) => [t, a.host, a.trigger]),
      [
        [30_000, 'nas', 'ups on battery for 30 s'],
        [30_000, 'app', "must go down before 'nas'"],
      ],
    );
    assert.deepEqual(
      d.actions('shutdown-host').map(([t, a]) => [t, a.host, a.kind]),
      [
        [30_000, 'app', 'agent'],
        [32_000, 'nas', 'nut-client'],
      ],
    );
  });

  test('wake-only hosts are never commanded, and hosts behind them still go first', () => {
    // app uses a storage VM (wake-only, it dies with its hypervisor) that runs on hv.
    const p = plan({
      ups: [{ id: 'ups', powerOff: { enabled: false } }],
      hosts: [
        {
          id: 'app',
          kind: 'agent',
          dependsOn: ['vm'],
          shutdown: { triggers: [{ type: 'on-battery', after: 20 }] },
        },
        { id: 'vm', kind: 'wake-only', dependsOn: ['hv'] },
        { id: 'hv', kind: 'agent', shutdown: { triggers: [{ type: 'on-battery', after: 10 }] } },
      ],
    });
    const d = new Driver(p, { ackMs: 5000 }).set('ups', OB).until(60_000);
    assert.deepEqual(d.hosts('shutdown-host'), [
      [10_000, 'app'],
      [15_000, 'hv'],
    ]);
    assert.ok(!d.hosts('host-triggered').some(([, h]) => h === 'vm'));
  });

  test('a host on redundant supplies goes down only when fewer than its minimum remain', () => {
    const p = plan({
      ups: [
        { id: 'a', powerOff: { enabled: false } },
        { id: 'b', powerOff: { enabled: false } },
      ],
      hosts: [
        { id: 'server', kind: 'agent', supplies: ['a', 'b'], minSupplies: 1 },
        { id: 'single', kind: 'agent', supplies: ['a'] },
      ],
      settings: { defaultTriggers: [{ type: 'on-battery', after: 30 }] },
    });
    const d = new Driver(p).set('a', OB).set('b', OL).until(120_000);
    assert.deepEqual(d.hosts('shutdown-host'), [[30_000, 'single']]);
    d.set('b', OB).until(200_000);
    assert.deepEqual(
      d.actions('source-joined').map(([t, a]) => [t, a.source]),
      [[125_000, 'b']],
    );
    // b's own 30 s on battery: 120 s + 30 s.
    assert.deepEqual(d.hosts('shutdown-host'), [
      [30_000, 'single'],
      [150_000, 'server'],
    ]);
  });

  test('group triggers apply to members that list none; their own triggers win', () => {
    const p = plan({
      ups: [{ id: 'ups' }],
      groups: [{ id: 'early', triggers: [{ type: 'on-battery', after: 15 }] }],
      hosts: [
        { id: 'a', kind: 'agent', group: 'early' },
        {
          id: 'b',
          kind: 'agent',
          group: 'early',
          shutdown: { triggers: [{ type: 'on-battery', after: 40 }] },
        },
        { id: 'c', kind: 'agent' },
      ],
      settings: { defaultTriggers: [{ type: 'on-battery', after: 60 }] },
    });
    const d = new Driver(p).set('ups', OB).until(100_000);
    assert.deepEqual(d.hosts('host-triggered'), [
      [15_000, 'a'],
      [40_000, 'b'],
      [60_000, 'c'],
    ]);
  });
});

describe('triggers', () => {
  const single = (trigger: unknown) =>
    plan({ ups: [{ id: 'ups' }], hosts: [{ id: 'h', kind: 'agent', shutdown: { triggers: [trigger] } }] });

  for (const [trigger, fire, description] of [
    [{ type: 'charge-below', percent: 50 }, reading('OB DISCHRG', { charge: 50 }), 'ups charge ≤ 50 %'],
    [{ type: 'runtime-below', seconds: 300 }, reading('OB DISCHRG', { runtime: 299 }), 'ups runtime ≤ 300 s'],
    [{ type: 'low-battery' }, reading('OB DISCHRG LB'), 'ups low battery'],
  ] as const) {
    test(`${trigger.type} fires on the reading that crosses it, not before`, () => {
      const d = new Driver(single(trigger))
        .set('ups', reading('OB DISCHRG', { charge: 80, runtime: 900 }))
        .until(30_000);
      assert.deepEqual(d.hosts('host-triggered'), []);
      d.set('ups', fire);
      assert.deepEqual(
        d.actions('host-triggered').map(([t, a]) => [t, a.trigger]),
        [[30_000, description]],
      );
    });
  }

  test('FSD shuts down everything on that UPS at once, on line or not, without debounce', () => {
    const p = plan({ ups: [{ id: 'ups' }], hosts: [{ id: 'h', kind: 'agent' }] });
    const d = new Driver(p).set('ups', OL).until(10_000).set('ups', reading('OL FSD'));
    assert.deepEqual(
      d.actions('host-triggered').map(([t, a]) => [t, a.trigger]),
      [[10_000, 'ups forced shutdown (FSD)']],
    );
    assert.deepEqual(d.hosts('shutdown-host'), [[10_000, 'h']]);
  });

  test('communication lost while on battery fires after its delay; silence counts as lost', () => {
    const p = plan({
      ups: [{ id: 'ups' }],
      hosts: [{ id: 'h', kind: 'agent', shutdown: { triggers: [{ type: 'comm-lost', after: 60 }] } }],
      settings: { staleAfter: 20 },
    });
    const explicit = new Driver(p).set('ups', OB).until(10_000).lose('ups').until(200_000);
    assert.deepEqual(
      explicit.actions('host-triggered').map(([t, a]) => [t, a.trigger]),
      [[70_000, 'ups lost for 60 s while on battery']],
    );
    // No error, just no more readings after 10 s: stale at 30 s, fires at 90 s.
    const silent = new Driver(p).set('ups', OB).until(10_000).silence('ups').until(200_000);
    assert.deepEqual(silent.hosts('host-triggered'), [[90_000, 'h']]);
  });

  test('budget fires at the latest moment that still fits the hosts waiting for it, plus the margin', () => {
    const p = plan({
      ups: [{ id: 'ups', powerOff: { enabled: false } }],
      hosts: [
        {
          id: 'app',
          kind: 'agent',
          dependsOn: ['db'],
          shutdown: { triggers: [{ type: 'budget' }], expectedDuration: 30 },
        },
        {
          id: 'db',
          kind: 'agent',
          dependsOn: ['nas'],
          shutdown: { triggers: [{ type: 'budget' }], expectedDuration: 60 },
        },
        {
          id: 'nas',
          kind: 'agent',
          shutdown: { triggers: [{ type: 'budget', margin: 20 }], expectedDuration: 100 },
        },
      ],
      settings: { budget: { margin: 50 } },
    });
    // The UPS reports 1000 s at t = 0 and counts down in real time; no charge, so only the reported runtime counts.
    const d = new Driver(p, { pollMs: 0, ackMs: 1000 });
    for (let t = 0; t <= 1000_000; t += 10_000)
      d.at(t, { type: 'reading', source: 'ups', reading: reading('OB', { runtime: 1000 - t / 1000 }) });
    d.until(1000_000);
    // app: 30 + 60 + 100 = 190 s needed + 50 s margin → fires when runtime ≤ 240 s, at 760 s.
    // db: 60 + 100 + 50 → at 790 s. nas: 100 + 20 → at 880 s. Each starts as late as it safely can.
    assert.deepEqual(
      d.actions('host-triggered').map(([t, a]) => [t, a.host]),
      [
        [760_000, 'app'],
        [790_000, 'db'],
        [880_000, 'nas'],
      ],
    );
    const [, first] = d.actions('host-triggered')[0]!;
    assert.equal(first.trigger, 'budget: ups has ~240 s of runtime left; 190 s needed + 50 s margin');
    assert.deepEqual(d.hosts('shutdown-host'), [
      [760_000, 'app'],
      [790_000, 'db'],
      [880_000, 'nas'],
    ]);
  });

  test('budget fires between readings: runtime counts down in real time', () => {
    const p = plan({
      ups: [{ id: 'ups' }],
      hosts: [
        {
          id: 'h',
          kind: 'agent',
          shutdown: { triggers: [{ type: 'budget', margin: 0 }], expectedDuration: 100 },
        },
      ],
      settings: { staleAfter: 600 },
    });
    const d = new Driver(p, { pollMs: 0 }).set('ups', reading('OB', { runtime: 400 })).until(1000_000);
    assert.deepEqual(d.hosts('host-triggered'), [[300_000, 'h']]);
  });

  test('budget uses learned durations (p95 of past runs) when none is configured', () => {
    const p = plan({
      ups: [{ id: 'ups' }],
      hosts: [
        { id: 'h', kind: 'agent', shutdown: { triggers: [{ type: 'budget', margin: 0 }], timeout: 600 } },
      ],
      settings: { staleAfter: 2000 },
    });
    const run = (history?: Record<string, number[]>) =>
      new Driver(p, { pollMs: 0, ...(history && { history }) })
        .set('ups', reading('OB', { runtime: 1000 }))
        .until(2000_000)
        .hosts('host-triggered');
    // Without history: the 600 s timeout. With 20 runs of 10..200 s: p95 = 190 s.
    assert.deepEqual(run(), [[400_000, 'h']]);
    assert.deepEqual(run({ h: Array.from({ length: 20 }, (_, i) => (i + 1) * 10) }), [[810_000, 'h']]);
  });

  test('budget order: the hosts needing the most time first, ties in plan order', () => {
    // 300 hosts, durations from few values so that many thresholds tie; some learned (fractional).
    const hosts = Array.from({ length: 300 }, (_, i) => ({
      id: `h${i}`,
      kind: 'agent',
      ...(i % 7 === 3 && { dependsOn: [`h${i - 1}`] }),
      shutdown: {
        triggers: [{ type: 'budget', margin: i % 2 === 0 ? 10 : 25 }],
        ...(i % 5 !== 0 && { expectedDuration: ((i * 37) % 4) * 15 }),
      },
    }));
    const history = Object.fromEntries(
      Array.from({ length: 60 }, (_, k) => [`h${k * 5}`, [k % 3, 12.5, (k % 4) * 0.3]]),
    );
    const p = plan({ ups: [{ id: 'ups' }], hosts });
    const table = budgetTable(compilePlan(p), learnedInPlanOrder(p, history));
    const c = compilePlan(p);
    assert.equal(table.order.length, 2);
    for (const [k, order] of table.order.entries()) {
      const members = c.classes[k]!.hosts;
      const expected = [...members].sort((a, b) => table.threshold[b]! - table.threshold[a]! || a - b);
      assert.deepEqual(order, expected);
      assert.ok(new Set(order.map((h) => table.threshold[h])).size < members.length, 'thresholds tie');
    }
  });

  test('the engine learns shutdown durations from acknowledged runs', () => {
    const d = new Driver(lab, { ackMs: 7000 }).set('ups', OB).until(60_000).set('ups', OL).until(400_000);
    assert.equal(d.actions('outage-ended').length, 0);
    // Restore has not finished (no health): the durations are merged when the outage ends.
    const ended = new Driver(lab, { ackMs: 7000, bootMs: 1000 })
      .set('ups', OB)
      .until(60_000)
      .set('ups', OL)
      .until(400_000);
    assert.equal(ended.actions('outage-ended')[0]?.[1].outcome, 'restored');
    assert.deepEqual(learnedDurations(ended.state), { app: [7], hypervisor: [7], nas: [7], ctl: [7] });
  });

  test('a host and a UPS may be called `constructor`, like a property every object inherits', () => {
    const p = plan({
      ups: [
        { id: 'constructor', powerOff: { delay: 30 } },
        { id: 'other', powerOff: { delay: 30 } },
      ],
      hosts: [
        // A budget trigger looks up the learned durations by host id: there are none yet.
        {
          id: 'constructor',
          kind: 'agent',
          supplies: ['constructor'],
          shutdown: { triggers: [{ type: 'budget' }] },
        },
        {
          id: 'web',
          kind: 'agent',
          supplies: ['other'],
          shutdown: { triggers: [{ type: 'on-battery', after: 10 }] },
        },
      ],
      settings: { debounce: 5 },
      restore: { mainsStableFor: 60, minCharge: 50 },
    });
    const d = new Driver(p, { ackMs: 7000, bootMs: 1000 })
      .set('constructor', OL)
      .set('other', OB)
      .until(60_000)
      .set('other', OL)
      .until(400_000);
    assert.deepEqual(d.actions('outage-started')[0]?.[1].sources, ['other']);
    assert.deepEqual(
      d.hosts('shutdown-host').map(([, h]) => h),
      ['web'],
    );
    assert.deepEqual(
      d.actions('power-off-ups').map(([, a]) => a.source),
      ['other'],
    );
    assert.equal(d.actions('outage-ended')[0]?.[1].outcome, 'restored');
    assert.deepEqual(learnedDurations(d.state), { web: [7] });
  });

  test('budget estimates runtime from the depletion rate when the UPS reports none', () => {
    const p = plan({
      ups: [{ id: 'ups' }],
      hosts: [
        {
          id: 'h',
          kind: 'agent',
          shutdown: { triggers: [{ type: 'budget', margin: 0 }], expectedDuration: 100 },
        },
      ],
      settings: { budget: { reserveCharge: 10 } },
    });
    const d = new Driver(p, { pollMs: 0 });
    // 1 % every 10 s: at charge c, (c − 10) × 10 s are left; 100 s needed → fires at charge 20, t = 800 s.
    for (let t = 0; t <= 1000_000; t += 10_000)
      d.at(t, { type: 'reading', source: 'ups', reading: reading('OB', { charge: 100 - t / 10_000 }) });
    d.until(1000_000);
    assert.deepEqual(d.hosts('host-triggered'), [[800_000, 'h']]);
  });
});

describe('deadlines and fallback', () => {
  test('a host that never acknowledges is treated as down at its deadline (proceed)', () => {
    const p = plan({
      ups: [{ id: 'ups', powerOff: { delay: 10 } }],
      hosts: [
        {
          id: 'app',
          kind: 'agent',
          dependsOn: ['nas'],
          shutdown: { triggers: [{ type: 'on-battery', after: 10 }], timeout: 60 },
        },
        { id: 'nas', kind: 'agent', shutdown: { triggers: [{ type: 'on-battery', after: 10 }] } },
      ],
    });
    const d = new Driver(p, { ackMs: { app: 'never' } }).set('ups', OB).until(200_000);
    assert.deepEqual(
      d.actions('host-down').map(([t, a]) => [t, a.host, a.how]),
      [
        [70_000, 'app', 'deadline-passed'],
        [72_000, 'nas', 'acknowledged'],
      ],
    );
    assert.deepEqual(d.hosts('shutdown-host'), [
      [10_000, 'app'],
      [70_000, 'nas'],
    ]);
    assert.deepEqual(
      d.actions('power-off-ups').map(([t]) => t),
      [72_000],
    );
  });

  test('hold: hosts wait past a dependent’s deadline until low battery, or its late acknowledgement', () => {
    const p = plan({
      ups: [{ id: 'ups', powerOff: { enabled: false } }],
      hosts: [
        {
          id: 'app',
          kind: 'agent',
          dependsOn: ['nas'],
          shutdown: { triggers: [{ type: 'on-battery', after: 10 }], timeout: 60, fallback: 'hold' },
        },
        { id: 'nas', kind: 'agent', shutdown: { triggers: [{ type: 'on-battery', after: 10 }] } },
      ],
    });
    const lowBattery = new Driver(p, { ackMs: { app: 'never' } }).set('ups', OB).until(100_000);
    assert.deepEqual(lowBattery.hosts('shutdown-host'), [[10_000, 'app']]);
    lowBattery.set('ups', reading('OB DISCHRG LB')).until(120_000);
    assert.deepEqual(lowBattery.hosts('shutdown-host'), [
      [10_000, 'app'],
      [100_000, 'nas'],
    ]);
    const late = new Driver(p, { ackMs: { app: 'never' } }).set('ups', OB).until(90_000);
    late.send({
      type: 'host-progress',
      host: 'app',
      commandId: late.actions('shutdown-host')[0]![1].commandId,
      step: 'powering-off',
    });
    assert.deepEqual(late.hosts('shutdown-host'), [
      [10_000, 'app'],
      [90_000, 'nas'],
    ]);
  });

  test('acknowledgements out of order, duplicated, or for unknown commands change nothing', () => {
    const d = new Driver(lab, { ackMs: { app: 'never', hypervisor: 'never', nas: 'never', ctl: 'never' } })
      .set('ups', OB)
      .until(10_000);
    const [, app] = d.actions('shutdown-host').find(([, a]) => a.host === 'app')!;
    d.send({ type: 'host-progress', host: 'app', commandId: 'outage-x:app:shutdown', step: 'powering-off' });
    d.send({ type: 'host-progress', host: 'nope', commandId: app.commandId, step: 'powering-off' });
    assert.equal(d.actions('host-down').length, 0);
    d.send({ type: 'host-progress', host: 'app', commandId: app.commandId, step: 'powering-off' });
    d.send({ type: 'host-progress', host: 'app', commandId: app.commandId, step: 'received' });
    d.send({ type: 'host-progress', host: 'app', commandId: app.commandId, step: 'powering-off' });
    assert.deepEqual(d.hosts('host-down'), [[10_000, 'app']]);
    assert.deepEqual(d.hosts('shutdown-host'), [
      [10_000, 'app'],
      [10_000, 'hypervisor'],
      [10_000, 'nas'],
    ]);
  });
});

describe('false triggers', () => {
  test('an on-battery blip shorter than the debounce', () => {
    const d = new Driver(lab).set('ups', OB).until(4000).set('ups', OL).until(600_000);
    assert.deepEqual(d.log, []);
  });

  test('a self-test and a calibration', () => {
    const d = new Driver(lab)
      .set('ups', reading('OB DISCHRG', { charge: 95, test: 'In progress' }))
      .until(120_000)
      .set('ups', reading('OB DISCHRG CAL', { charge: 80 }))
      .until(600_000);
    assert.deepEqual(d.log, []);
  });

  test('communication lost or stale data while on mains', () => {
    const d = new Driver(lab).set('ups', OL).until(10_000).lose('ups').until(600_000);
    assert.deepEqual(d.log, []);
    const stale = new Driver(lab).set('ups', OL).until(10_000).silence('ups').until(600_000);
    assert.deepEqual(stale.log, []);
  });

  test('a spurious LB (or runtime/charge crossing) while on line', () => {
    const p = plan({
      ups: [{ id: 'ups' }],
      hosts: [
        {
          id: 'h',
          kind: 'agent',
          shutdown: { triggers: [{ type: 'low-battery' }, { type: 'charge-below', percent: 50 }] },
        },
      ],
    });
    const d = new Driver(p).set('ups', reading('OL LB', { charge: 10 })).until(600_000);
    assert.deepEqual(d.log, []);
  });
});

describe('mains back', () => {
  test('before any shutdown: pending steps are cancelled and the outage ends as averted', () => {
    const d = new Driver(lab).set('ups', OB).until(8000).set('ups', OL).until(60_000);
    assert.deepEqual(d.types(), ['outage-started', 'mains-returned', 'outage-ended']);
    assert.deepEqual(d.log.at(-1), [
      18_000,
      { type: 'outage-ended', outage: 'outage-3uw', outcome: 'averted' },
    ]);
  });

  test('a short return of mains (flapping) neither cancels nor restarts the on-battery clock', () => {
    const p = plan({
      ups: [{ id: 'ups' }],
      hosts: [{ id: 'h', kind: 'agent', shutdown: { triggers: [{ type: 'on-battery', after: 60 }] } }],
      settings: { mainsBackAfter: 10 },
    });
    const d = new Driver(p).set('ups', OB);
    for (let t = 20_000; t < 60_000; t += 10_000)
      d.until(t)
        .set('ups', OL)
        .until(t + 4000)
        .set('ups', OB);
    d.until(200_000);
    // Mains kept coming back for 4 s at a time: the host still goes at 60 s of this outage.
    assert.deepEqual(d.types().slice(0, 3), ['outage-started', 'host-triggered', 'shutdown-host']);
    assert.deepEqual(d.hosts('shutdown-host'), [[60_000, 'h']]);
  });

  test('triggered hosts are cancelled; a host waiting for a cancelled one stays up with it', () => {
    const p = plan({
      ups: [{ id: 'ups', powerOff: { delay: 20 } }],
      hosts: [
        {
          id: 'app',
          kind: 'agent',
          dependsOn: ['nas'],
          shutdown: { triggers: [{ type: 'on-battery', after: 10 }] },
        },
        { id: 'nas', kind: 'agent', shutdown: { triggers: [{ type: 'on-battery', after: 10 }] } },
      ],
      restore: { mainsStableFor: 30, minCharge: 0 },
    });
    // app takes 40 s; mains is back at 20 s while nas still waits for app.
    const d = new Driver(p, { ackMs: 40_000, bootMs: 5000 })
      .set('ups', OB)
      .until(20_000)
      .set('ups', OL)
      .until(300_000);
    assert.deepEqual(d.types(), [
      'outage-started',
      'host-triggered',
      'host-triggered',
      'shutdown-host',
      'mains-returned',
      'host-cancelled',
      'host-down',
      'restore-started',
      'wake-host',
      'host-up',
      'outage-ended',
    ]);
    assert.deepEqual(d.hosts('host-cancelled'), [[30_000, 'nas']]);
    // nas is still running, so the UPS is not power-cycled: app comes back by its wake-up.
    assert.deepEqual(d.actions('power-off-ups'), []);
    assert.deepEqual(d.hosts('wake-host'), [[50_000, 'app']]);
  });

  test('power race: hosts already going down complete, then the UPS is power-cycled before the restore', () => {
    const p = plan({
      ups: [{ id: 'ups', powerOff: { delay: 20 } }],
      hosts: [
        {
          id: 'app',
          kind: 'agent',
          dependsOn: ['nas'],
          shutdown: { triggers: [{ type: 'on-battery', after: 10 }] },
        },
        { id: 'nas', kind: 'agent', shutdown: { triggers: [{ type: 'on-battery', after: 10 }] } },
      ],
      restore: { mainsStableFor: 30, minCharge: 0 },
    });
    // nas is commanded at 15 s and takes 40 s; mains is back at 20 s, confirmed at 30 s.
    const d = new Driver(p, { ackMs: { app: 5000, nas: 40_000 }, bootMs: 5000 })
      .set('ups', OB)
      .until(20_000)
      .set('ups', OL)
      .until(300_000);
    assert.deepEqual(d.hosts('shutdown-host'), [
      [10_000, 'app'],
      [15_000, 'nas'],
    ]);
    assert.deepEqual(
      d.actions('mains-returned').map(([t]) => t),
      [30_000],
    );
    assert.deepEqual(d.actions('host-cancelled'), []);
    // Both are down at 55 s: the UPS cycles its output (cut at 75 s) so that everything restarts…
    assert.deepEqual(
      d.actions('power-off-ups').map(([t]) => t),
      [55_000],
    );
    // …and the restore waits until the output has been off for `offFor` (10 s) before switching
    // it on and waking anyone.
    assert.deepEqual(
      d.actions('restore-started').map(([t]) => t),
      [85_000],
    );
    assert.deepEqual(d.hosts('wake-host'), [
      [85_000, 'nas'],
      [90_000, 'app'],
    ]);
    assert.deepEqual(d.log.at(-1), [
      95_000,
      { type: 'outage-ended', outage: 'outage-3uw', outcome: 'restored' },
    ]);
  });

  test('a host that was cancelled keeps its UPS from being power-cycled; the others are woken instead', () => {
    const p = plan({
      ups: [{ id: 'ups' }],
      hosts: [
        {
          id: 'early',
          kind: 'agent',
          shutdown: { triggers: [{ type: 'on-battery', after: 10 }] },
          wake: { method: 'wol', mac: '00:11:22:33:44:55' },
        },
        { id: 'late', kind: 'agent', shutdown: { triggers: [{ type: 'on-battery', after: 300 }] } },
      ],
      restore: { mainsStableFor: 30, minCharge: 0 },
    });
    const d = new Driver(p, { bootMs: 5000 }).set('ups', OB).until(30_000).set('ups', OL).until(200_000);
    assert.deepEqual(d.actions('power-off-ups'), []);
    assert.deepEqual(d.hosts('wake-host'), [[60_000, 'early']]);
    assert.deepEqual(
      d.actions('outage-ended').map(([, a]) => a.outcome),
      ['restored'],
    );
  });

  test('point of no return "powering-off": commanded hosts get a cancel command', () => {
    const p = plan({
      ups: [{ id: 'ups' }],
      hosts: [
        { id: 'a', kind: 'agent', shutdown: { triggers: [{ type: 'on-battery', after: 10 }] } },
        { id: 'b', kind: 'agent', shutdown: { triggers: [{ type: 'on-battery', after: 10 }] } },
      ],
      settings: { pointOfNoReturn: 'powering-off' },
    });
    const d = new Driver(p, { ackMs: 'never' }).set('ups', OB).until(15_000).set('ups', OL).until(25_000);
    const cancels = d.actions('cancel-shutdown');
    assert.deepEqual(
      cancels.map(([t, a]) => [t, a.host, a.ref, a.commandId]),
      [
        [25_000, 'a', 'outage-3uw:a:shutdown', 'outage-3uw:a:cancel'],
        [25_000, 'b', 'outage-3uw:b:shutdown', 'outage-3uw:b:cancel'],
      ],
    );
    // a confirms the cancel; b had already started powering off and wins the race.
    d.send({ type: 'host-progress', host: 'a', commandId: 'outage-3uw:a:cancel', step: 'cancelled' });
    d.send({ type: 'host-progress', host: 'b', commandId: 'outage-3uw:b:shutdown', step: 'powering-off' });
    assert.deepEqual(d.hosts('host-cancelled'), [[25_000, 'a']]);
    assert.deepEqual(d.hosts('host-down'), [[25_000, 'b']]);
  });

  test('point of no return "triggered": a triggered host still goes down after mains returns', () => {
    const p = plan({
      ups: [{ id: 'ups', powerOff: { enabled: false } }],
      hosts: [
        {
          id: 'app',
          kind: 'agent',
          dependsOn: ['nas'],
          shutdown: { triggers: [{ type: 'on-battery', after: 100 }] },
        },
        {
          id: 'nas',
          kind: 'agent',
          shutdown: { triggers: [{ type: 'on-battery', after: 10 }], pointOfNoReturn: 'triggered' },
        },
      ],
    });
    const d = new Driver(p, { ackMs: 30_000 }).set('ups', OB).until(20_000).set('ups', OL).until(200_000);
    assert.deepEqual(d.hosts('host-cancelled'), []);
    assert.deepEqual(d.hosts('shutdown-host'), [
      [10_000, 'app'],
      [40_000, 'nas'],
    ]);
  });
});

describe('restore', () => {
  test('waits for mains stable and charge, switches the UPS on, wakes in dependency order with health waits', () => {
    const d = new Driver(lab, { bootMs: 30_000 })
      .set('ups', OB)
      .until(60_000)
      .set('ups', reading('OL CHRG', { charge: 40 }))
      .until(200_000);
    assert.deepEqual(
      d.types().filter((t) => t.startsWith('restore') || t === 'wake-host'),
      [],
    );
    d.set('ups', reading('OL CHRG', { charge: 55 })).until(400_000);
    assert.deepEqual(
      d.actions('restore-started').map(([t]) => t),
      [200_000],
    );
    assert.deepEqual(
      d.actions('ups-output-on').map(([t, a]) => [t, a.source]),
      [[200_000, 'ups']],
    );
    assert.deepEqual(d.hosts('wake-host'), [
      [200_000, 'hypervisor'],
      [200_000, 'nas'],
      [230_000, 'app'],
    ]);
    assert.deepEqual(
      d.actions('host-up').map(([t, a]) => [t, a.host, a.how]),
      [
        [70_000, 'ctl', 'controller'],
        [230_000, 'hypervisor', 'healthy'],
        [230_000, 'nas', 'healthy'],
        [260_000, 'app', 'healthy'],
      ],
    );
    assert.deepEqual(d.log.at(-1), [
      260_000,
      { type: 'outage-ended', outage: 'outage-3uw', outcome: 'restored' },
    ]);
  });

  test('a host that does not come back is retried, then failed; its dependents follow the policy', () => {
    const base = {
      ups: [{ id: 'ups', powerOff: { enabled: false } }],
      hosts: [
        {
          id: 'app',
          kind: 'agent',
          dependsOn: ['nas'],
          shutdown: { triggers: [{ type: 'on-battery', after: 10 }] },
        },
        {
          id: 'nas',
          kind: 'agent',
          shutdown: { triggers: [{ type: 'on-battery', after: 10 }] },
          wake: { method: 'wol', mac: '00:11:22:33:44:55', timeout: 60, retries: 2 },
        },
      ],
    };
    const run = (onWakeFailure: string) =>
      new Driver(plan({ ...base, restore: { mainsStableFor: 10, minCharge: 0, onWakeFailure } }), {
        bootMs: { nas: 'never', app: 5000 },
      })
        .set('ups', OB)
        .until(60_000)
        .set('ups', OL)
        .until(1000_000);
    const cont = run('continue');
    assert.deepEqual(
      cont.actions('wake-host').map(([t, a]) => [t, a.host, a.attempt]),
      [
        [70_000, 'nas', 1],
        [130_000, 'nas', 2],
        [190_000, 'nas', 3],
        [250_000, 'app', 1],
      ],
    );
    assert.deepEqual(
      cont.actions('host-wake-failed').map(([t, a]) => [t, a.host, a.attempts]),
      [[250_000, 'nas', 3]],
    );
    assert.deepEqual(
      cont.actions('outage-ended').map(([t, a]) => [t, a.outcome]),
      [[255_000, 'partially-restored']],
    );
    const skip = run('skip-dependents');
    assert.deepEqual(
      skip.hosts('wake-host').map(([, h]) => h),
      ['nas', 'nas', 'nas'],
    );
    assert.deepEqual(
      skip.actions('host-restore-skipped').map(([t, a]) => [t, a.host, a.reason]),
      [[250_000, 'app', "'nas' did not come back"]],
    );
  });

  test('a relay host is up before the host it wakes; hosts back on their own are not woken', () => {
    const p = plan({
      ups: [{ id: 'ups', powerOff: { enabled: false } }],
      hosts: [
        { id: 'relay', kind: 'agent', shutdown: { triggers: [{ type: 'on-battery', after: 10 }] } },
        {
          id: 'far',
          kind: 'agent',
          shutdown: { triggers: [{ type: 'on-battery', after: 10 }] },
          wake: { method: 'relay', via: 'relay', mac: '00:11:22:33:44:55' },
        },
        { id: 'self', kind: 'agent', shutdown: { triggers: [{ type: 'on-battery', after: 10 }] } },
      ],
      restore: { mainsStableFor: 60, minCharge: 0 },
    });
    const d = new Driver(p, { bootMs: 20_000 }).set('ups', OB).until(30_000).set('ups', OL).until(50_000);
    d.send({ type: 'host-healthy', host: 'self' }).until(400_000);
    assert.deepEqual(
      d.actions('wake-host').map(([t, a]) => [t, a.host, a.method, a.via]),
      [
        [90_000, 'relay', 'power-on', undefined],
        [110_000, 'far', 'relay', 'relay'],
      ],
    );
    assert.deepEqual(
      d.actions('host-up').map(([t, a]) => [t, a.host]),
      [
        [50_000, 'self'],
        [110_000, 'relay'],
        [130_000, 'far'],
      ],
    );
  });

  test('hosts without a health check count as up once woken; wake method none leaves a host off', () => {
    const p = plan({
      ups: [{ id: 'ups', powerOff: { enabled: false } }],
      hosts: [
        {
          id: 'printer',
          kind: 'agent',
          dependsOn: ['switch'],
          shutdown: { triggers: [{ type: 'on-battery', after: 10 }] },
          wake: { method: 'none' },
        },
        {
          id: 'switch',
          kind: 'agent',
          shutdown: { triggers: [{ type: 'on-battery', after: 10 }] },
          wake: { method: 'wol', mac: '00:11:22:33:44:55', health: { type: 'none' } },
        },
      ],
      restore: { mainsStableFor: 10, minCharge: 0 },
    });
    const d = new Driver(p).set('ups', OB).until(30_000).set('ups', OL).until(100_000);
    assert.deepEqual(d.types().slice(-5), [
      'restore-started',
      'wake-host',
      'host-up',
      'host-restore-skipped',
      'outage-ended',
    ]);
    assert.equal(d.actions('host-up')[0]![1].how, 'unchecked');
    assert.equal(d.actions('outage-ended')[0]![1].outcome, 'restored');
  });

  test('a new outage during restore re-enters shutdown: woken hosts go down again, the rest stay down', () => {
    const d = new Driver(lab, { bootMs: { nas: 30_000, hypervisor: 30_000, app: 'never' } })
      .set('ups', OB)
      .until(60_000)
      .set('ups', OL)
      .until(240_000);
    // nas and hypervisor are up, app is being woken.
    assert.deepEqual(
      d.hosts('host-up').map(([, h]) => h),
      ['ctl', 'hypervisor', 'nas'],
    );
    d.set('ups', OB).until(400_000);
    const outages = d.actions('outage-started').map(([t, a]) => [t, a.outage]);
    assert.deepEqual(outages, [
      [5000, 'outage-3uw'],
      [245_000, 'outage-591k'],
    ]);
    assert.deepEqual(
      d.actions('outage-ended').map(([t, a]) => [t, a.outcome]),
      [[245_000, 'superseded']],
    );
    // In the new outage app (being woken) is commanded again, first, then nas and hypervisor; each once.
    const second = d
      .actions('shutdown-host')
      .filter(([, a]) => a.outage === 'outage-591k')
      .map(([t, a]) => [t, a.host]);
    assert.deepEqual(second, [
      [250_000, 'app'],
      [250_000, 'hypervisor'],
      [252_000, 'nas'],
      [254_000, 'ctl'],
    ]);
  });
});

describe('persistence', () => {
  /** On battery for 30 s, then mains back until every host is restored. */
  const outageAndRestore = (d: Driver) =>
    d
      .set('ups', OB)
      .until(30_000)
      .set('ups', OL)
      .until(20_000 + 60_000 * 5);

  test('a host run read from the table reports every field (a new field of HostRun fails to compile here until it is listed)', () => {
    const t = new HostTableDraft(idleTable(3, () => 0));
    const h = 1;
    t.phase.set(h, WAKING);
    t.waitFor.set(h, 1);
    t.held.set(h, 1);
    t.trigger.set(h, 'ups on battery for 10 s');
    t.triggeredAt.set(h, 1);
    t.command.set(h, 'outage-1');
    t.commandedAt.set(h, 2);
    t.deadline.set(h, 3);
    t.lastStep.set(h, POWERING_OFF);
    t.downAt.set(h, 4);
    t.how.set(h, ACKNOWLEDGED);
    t.flags.set(h, RELEASED | UNVERIFIED);
    t.cancel.set(h, 'outage-1');
    t.wakeAttempt.set(h, 1);
    t.wakeDeadline.set(h, 5);
    t.upAt.set(h, 6);
    const table = t.finish();
    const expected: Required<HostRun> = {
      phase: 'waking',
      waitFor: 1,
      held: 1,
      trigger: 'ups on battery for 10 s',
      triggeredAt: 1,
      commandId: 'outage-1:app:shutdown',
      commandedAt: 2,
      deadline: 3,
      lastStep: 'powering-off',
      downAt: 4,
      how: 'acknowledged',
      released: true,
      cancelId: 'outage-1:app:cancel',
      wakeId: 'outage-2:app:wake:1',
      wakeAttempt: 1,
      wakeDeadline: 5,
      upAt: 6,
      unverified: true,
    };
    assert.deepEqual(readRun(table, h, 'app', 'outage-2'), expected);
    assert.deepEqual(readRun(table, 0, 'other', 'outage-2'), { phase: 'idle', waitFor: 0 });
    // The table is plain JSON.
    assert.deepEqual(readRun(JSON.parse(JSON.stringify(table)), h, 'app', 'outage-2'), expected);
  });

  test('a state journaled by the previous version (runs as objects, history by id) carries on as that version did', () => {
    // Written by the engine of commit c1b4acf, mid-outage (a host down, one commanded under the
    // hold fallback, one waiting for it): its state, the events that followed and its answers.
    const legacy = JSON.parse(
      readFileSync(new URL('fixtures/legacy-state.json', import.meta.url), 'utf8'),
    ) as {
      state: EngineState & { outage: { hosts: { chunks: HostRun[][] } } };
      after: Array<{ at: number; event: EngineEvent }>;
      answers: EngineAction[][];
    };
    const upgraded = upgradeState(legacy.state);
    assert.deepEqual(learnedDurations(upgraded), { app: [12, 14], db: [40], nas: [25] });
    assert.deepEqual([...hostRuns(upgraded).values()], legacy.state.outage.hosts.chunks.flat());
    assert.equal(upgradeState(upgraded), upgraded, 'a current state is left as it is');
    let state = upgraded;
    const answers = legacy.after.map(({ at, event }) => {
      const r = step(state, event, at);
      state = r.state;
      return r.actions;
    });
    assert.deepEqual(answers, legacy.answers);
    assert.ok(legacy.answers.flat().some((a) => a.type === 'outage-ended'));
  });

  test('a restart (JSON round trip) at every step of an outage changes nothing', () => {
    const straight = outageAndRestore(new Driver(lab, { bootMs: 20_000 }));
    const restarting = new Driver(lab, { bootMs: 20_000 });
    const send = restarting.send.bind(restarting);
    restarting.send = (event) => send(event).restart();
    outageAndRestore(restarting);
    assert.deepEqual(restarting.log, straight.log);
    assert.deepEqual(restarting.state, JSON.parse(JSON.stringify(straight.state)));
    assert.equal(straight.actions('outage-ended')[0]?.[1].outcome, 'restored');
  });

  test('prepare changes nothing: its rehearsal leaves the state as it was, and outages run the same after it', () => {
    const secondOutage = (d: Driver) => d.set('ups', OB).until(20_000 + 60_000 * 12);
    const plain = secondOutage(outageAndRestore(new Driver(lab, { bootMs: 20_000 })));
    const prepared = new Driver(lab, { bootMs: 20_000 });
    const prepareUnchanged = () => {
      assert.equal(prepared.state.outage, undefined);
      const before = JSON.stringify(prepared.state);
      prepare(prepared.state);
      assert.equal(JSON.stringify(prepared.state), before);
    };
    prepareUnchanged();
    outageAndRestore(prepared);
    prepareUnchanged();
    secondOutage(prepared);
    assert.deepEqual(prepared.log, plain.log);
    assert.equal(plain.actions('outage-ended').length, 1);
    assert.ok(plain.actions('shutdown-host').length > 3);
  });

  test('nextWakeAt always lies after the last step, and a tick there is never a no-op forever', () => {
    let state: EngineState = initialState(lab);
    state = step(state, { type: 'reading', source: 'ups', reading: OB }, 0).state;
    const seen: number[] = [];
    for (let wake = nextWakeAt(state); wake !== undefined && seen.length < 100; wake = nextWakeAt(state)) {
      assert.ok(wake > state.clock);
      seen.push(wake);
      state = step(state, { type: 'tick' }, wake).state;
    }
    // Debounce end, the triggers (hosts, then the controller's default 120 s), the deadlines of
    // app and hypervisor, of nas, and of the controller's host (nobody acknowledges); then nothing.
    assert.deepEqual(seen, [5000, 10_000, 120_000, 190_000, 370_000, 550_000]);
  });

  test('engine time never goes backwards, nor breaks on a bad clock or a malformed reading', () => {
    const a = step(initialState(lab), { type: 'reading', source: 'ups', reading: OB }, 10_000);
    assert.equal(step(a.state, { type: 'tick' }, 5000).state.clock, 10_000);
    assert.equal(step(a.state, { type: 'tick' }, Number.NaN).state.clock, 10_000);
    const junk = { status: 'OB' } as unknown as typeof OB;
    const c = step(a.state, { type: 'reading', source: 'ups', reading: junk }, 11_000);
    assert.deepEqual(c.state.sources, a.state.sources);
    assert.deepEqual(step(a.state, { type: 'reading', source: 'nope', reading: OB }, 11_000).actions, []);
  });
});
