import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { validatePlan } from '../src/index.ts';

const errors = (input: unknown) => {
  const v = validatePlan(input);
  assert.equal(v.ok, false, 'expected the plan to be rejected');
  return v.ok ? [] : v.errors;
};
const ups = [{ id: 'ups' }];

describe('plan validation', () => {
  test('fills defaults and leaves the input untouched', () => {
    const input = { ups, hosts: [{ id: 'a', kind: 'agent' }] };
    const v = validatePlan(input);
    assert.ok(v.ok);
    assert.deepEqual(input, { ups, hosts: [{ id: 'a', kind: 'agent' }] });
    const [host] = v.plan.hosts;
    assert.deepEqual(host?.shutdown, { triggers: [], hooks: [], timeout: 180, fallback: 'proceed' });
    assert.equal(host?.minSupplies, 1);
    assert.deepEqual(v.plan.restore, {
      enabled: true,
      mainsStableFor: 120,
      minCharge: 50,
      onWakeFailure: 'continue',
    });
    assert.equal(v.plan.settings.pointOfNoReturn, 'commanded');
  });

  test('names a dependency cycle', () => {
    assert.deepEqual(
      errors({
        ups,
        hosts: [
          { id: 'a', kind: 'agent', dependsOn: ['b'] },
          { id: 'b', kind: 'agent', dependsOn: ['c'] },
          { id: 'c', kind: 'agent', dependsOn: ['a'] },
        ],
      }),
      [{ path: '/hosts/2/dependsOn', message: 'dependency cycle: a → b → c → a' }],
    );
  });

  test('names a cycle through a wake relay', () => {
    assert.deepEqual(
      errors({
        ups,
        hosts: [
          { id: 'relay', kind: 'agent', dependsOn: ['far'] },
          { id: 'far', kind: 'agent', wake: { method: 'relay', via: 'relay', mac: '00:11:22:33:44:55' } },
        ],
      }),
      [
        {
          path: '/hosts/1/wake/via',
          message:
            'restore order impossible (dependencies and wake relays form a cycle): relay → far → relay',
        },
      ],
    );
  });

  test('explains schema errors at the exact path, following the chosen trigger type', () => {
    assert.deepEqual(
      errors({
        ups,
        hosts: [
          { id: 'a', kind: 'toaster' },
          { id: 'B', kind: 'agent' },
          {
            id: 'c',
            kind: 'agent',
            shutdown: {
              triggers: [
                { type: 'on-battery' },
                { type: 'charge-below', percent: 120 },
                { type: 'blackout' },
              ],
            },
          },
        ],
        colour: 'blue',
      }),
      [
        {
          path: '/colour',
          message: "unknown property 'colour' (allowed: ups, hosts, groups, settings, restore)",
        },
        { path: '/hosts/0/kind', message: 'must be one of "agent", "nut-client", "wake-only", "controller"' },
        {
          path: '/hosts/1/id',
          message: 'must be lower-case id: letters, digits, . _ - (at most 63 characters)',
        },
        { path: '/hosts/2/shutdown/triggers/0/after', message: "missing property 'after'" },
        { path: '/hosts/2/shutdown/triggers/1/percent', message: 'must be at most 100' },
        {
          path: '/hosts/2/shutdown/triggers/2/type',
          message:
            'unknown type "blackout" (expected one of on-battery, charge-below, runtime-below, low-battery, fsd, comm-lost, budget)',
        },
      ],
    );
  });

  test('rejects non-objects and empty UPS lists clearly', () => {
    assert.deepEqual(errors(null), [{ path: '/', message: 'must be an object, not null' }]);
    assert.deepEqual(errors('ups: x'), [{ path: '/', message: 'must be an object, not string' }]);
    assert.deepEqual(errors({ ups: [] }), [{ path: '/ups', message: 'must have at least 1 item' }]);
    assert.deepEqual(errors({ ups: 'ups' }), [{ path: '/ups', message: 'must be an array, not string' }]);
  });

  test('refuses a plan that refers to itself (YAML alias cycles)', () => {
    const hosts: unknown[] = [];
    hosts.push({ id: 'a', kind: 'agent', dependsOn: hosts });
    const [error, ...more] = errors({ ups, hosts });
    assert.deepEqual(more, []);
    assert.match(error!.path, /^\/hosts\/0\/dependsOn\/0\/dependsOn\//);
    assert.equal(error!.message, 'nested too deeply: does it refer to itself (a cycle of aliases)?');
  });

  test('duplicate ids, unknown references and repeated entries', () => {
    assert.deepEqual(
      errors({
        ups: [{ id: 'ups' }, { id: 'ups' }],
        groups: [{ id: 'g' }],
        hosts: [
          { id: 'a', kind: 'agent', dependsOn: ['zz', 'a'], supplies: ['nope'], group: 'h' },
          { id: 'a', kind: 'agent' },
          {
            id: 'b',
            kind: 'agent',
            dependsOn: ['a', 'a'],
            wake: { method: 'relay', via: 'ghost', mac: '00:11:22:33:44:55' },
          },
        ],
      }),
      [
        { path: '/ups/1/id', message: "duplicate UPS id 'ups'" },
        { path: '/hosts/1/id', message: "duplicate host id 'a'" },
        { path: '/hosts/0/dependsOn/0', message: "unknown host 'zz'" },
        { path: '/hosts/0/dependsOn/1', message: "host 'a' cannot depend on itself" },
        { path: '/hosts/0/supplies/0', message: "unknown UPS 'nope'" },
        { path: '/hosts/0/group', message: "unknown group 'h'" },
        { path: '/hosts/2/dependsOn/1', message: "'a' is listed twice" },
        { path: '/hosts/2/wake/via', message: "unknown host 'ghost'" },
      ],
    );
  });

  test('impossible settings', () => {
    assert.deepEqual(
      errors({
        ups: [{ id: 'a' }, { id: 'b' }],
        hosts: [
          { id: 'redundant', kind: 'agent', minSupplies: 3 },
          { id: 'slow', kind: 'agent', shutdown: { timeout: 60, expectedDuration: 90 } },
          { id: 'ctl', kind: 'controller', dependsOn: ['slow'] },
          { id: 'nas', kind: 'nut-client', shutdown: { hooks: [{ type: 'docker-stop' }] } },
          { id: 'switch', kind: 'wake-only', shutdown: { triggers: [{ type: 'low-battery' }] } },
          { id: 'w1', kind: 'agent', wake: { method: 'wol' } },
          { id: 'w2', kind: 'agent', wake: { method: 'relay', mac: '00:11:22:33:44:55' } },
          { id: 'w3', kind: 'agent', wake: { method: 'power-on', health: { type: 'tcp', port: 22 } } },
          { id: 'w4', kind: 'nut-client', wake: { method: 'power-on', health: { type: 'agent' } } },
          { id: 'ctl2', kind: 'controller' },
          { id: 'w5', kind: 'agent', wake: { method: 'relay', via: 'nas', mac: '00:11:22:33:44:55' } },
        ],
      }),
      [
        { path: '/hosts', message: "only one host may be of kind 'controller' (found ctl, ctl2)" },
        {
          path: '/hosts/10/wake/via',
          message: "'nas' is a nut-client host; only agent hosts can relay Wake-on-LAN",
        },
        { path: '/hosts/0/minSupplies', message: 'needs 3 healthy supplies but is fed by 2' },
        {
          path: '/hosts/1/shutdown/expectedDuration',
          message: 'expected duration 90 s exceeds the timeout of 60 s: the deadline would always pass',
        },
        {
          path: '/hosts/2/dependsOn',
          message:
            'the controller’s host goes down last, so it cannot depend on other hosts (run the controller elsewhere, or make those hosts wake-only)',
        },
        {
          path: '/hosts/3/shutdown/hooks',
          message: 'a nut-client host runs no hooks: only agent and controller hosts do',
        },
        {
          path: '/hosts/4/shutdown/triggers',
          message: 'a wake-only host is never shut down by Blackstart: it has no triggers',
        },
        { path: '/hosts/5/wake/mac', message: "wake method 'wol' needs the host's MAC address" },
        {
          path: '/hosts/6/wake/via',
          message: "wake method 'relay' needs 'via': the agent host that sends the packet",
        },
        {
          path: '/hosts/7/wake/health/host',
          message: 'a TCP health check needs a host (or the host’s address)',
        },
        { path: '/hosts/8/wake/health', message: 'a nut-client host runs no agent to reconnect' },
      ],
    );
  });

  test('validates 10 000 hosts in one go (cycle search does not recurse)', () => {
    // A 10 000-deep chain would overflow a recursive search.
    const hosts = Array.from({ length: 10_000 }, (_, i) => ({
      id: `h${i}`,
      kind: 'agent',
      dependsOn: i > 0 ? [`h${i - 1}`] : [],
    }));
    assert.equal(validatePlan({ ups, hosts }).ok, true);
    hosts[0]!.dependsOn = ['h9999'];
    const v = validatePlan({ ups, hosts });
    assert.equal(v.ok, false);
    assert.match(!v.ok ? v.errors[0]!.message : '', /^dependency cycle: h0 → h9999 → h9998 → .* → h1 → h0$/);
  });
});
