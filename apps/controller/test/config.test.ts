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
          "unknown property 'surprise' (allowed: server, auth, dataDir, database, redis, notifications, sources, nutServer, controllerHost, wake, plan)",
      },
    ]);
    assert.deepEqual(errorsOf({ ...valid, sources: [{ id: 'ups', type: 'toaster' }] }), [
      { path: '/sources/0/type', message: 'unknown type "toaster" (expected one of simulator, nut, hid)' },
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

  test('NUT and HID sources get their defaults; their secrets come from the environment', () => {
    const config = parseConfig(
      {
        ...valid,
        sources: [
          { id: 'ups', type: 'nut', host: 'nas.lan', username: 'monuser' },
          { id: 'usb', type: 'hid' },
        ],
        plan: { ...valid.plan, ups: [{ id: 'ups' }, { id: 'usb' }] },
      },
      { BLACKSTART_NUT_PASSWORD_UPS: 'secret' },
    );
    const [nut, hid] = config.sources;
    assert.ok(nut?.type === 'nut' && hid?.type === 'hid');
    assert.deepEqual(
      [nut.port, nut.ups, nut.interval, nut.password, nut.tls.mode, nut.powerOff.command],
      [3493, 'ups', 1, 'secret', 'off', 'auto'],
    );
    assert.deepEqual([hid.device, hid.interval], ['auto', 1]);
    assert.deepEqual(
      errorsOf({ ...valid, sources: [{ id: 'ups', type: 'hid', device: 'zz:1' }] }).map((e) => e.path),
      ['/sources/0/device'],
    );
    assert.deepEqual(errorsOf({ ...valid, sources: [{ id: 'ups', type: 'nut' }] }), [
      { path: '/sources/0/host', message: "missing property 'host'" },
    ]);
  });

  test('nut-client hosts need the NUT server and an identity; the controller host’s hooks need its agent', () => {
    const plan = {
      ups: [{ id: 'ups' }],
      hosts: [
        { id: 'nas', kind: 'nut-client' },
        {
          id: 'pi',
          kind: 'controller',
          shutdown: { hooks: [{ type: 'command', run: 'sync', timeout: 5 }] },
        },
      ],
    };
    assert.deepEqual(
      errorsOf({ ...valid, plan, controllerHost: { powerOff: 'systemd-path' } }).map((e) => e.path),
      ['/plan/hosts/0/kind', '/plan/hosts/1/shutdown/hooks'],
    );
    assert.deepEqual(
      errorsOf({ ...valid, plan, nutServer: { users: [{ name: 'nas' }], clients: { app: { user: 'x' } } } }),
      [
        {
          path: '/nutServer/users/0/password',
          message: 'required (or passwordHash, or BLACKSTART_NUT_USER_PASSWORD_NAS)',
        },
        {
          path: '/plan/hosts/0',
          message: "no NUT identity for 'nas': give the host an address, or set nutServer.clients.nas.user",
        },
        { path: '/nutServer/clients/app', message: "'app' is not a nut-client host of the plan" },
      ],
    );
    const ok = parseConfig(
      { ...valid, plan, nutServer: { users: [{ name: 'nas' }], clients: { nas: { user: 'nas' } } } },
      { BLACKSTART_NUT_USER_PASSWORD_NAS: 'naspass' },
    );
    assert.equal(ok.nutServer?.users[0]?.password, 'naspass');
    assert.deepEqual(ok.nutServer?.host, ['0.0.0.0']);
    assert.equal(ok.controllerHost.powerOff, 'agent');
  });
});
