import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import {
  checkFeasibility,
  type EngineAction,
  type Plan,
  type PlanError,
  runtimeAt,
  type Scenario,
  type SimulationResult,
  simulate,
  type TimelineEntry,
  validatePlan,
  validateScenario,
  type WorldEvent,
} from '@blackstart/policy';
import { LineCounter, parseDocument } from 'yaml';
import { type CliCommand, UsageError } from './command.ts';

const usage = `usage: blackstart plan check <plan>
       blackstart plan simulate <plan> [--scenario <file>] [--load <percent>] [--mains-back <seconds>] [--json]

  check      Validate a plan (YAML or JSON) and check that it fits its battery: the
             critical path of shutdowns against the runtime at the current load.
             Exit status 0 when it does, 1 with the errors on stderr.
  simulate   Predict the complete timeline of an outage. Without --scenario, mains fails
             at t = 0 at the UPS's load (from the plan's battery samples) and does not return.
             Exit status 1 when a host would lose power before it is down.

options:
  --scenario <file>     scenario (YAML or JSON): mains changes, loads, faults (docs/plan.md)
  --load <percent>      UPS load for the default scenario
  --mains-back <s>      mains returns this many seconds into the default scenario
  --json                the timeline as JSON instead of text`;

export const planCommand: CliCommand = {
  name: 'plan',
  summary: 'check a plan, or simulate an outage against it',
  usage,
  async run(args) {
    const [sub, ...rest] = args;
    if (sub === 'check') return check(rest);
    if (sub === 'simulate') return simulateCommand(rest);
    throw new UsageError(sub === undefined ? 'missing subcommand' : `unknown subcommand '${sub}'`);
  },
};

function options<const T extends Record<string, { type: 'string' | 'boolean' }>>(args: string[], allowed: T) {
  try {
    return parseArgs({ args, options: allowed, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

function onePath(positionals: string[], what: string): string {
  if (positionals.length === 0) throw new UsageError(`missing ${what}`);
  if (positionals.length > 1) throw new UsageError(`unexpected argument '${positionals[1]}'`);
  return positionals[0]!;
}

class InputError extends Error {}

/** Reads and parses a YAML (or JSON) file; errors name the file and the line. */
async function load(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new InputError(
      `cannot read ${path}: ${code === 'ENOENT' ? 'no such file' : (error as Error).message}`,
    );
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, lineCounter });
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((e) => {
      const at = lineCounter.linePos(e.pos[0]);
      return `${path}:${at.line}:${at.col}: ${e.message.split('\n')[0]}`;
    });
    throw new InputError(lines.join('\n'));
  }
  return doc.toJS({ maxAliasCount: 1000 });
}

function report(errors: PlanError[]): string {
  return errors.map((e) => `  ${e.path}: ${e.message}`).join('\n');
}

async function loadPlan(path: string): Promise<Plan> {
  const v = validatePlan(await load(path));
  if (!v.ok) throw new InputError(`${path} is not a valid plan:\n${report(v.errors)}`);
  return v.plan;
}

async function guard(name: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    process.stderr.write(`blackstart plan ${name}: ${error.message}\n`);
    return 1;
  }
}

function check(args: string[]): Promise<number> {
  const { positionals } = options(args, {});
  const path = onePath(positionals, 'plan file');
  return guard('check', async () => {
    const plan = await loadPlan(path);
    const feasibility = checkFeasibility(plan);
    const out: string[] = [
      `${path}: valid plan, ${count(plan.ups.length, 'UPS', 'UPSes')}, ${count(plan.hosts.length, 'host')}`,
      ...feasibility.ups.map((u) => `  ${u.message}`),
    ];
    process.stdout.write(`${out.join('\n')}\n`);
    for (const w of feasibility.warnings) process.stderr.write(`warning: ${w.path}: ${w.message}\n`);
    if (!feasibility.ok) {
      process.stderr.write(
        `blackstart plan check: ${path} does not fit its battery:\n${report(feasibility.errors)}\n`,
      );
      return 1;
    }
    return 0;
  });
}

function simulateCommand(args: string[]): Promise<number> {
  const { values, positionals } = options(args, {
    scenario: { type: 'string' },
    load: { type: 'string' },
    'mains-back': { type: 'string' },
    json: { type: 'boolean' },
  });
  const path = onePath(positionals, 'plan file');
  const load_ = number(values.load, '--load', 0, 200);
  const mainsBack = number(values['mains-back'], '--mains-back', 0, 30 * 86_400);
  if (values.scenario !== undefined && (load_ !== undefined || mainsBack !== undefined))
    throw new UsageError(
      '--load and --mains-back shape the default scenario; put them in the --scenario file instead',
    );
  return guard('simulate', async () => {
    const plan = await loadPlan(path);
    let scenario: Scenario;
    if (values.scenario !== undefined) {
      const v = validateScenario(await load(values.scenario), plan);
      if (!v.ok) throw new InputError(`${values.scenario} is not a valid scenario:\n${report(v.errors)}`);
      scenario = v.scenario;
    } else {
      const v = validateScenario(
        {
          ups: Object.fromEntries(
            plan.ups.map((u) => [
              u.id,
              {
                ...(load_ !== undefined && { load: load_ }),
                mains: [
                  { at: 0, on: false },
                  ...(mainsBack !== undefined ? [{ at: mainsBack, on: true }] : []),
                ],
              },
            ]),
          ),
        },
        plan,
      );
      if (!v.ok) throw new InputError(`cannot build the default scenario:\n${report(v.errors)}`);
      scenario = v.scenario;
    }
    const result = simulate(plan, scenario);
    if (values.json) {
      const { state: _state, ...rest } = result;
      process.stdout.write(`${JSON.stringify(rest, null, 2)}\n`);
    } else {
      process.stdout.write(`${render(path, plan, scenario, result)}\n`);
    }
    return result.crashes.length > 0 ? 1 : 0;
  });
}

