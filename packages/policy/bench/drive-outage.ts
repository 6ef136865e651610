// One whole outage of a plan, driven step by step as the controller would: every UPS goes on
// battery at the start's clock (WALL_CLOCK at the earliest), readings every 5 s (charge falling,
// then rising once mains is back after an hour), acknowledgements after each host's expected
// duration, health 60 s after each wake-up.
// Used by policy.bench.ts (which captures every step to replay it) and first-outage.ts.
import { type EngineEvent, type EngineState, nextWakeAt, type Plan, type StepResult } from '../src/index.ts';
import { WALL_CLOCK } from './server-room.ts';

/** `run` takes each step (it must return `step(state, event, at)`); the last state is returned. */
export function driveOutage(
  plan: Plan,
  start: EngineState,
  run: (state: EngineState, event: EngineEvent, at: number) => StepResult,
): EngineState {
  let state = start;
  const pending: Array<[number, EngineEvent]> = [];
  const durations = new Map(plan.hosts.map((h) => [h.id, (h.shutdown.expectedDuration ?? 30) * 1000]));
  const drive = (event: EngineEvent, at: number) => {
    const r = run(state, event, at);
    state = r.state;
    for (const a of r.actions) {
      if (a.type === 'shutdown-host')
        pending.push([
          at + durations.get(a.host)!,
          { type: 'host-progress', host: a.host, commandId: a.commandId, step: 'powering-off' },
        ]);
      if (a.type === 'wake-host') pending.push([at + 60_000, { type: 'host-healthy', host: a.host }]);
    }
    pending.sort((x, y) => x[0] - y[0]);
  };
  const t0 = Math.max(start.clock, WALL_CLOCK);
  let charge = 100;
  for (const u of plan.ups)
    drive(
      { type: 'reading', source: u.id, reading: { status: ['OB', 'DISCHRG'], charge, runtime: 2000 } },
      t0,
    );
  let now = t0;
  let nextPoll = t0 + 5000;
  let mainsBack = false;
  while (now < t0 + 3 * 3600_000 && (state.outage || !mainsBack)) {
    const wake = nextWakeAt(state) ?? Infinity;
    const event = pending[0]?.[0] ?? Infinity;
    now = Math.min(wake, event, nextPoll);
    if (now >= t0 + 3600_000) mainsBack = true;
    if (event === now) drive(pending.shift()![1], now);
    else if (nextPoll === now) {
      nextPoll += 5000;
      charge = mainsBack ? Math.min(100, charge + 0.2) : Math.max(0, charge - 0.12);
      for (const u of plan.ups)
        drive(
          mainsBack
            ? { type: 'reading', source: u.id, reading: { status: ['OL'], charge } }
            : {
                type: 'reading',
                source: u.id,
                reading: { status: ['OB', 'DISCHRG'], charge, runtime: charge * 20 },
              },
          now,
        );
    } else drive({ type: 'tick' }, now);
  }
  return state;
}
