import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, parseConfig } from '../src/config.ts';

const valid = {
  sources: [{ id: 'ups', type: 'simulator' }],
  plan: {
    ups: [{ id: 'ups' }],
    hosts: [
      { id: 'app', kind: 'agent', dependsOn: ['nas'] },
      { id: 'nas', kind: 'agent' },
    ],
  },
};

function errorsOf(input: unknown, env: NodeJS.ProcessEnv = {}) {
  try {
    parseConfig(input, env);
  } catch (error) {
    if (error instanceof ConfigError) return error.errors;
    throw error;
  }
  return [];
}

describe('controller configuration', () => {
  test('fills defaults', () => {
    const config = parseConfig(valid, {});
    assert.equal(config.server.port, 7393);
    assert.equal(config.sources[0]?.interval, 1);
    assert.equal(config.plan.settings.debounce, 5);
  });

  test('names the field that is wrong', () => {
    assert.deepEqual(errorsOf({ ...valid, sources: [{ id: 'ups', type: 'simulator', interval: -1 }] }), [
      { path: '/sources/0/interval', message: 'must be at least 0.05' },
    ]);
    assert.deepEqual(errorsOf({ ...valid, server: { port: 'eighty' } }), [
      { path: '/server/port', message: 'must be an integer, not string' },
    ]);
    assert.deepEqual(errorsOf({ ...valid, surprise: true }), [
      {
        path: '/surprise',
        message:
          "unknown property 'surprise' (allowed: server, auth, dataDir, database, redis, notifications, sources, plan)",
      },
    ]);
    assert.deepEqual(errorsOf({ ...valid, sources: [{ id: 'ups', type: 'toaster' }] }), [
      { path: '/sources/0/type', message: 'unknown type "toaster" (expected one of simulator)' },
    ]);
  });

  test('reports plan errors under /plan and sources the plan needs', () => {
    assert.deepEqual(
      errorsOf({
        ...valid,
        plan: { ...valid.plan, hosts: [{ id: 'app', kind: 'agent', dependsOn: ['db'] }] },
      }),
      [{ path: '/plan/hosts/0/dependsOn/0', message: "unknown host 'db'" }],
    );
    assert.deepEqual(errorsOf({ ...valid, plan: { ...valid.plan, ups: [{ id: 'other' }] } }), [
      { path: '/plan/ups/0/id', message: "no source with id 'other' in /sources" },
    ]);
  });

  test('environment variables override the file', () => {
    const config = parseConfig(valid, {
      DATABASE_URL: 'postgres://db/x',
      REDIS_URL: 'redis://r',
      BLACKSTART_PORT: '9000',
      BLACKSTART_DATA_DIR: '/srv/bs',
    });
    assert.equal(config.database.url, 'postgres://db/x');
    assert.equal(config.redis.url, 'redis://r');
    assert.equal(config.server.port, 9000);
    assert.equal(config.dataDir, '/srv/bs');
    assert.deepEqual(errorsOf(valid, { BLACKSTART_PORT: 'x' }), [
      { path: '/server/port', message: 'must be an integer, not string' },
    ]);
  });
});
