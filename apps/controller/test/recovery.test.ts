/**
 * Recovery from the journal, step by step: a runtime abandoned mid-outage (as by kill -9) and a new
 * one on the same journal reach the same engine state; actions the journal shows decided but never
 * recorded are recorded and carried out once; one-shot effects are repeated only when no `done`
 * note says they happened. And the controller's command signing matches jose byte for byte.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { generateSigningKeys, signCommand, verifyCommand } from '@blackstart/agent-protocol';
import {
  type EngineState,
  type HostRun,
  hostRuns,
  learnedDurations,
  type Plan,
  validatePlan,
} from '@blackstart/policy';
import { tempDir, waitFor } from '@blackstart/tests';
import type { TimelineStore } from '../src/db/index.ts';
import { CommandSigner } from '../src/hub/signer.ts';
import { JournalFlusher } from '../src/runtime/flusher.ts';
import { Cursor, Journal } from '../src/runtime/journal.ts';
import { type ActionExecutor, type JournaledAction, Runtime } from '../src/runtime/runtime.ts';
import { silent } from './helpers.ts';

const plan = (() => {
  const v = validatePlan({
    ups: [{ id: 'ups', powerOff: { delay: 5 } }],
    hosts: [
      {
        id: 'app',
        kind: 'agent',
        dependsOn: ['db'],
        shutdown: { triggers: [{ type: 'on-battery', after: 0 }] },
      },
      { id: 'db', kind: 'agent', shutdown: { triggers: [{ type: 'on-battery', after: 0 }] } },
    ],
    settings: { debounce: 0 },
  });
  if (!v.ok) throw new Error(JSON.stringify(v.errors));
  return v.plan;
})();

const OB = { status: ['OB', 'DISCHRG'], charge: 90, runtime: 900 };

/** Records what the runtime asks of its executor. */
class RecordingExecutor implements ActionExecutor {
  performed: JournaledAction[] = [];
  resumed: { state: EngineState; undone: readonly JournaledAction[] } | undefined;
  perform(actions: readonly JournaledAction[]): void {
    this.performed.push(...actions);
  }
  resume(state: EngineState, undone: readonly JournaledAction[]): void {
    this.resumed = { state, undone };
  }
}

interface Run {
  journal: Journal;
  flusher: JournalFlusher;
  runtime: Runtime;
  executor: RecordingExecutor;
  abandoned: boolean;
}

/** The database is never reached here: the flusher keeps everything queued. */
const unreachable = {
  write: () => Promise.reject(new Error('database down')),
} as unknown as TimelineStore;