function number(value: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max)
    throw new UsageError(`${flag} must be a number from ${min} to ${max}, not '${value}'`);
  return n;
}

const count = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** 75 → "1:15", 3725 → "1:02:05". */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

function render(path: string, plan: Plan, scenario: Scenario, r: SimulationResult): string {
  const lines: string[] = [`Simulated outage for ${path}`];
  for (const u of r.ups) {
    const s = scenario.ups[u.ups];
    const mains = (s?.mains ?? [{ at: 0, on: false }]).map(
      (m) => `${m.on ? 'back' : 'fails'} at ${clock(m.at)}`,
    );
    const load = s?.load ?? plan.ups.find((x) => x.id === u.ups)?.battery?.load;
    const runtime =
      u.model && load !== undefined
        ? `, ${clock(runtimeAt(u.model, load))} of runtime at ${load} % load`
        : '';
    lines.push(`  ${u.ups}: mains ${s?.readings ? 'from recorded readings' : mains.join(', ')}${runtime}`);
  }
  lines.push('');
  const width = Math.max(8, ...plan.hosts.map((h) => h.id.length), ...plan.ups.map((u) => u.id.length));
  for (const entry of r.timeline) {
    const [subject, text] = describeSimulationEntry(entry);
    lines.push(`${clock(entry.at).padStart(8)}  ${subject.padEnd(width)}  ${text}`);
  }
  lines.push('');
  for (const o of r.outages)
    lines.push(
      o.outcome
        ? `${o.id}: ${o.outcome} at ${clock(o.endedAt!)} (started ${clock(o.startedAt)})`
        : `${o.id}: still open when the simulation stopped at ${clock(r.endedAt)}`,
    );
  for (const u of r.ups)
    lines.push(
      `${u.ups}: lowest charge ${Math.round(u.lowestCharge)} %${u.depletedAt !== undefined ? `, battery empty at ${clock(u.depletedAt)}` : ''}`,
    );
  lines.push(
    r.crashes.length === 0
      ? 'No host lost power before it was down.'
      : `LOST POWER while running: ${r.crashes.map((c) => `${c.host} at ${clock(c.at)}`).join(', ')}. This plan does not hold in this scenario.`,
  );
  return lines.join('\n');
}

/** One simulated timeline entry as [subject, text], as `plan simulate` and the UI's what-if show it. */
export function describeSimulationEntry(entry: TimelineEntry): [string, string] {
  return entry.kind === 'world' ? describeWorld(entry.event) : describeAction(entry.action, entry.at);
}

function describeWorld(e: WorldEvent): [string, string] {
  switch (e.type) {
    case 'mains-lost':
      return [e.ups, 'mains lost'];
    case 'mains-back':
      return [e.ups, 'mains back'];
    case 'ups-output-off':
      return [e.ups, e.why === 'battery-depleted' ? 'battery empty: output off' : 'output off'];
    case 'ups-output-on':
      return [e.ups, 'output on'];
    case 'host-off':
      return [e.host, 'powered off'];
    case 'host-lost-power':
      return [e.host, 'lost power'];
    case 'host-running':
      return [e.host, 'running'];
    case 'controller-offline':
      return ['(engine)', 'offline: its host is down'];
    case 'controller-online':
      return ['(engine)', 'online again, resuming from its journal'];
  }
}

function describeAction(a: EngineAction, at: number): [string, string] {
  const until = (deadline: number) => `+${clock(deadline / 1000 - at)}`;
  switch (a.type) {
    case 'outage-started':
      return ['outage', `${a.outage} started: ${a.sources.join(', ')} on battery`];
    case 'source-joined':
      return [a.source, 'on battery too'];
    case 'host-triggered':
      return [a.host, `triggered: ${a.trigger}`];
    case 'shutdown-host':
      return [a.host, `shutdown sent (${a.kind}, deadline ${until(a.deadline)})`];
    case 'host-down':
      return [a.host, a.how === 'acknowledged' ? 'down' : 'no answer by its deadline: counted as down'];
    case 'cancel-shutdown':
      return [a.host, 'cancel sent'];
    case 'host-cancelled':
      return [a.host, 'shutdown cancelled'];
    case 'power-off-ups':
      return [a.source, `power off in ${a.delaySeconds} s`];
    case 'mains-returned':
      return ['outage', 'mains is back to stay: shutdowns not started yet are cancelled'];
    case 'restore-started':
      return ['outage', 'restore: mains stable and batteries charged'];
    case 'ups-output-on':
      return [a.source, 'switch the output on'];
    case 'wake-host':
      return [
        a.host,
        `wake (${a.method}${a.via ? ` via ${a.via}` : ''}${a.attempt > 1 ? `, attempt ${a.attempt}` : ''}), health: ${a.health.type}, deadline ${until(a.deadline)}`,
      ];
    case 'host-up':
      return [a.host, a.how === 'controller' ? 'up (the controller runs on it)' : 'up'];
    case 'host-wake-failed':
      return [a.host, `did not come back after ${count(a.attempts, 'attempt')}`];
    case 'host-restore-skipped':
      return [a.host, `not woken: ${a.reason}`];
    case 'outage-ended':
      return ['outage', `${a.outage} ended: ${a.outcome}`];
  }
}
