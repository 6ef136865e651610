/**
 * The controller as a real process against real peers: Debian's upsd + dummy-ups as the UPS (the
 * outage scripted in the driver's .seq file), real agent processes in dry-run, and a real upsmon
 * secondary standing in for a Synology on the controller's own NUT server. Then the controller is
 * killed with SIGKILL in the middle of an outage and restarted: the run resumes, no step repeated
 * or lost.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  BX1600MI_DEV,
  freePort,
  indexOfEvent,
  NUT_LAB_TOOLS,
  NutLab,
  needs,
  PrivatePostgres,
  postgresSkipReason,
  tempDir,
  type UpsmonHandle,
  waitFor,
} from '../harness/index.ts';
import {
  AgentProcess,
  ControllerProcess,
  dump,
  type Timeline,
  waitForAgents,
} from './controller-processes.ts';

const MAINS = `${BX1600MI_DEV}TIMER 3600\n`;
/** Mains fails a second after the driver starts; the battery drains a little; then it stays on battery. */
const OUTAGE = `${BX1600MI_DEV}TIMER 1
ups.status: OB DISCHRG
input.voltage: 0.0
battery.charge: 96
battery.runtime: 2900
TIMER 4
battery.charge: 92
battery.runtime: 2700
TIMER 3600
`;

const AGENT_HOSTS = ['app', 'db', 'hv'];

const requirements = needs(...NUT_LAB_TOOLS, 'upsmon');

