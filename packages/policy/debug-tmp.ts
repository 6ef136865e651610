import { runScript } from './test/arbitraries.ts';
import { checkTrace } from './test/invariants.ts';
import { validatePlan } from './src/index.ts';
const [planIn, script] = JSON.parse(process.argv[2]!);
const v = validatePlan(planIn); if (!v.ok) throw new Error('bad');
const trace = runScript(v.plan, script, { honourRestarts: true });
for (const t of trace) {
  if (t.event.type === 'tick' && t.actions.length === 0) continue;
  console.log(t.at, JSON.stringify(t.event).slice(0, 110));
  for (const a of t.actions) console.log('    ', JSON.stringify(a).slice(0, 160));
}
console.log(checkTrace(v.plan, trace));
