import { parseArgs } from 'node:util';
import type { DrillReport } from '../drill/drill.ts';
import { ApiClient } from './api-client.ts';
import { type CliCommand, UsageError } from './command.ts';

const DEFAULT_URL = 'http://127.0.0.1:7393';

/** A drill report as text: one line per host, what was learned, what was held back. */
export function formatDrill(report: DrillReport): string {
  const seconds = (from: string, to: string | null) =>
    to ? `${Math.round((Date.parse(to) - Date.parse(from)) / 1000)} s` : 'so far';
  const lines = [
    `Drill ${report.id}: ${report.status}${report.planVersion !== null ? ` (plan version ${report.planVersion})` : ''}`,
    `  ${report.simulatedSeconds} s of simulated outage in ${seconds(report.startedAt, report.endedAt)}`,
  ];
  if (report.message) lines.push(`  ${report.message}`);
  for (const u of report.ups)
    lines.push(
      `  UPS ${u.id}: from ${Math.round(u.charge)} % at ${Math.round(u.load)} % load (${u.runtimeAtLoad} s on a full battery)${u.powerOff ? `; ${u.powerOff}` : ''}`,
    );
  lines.push('');
  const width = Math.max(4, ...report.hosts.map((h) => h.host.length));
  for (const h of report.hosts) {
    const when = h.triggeredAfter !== undefined ? `+${String(h.triggeredAfter).padStart(5)} s` : '        ';
    const result =
      h.how === 'acknowledged'
        ? `shut down in ${h.seconds?.toFixed(1)} s`
        : h.how === 'not-rehearsed'
          ? 'not rehearsed'
          : h.how === 'deadline-passed'
            ? 'NO ACKNOWLEDGEMENT before its deadline'
            : 'not triggered';
    lines.push(
      `  ${h.host.padEnd(width)}  ${when}  ${result}${h.trigger ? ` — ${h.trigger}` : ''}${h.note ? ` (${h.note})` : ''}`,
    );
  }
  const learned = Object.entries(report.learned);
  if (learned.length > 0) {
    lines.push('');
    lines.push(`  Learned for the budget: ${learned.map(([h, s]) => `${h} ${s.toFixed(1)} s`).join(', ')}`);
  }
  return lines.join('\n');
}

export const drillCommand: CliCommand = {
  name: 'drill',
  summary: 'rehearse the plan on a running controller, every power action held back',
  usage: `usage: blackstart drill [--url <url>] [--token <token>] [--fingerprint <sha256:…> | --insecure]
                        [--max-seconds <n>] [--no-wait] [--json]

Asks a running controller for a drill: its plan runs against a simulated outage (every UPS on battery
from its current charge and load) and agents carry out everything but the final power action —
their hooks run for real. Each host's shutdown is timed, and the measured durations feed the
budget's expected durations. Waits for the drill and prints each host's result; exit status 0 when
it completed, 1 otherwise.

  --url <url>          the controller (default $BLACKSTART_URL, else ${DEFAULT_URL})
  --token <token>      an admin API token (default $BLACKSTART_API_TOKEN)
  --fingerprint <fp>   pin the controller's certificate (sha256:…, as 'blackstart serve' logs it)
  --insecure           accept any certificate
  --max-seconds <n>    give up after this long (default 3600)
  --no-wait            start it and print its id
  --json               print the report as JSON`,
  async run(args) {
    let values: {
      url?: string | undefined;
      token?: string | undefined;
      fingerprint?: string | undefined;
      insecure?: boolean | undefined;
      'max-seconds'?: string | undefined;
      'no-wait'?: boolean | undefined;
      json?: boolean | undefined;
    };
    try {
      ({ values } = parseArgs({
        args,
        options: {
          url: { type: 'string' },
          token: { type: 'string' },
          fingerprint: { type: 'string' },
          insecure: { type: 'boolean' },
          'max-seconds': { type: 'string' },
          'no-wait': { type: 'boolean' },
          json: { type: 'boolean' },
        },
        strict: true,
      }));
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const token = values.token ?? process.env.BLACKSTART_API_TOKEN;
    if (!token) throw new UsageError('an admin API token is needed: --token or BLACKSTART_API_TOKEN');
    const maxSeconds = values['max-seconds'] !== undefined ? Number(values['max-seconds']) : undefined;
    if (maxSeconds !== undefined && !(Number.isInteger(maxSeconds) && maxSeconds >= 10))
      throw new UsageError(`--max-seconds: '${values['max-seconds']}' is not a whole number of seconds ≥ 10`);
    const api = new ApiClient({
      url: values.url ?? process.env.BLACKSTART_URL ?? DEFAULT_URL,
      token,
      ...(values.fingerprint !== undefined && { fingerprint: values.fingerprint }),
      ...(values.insecure && { insecure: true }),
    });
    const started = await api.call<DrillReport & { message?: string }>(
      'POST',
      '/api/v1/drills',
      maxSeconds !== undefined ? { maxSeconds } : {},
    );
    if (started.status !== 202) {
      process.stderr.write(
        `blackstart drill: the controller refused (${started.status}): ${started.body.message ?? JSON.stringify(started.body)}\n`,
      );
      return 1;
    }
    if (values['no-wait']) {
      process.stdout.write(`${started.body.id}\n`);
      return 0;
    }
    let report = started.body;
    while (report.status === 'running') {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const r = await api.call<DrillReport>('GET', `/api/v1/drills/${encodeURIComponent(report.id)}`);
      if (r.status !== 200) throw new Error(`cannot read drill ${report.id}: ${r.status}`);
      report = r.body;
    }
    process.stdout.write(`${values.json ? JSON.stringify(report, null, 2) : formatDrill(report)}\n`);
    return report.status === 'completed' ? 0 : 1;
  },
};
