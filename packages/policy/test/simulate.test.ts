import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  checkFeasibility,
  DEFAULT_EXPONENT,
  fitBatteryModel,
  outageScenario,
  runtimeAt,
  type SimulationResult,
  simulate,
  validateScenario,
} from '../src/index.ts';
import { plan } from './driver.ts';

/** What happened, as `seconds kind subject` lines: easy to read in a failing assertion. */
function story(r: SimulationResult, types?: string[]): string[] {
  return r.timeline
    .filter((e) => !types || types.includes(e.kind === 'action' ? e.action.type : e.event.type))
    .map((e) => {
      const x = (e.kind === 'action' ? e.action : e.event) as {
        type: string;
        host?: string;
        ups?: string;
        source?: string;
      };
      return `${Math.round(e.at)} ${x.type}${x.host ? ` ${x.host}` : ''}${x.ups ? ` ${x.ups}` : ''}${x.source ? ` ${x.source}` : ''}`;
    });
}

function scenario(p: ReturnType<typeof plan>, input: unknown) {
  const v = validateScenario(input, p);
  if (!v.ok) throw new Error(JSON.stringify(v.errors));
  return v.scenario;
}

describe('battery model', () => {
  test('recovers runtime = k · load^-exponent from readings, scaling partial charges to full', () => {
    const truth = { k: 200_000, exponent: 1.4 };
    const at = (load: number) => truth.k * load ** -truth.exponent;
    const model = fitBatteryModel([
      { load: 20, runtime: at(20) },
      { load: 50, runtime: at(50) * 0.5, charge: 50 },
      { load: 80, runtime: at(80) },
    ])!;
    assert.ok(Math.abs(model.exponent - 1.4) < 1e-9);
    assert.ok(Math.abs(runtimeAt(model, 35) - at(35)) < 1e-6);
    assert.deepEqual(model.loads, [20, 80]);
  });

  test('one load only: the typical exponent; no usable sample: no model', () => {
    const model = fitBatteryModel([{ load: 40, runtime: 900 }])!;
    assert.equal(model.exponent, DEFAULT_EXPONENT);
    assert.ok(Math.abs(runtimeAt(model, 40) - 900) < 1e-9);
    assert.equal(fitBatteryModel([]), undefined);
    assert.equal(fitBatteryModel([{ load: 40, runtime: 900, charge: 2 }]), undefined);
  });
});

const lab = plan({
  ups: [
    {
      id: 'ups',
      powerOff: { delay: 30 },
      battery: {
        load: 40,
        samples: [
          { load: 40, runtime: 900 },
          { load: 80, runtime: 360 },
        ],
      },
    },
  ],
  hosts: [
    {
      id: 'app',
      kind: 'agent',
      dependsOn: ['nas'],
      shutdown: { triggers: [{ type: 'budget' }], expectedDuration: 60 },
      wake: { method: 'wol', mac: '00:11:22:33:44:01' },
    },
    {
      id: 'nas',
      kind: 'nut-client',
      shutdown: { triggers: [{ type: 'budget' }], expectedDuration: 120 },
      wake: { method: 'wol', mac: '00:11:22:33:44:02' },
    },
    {
      id: 'ctl',
      kind: 'controller',
      shutdown: { triggers: [{ type: 'low-battery' }], expectedDuration: 20 },
    },
  ],
  restore: { mainsStableFor: 60, minCharge: 20 },
});

describe('feasibility', () => {
  test('states the critical path against the runtime at the current load', () => {
    const report = checkFeasibility(lab);
    assert.equal(report.ok, true);
    assert.deepEqual(
      report.ups.map((u) => u.message),
      [
        'ups: this plan needs 200 s on its critical path (app → nas → ctl); at the current load (40 %) the runtime is 900 s',
      ],
    );
    assert.deepEqual(report.errors, []);
  });

  test('flags a plan the battery cannot carry, late triggers, and a UPS delay shorter than the controller’s halt', () => {
    const p = plan({
      ups: [
        { id: 'ups', powerOff: { delay: 10 }, battery: { load: 80, samples: [{ load: 80, runtime: 200 }] } },
      ],
      hosts: [
        {
          id: 'vm',
          kind: 'agent',
          dependsOn: ['hv'],
          shutdown: { triggers: [{ type: 'on-battery', after: 120 }], expectedDuration: 90 },
        },
        { id: 'hv', kind: 'agent', shutdown: { expectedDuration: 100 } },
        { id: 'ctl', kind: 'controller', shutdown: { expectedDuration: 30 } },
      ],
    });
    const report = checkFeasibility(p);
    assert.equal(report.ok, false);
    assert.deepEqual(report.errors, [
      {
        path: '/ups/0',
        message:
          'ups: this plan needs 220 s on its critical path (vm → hv → ctl); at the current load (80 %) the runtime is 200 s: the battery runs out 20 s before the last host is down',
      },
    ]);
    assert.deepEqual(report.warnings, [
      {
        path: '/hosts/0/shutdown/triggers',
        message:
          "'vm' starts at ~120 s on battery (on ups) and then needs 220 s with the hosts waiting for it, but the runtime is 200 s",
      },
      {
        path: '/hosts/1/shutdown/triggers',
        message:
          "'hv' starts at ~120 s on battery (on ups) and then needs 130 s with the hosts waiting for it, but the runtime is 200 s",
      },
      {
        path: '/ups/0/powerOff/delay',
        message:
          "ups cuts its load 10 s after the power-off command, but the controller’s host 'ctl' needs ~30 s to halt",
      },
    ]);
    // A live runtime reading overrides the model; learned durations replace the pessimistic timeouts.
    assert.equal(checkFeasibility(p, { runtime: { ups: 600 } }).ok, true);
    const unknown = checkFeasibility(plan({ ups: [{ id: 'ups' }], hosts: [{ id: 'a', kind: 'agent' }] }));
    assert.deepEqual(unknown.ups[0]?.feasible, undefined);
    assert.match(unknown.ups[0]!.message, /needs 180 s .*; the runtime is unknown/);
  });
});

