// Enrollment and pinning against a real controller: by TLS certificate fingerprint (HTTPS,
// self-signed) — checked before the token leaves the agent, then the only certificate trusted for
// HTTPS and WSS — and by controller key thumbprint (plain HTTP on loopback here, a CA-issued
// certificate in real life).
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { tempDir, waitFor } from '@blackstart/tests';
import { enroll, runAgent } from '../../apps/agent/src/agent.ts';
import { type AgentConfig, loadAgentConfig } from '../../apps/agent/src/config.ts';
import { ControllerConnection } from '../../apps/agent/src/connection.ts';
import { AgentState } from '../../apps/agent/src/state.ts';
import { certificateFingerprint, pinnedTlsOptions } from '../../apps/agent/src/tls.ts';
import { parseConfig } from '../../apps/controller/src/config.ts';
import { type Controller, startController } from '../../apps/controller/src/controller.ts';
import { createLogger } from '../../apps/controller/src/logger.ts';
import { loadOrCreateCertificate } from '../../apps/controller/src/security/tls.ts';

const silent = createLogger({ level: 'silent' });

function controllerConfig(dataDir: string, tls: 'self-signed' | 'off') {
  return parseConfig(
    {
      server: { host: '127.0.0.1', port: 0, tls: { mode: tls } },
      dataDir,
      sources: [{ id: 'ups', type: 'simulator', interval: 5, load: 35, runtimeAtLoad: 900, returnDelay: 2 }],
      plan: {
        ups: [{ id: 'ups', name: 'UPS', powerOff: { delay: 5, offFor: 2 } }],
        hosts: ['web', 'db', 'cache'].map((id) => ({
          id,
          name: id,
          kind: 'agent',
          shutdown: { triggers: [{ type: 'on-battery', after: 600 }], timeout: 60 },
        })),
      },
    },
    {},
  );
}

