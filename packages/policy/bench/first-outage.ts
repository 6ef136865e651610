// One process, one whole outage: a controller on mains since it started (on-mains.ts), then the
// process's first outage driven to its end (drive-outage.ts), every step timed. Prints the
// slowest: `{"ms":…,"actions":…,"event":…,"steps":…}`. Spawned by policy.bench.ts (with --expose-gc).
import { type EngineEvent, step } from '../src/index.ts';
import { driveOutage } from './drive-outage.ts';
import { onMains } from './on-mains.ts';

const { plan, state } = onMains();
let slowest = { ms: 0, actions: 0, event: '' as EngineEvent['type'] };
let steps = 0;
const end = driveOutage(plan, state, (before, event, at) => {
  const started = performance.now();
  const r = step(before, event, at);
  const ms = performance.now() - started;
  steps++;
  if (ms > slowest.ms) slowest = { ms, actions: r.actions.length, event: event.type };
  return r;
});
if (end.outage || end.lastOutage?.outcome !== 'restored') throw new Error('the outage did not end restored');
console.log(JSON.stringify({ ...slowest, steps }));
