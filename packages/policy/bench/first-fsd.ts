// One process, one outage: a controller on mains since it started (on-mains.ts; its `prepare`
// rehearsed the shutdown path), then the FSD step that starts the process's first real outage, timed.
// Prints `{"ms":…,"actions":…,"prepareMs":…}`. Spawned by policy.bench.ts (with --expose-gc).
import { type EngineEvent, step } from '../src/index.ts';
import { onMains } from './on-mains.ts';

const { plan, state, prepareMs } = onMains();
const fsd: EngineEvent = {
  type: 'reading',
  source: plan.ups[0]!.id,
  reading: { status: ['OB', 'DISCHRG', 'FSD'], charge: 80 },
};
const started = performance.now();
const result = step(state, fsd, state.clock + 1000);
const ms = performance.now() - started;
console.log(JSON.stringify({ ms, actions: result.actions.length, prepareMs }));