describe('simulate', () => {
  test('a whole outage: budget shutdown in order, power-off, controller offline, return, ordered restore', () => {
    const r = simulate(lab, outageScenario(lab, { mainsBackAfter: 1200 }));
    assert.deepEqual(r.crashes, []);
    assert.deepEqual(
      r.outages.map((o) => o.outcome),
      ['restored'],
    );
    assert.deepEqual(
      story(r, [
        'shutdown-host',
        'host-down',
        'power-off-ups',
        'controller-offline',
        'controller-online',
        'wake-host',
        'host-up',
        'outage-ended',
      ]).map((l) => l.replace(/^\d+ /, '')),
      [
        'shutdown-host app',
        'host-down app',
        'shutdown-host nas',
        'host-down nas',
        'power-off-ups ups',
        'shutdown-host ctl',
        'host-down ctl',
        'controller-offline',
        'controller-online',
        'host-up ctl',
        'wake-host nas',
        'host-up nas',
        'wake-host app',
        'host-up app',
        'outage-ended',
      ],
    );
    // The budget leaves the margin: the last host is down well before the battery would run out.
    const [ups] = r.ups;
    assert.ok(ups!.lowestCharge > 5, `lowest charge ${ups!.lowestCharge}`);
    assert.equal(ups!.depletedAt, undefined);
  });

  test('same plan and scenario, same prediction', () => {
    const s = outageScenario(lab, { mainsBackAfter: 600 });
    assert.deepStrictEqual(simulate(lab, s).timeline, simulate(lab, s).timeline);
  });

  test('a plan that does not fit the battery: the hosts that lose power are reported', () => {
    const p = plan({
      ups: [
        {
          id: 'ups',
          powerOff: { enabled: false },
          battery: { load: 60, samples: [{ load: 60, runtime: 300 }] },
        },
      ],
      hosts: [
        {
          id: 'slow',
          kind: 'agent',
          shutdown: { triggers: [{ type: 'on-battery', after: 250 }], timeout: 600, expectedDuration: 120 },
        },
      ],
    });
    const r = simulate(p, outageScenario(p));
    assert.deepEqual(
      r.crashes.map((c) => [c.host, Math.round(c.at)]),
      [['slow', 300]],
    );
    assert.equal(Math.round(r.ups[0]!.depletedAt!), 300);
  });

  test('a host that never acknowledges: the deadline passes and the UPS is powered off after it', () => {
    const r = simulate(lab, scenario(lab, { hosts: { app: { acknowledges: false } } }));
    const downs = r.timeline.flatMap((e) =>
      e.kind === 'action' && e.action.type === 'host-down'
        ? [{ host: e.action.host, how: e.action.how, at: e.at }]
        : [],
    );
    assert.deepEqual(
      downs.map((d) => `${d.host} ${d.how}`),
      ['app deadline-passed', 'nas acknowledged', 'ctl acknowledged'],
    );
    // app halted but never said so: nas waited for app's 180 s deadline, the power-off for nas.
    const commanded = r.hosts.find((h) => h.host === 'app')!.commandedAt!;
    assert.equal(downs[0]!.at, commanded + 180);
    const powerOff = r.timeline.find((e) => e.kind === 'action' && e.action.type === 'power-off-ups')!;
    assert.equal(powerOff.at, downs[1]!.at);
    assert.deepEqual(r.crashes, []);
  });

  test('flapping mains, self-tests and lost communication on mains shut nothing down', () => {
    const r = simulate(
      lab,
      scenario(lab, {
        duration: 3600,
        ups: {
          ups: {
            mains: [
              { at: 0, on: true },
              ...Array.from({ length: 20 }, (_, i) => [
                { at: 100 + i * 60, on: false },
                { at: 102 + i * 60, on: true },
              ]).flat(),
            ],
            selfTests: [{ at: 1500, seconds: 30 }],
            commLost: [{ from: 2000, to: 2600 }],
          },
        },
        readingInterval: 1,
      }),
    );
    assert.deepEqual(story(r, ['outage-started', 'shutdown-host']), []);
  });

  test('the power race: mains returns mid-shutdown, hosts complete, the UPS cycles and everything returns', () => {
    const p = plan({
      ups: [
        { id: 'ups', powerOff: { delay: 20 }, battery: { load: 40, samples: [{ load: 40, runtime: 900 }] } },
      ],
      hosts: [
        { id: 'a', kind: 'agent', shutdown: { triggers: [{ type: 'on-battery', after: 30 }] } },
        { id: 'b', kind: 'agent', shutdown: { triggers: [{ type: 'on-battery', after: 30 }] } },
      ],
      restore: { mainsStableFor: 30, minCharge: 0 },
    });
    // Both take 60 s; mains is back at 40 s, while they are going down.
    const r = simulate(
      p,
      scenario(p, {
        ups: {
          ups: {
            mains: [
              { at: 0, on: false },
              { at: 40, on: true },
            ],
          },
        },
        defaults: { shutdownSeconds: 60, bootSeconds: 45 },
      }),
    );
    assert.deepEqual(
      story(r, [
        'mains-returned',
        'host-down',
        'power-off-ups',
        'ups-output-off',
        'ups-output-on',
        'host-running',
        'outage-ended',
      ]),
      [
        '50 mains-returned',
        '90 host-down a',
        '90 host-down b',
        '90 power-off-ups ups',
        '110 ups-output-off ups',
        // The UPS returns on its own after its return delay; Blackstart's switch-on then finds it on.
        '120 ups-output-on ups',
        '120 ups-output-on ups',
        '165 host-running a',
        '165 host-running b',
        '165 outage-ended',
      ],
    );
    assert.deepEqual(
      r.outages.map((o) => o.outcome),
      ['restored'],
    );
  });

  test('replays recorded readings instead of the battery model', () => {
    const p = plan({
      ups: [{ id: 'ups', powerOff: { enabled: false } }],
      hosts: [{ id: 'h', kind: 'agent', shutdown: { triggers: [{ type: 'charge-below', percent: 50 }] } }],
    });
    const readings = Array.from({ length: 30 }, (_, i) => ({
      at: i * 10,
      status: 'OB DISCHRG',
      charge: 100 - i * 3,
      runtime: 900 - i * 30,
      load: 40,
    }));
    const r = simulate(p, scenario(p, { ups: { ups: { readings } } }));
    assert.deepEqual(story(r, ['host-triggered']), ['170 host-triggered h']);
    assert.equal(r.ups[0]?.model?.samples, 30);
  });

  test('hosts that draw their own share of the load lighten the battery as they go down', () => {
    const make = (loads: boolean) =>
      simulate(
        lab,
        scenario(lab, {
          ups: {
            ups: {
              mains: [
                { at: 0, on: false },
                { at: 1500, on: true },
              ],
            },
          },
          hosts: loads ? { app: { load: 15 }, nas: { load: 20 } } : {},
        }),
      );
    assert.ok(make(true).ups[0]!.lowestCharge > make(false).ups[0]!.lowestCharge);
  });

  test('scenario errors name the field', () => {
    const v = validateScenario(
      { ups: { ghost: {}, ups: { charge: 120 } }, hosts: { nope: {} }, extra: 1 },
      lab,
    );
    assert.equal(v.ok, false);
    assert.deepEqual(!v.ok && v.errors, [
      {
        path: '/extra',
        message: "unknown property 'extra' (allowed: duration, readingInterval, ups, hosts, defaults)",
      },
      { path: '/ups/ups/charge', message: 'must be at most 100' },
    ]);
    const refs = validateScenario({ ups: { ghost: {} }, hosts: { nope: {} } }, lab);
    assert.deepEqual(!refs.ok && refs.errors, [
      { path: '/ups/ghost', message: "unknown UPS 'ghost'" },
      { path: '/hosts/nope', message: "unknown host 'nope'" },
    ]);
    const noModel = validateScenario({}, plan({ ups: [{ id: 'u' }], hosts: [] }));
    assert.deepEqual(!noModel.ok && noModel.errors.map((e) => e.path), ['/ups/u', '/ups/u/load']);
  });
});
