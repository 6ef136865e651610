import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { databaseTargets } from '@blackstart/tests';
import { AgentStore, type OpenDatabase, openDatabase, TimelineStore } from '../src/db/index.ts';
import type { JournalRecord } from '../src/runtime/journal.ts';

const OB = { status: ['OB', 'DISCHRG'], charge: 97, runtime: 1100, load: 30, inputVoltage: 0 };

/** A small outage as the runtime journals it. */
function outageRecords(outage: string, t0: number): JournalRecord[] {
  return [
    {
      seq: 1,
      at: t0,
      kind: 'event',
      event: { type: 'reading', source: 'ups', reading: OB },
      statusChanged: true,
    },
    { seq: 2, at: t0 + 5000, kind: 'event', event: { type: 'tick' } },
    {
      seq: 3,
      at: t0 + 5000,
      kind: 'action',
      outage,
      action: { type: 'outage-started', outage, sources: ['ups'] },
    },
    {
      seq: 4,
      at: t0 + 5000,
      kind: 'backfill',
      outage,
      readings: [{ seq: 1, at: t0, source: 'ups', reading: OB, statusChanged: true }],
    },
    {
      seq: 5,
      at: t0 + 6000,
      kind: 'action',
      outage,
      action: {
        type: 'shutdown-host',
        outage,
        host: 'app',
        kind: 'agent',
        commandId: `${outage}:app:shutdown`,
        deadline: t0 + 66000,
        reason: 'ups on battery for 1 s',
      },
    },
    { seq: 6, at: t0 + 6000, kind: 'note', outage, host: 'app', message: 'command sent' },
    {
      seq: 7,
      at: t0 + 6500,
      kind: 'event',
      outage,
      event: {
        type: 'host-progress',
        host: 'app',
        commandId: `${outage}:app:shutdown`,
        step: 'powering-off',
      },
    },
    {
      seq: 8,
      at: t0 + 6500,
      kind: 'action',
      outage,
      action: { type: 'host-down', outage, host: 'app', how: 'acknowledged' },
    },
    {
      seq: 9,
      at: t0 + 7000,
      kind: 'event',
      outage,
      event: { type: 'reading', source: 'ups', reading: { ...OB, charge: 96 } },
    },
    {
      seq: 10,
      at: t0 + 9000,
      kind: 'event',
      outage,
      event: { type: 'reading', source: 'ups', reading: { status: ['OL'], charge: 96 } },
      statusChanged: true,
    },
    {
      seq: 11,
      at: t0 + 9000,
      kind: 'action',
      outage,
      action: { type: 'outage-ended', outage, outcome: 'restored' },
    },
  ];
}

