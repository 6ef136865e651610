/**
 * What the controller needs to start without its database: local copies of the agents' keys and
 * of the API tokens, kept in step with the database; and PostgreSQL unreachable at start is
 * retried rather than fatal.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort, tempDir } from '@blackstart/tests';
import { isUnreachable } from '../src/db/client.ts';
import { AgentStore, ApiTokenStore, type OpenDatabase, openDatabase } from '../src/db/index.ts';

describe('starting without the database', () => {
  const dir = tempDir();
  let db: OpenDatabase;
  before(async () => {
    db = await openDatabase({ memory: true });
  });
  after(async () => {
    await db?.close();
    dir.remove();
  });

  test('API tokens and agent keys are copied locally and read back when the database cannot be asked', async () => {
    const tokens = new ApiTokenStore(db.db, join(dir.path, 'api-tokens.json'));
    const { token, record } = await tokens.create('ci', 'viewer', new Date('2026-01-01T00:00:00Z'));
    const active = await tokens.active();
    assert.equal(active.size, 1);
    const cached = await tokens.activeOrCached(false);
    assert.deepEqual([...cached.values()], [record]);
    assert.ok(token.startsWith('bsk_'));

    const agents = new AgentStore(db.db, join(dir.path, 'agents.json'));
    const { token: enrollment } = await agents.mintToken({ host: 'app', ttlSeconds: 60, now: new Date() });
    const jwk = { kty: 'OKP', crv: 'Ed25519', x: 'A'.repeat(43) };
    await agents.enroll({
      token: enrollment,
      host: 'app',
      publicJwk: jwk,
      keyId: 'kid-1',
      facts: {},
      now: new Date(),
    });
    assert.deepEqual(await agents.trusted(false), [{ host: 'app', publicJwk: jwk, keyId: 'kid-1' }]);
    // A store without a copy has nothing to fall back on.
    assert.deepEqual(await new AgentStore(db.db).trusted(false), []);
  });

  test('an unreachable PostgreSQL is retried in the background; other failures stop the start', async () => {
    const port = await freePort();
    const retried: string[] = [];
    const opened = await openDatabase(
      { url: `postgres://postgres@127.0.0.1:${port}/nothing` },
      { whenUnreachable: 'retry', onRetry: (e) => retried.push(e.message), retryMs: 60_000 },
    );
    try {
      assert.equal(opened.isReady, false);
      assert.equal(retried.length, 1);
    } finally {
      await opened.close();
    }
    await assert.rejects(openDatabase({ url: `postgres://postgres@127.0.0.1:${port}/nothing` }));
    assert.equal(isUnreachable(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })), true);
    assert.equal(isUnreachable(Object.assign(new Error('x'), { code: '42P01' })), false);
  });
});