describe('recovery from the journal', () => {
  const dirs: Array<{ remove(): void }> = [];
  const runs: Run[] = [];
  afterEach(async () => {
    // Even when a test failed half-way, no timer outlives it.
    for (const run of runs.splice(0)) await abandon(run);
    for (const d of dirs.splice(0)) d.remove();
  });

  function open(dir: string, clock: () => number, withPlan: Plan = plan): Run {
    const journal = Journal.open(join(dir, 'journal'));
    const flusher = new JournalFlusher(journal, new Cursor(join(dir, 'cursor')), unreachable, silent, 60_000);
    const runtime = new Runtime({ plan: withPlan, journal, flusher, sources: new Map(), log: silent, clock });
    const executor = new RecordingExecutor();
    const run = { journal, flusher, runtime, executor, abandoned: false };
    runs.push(run);
    return run;
  }

  /** Acknowledgements are applied in batches, a few milliseconds apart: wait for the next one. */
  async function applied(run: Run) {
    const seq = run.journal.lastSeq;
    await waitFor(() => run.journal.lastSeq > seq, { timeoutMs: 2000, intervalMs: 5, what: 'the batch' });
  }

  async function abandon(run: Run) {
    if (run.abandoned) return;
    run.abandoned = true;
    // What kill -9 leaves: the journal as written, no compaction, nothing flushed. stop() only
    // silences the timer here (it writes nothing).
    await run.runtime.stop();
    await run.flusher.close();
    run.journal.close();
  }

  test('batched acknowledgements replay as they were applied; undone one-shot effects come back, done ones do not', async () => {
    const d = tempDir();
    dirs.push(d);
    let now = 1_000_000;
    const first = open(d.path, () => now);
    await first.runtime.start(first.executor);
    first.runtime.dispatch({ type: 'reading', source: 'ups', reading: OB });
    const appCommand = first.executor.performed.find(
      (p) => p.action.type === 'shutdown-host' && p.action.host === 'app',
    );
    assert.ok(appCommand, 'app is commanded first');
    const commandId = (appCommand.action as { commandId: string }).commandId;
    now += 2000;
    // Two acknowledgements in the same turn: one step, one fsync.
    first.runtime.hostProgress('app', commandId, 'received');
    first.runtime.hostProgress('app', commandId, 'powering-off', 'bye');
    await applied(first);
    const batch = first.journal.read().filter((r) => r.kind === 'event' && r.batch === 2);
    assert.equal(batch.length, 1);
    const db = first.executor.performed.find(
      (p) => p.action.type === 'shutdown-host' && p.action.host === 'db',
    );
    assert.ok(db, 'db is commanded once app is down');
    const dbCommand = (db.action as { commandId: string }).commandId;
    now += 1000;
    first.runtime.hostProgress('db', dbCommand, 'powering-off');
    await applied(first);
    const powerOff = first.executor.performed.find((p) => p.action.type === 'power-off-ups');
    assert.ok(powerOff, 'the UPS is powered off after both');
    const stateBefore = JSON.stringify(first.runtime.engineState);
    await abandon(first);

    now += 500;
    const second = open(d.path, () => now);
    await second.runtime.start(second.executor);
    assert.equal(JSON.stringify(second.runtime.engineState), stateBefore, 'the same state after the restart');
    assert.deepEqual(second.executor.performed, [], 'nothing already journaled is carried out again');
    assert.deepEqual(
      second.executor.resumed?.undone.map((u) => [u.action.type, u.seq]),
      [['power-off-ups', powerOff.seq]],
      'the power-off has no done note: it is handed back',
    );
    // Once its done note is journaled, a further restart leaves it alone.
    second.runtime.note('UPS told', { source: 'ups', done: powerOff.seq });
    await abandon(second);
    const third = open(d.path, () => now);
    await third.runtime.start(third.executor);
    assert.deepEqual(third.executor.resumed?.undone, []);
    await abandon(third);
  });

  test('an event whose actions never reached the journal (torn write) gets them recorded and carried out once', async () => {
    const d = tempDir();
    dirs.push(d);
    let now = 2_000_000;
    const first = open(d.path, () => now);
    await first.runtime.start(first.executor);
    first.runtime.dispatch({ type: 'reading', source: 'ups', reading: OB });
    const commandId = `${first.runtime.engineState.outage!.id}:app:shutdown`;
    now += 1000;
    // The crash came after the event line, before the action lines of the same write.
    first.journal.append(
      [
        {
          kind: 'event',
          outage: first.runtime.engineState.outage!.id,
          event: { type: 'host-progress', host: 'app', commandId, step: 'powering-off' },
        },
      ],
      now,
    );
    await abandon(first);

    const second = open(d.path, () => now);
    await second.runtime.start(second.executor);
    assert.deepEqual(
      second.executor.performed.map((p) => [p.action.type, 'host' in p.action ? p.action.host : undefined]),
      [
        ['host-down', 'app'],
        ['shutdown-host', 'db'],
      ],
    );
    const recorded = second.journal
      .read()
      .filter((r) => r.kind === 'action' && r.action.type === 'shutdown-host');
    assert.deepEqual(
      recorded.map((r) => (r.kind === 'action' && 'host' in r.action ? r.action.host : '')),
      ['app', 'db'],
      'each command once in the journal',
    );
    await abandon(second);
    const third = open(d.path, () => now);
    await third.runtime.start(third.executor);
    assert.deepEqual(third.executor.performed, [], 'and never again');
    await abandon(third);
  });
  test('a snapshot the previous version journaled mid-outage is read in the current form, and its command re-issued', async () => {
    // The policy engine's fixture: a state its previous version wrote (runs as objects).
    const legacy = JSON.parse(
      readFileSync(
        new URL('../../../packages/policy/test/fixtures/legacy-state.json', import.meta.url),
        'utf8',
      ),
    ) as { state: EngineState & { outage: { hosts: { chunks: HostRun[][] } } } };
    const d = tempDir();
    dirs.push(d);
    const journal = Journal.open(join(d.path, 'journal'));
    journal.compact(legacy.state, legacy.state.clock, 0);
    journal.close();
    const run = open(d.path, () => legacy.state.clock + 500, legacy.state.plan);
    await run.runtime.start(run.executor);
    const state = run.runtime.engineState;
    assert.equal(state.outage?.id, legacy.state.outage.id);
    assert.deepEqual([...hostRuns(state).values()], legacy.state.outage.hosts.chunks.flat());
    assert.deepEqual(learnedDurations(state), { app: [12, 14], db: [40], nas: [25] });
    // db was commanded and had not acknowledged: the executor is handed the state to re-issue it.
    assert.equal(hostRuns(run.executor.resumed!.state).get('db')?.phase, 'commanded');
  });
});

describe('command signing', () => {
  test('node:crypto signatures are byte for byte the JWS jose makes, and agents accept them', async () => {
    const keys = await generateSigningKeys();
    const signer = new CommandSigner(keys);
    const bodies = [
      {
        action: 'shutdown' as const,
        outage: 'o-1',
        reason: 'ups on battery for 60 s',
        hooks: [],
        powerOff: true,
      },
      {
        action: 'shutdown' as const,
        outage: 'o-1',
        reason: 'drill: «ünïcode» & "quotes"',
        hooks: [{ type: 'command' as const, name: 'stop', run: 'systemctl stop x', timeout: 30 }],
        powerOff: false,
      },
      { action: 'cancel' as const, outage: 'o-1', ref: 'o-1:app:shutdown' },
      { action: 'wake' as const, outage: 'o-1', targets: [{ host: 'nas', mac: '00:11:22:33:44:55' }] },
    ];
    for (const [i, body] of bodies.entries()) {
      const command = {
        id: `c-${i}`,
        target: 'app',
        issuer: 'ctl-x',
        ttlSeconds: 90,
        now: 1_700_000_000_123,
        body,
      };
      const fast = signer.sign(command);
      assert.equal(fast, await signCommand(keys, command));
      assert.equal(await signer.signAsync(command), fast, 'the thread-pool path signs the same bytes');
      const verified = await verifyCommand(fast, {
        controllerKey: keys.publicKey,
        host: 'app',
        now: command.now,
        seen: () => false,
      });
      assert.deepEqual([verified.id, verified.action], [`c-${i}`, body.action]);
    }
  });
});