for (const target of databaseTargets()) {
  describe(`repositories on ${target.name}`, { skip: target.skip }, () => {
    let opened: OpenDatabase;
    let close: () => Promise<void>;

    before(async () => {
      const t = await target.open();
      close = t.close;
      opened = await openDatabase(t.target.kind === 'pglite' ? { memory: true } : { url: t.target.url });
    });
    after(async () => {
      await opened?.close();
      await close?.();
    });

    test('migrations leave an empty, queryable schema', async () => {
      const store = new TimelineStore(opened.db);
      await store.ping();
      assert.deepEqual(await store.listOutages(), []);
    });

    test('writes an outage from journal records and reads its timeline back in order', async () => {
      const store = new TimelineStore(opened.db);
      const t0 = Date.parse('2026-11-01T10:00:00Z');
      await store.write(outageRecords('outage-a', t0));
      const [summary] = await store.listOutages();
      assert.deepEqual(summary, {
        id: 'outage-a',
        startedAt: '2026-11-01T10:00:05.000Z',
        endedAt: '2026-11-01T10:00:09.000Z',
        outcome: 'restored',
        sources: ['ups'],
      });
      const timeline = await store.timeline('outage-a');
      assert.ok(timeline);
      assert.deepEqual(
        timeline.events.map((e) => [e.kind, e.host ?? e.source]),
        [
          ['ups-status', 'ups'],
          ['outage-started', null],
          ['shutdown-host', 'app'],
          ['note', 'app'],
          ['host-progress', 'app'],
          ['host-down', 'app'],
          ['ups-status', 'ups'],
          ['outage-ended', null],
        ],
      );
      // The on-battery prelude (backfilled) and the readings during the outage are all telemetry.
      assert.deepEqual(
        timeline.readings.map((r) => [r.status, r.charge]),
        [
          ['OB DISCHRG', 97],
          ['OB DISCHRG', 96],
          ['OL', 96],
        ],
      );
      assert.equal(await store.timeline('nope'), undefined);
    });

    test('writing the same records again changes nothing (flush is idempotent)', async () => {
      const store = new TimelineStore(opened.db);
      const records = outageRecords('outage-b', Date.parse('2026-11-02T10:00:00Z')).map((r) => ({
        ...r,
        seq: r.seq + 100,
        ...('readings' in r ? { readings: r.readings.map((x) => ({ ...x, seq: x.seq + 100 })) } : {}),
      })) as JournalRecord[];
      await store.write(records);
      const first = await store.timeline('outage-b');
      await store.write(records);
      await store.write(records.slice(3));
      assert.deepEqual(await store.timeline('outage-b'), first);
    });

    test('a journal that starts again (new data directory, same database) stores its outages in full', async () => {
      const store = new TimelineStore(opened.db);
      // The same journal seqs as outage-a's, written earlier by "another" journal.
      await store.write(outageRecords('outage-c', Date.parse('2026-11-03T10:00:00Z')));
      const earlier = (await store.timeline('outage-a'))!;
      const again = (await store.timeline('outage-c'))!;
      assert.equal(again.outcome, earlier.outcome);
      assert.deepEqual(
        again.events.map((e) => [e.seq, e.kind, e.host]),
        earlier.events.map((e) => [e.seq, e.kind, e.host]),
      );
      assert.equal(again.readings.length, earlier.readings.length);
      assert.ok(again.events.length > 3);
    });

    test('plan versions are numbered per data directory: a new one does not overwrite an earlier one', async () => {
      const store = new TimelineStore(opened.db);
      const plan = (timeout: number) =>
        ({ ups: [{ id: 'ups' }], hosts: [{ id: 'app', kind: 'agent', shutdown: { timeout } }] }) as never;
      const t0 = Date.parse('2026-11-04T10:00:00Z');
      // A journal from before lineages, then two data directories on the same database.
      await store.write([
        { seq: 1, at: t0, kind: 'plan', version: 1, origin: 'file', plan: plan(10) },
        { seq: 2, at: t0, kind: 'plan', lineage: 'dir-a', version: 1, origin: 'file', plan: plan(20) },
        {
          seq: 3,
          at: t0,
          kind: 'plan',
          lineage: 'dir-a',
          version: 2,
          origin: 'api',
          author: 'x',
          plan: plan(30),
        },
      ]);
      await store.write([
        { seq: 1, at: t0 + 1, kind: 'plan', lineage: 'dir-b', version: 1, origin: 'file', plan: plan(40) },
      ]);
      const timeout = async (lineage: string, version: number) => {
        const found = await store.planVersion(lineage, version);
        assert.ok(found, `${lineage} version ${version} is stored`);
        return (found.plan as { hosts: Array<{ shutdown: { timeout: number } }> }).hosts[0]!.shutdown.timeout;
      };
      assert.deepEqual(
        [
          await timeout('legacy', 1),
          await timeout('dir-a', 1),
          await timeout('dir-a', 2),
          await timeout('dir-b', 1),
        ],
        [10, 20, 30, 40],
      );
      assert.deepEqual(
        (await store.listPlanVersions('dir-a')).map((v) => [v.version, v.origin, v.author]),
        [
          [2, 'api', 'x'],
          [1, 'file', null],
        ],
      );
      assert.deepEqual(
        (await store.listPlanVersions('dir-b')).map((v) => v.version),
        [1],
      );
      assert.equal(await store.planVersion('dir-b', 2), undefined);
    });

    test('enrollment tokens work once, only before they expire, only for their host', async () => {
      const agents = new AgentStore(opened.db);
      const now = new Date('2026-11-01T10:00:00Z');
      const jwk = { kty: 'OKP', crv: 'Ed25519', x: 'A'.repeat(43) };
      const { token } = await agents.mintToken({ host: 'nas', ttlSeconds: 60, now });
      await assert.rejects(
        agents.enroll({ token, host: 'app', publicJwk: jwk, keyId: 'k', facts: {}, now }),
        { code: 'host-mismatch' },
      );
      // The mismatch rolled back: the token is still unused.
      const enrolled = await agents.enroll({
        token,
        host: 'nas',
        publicJwk: jwk,
        keyId: 'k1',
        facts: { hostname: 'nas' },
        now,
      });
      assert.equal(enrolled.host, 'nas');
      await assert.rejects(
        agents.enroll({ token, host: 'nas', publicJwk: jwk, keyId: 'k1', facts: {}, now }),
        { code: 'invalid-token' },
      );
      const { token: late } = await agents.mintToken({ ttlSeconds: 60, now });
      await assert.rejects(
        agents.enroll({
          token: late,
          host: 'x',
          publicJwk: jwk,
          keyId: 'k',
          facts: {},
          now: new Date(now.getTime() + 61_000),
        }),
        { code: 'invalid-token' },
      );
      await assert.rejects(
        agents.enroll({ token: 'bst_unknown', host: 'x', publicJwk: jwk, keyId: 'k', facts: {}, now }),
        { code: 'invalid-token' },
      );
      const list = await agents.list();
      assert.deepEqual(
        list.map((a) => [a.host, a.keyId, a.facts]),
        [['nas', 'k1', { hostname: 'nas' }]],
      );
      await agents.markSeen('nas', now);
      assert.deepEqual((await agents.list())[0]?.lastSeenAt, now);
    });
  });
}
