// What a fresh controller process holds before its first outage, for first-fsd.ts and
// first-outage.ts: the 10 000-host plan loaded as the controller loads it (validate, initial state,
// `prepare`), a few on-mains readings stepped, and garbage collected fully three times (hours on
// mains). Needs --expose-gc.
import { type EngineState, initialState, type Plan, prepare, step, validatePlan } from '../src/index.ts';
import { serverRoom, WALL_CLOCK } from './server-room.ts';

/** `prepareMs`: how long `prepare` took, the first time in this process (compile and rehearsal). */
export function onMains(): { plan: Plan; state: EngineState; prepareMs: number } {
  const v = validatePlan(serverRoom());
  if (!v.ok) throw new Error('the bench plan is invalid');
  let state = initialState(v.plan);
  const started = performance.now();
  prepare(state);
  const prepareMs = performance.now() - started;
  for (let t = 0; t < 5; t++)
    for (const u of v.plan.ups)
      state = step(
        state,
        { type: 'reading', source: u.id, reading: { status: ['OL'], charge: 100 } },
        WALL_CLOCK + t * 1000,
      ).state;
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  for (let k = 0; k < 3; k++) gc();
  return { plan: v.plan, state, prepareMs };
}