/** An HTTPS server with some other certificate: whoever answers at a pinned controller's address. */
async function impostor(dir: string) {
  mkdirSync(dir, { recursive: true });
  const material = await loadOrCreateCertificate(dir, []);
  let requests = 0;
  const server = createServer({ cert: material.cert, key: material.key }, (_req, res) => {
    requests++;
    res.end('{}');
  });
  server.on('upgrade', (_req, socket) => {
    requests++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as { port: number }).port}`,
    requests: () => requests,
    close: () => server.close(),
  };
}

describe('agent enrollment pinned by the controller’s TLS certificate', () => {
  const work = tempDir('blackstart-enroll-');
  let controller: Controller;
  let fake: Awaited<ReturnType<typeof impostor>>;
  const stops: Array<() => void> = [];

  before(async () => {
    controller = await startController(
      controllerConfig(join(work.path, 'ctl'), 'self-signed'),
      createLogger({ level: 'warn' }),
    );
    fake = await impostor(join(work.path, 'impostor'));
  });
  after(async () => {
    for (const stop of stops) stop();
    fake?.close();
    await controller?.close();
    work.remove();
  });

  const config = (overrides: Record<string, string>): AgentConfig =>
    loadAgentConfig([], {
      BLACKSTART_CONTROLLER: controller.url,
      BLACKSTART_HOST: 'web',
      BLACKSTART_PIN: controller.tls!.fingerprint,
      BLACKSTART_FAILSAFE_DEADLINE: 'off',
      ...overrides,
    });

  test('a controller presenting another certificate never sees the token', async () => {
    const { token } = await controller.agents.mintToken({ host: 'web', ttlSeconds: 600, now: new Date() });
    const state = new AgentState(join(work.path, 'web'));
    await assert.rejects(
      enroll(config({ BLACKSTART_CONTROLLER: fake.url, BLACKSTART_TOKEN: token }), state, silent),
      /presented certificate sha256:[0-9a-f]{64}, which does not match the pin sha256:[0-9a-f]{64}; refusing to send the enrollment token/,
    );
    assert.equal(fake.requests(), 0, 'not one HTTP request reached the impostor');
    assert.equal(existsSync(join(state.dir, 'controller-key.json')), false);

    // The token is still unused: the real controller accepts it.
    await enroll(config({ BLACKSTART_TOKEN: token }), state, silent);
    assert.equal(
      certificateFingerprint(new X509Certificate(readFileSync(join(state.dir, 'controller-cert.pem'))).raw),
      controller.tls!.fingerprint,
    );
    const pinned = JSON.parse(readFileSync(join(state.dir, 'controller-key.json'), 'utf8'));
    assert.equal(pinned.x, controller.identity.keys.publicJwk.x);
  });

  test('the enrolled agent connects over WSS trusting only the pinned certificate', async () => {
    const agent = await runAgent(config({ BLACKSTART_STATE_DIR: join(work.path, 'web') }), silent);
    stops.push(agent.stop);
    await waitFor(() => controller.hub.isConnected('web'), { what: 'the agent over WSS' });
  });

  test('later, another certificate at the controller’s address gets no WebSocket upgrade', async () => {
    const logs: string[] = [];
    const log = createLogger({
      level: 'debug',
      destination: new Writable({
        write(chunk, _encoding, done) {
          logs.push(chunk.toString());
          done();
        },
      }),
    });
    const state = new AgentState(join(work.path, 'web'));
    const connection = new ControllerConnection({
      controllerUrl: fake.url,
      host: 'web',
      keys: await state.keys(),
      log,
      tls: pinnedTlsOptions(state.controllerCertificate()!),
      onMessage: () => {},
      onOpen: () => {},
      onClose: () => {},
      minBackoffMs: 50,
      maxBackoffMs: 100,
    });
    connection.start();
    stops.push(() => connection.stop());
    await waitFor(() => logs.filter((l) => l.includes('controller TLS check failed')).length >= 2, {
      what: 'two refused attempts',
    });
    assert.equal(fake.requests(), 0);
    // The pinned certificate is the only trust anchor: any other fails verification.
    assert.match(logs.find((l) => l.includes('TLS check failed'))!, /certificate/);
  });

  test('a used or unknown token is refused by the controller, and the agent says so', async () => {
    const state = new AgentState(join(work.path, 'db'));
    await assert.rejects(
      enroll(config({ BLACKSTART_HOST: 'db', BLACKSTART_TOKEN: 'bst_not-a-real-token' }), state, silent),
      /controller refused enrollment \(401\): enrollment token is unknown, used or expired/,
    );
  });
});

describe('agent enrollment pinned by the controller key thumbprint', () => {
  const work = tempDir('blackstart-enroll-key-');
  let controller: Controller;
  before(async () => {
    controller = await startController(
      controllerConfig(join(work.path, 'ctl'), 'off'),
      createLogger({ level: 'warn' }),
    );
  });
  after(async () => {
    await controller?.close();
    work.remove();
  });

  test('a different key than the pinned thumbprint is refused; the right one is kept', async () => {
    assert.match(controller.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const env = (pin: string, token: string) =>
      loadAgentConfig([], {
        BLACKSTART_CONTROLLER: controller.url,
        BLACKSTART_HOST: 'cache',
        BLACKSTART_PIN: pin,
        BLACKSTART_TOKEN: token,
      });
    const state = new AgentState(join(work.path, 'cache'));
    const first = await controller.agents.mintToken({ host: 'cache', ttlSeconds: 600, now: new Date() });
    const wrong = 'A'.repeat(43);
    await assert.rejects(
      enroll(env(wrong, first.token), state, silent),
      new RegExp(`controller key ${controller.identity.keys.kid} does not match the pinned ${wrong}`),
    );
    assert.equal(existsSync(join(state.dir, 'controller-key.json')), false);
    const second = await controller.agents.mintToken({ host: 'cache', ttlSeconds: 600, now: new Date() });
    await enroll(env(controller.identity.keys.kid, second.token), state, silent);
    assert.ok(existsSync(join(state.dir, 'controller-key.json')));
    assert.equal(
      existsSync(join(state.dir, 'controller-cert.pem')),
      false,
      'no certificate pinned for a key pin',
    );
  });

  test('a certificate fingerprint pin needs an https:// controller', () => {
    assert.throws(
      () =>
        loadAgentConfig([], {
          BLACKSTART_CONTROLLER: controller.url,
          BLACKSTART_HOST: 'cache',
          BLACKSTART_PIN: `sha256:${'ab'.repeat(32)}`,
        }),
      /pin: a TLS certificate fingerprint needs an https:\/\/ controller URL/,
    );
  });
});
