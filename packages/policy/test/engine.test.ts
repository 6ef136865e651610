import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type EngineAction,
  type EngineEvent,
  type EngineState,
  initialState,
  nextWakeAt,
  type Plan,
  readingFromNutVars,
  step,
  validatePlan,
} from '../src/index.ts';

function plan(input: unknown): Plan {
  const v = validatePlan(input);
  if (!v.ok) throw new Error(JSON.stringify(v.errors));
  return v.plan;
}

const homelab = plan({
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
  ],
  settings: { debounce: 5 },
});

const OL = readingFromNutVars({ 'ups.status': 'OL', 'battery.charge': '100' });
const OB = readingFromNutVars({ 'ups.status': 'OB DISCHRG', 'battery.charge': '90' });

/** Drives the engine like the runtime does: events at times, ticks at every derived wake-up. */
function drive(start: EngineState, events: Array<[number, EngineEvent]>, until: number) {
  let state = start;
  const log: Array<[number, EngineAction]> = [];
  const queue = [...events].sort((a, b) => a[0] - b[0]);
  let now = 0;
  const apply = (ev: EngineEvent, t: number) => {
    const r = step(state, ev, t);
    state = r.state;
    for (const a of r.actions) {
      log.push([t, a]);
      // Agents acknowledge two seconds after a command.
      if (a.type === 'shutdown-host')
        queue.push([
          t + 2000,
          { type: 'host-progress', host: a.host, commandId: a.commandId, step: 'powering-off' },
        ]);
    }
    queue.sort((a, b) => a[0] - b[0]);
  };
  while (now <= until) {
    const wake = nextWakeAt(state);
    const nextEvent = queue[0]?.[0];
    const t = Math.min(wake ?? Number.POSITIVE_INFINITY, nextEvent ?? Number.POSITIVE_INFINITY);
    if (!Number.isFinite(t) || t > until) break;
    now = Math.max(now, t);
    if (nextEvent !== undefined && nextEvent <= now) apply(queue.shift()![1], now);
    else apply({ type: 'tick' }, now);
  }
  return { state, log };
}

describe('policy engine', () => {
  test('shuts a dependent host down before the host it depends on, then powers the UPS off', () => {
    const { log } = drive(
      initialState(homelab),
      [
        [0, { type: 'reading', source: 'ups', reading: OB }],
        [50_000, { type: 'reading', source: 'ups', reading: OL }],
      ],
      60_000,
    );
    const shutdowns = log
      .filter(([, a]) => a.type === 'shutdown-host')
      .map(([t, a]) => [t, (a as { host: string }).host]);
    assert.deepEqual(shutdowns, [
      [10_000, 'app'],
      [10_000, 'hypervisor'],
      [12_000, 'nas'],
    ]);
    const powerOff = log.find(([, a]) => a.type === 'power-off-ups');
    assert.deepEqual(powerOff, [
      14_000,
      { type: 'power-off-ups', outage: 'outage-3uw', source: 'ups', delaySeconds: 30 },
    ]);
    assert.deepEqual(log.at(-1), [
      50_000,
      { type: 'outage-ended', outage: 'outage-3uw', outcome: 'powered-off' },
    ]);
  });

  test('ignores an on-battery blip shorter than the debounce', () => {
    const { log, state } = drive(
      initialState(homelab),
      [
        [0, { type: 'reading', source: 'ups', reading: OB }],
        [3000, { type: 'reading', source: 'ups', reading: OL }],
      ],
      60_000,
    );
    assert.deepEqual(log, []);
    assert.equal(state.outage, undefined);
  });

  test('ignores a self-test and calibration', () => {
    const test = readingFromNutVars({ 'ups.status': 'OB DISCHRG', 'ups.test.result': 'In progress' });
    const cal = readingFromNutVars({ 'ups.status': 'OB DISCHRG CAL' });
    const { log } = drive(
      initialState(homelab),
      [
        [0, { type: 'reading', source: 'ups', reading: test }],
        [20_000, { type: 'reading', source: 'ups', reading: cal }],
      ],
      60_000,
    );
    assert.deepEqual(log, []);
  });

  test('communication lost while on mains shuts nothing down', () => {
    const { log } = drive(
      initialState(homelab),
      [
        [0, { type: 'reading', source: 'ups', reading: OL }],
        [1000, { type: 'source-lost', source: 'ups', reason: 'DATA-STALE' }],
      ],
      600_000,
    );
    assert.deepEqual(log, []);
  });

  test('mains back before any shutdown cancels the pending hosts and ends the outage as averted', () => {
    const { log } = drive(
      initialState(homelab),
      [
        [0, { type: 'reading', source: 'ups', reading: OB }],
        [7000, { type: 'reading', source: 'ups', reading: OL }],
      ],
      60_000,
    );
    const types = log.map(([, a]) => a.type);
    assert.deepEqual(types, [
      'outage-started',
      'host-cancelled',
      'host-cancelled',
      'host-cancelled',
      'outage-ended',
    ]);
    assert.deepEqual(log.at(-1)?.[1], { type: 'outage-ended', outage: 'outage-3uw', outcome: 'averted' });
  });

  test('state survives a JSON round trip mid-outage', () => {
    const events: Array<[number, EngineEvent]> = [[0, { type: 'reading', source: 'ups', reading: OB }]];
    const straight = drive(initialState(homelab), events, 60_000);
    const half = drive(initialState(homelab), events, 11_000);
    const restored = JSON.parse(JSON.stringify(half.state)) as EngineState;
    // Resume with the acknowledgements still outstanding at the cut.
    const pending: Array<[number, EngineEvent]> = half.log
      .filter(([, a]) => a.type === 'shutdown-host')
      .map(([t, a]) => [
        t + 2000,
        {
          type: 'host-progress',
          host: (a as { host: string }).host,
          commandId: (a as { commandId: string }).commandId,
          step: 'powering-off',
        },
      ]);
    const rest = drive(restored, pending, 60_000);
    assert.deepEqual([...half.log, ...rest.log], straight.log);
  });
});

