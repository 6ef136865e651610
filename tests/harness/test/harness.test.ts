import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import {
  createTestDatabase,
  createTestRedis,
  NUT_LAB_TOOLS,
  NutLab,
  needs,
  postgresSkipReason,
  redisSkipReason,
} from '../index.ts';

describe('test harness', () => {
  test('gives each caller its own empty PostgreSQL database', { skip: postgresSkipReason() }, async () => {
    const a = await createTestDatabase();
    const b = await createTestDatabase();
    try {
      assert.notEqual(a.url, b.url);
      const sql = postgres(a.url, { max: 1, onnotice: () => {} });
      await sql`create table t (x int)`;
      await sql`insert into t values (1)`;
      assert.deepEqual([...(await sql`select x from t`)], [{ x: 1 }]);
      await sql.end();
      const other = postgres(b.url, { max: 1, onnotice: () => {} });
      const tables =
        await other`select table_name from information_schema.tables where table_schema = 'public'`;
      assert.equal(tables.length, 0);
      await other.end();
    } finally {
      await a.drop();
      await b.drop();
    }
  });

  test('gives Redis users a private prefix and cleans it up', { skip: redisSkipReason() }, async () => {
    const r = await createTestRedis();
    const redis = new Redis(r.url, { keyPrefix: `${r.prefix}:` });
    await redis.set('k', 'v');
    assert.equal(await redis.get('k'), 'v');
    await r.cleanup();
    assert.equal(await redis.get('k'), null);
    redis.disconnect();
  });

  describe('NUT lab', needs(...NUT_LAB_TOOLS), () => {
    let lab: NutLab;
    after(() => lab?.stop());

    test('serves the dummy UPS through the real upsd and follows .dev edits', async () => {
      lab = await NutLab.start();
      assert.equal(lab.read('device.model'), 'Back-UPS BX1600MI');
      assert.equal(lab.read('ups.status'), 'OL');
      await lab.setStatus('OB DISCHRG');
      assert.equal(lab.read('ups.status'), 'OB DISCHRG');
      const list = lab.upsc(['-l', `${lab.host}:${lab.port}`]);
      assert.equal(list.stdout, 'ups\n');
    });
  });
});
