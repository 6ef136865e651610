// The web UI's pure logic, run under Node: the shutdown steps the plan editor derives from
// dependencies, the swim-lanes derived from an outage's events, on-battery shading, event merging.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { errorsAt, normalise, reaches, shutdownSteps } from '../ui/src/plan-model.ts';
import { lanesFromEvents, mergeEvents, onBatteryPeriods } from '../ui/src/timeline.ts';
import type { TimelineEvent } from '../ui/src/types.ts';

const host = (id: string, dependsOn: string[] = []) => ({
  id,
  kind: 'agent' as const,
  dependsOn,
  supplies: [],
  shutdown: { triggers: [], hooks: [] },
});

describe('plan editor model', () => {
  test('steps: a host goes in the step after every host that depends on it', () => {
    const { steps, cyclic } = shutdownSteps([
      host('nas'),
      host('app', ['db']),
      host('db', ['nas']),
      host('hv'),
    ]);
    assert.deepEqual(
      steps.map((s) => s.map((h) => h.id)),
      [['app', 'hv'], ['db'], ['nas']],
    );
    assert.deepEqual(cyclic, []);
  });

  test('hosts on a cycle are set apart, the rest keep their steps', () => {
    const { steps, cyclic } = shutdownSteps([
      host('a', ['b']),
      host('b', ['c']),
      host('c', ['a']),
      host('d', ['a']),
    ]);
    assert.deepEqual(cyclic.map((h) => h.id).sort(), ['a', 'b', 'c']);
    assert.deepEqual(
      steps.flat().map((h) => h.id),
      ['d'],
    );
    assert.ok(reaches([host('a', ['b']), host('b', ['a'])], 'a', 'a'));
    assert.ok(!reaches([host('a', ['b']), host('b')], 'b', 'a'));
  });

  test('normalise fills the containers the controls write into, without touching its input', () => {
    const input = { ups: [{ id: 'ups' }], hosts: [{ id: 'a', kind: 'agent' }] };
    const draft = normalise(input);
    assert.deepEqual(draft.hosts[0]?.dependsOn, []);
    assert.deepEqual(draft.hosts[0]?.shutdown, { triggers: [], hooks: [] });
    assert.deepEqual(draft.ups[0]?.powerOff, {});
    assert.equal((input.hosts[0] as Record<string, unknown>).dependsOn, undefined);
  });

  test('errors map to fields by path, exactly or below', () => {
    const errors = [
      { path: '/hosts/1/dependsOn/0', message: 'dependency cycle: a → b → a' },
      { path: '/hosts/1/dependsOn', message: 'x' },
      { path: '/hosts/10/dependsOn', message: 'other host' },
    ];
    assert.deepEqual(
      errorsAt(errors, '/hosts/1/dependsOn', true).map((e) => e.path),
      ['/hosts/1/dependsOn/0', '/hosts/1/dependsOn'],
    );
    assert.deepEqual(errorsAt(errors, '/hosts/1/dependsOn').length, 1);
  });
});

describe('timeline lanes', () => {
  const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
  let seq = 0;
  const event = (
    s: number,
    kind: string,
    hostId: string | null,
    data: Record<string, unknown> = {},
  ): TimelineEvent => ({
    seq: ++seq,
    at: at(s),
    kind,
    host: hostId,
    source: null,
    data,
  });
  const events = [
    event(0, 'outage-started', null),
    event(3, 'host-triggered', 'app', { trigger: 'on battery 3 s' }),
    event(3, 'shutdown-host', 'app'),
    event(4, 'host-progress', 'app', { step: 'received' }),
    event(4, 'host-progress', 'app', { step: 'hook-started', detail: 'stop' }),
    event(6, 'host-progress', 'app', { step: 'hook-finished', detail: 'stop' }),
    event(6, 'host-progress', 'app', { step: 'powering-off' }),
    event(7, 'host-down', 'app', { how: 'acknowledged' }),
    event(20, 'wake-host', 'app', { method: 'wol', attempt: 1 }),
    event(30, 'host-up', 'app', { how: 'healthy' }),
  ];

  test('one lane per host: command sent → acknowledged → powering off → offline → woken → healthy', () => {
    const end = new Date(at(40)).getTime();
    const [lane] = lanesFromEvents(events, end);
    assert.equal(lane?.label, 'app');
    const t = (s: number) => new Date(at(s)).getTime();
    assert.deepEqual(
      lane?.segments.map((s) => [s.kind, s.from, s.to]),
      [
        ['wait', t(3), t(4)],
        ['hooks', t(4), t(6)],
        ['poweroff', t(6), t(7)],
        ['off', t(7), t(20)],
        ['boot', t(20), t(30)],
        ['up', t(30), end],
      ],
    );
    assert.deepEqual(
      lane?.marks.map((m) => m.kind),
      ['trigger', 'hook', 'hook'],
    );
  });

  test('on-battery periods from OB readings; one still running ends at the end', () => {
    const point = (s: number, status: string) => ({
      at: at(s),
      status,
      charge: null,
      runtime: null,
      load: null,
      inputVoltage: null,
    });
    const periods = onBatteryPeriods(
      [point(0, 'OL'), point(1, 'OB DISCHRG'), point(5, 'OB LB'), point(6, 'OL CHRG'), point(9, 'OB')],
      new Date(at(12)).getTime(),
    );
    const t = (s: number) => new Date(at(s)).getTime();
    assert.deepEqual(periods, [
      [t(1), t(6)],
      [t(9), t(12)],
    ]);
  });

  test('stored and live events merge once each, in journal order', () => {
    const merged = mergeEvents(events.slice(0, 5), [events[3]!, events[6]!, events[5]!]);
    assert.deepEqual(
      merged.map((e) => e.seq),
      [1, 2, 3, 4, 5, 6, 7],
    );
  });
});
