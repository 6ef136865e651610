import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connect } from 'node:tls';
import { tempDir } from '@blackstart/tests';
import type { InjectOptions } from 'fastify';
import { ConfigError, parseConfig } from '../src/config.ts';
import { type Controller, startController } from '../src/controller.ts';
import { createLogger } from '../src/logger.ts';

const log = createLogger({ level: 'silent' });

function config(dataDir: string, server: Record<string, unknown> = {}, auth: Record<string, unknown> = {}) {
  return parseConfig(
    {
      server: { host: '127.0.0.1', port: 0, ...server },
      dataDir,
      auth,
      sources: [{ id: 'ups', type: 'simulator', interval: 60 }],
      plan: { ups: [{ id: 'ups' }], hosts: [] },
    },
    {},
  );
}

describe('API authentication', () => {
  let controller: Controller;
  let dir: { path: string; remove(): void };
  const inject = (options: InjectOptions) => controller.app.inject(options);

  before(async () => {
    dir = tempDir();
    controller = await startController(config(dir.path, {}, { viewerPassword: 'viewer-secret' }), log, {
      listen: false,
    });
  });
  after(async () => {
    await controller.close();
    dir.remove();
  });

  const login = async (username: string, password: string) => {
    const r = await inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username, password } });
    return {
      status: r.statusCode,
      body: r.json() as { token?: string; role?: string },
      cookie: r.cookies.find((c) => c.name === 'bs_session'),
    };
  };

  test('health is public; everything else needs a login or a token', async () => {
    assert.equal((await inject({ url: '/api/v1/health' })).statusCode, 200);
    assert.equal((await inject({ url: '/api/v1/outages' })).statusCode, 401);
    assert.equal(
      (await inject({ url: '/api/v1/outages', headers: { authorization: 'Bearer nonsense' } })).statusCode,
      401,
    );
    assert.equal(
      (await inject({ method: 'POST', url: '/api/v1/enrollment-tokens', payload: {} })).statusCode,
      401,
    );
  });

  test('the generated admin password logs in; a session works as bearer token and as cookie', async () => {
    const password = controller.auth.generatedAdminPassword;
    assert.ok(password && password.length >= 16, 'a strong password was generated at first start');
    assert.equal((await login('admin', 'wrong')).status, 401);
    assert.equal((await login('root', password)).status, 401);
    const ok = await login('admin', password);
    assert.equal(ok.status, 200);
    assert.equal(ok.body.role, 'admin');
    assert.equal(ok.cookie?.httpOnly, true);
    assert.equal(
      (await inject({ url: '/api/v1/outages', headers: { authorization: `Bearer ${ok.body.token}` } }))
        .statusCode,
      200,
    );
    const me = await inject({ url: '/api/v1/auth/me', cookies: { bs_session: ok.cookie!.value } });
    assert.deepEqual(me.json(), { name: 'admin', role: 'admin', via: 'session' });
    assert.equal(me.headers['cache-control'], 'no-store', 'answers for a login are never cached');
  });

  test('the viewer reads but cannot change anything', async () => {
    const { body } = await login('viewer', 'viewer-secret');
    const headers = { authorization: `Bearer ${body.token}` };
    assert.equal((await inject({ url: '/api/v1/outages', headers })).statusCode, 200);
    const denied = await inject({ method: 'POST', url: '/api/v1/enrollment-tokens', headers, payload: {} });
    assert.equal(denied.statusCode, 403);
  });

  test('API tokens: created once, used, listed without the secret, revoked', async () => {
    const admin = {
      authorization: `Bearer ${(await login('admin', controller.auth.generatedAdminPassword!)).body.token}`,
    };
    const created = await inject({
      method: 'POST',
      url: '/api/v1/tokens',
      headers: admin,
      payload: { name: 'ansible', role: 'admin' },
    });
    assert.equal(created.statusCode, 201);
    const { token, id } = created.json() as { token: string; id: string };
    assert.match(token, /^bsk_/);
    const minted = await inject({
      method: 'POST',
      url: '/api/v1/enrollment-tokens',
      headers: { authorization: `Bearer ${token}` },
      payload: { host: 'nas', ttlSeconds: 600 },
    });
    assert.equal(minted.statusCode, 201);
    assert.match((minted.json() as { token: string }).token, /^bst_/);
    const list = await inject({ url: '/api/v1/tokens', headers: admin });
    assert.deepEqual(
      (list.json() as { tokens: Array<Record<string, unknown>> }).tokens.map((t) => [
        t.name,
        t.role,
        'token' in t,
      ]),
      [['ansible', 'admin', false]],
    );
    assert.equal(
      (await inject({ method: 'DELETE', url: `/api/v1/tokens/${id}`, headers: admin })).statusCode,
      204,
    );
    assert.equal(
      (await inject({ url: '/api/v1/outages', headers: { authorization: `Bearer ${token}` } })).statusCode,
      401,
    );
    assert.equal(
      (await inject({ method: 'DELETE', url: `/api/v1/tokens/${id}`, headers: admin })).statusCode,
      404,
    );
  });

  test('bad input gets a 400 that names the field', async () => {
    const r = await inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username: 'admin' } });
    assert.equal(r.statusCode, 400);
    assert.match((r.json() as { message: string }).message, /password/);
  });

  test('login attempts are rate-limited', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await login('admin', `guess-${i}`)).status);
    assert.ok(statuses.includes(429), `expected a 429 among ${statuses.join(',')}`);
  });
});

describe('HTTPS', () => {
  test('a self-signed certificate is created at first start and its fingerprint is what TLS clients see', async () => {
    const dir = tempDir();
    const controller = await startController(config(dir.path, { tls: { mode: 'self-signed' } }), log);
    const first = controller.tls?.fingerprint;
    try {
      assert.match(controller.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      assert.match(controller.tls!.fingerprint, /^sha256:[0-9a-f]{64}$/);
      const port = Number(new URL(controller.url).port);
      const seen = await new Promise<string>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
          resolve(
            `sha256:${socket.getPeerX509Certificate()!.fingerprint256.replaceAll(':', '').toLowerCase()}`,
          );
          socket.end();
        });
        socket.on('error', reject);
      });
      assert.equal(seen, controller.tls!.fingerprint);
    } finally {
      await controller.close();
    }
    // The same certificate on the next start.
    const again = await startController(config(dir.path, { tls: { mode: 'self-signed' } }), log, {
      listen: false,
    });
    const fingerprint = again.tls?.fingerprint;
    await again.close();
    dir.remove();
    assert.equal(fingerprint, first);
  });

  test('plain HTTP on a non-loopback address needs an explicit proxy setting', () => {
    assert.throws(
      () => config('/tmp/x', { host: '0.0.0.0', tls: { mode: 'off' } }),
      (e: unknown) => e instanceof ConfigError && e.errors[0]?.path === '/server/tls/mode',
    );
    assert.doesNotThrow(() => config('/tmp/x', { host: '0.0.0.0', tls: { mode: 'off' }, behindProxy: true }));
    assert.throws(
      () => config('/tmp/x', { tls: { mode: 'files' } }),
      (e: unknown) =>
        e instanceof ConfigError && e.errors.map((x) => x.path).join() === '/server/tls/cert,/server/tls/key',
    );
  });
});