describe('controller process with upsd, agents and upsmon', {
  skip: requirements.skip ?? postgresSkipReason(),
}, () => {
  const dir = tempDir('blackstart-e2e-outage-');
  /** The app's hook writes the outage id here each time it runs. */
  const hookLog = join(dir.path, 'app-hook.log');
  let lab: NutLab;
  /** The controller's database: a PostgreSQL of this test's own, stopped in the kill -9 test. */
  let pg: PrivatePostgres;
  let controller: ControllerProcess;
  let nutPort: number;
  const agents: AgentProcess[] = [];
  let upsmon: UpsmonHandle;

  /** Restarts dummy-ups on a new script: the .seq file is what the UPS does from now on. */
  async function play(script: string): Promise<void> {
    await lab.killDriver();
    writeFileSync(lab.dataFile, script);
    lab.startDriver();
  }

  async function startUpsmon(name: string): Promise<UpsmonHandle> {
    const handle = await lab.startUpsmon({
      role: 'secondary',
      user: 'nas',
      password: 'naspass',
      monitor: `ups@127.0.0.1:${nutPort}`,
      name,
      settings: { POLLFREQ: 1, POLLFREQALERT: 1 },
    });
    await waitFor(() => lab.upsc(['-c', `ups@127.0.0.1:${nutPort}`]).stdout.includes('127.0.0.1'), {
      timeoutMs: 20_000,
      what: `upsmon ${name} to log in to the controller`,
    });
    return handle;
  }

  /** Waits for the running (or given) outage's timeline to satisfy `done`. */
  async function timelineUntil(
    done: (t: Timeline) => boolean,
    what: string,
    outage?: string,
  ): Promise<Timeline> {
    let last: Timeline | undefined;
    try {
      return await waitFor(
        async () => {
          const id = outage ?? (await controller.health()).outage;
          if (!id) return undefined;
          last = await controller.timeline(id);
          return last && done(last) ? last : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 250, what },
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${last ? dump(last) : ''}\n${controller.log()}`);
    }
  }

  before(async () => {
    [lab, pg] = await Promise.all([NutLab.start({ kind: 'seq', data: MAINS }), PrivatePostgres.start()]);
    nutPort = await freePort();
    controller = await ControllerProcess.start(
      join(dir.path, 'controller'),
      {
        sources: [
          {
            id: 'ups',
            type: 'nut',
            host: '127.0.0.1',
            port: lab.port,
            username: 'monuser',
            password: 'secret',
            interval: 0.5,
          },
        ],
        nutServer: {
          host: ['127.0.0.1'],
          port: nutPort,
          users: [{ name: 'nas', password: 'naspass' }],
          clients: { nas: { user: 'nas' } },
        },
        controllerHost: { powerOff: 'dry-run' },
        plan: {
          ups: [{ id: 'ups', powerOff: { delay: 2, offFor: 1 } }],
          hosts: [
            {
              id: 'app',
              kind: 'agent',
              dependsOn: ['db'],
              shutdown: {
                hooks: [
                  {
                    type: 'command',
                    name: 'stop app',
                    run: `echo "$BLACKSTART_OUTAGE" >> ${hookLog}; sleep 3`,
                    timeout: 30,
                  },
                ],
                timeout: 60,
              },
            },
            { id: 'db', kind: 'agent', dependsOn: ['nas'], shutdown: { timeout: 60 } },
            {
              id: 'nas',
              kind: 'nut-client',
              shutdown: { timeout: 60 },
              wake: { method: 'power-on', timeout: 60 },
            },
            {
              id: 'hv',
              kind: 'agent',
              shutdown: { triggers: [{ type: 'on-battery', after: 3 }], timeout: 60 },
            },
            { id: 'ctl', kind: 'controller' },
          ],
          settings: { debounce: 1, mainsBackAfter: 1, defaultTriggers: [{ type: 'on-battery', after: 1 }] },
          restore: { mainsStableFor: 1, minCharge: 0 },
        },
      },
      { DATABASE_URL: pg.url },
    );
    for (const host of AGENT_HOSTS) agents.push(await AgentProcess.start(controller, host, dir.path));
    await waitForAgents(controller, AGENT_HOSTS);
    upsmon = await startUpsmon('nas');
  });

  after(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await controller?.stop();
    await Promise.all([lab?.stop(), pg?.remove()]);
    dir.remove();
  });

  test('a .seq outage produces exactly the planned order, and upsmon gets FSD at its stage, not before', async () => {
    // Before any outage the controller says whether the UPS can be power-cycled: dummy-ups cannot.
    const sources = await waitFor(
      async () => {
        const r = await controller.api<{
          sources: Array<{
            id: string;
            capabilities: { restore: string; commands: string[] } | null;
            warnings: string[];
          }>;
        }>('GET', '/api/v1/sources');
        return r.body.sources[0]?.capabilities ? r.body.sources[0] : undefined;
      },
      { what: 'the UPS capabilities' },
    );
    assert.deepEqual([sources.capabilities?.restore, sources.capabilities?.commands], ['none', ['load.off']]);
    assert.match(sources.warnings[0] ?? '', /cannot be powered off by Blackstart/);

    await play(OUTAGE);
    const timeline = await timelineUntil(
      (t) => indexOfEvent(t, 'host-progress', { host: 'ctl', step: 'powering-off' }) >= 0,
      'the shutdown to reach the controller’s host',
    );
    const at = (kind: string, where: Parameters<typeof indexOfEvent>[2] = {}) => {
      const i = indexOfEvent(timeline, kind, where);
      assert.ok(i >= 0, `${kind} ${JSON.stringify(where)} missing:\n${dump(timeline)}`);
      return i;
    };
    const chain = [
      at('outage-started'),
      at('shutdown-host', { host: 'app' }),
      at('host-progress', { host: 'app', step: 'hook-finished' }),
      at('host-down', { host: 'app' }),
      at('shutdown-host', { host: 'db' }),
      at('host-down', { host: 'db' }),
      at('shutdown-host', { host: 'nas' }),
      at('note', { host: 'nas', message: /^FSD raised for user nas on ups$/ }),
      at('host-progress', { host: 'nas', step: 'powering-off' }),
      at('host-down', { host: 'nas' }),
      at('power-off-ups', { source: 'ups' }),
      at('shutdown-host', { host: 'ctl' }),
      at('host-progress', { host: 'ctl', step: 'powering-off' }),
    ];
    assert.deepEqual(
      chain,
      [...chain].sort((a, b) => a - b),
      `out of order:\n${dump(timeline)}`,
    );
    assert.ok(
      at('host-down', { host: 'hv' }) < at('power-off-ups', { source: 'ups' }),
      'hv down before the UPS',
    );
    // dummy-ups offers no power-cycle command: the attempt fails and says why.
    at('note', { source: 'ups', message: /^failed to carry out power-off-ups: .*cannot be powered off/ });

    // upsmon ran its SHUTDOWNCMD after db was down (its stage), and saw no FSD before.
    const shutdownAt = await waitFor(() => upsmon.shutdownAt(), {
      timeoutMs: 15_000,
      what: 'upsmon’s SHUTDOWNCMD',
    });
    const dbDown = Date.parse(timeline.events[at('host-down', { host: 'db' })]!.at) / 1000;
    const fsdRaised = Date.parse(timeline.events[at('shutdown-host', { host: 'nas' })]!.at) / 1000;
    assert.ok(
      shutdownAt >= fsdRaised && fsdRaised >= dbDown,
      `upsmon shut down at ${shutdownAt}, db down at ${dbDown}`,
    );
    const fsdNotices = upsmon.notifications().filter((n) => n.type === 'FSD');
    assert.ok(fsdNotices.length > 0 && fsdNotices.every((n) => n.at >= fsdRaised - 0.05), upsmon.log());
    for (const a of agents) assert.equal(a.dryRuns().length, 1, `${a.host} powered off once (dry-run)`);

    // Mains returns; the "NAS" boots (a new upsmon logs in, sees no FSD) and the restore completes.
    await play(MAINS);
    const booted = await startUpsmon('nas-booted');
    const outageId = timeline.id;
    const ended = await timelineUntil((t) => t.outcome !== null, 'the outage to end', outageId);
    assert.equal(ended.outcome, 'restored', dump(ended));
    assert.ok(
      indexOfEvent(ended, 'host-up', { host: 'nas' }) >= 0,
      'the NUT login is the NAS’s health check',
    );
    assert.equal(booted.shutdownAt(), undefined, 'the booted NAS is not told to shut down again');
    upsmon = booted;
  });

  test('kill -9 in the middle of an outage, its database gone too: the restarted controller resumes; no step repeated or lost', async () => {
    await play(OUTAGE);
    const before = await timelineUntil(
      (t) => indexOfEvent(t, 'host-progress', { host: 'app', step: 'hook-started' }) >= 0,
      'app’s hook to start',
    );
    const outage = before.id;
    // PostgreSQL goes away (its host is shutting down), then the controller dies.
    await pg.stop();
    await controller.kill9();
    await controller.restart();
    const health = await controller.health();
    assert.equal(health.database.reachable, false, 'restarted without its database');
    assert.equal(health.outage, outage, 'the outage resumed from the journal');
    // The run goes on without the database: every agent powers off, the NAS is told.
    await waitFor(() => agents.every((a) => a.dryRuns().some((r) => r.outage === outage)), {
      timeoutMs: 60_000,
      what: `every agent to power off in ${outage}`,
    });
    await waitFor(() => upsmon.shutdownAt(), { timeoutMs: 30_000, what: 'upsmon’s SHUTDOWNCMD' });
    await pg.resume();
    await waitFor(async () => (await controller.health()).journal.pendingFlush === 0, {
      timeoutMs: 30_000,
      what: 'the journal to be flushed once the database is back',
    });

    const timeline = await timelineUntil(
      (t) => indexOfEvent(t, 'host-progress', { host: 'ctl', step: 'powering-off' }) >= 0,
      'the resumed shutdown to reach the controller’s host',
      outage,
    );
    assert.equal((await controller.health()).outage, outage, 'the same outage goes on');
    const count = (kind: string, host: string, extra: (d: Record<string, unknown>) => boolean = () => true) =>
      timeline.events.filter((e) => e.kind === kind && e.host === host && extra(e.data)).length;
    for (const host of ['app', 'db', 'nas', 'hv', 'ctl']) {
      assert.equal(count('shutdown-host', host), 1, `${host} commanded once:\n${dump(timeline)}`);
      assert.equal(
        count('host-down', host, (d) => d.how === 'acknowledged'),
        1,
        `${host} down once, acknowledged`,
      );
    }
    // Acknowledgements made while the controller was down are sent after the agent reconnects.
    for (const step of ['received', 'hook-started', 'hook-finished', 'powering-off'])
      assert.equal(
        count('host-progress', 'app', (d) => d.step === step),
        1,
        `app ${step} once:\n${dump(timeline)}`,
      );
    const order = [
      indexOfEvent(timeline, 'host-down', { host: 'app' }),
      indexOfEvent(timeline, 'shutdown-host', { host: 'db' }),
      indexOfEvent(timeline, 'host-down', { host: 'db' }),
      indexOfEvent(timeline, 'shutdown-host', { host: 'nas' }),
      indexOfEvent(timeline, 'power-off-ups', { source: 'ups' }),
    ];
    assert.deepEqual(
      order,
      [...order].sort((a, b) => a - b),
    );
    assert.equal(timeline.events.filter((e) => e.kind === 'power-off-ups').length, 1);
    // Every agent powered off exactly once in this outage, the app's hook ran once.
    for (const a of agents)
      assert.equal(a.dryRuns().filter((r) => r.outage === outage).length, 1, `${a.host} once in ${outage}`);
    const hookRuns = readFileSync(hookLog, 'utf8')
      .split('\n')
      .filter((l) => l === outage);
    assert.equal(hookRuns.length, 1, 'the hook ran once although its command was re-sent after the restart');
    // Timeline rows are journal records, each once: no sequence number twice.
    const seqs = timeline.events.map((e) => e.seq);
    assert.equal(new Set(seqs).size, seqs.length);
  });
});