describe('plan validation', () => {
  test('names a dependency cycle', () => {
    const v = validatePlan({
      ups: [{ id: 'ups' }],
      hosts: [
        { id: 'a', kind: 'agent', dependsOn: ['b'] },
        { id: 'b', kind: 'agent', dependsOn: ['a'] },
      ],
    });
    assert.equal(v.ok, false);
    assert.deepEqual(!v.ok && v.errors, [
      { path: '/hosts/1/dependsOn', message: 'dependency cycle: a → b → a' },
    ]);
  });

  test('reports only the union branch a value names by its type', () => {
    const bad = (trigger: unknown) =>
      validatePlan({
        ups: [{ id: 'ups' }],
        hosts: [{ id: 'a', kind: 'agent', shutdown: { triggers: [{ type: 'fsd' }, trigger] } }],
      });
    const v = bad({ type: 'on-battery', after: -1 });
    assert.deepEqual(!v.ok && v.errors, [
      { path: '/hosts/0/shutdown/triggers/1/after', message: 'must be >= 0' },
    ]);
    const w = bad({ type: 'lunar' });
    assert.deepEqual(!w.ok && w.errors, [
      {
        path: '/hosts/0/shutdown/triggers/1/type',
        message: 'must be one of: on-battery, charge-below, runtime-below, low-battery, fsd, comm-lost',
      },
    ]);
  });

  test('addresses schema errors and unknown references by path', () => {
    const v = validatePlan({
      ups: [{ id: 'ups' }],
      hosts: [
        { id: 'a', kind: 'toaster' },
        { id: 'b', kind: 'agent', dependsOn: ['zz'] },
      ],
    });
    assert.equal(v.ok, false);
    assert.deepEqual(!v.ok && v.errors.map((e) => e.path), ['/hosts/0/kind']);
    const v2 = validatePlan({ ups: [{ id: 'ups' }], hosts: [{ id: 'b', kind: 'agent', dependsOn: ['zz'] }] });
    assert.deepEqual(!v2.ok && v2.errors, [{ path: '/hosts/0/dependsOn/0', message: "unknown host 'zz'" }]);
  });
});
