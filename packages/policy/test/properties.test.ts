import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { type EngineEvent, type EngineState, initialState, nextWakeAt, step } from '../src/index.ts';
import { type Command, planArb, runScript, scriptArb, toReading } from './arbitraries.ts';
import { auditState, auditWakeTimers, checkTrace } from './invariants.ts';

// Seeded so CI failures reproduce; FC_SEED picks another seed, FC_RUNS_FACTOR scales the effort.
const seed = Number(process.env.FC_SEED ?? 4);
const runs = (n: number) => Math.max(1, Math.round(n * Number(process.env.FC_RUNS_FACTOR ?? 1)));

describe('safety invariants under random plans and event interleavings', () => {
  test('dependency order, UPS power-off, once per outage, controller last, restore gates and order', () => {
    fc.assert(
      fc.property(planArb, scriptArb, (plan, script) => {
        const trace = runScript(plan, script, { honourRestarts: true });
        const violations = checkTrace(plan, trace);
        assert.deepEqual(violations, []);
        for (const t of trace) {
          const problems = [...auditState(t.state), ...auditWakeTimers(t.state)];
          assert.deepEqual(problems, [], `state after ${JSON.stringify(t.event)} at ${t.at}`);
          const wake = nextWakeAt(t.state);
          if (wake !== undefined) assert.ok(wake > t.state.clock, 'nextWakeAt must lie in the future');
        }
      }),
      { seed, numRuns: runs(800) },
    );
  });

  test('the state is plain JSON at every step: a round trip changes nothing', () => {
    fc.assert(
      fc.property(planArb, scriptArb, (plan, script) => {
        for (const { state } of runScript(plan, script, { honourRestarts: false })) {
          assert.deepStrictEqual(JSON.parse(JSON.stringify(state)), state);
        }
      }),
      { seed, numRuns: runs(300) },
    );
  });

  test('same inputs, same outputs; restarts from serialized state anywhere change nothing', () => {
    fc.assert(
      fc.property(planArb, scriptArb, (plan, script) => {
        const a = runScript(plan, script, { honourRestarts: false });
        const b = runScript(plan, script, { honourRestarts: false });
        const restarted = runScript(plan, script, { honourRestarts: true });
        const outputs = (trace: typeof a) => trace.map((t) => [t.at, t.event, t.actions]);
        assert.deepStrictEqual(outputs(b), outputs(a));
        assert.deepStrictEqual(outputs(restarted), outputs(a));
        const last = (trace: typeof a) => JSON.stringify(trace.at(-1)?.state ?? null);
        assert.equal(last(restarted), last(a));
      }),
      { seed, numRuns: runs(300) },
    );
  });
});

/**
 * Scripts of harmless events only: on-battery blips that end before the debounce, self-tests and
 * calibrations (any length), spurious LB/charge/runtime on line, communication loss and stale data
 * while on mains, UPS "OFF" readings.
 */
const benignArb = (debounceMs: number, sources: number) =>
  fc.array(
    fc.oneof(
      fc.record({
        kind: fc.constant('blip' as const),
        source: fc.nat({ max: sources - 1 }),
        // Readings inside the blip, each before the debounce ends.
        inside: fc.array(fc.integer({ min: 0, max: debounceMs - 1 }), { maxLength: 3 }),
        length: fc.integer({ min: 0, max: debounceMs - 1 }),
        charge: fc.integer({ min: 0, max: 100 }),
        lb: fc.boolean(),
      }),
      fc.record({
        kind: fc.constant('reading' as const),
        source: fc.nat({ max: sources - 1 }),
        status: fc.constantFrom(
          'OL',
          'OL CHRG',
          'OL LB',
          'OB CAL',
          'OB DISCHRG TEST',
          'OB DISCHRG LB TEST',
          'OFF',
        ),
        charge: fc.integer({ min: 0, max: 100 }),
        runtime: fc.option(fc.integer({ min: 0, max: 2000 })),
      }),
      fc.record({ kind: fc.constant('lost' as const), source: fc.nat({ max: sources - 1 }) }),
      fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 600_000 }) }),
    ),
    { maxLength: 40 },
  );

describe('false triggers', () => {
  test('blips shorter than the debounce, self-tests, stale data and comm loss on mains shut nothing down', () => {
    fc.assert(
      fc.property(
        planArb
          .filter((p) => p.settings.debounce >= 1)
          .chain((p) => fc.tuple(fc.constant(p), benignArb(p.settings.debounce * 1000, p.ups.length))),
        ([plan, steps]) => {
          let state: EngineState = initialState(plan);
          let now = 0;
          const lastMains = new Map<number, boolean>(plan.ups.map((_, i) => [i, true]));
          const actions: unknown[] = [];
          const apply = (event: EngineEvent) => {
            // The controller's timers fire as they come due.
            for (let w = nextWakeAt(state); w !== undefined && w <= now; w = nextWakeAt(state)) {
              const r = step(state, { type: 'tick' }, w);
              state = r.state;
              actions.push(...r.actions);
            }
            const r = step(state, event, now);
            state = r.state;
            actions.push(...r.actions);
          };
          const source = (i: number) => plan.ups[i]!.id;
          for (const s of steps) {
            if (s.kind === 'wait') now += s.ms;
            else if (s.kind === 'lost') {
              // Communication lost while on mains only (a loss during a blip is not harmless).
              if (lastMains.get(s.source))
                apply({ type: 'source-lost', source: source(s.source), reason: 'DATA-STALE' });
            } else if (s.kind === 'reading') {
              const r: Command = {
                op: 'reading',
                source: s.source,
                status: s.status,
                charge: s.charge,
                runtime: s.runtime,
              };
              apply({
                type: 'reading',
                source: source(s.source),
                reading: toReading(r as Extract<Command, { op: 'reading' }>),
              });
              lastMains.set(s.source, true);
            } else {
              const start = now;
              const status = s.lb ? 'OB DISCHRG LB' : 'OB DISCHRG';
              apply({
                type: 'reading',
                source: source(s.source),
                reading: { status: status.split(' '), charge: s.charge },
              });
              for (const dt of [...s.inside].sort((a, b) => a - b).filter((dt) => dt < s.length)) {
                now = start + dt;
                apply({
                  type: 'reading',
                  source: source(s.source),
                  reading: { status: status.split(' '), charge: s.charge },
                });
              }
              now = start + s.length;
              apply({
                type: 'reading',
                source: source(s.source),
                reading: { status: ['OL'], charge: s.charge },
              });
              lastMains.set(s.source, true);
            }
          }
          assert.deepEqual(actions, []);
        },
      ),
      { seed, numRuns: runs(300) },
    );
  });
});
