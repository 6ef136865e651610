// One process, one outage: loads the 10 000-host plan the way the controller does (validate,
// initial state, `prepare`), steps a few on-mains readings and collects garbage fully three times
// (hours on mains), then times the FSD step that starts the first outage: engine code that has
// never run this plan's outage, as in a controller that has been on mains since it started.
// Prints `{"ms":…,"actions":…}`. Spawned by policy.bench.ts (with --expose-gc).
import { type EngineEvent, initialState, prepare, step, validatePlan } from '../src/index.ts';
import { serverRoom } from './server-room.ts';

const v = validatePlan(serverRoom());
if (!v.ok) throw new Error('the bench plan is invalid');
let state = initialState(v.plan);
prepare(state);
for (let t = 0; t < 5; t++)
  for (const u of v.plan.ups)
    state = step(
      state,
      { type: 'reading', source: u.id, reading: { status: ['OL'], charge: 100 } },
      t * 1000,
    ).state;
const gc = (globalThis as { gc?: () => void }).gc;
for (let k = 0; k < 3; k++) gc?.();
const fsd: EngineEvent = {
  type: 'reading',
  source: v.plan.ups[0]!.id,
  reading: { status: ['OB', 'DISCHRG', 'FSD'], charge: 80 },
};
const started = performance.now();
const result = step(state, fsd, 5000);
const ms = performance.now() - started;
console.log(JSON.stringify({ ms, actions: result.actions.length }));
