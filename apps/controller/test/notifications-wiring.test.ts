import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { tempDir, waitFor } from '@blackstart/tests';
import { parseConfig } from '../src/config.ts';
import { type Controller, startController } from '../src/controller.ts';
import { createLogger } from '../src/logger.ts';
import type { SimulatorSource } from '../src/sources/simulator.ts';

/** A real HTTP receiver standing in for a generic webhook endpoint. */
async function receiver() {
  const bodies: Array<{ event: string; title: string; outage?: string }> = [];
  const server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      bodies.push(JSON.parse(body) as { event: string; title: string });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    bodies,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    close: () => server.close(),
  };
}

describe('notifications wired into the controller', () => {
  let controller: Controller;
  let hook: Awaited<ReturnType<typeof receiver>>;
  let dir: { path: string; remove(): void };
  let admin: string;

  before(async () => {
    dir = tempDir();
    hook = await receiver();
    const config = parseConfig(
      {
        server: { host: '127.0.0.1', port: 0 },
        dataDir: dir.path,
        sources: [{ id: 'ups', type: 'simulator', interval: 0.2, runtimeAtLoad: 900 }],
        notifications: {
          quietPeriod: 0.5,
          retry: { attempts: 2, backoff: 0.2 },
          channels: [{ id: 'hook', type: 'webhook', url: hook.url }],
        },
        plan: {
          ups: [{ id: 'ups', powerOff: { enabled: false } }],
          hosts: [{ id: 'nas', kind: 'agent', shutdown: { triggers: [{ type: 'on-battery', after: 60 }] } }],
          settings: { debounce: 0.5, mainsBackAfter: 0.5 },
        },
      },
      {},
    );
    controller = await startController(config, createLogger({ level: 'silent' }));
    admin = (await controller.auth.login('admin', controller.auth.generatedAdminPassword!, Date.now()))!
      .token;
  });
  after(async () => {
    await controller?.close();
    hook?.close();
    dir?.remove();
  });

  test('an outage that lasts past the quiet period reaches the channel, then its end', async () => {
    const ups = controller.sources.get('ups') as SimulatorSource;
    ups.setMains(false);
    await waitFor(() => hook.bodies.some((b) => b.event === 'on-battery'), {
      timeoutMs: 15_000,
      what: 'the on-battery notice',
    });
    ups.setMains(true);
    await waitFor(() => hook.bodies.some((b) => b.event === 'outage-summary'), {
      timeoutMs: 15_000,
      what: 'the outage summary',
    });
    const kinds = hook.bodies.map((b) => b.event);
    assert.equal(kinds.filter((k) => k === 'on-battery').length, 1, 'delivered once');
    assert.ok(kinds.indexOf('on-battery') < kinds.indexOf('outage-summary'));
  });

  test('the API lists channels and sends a test message', async () => {
    const headers = { authorization: `Bearer ${admin}` };
    const list = await controller.app.inject({ url: '/api/v1/notifications', headers });
    assert.equal(list.statusCode, 200);
    const { channels } = list.json() as { channels: Array<{ id: string; type: string; pending: number }> };
    assert.deepEqual(
      channels.map((c) => [c.id, c.type]),
      [['hook', 'webhook']],
    );
    const before = hook.bodies.length;
    const test = await controller.app.inject({
      method: 'POST',
      url: '/api/v1/notifications/channels/hook/test',
      headers,
    });
    assert.equal(test.statusCode, 200);
    assert.equal((test.json() as { ok: boolean }).ok, true);
    await waitFor(() => hook.bodies.length > before, { what: 'the test message' });
    assert.equal(hook.bodies.at(-1)?.event, 'test');
    assert.equal(
      (
        await controller.app.inject({
          method: 'POST',
          url: '/api/v1/notifications/channels/nope/test',
          headers,
        })
      ).statusCode,
      404,
    );
    const bad = await controller.app.inject({
      method: 'POST',
      url: '/api/v1/notifications/test',
      headers,
      payload: { id: 'x', type: 'pager' },
    });
    assert.equal(bad.statusCode, 400);
  });
});
