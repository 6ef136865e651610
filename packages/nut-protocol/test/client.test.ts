import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { sleep, waitFor } from '../../../tests/harness/index.ts';
import {
  hashPassword,
  isNoDataError,
  NutClient,
  NutError,
  NutPoller,
  type NutPollerState,
  type NutReading,
  NutServer,
  NutTransportError,
} from '../src/index.ts';
import { scriptedPeer } from './helpers.ts';

async function startServer(port = 0): Promise<NutServer> {
  const server = new NutServer({
    host: '127.0.0.1',
    port,
    users: [{ name: 'nas user', passwordHash: hashPassword('pass "with" #spaces\\'), upsmon: 'secondary' }],
  });
  const vars: Record<string, string> = { 'ups.status': 'OL' };
  for (let i = 0; i < 50; i++) vars[`test.var${i}`] = `value ${i}`;
  server.addUps('ups', { vars });
  await server.listen();
  return server;
}

const isTransport = (reason: string) => (e: unknown) => e instanceof NutTransportError && e.reason === reason;

describe('NutClient', () => {
  test('pipelines concurrent requests and matches every answer to its request', async () => {
    const server = await startServer();
    const client = await NutClient.connect({ host: '127.0.0.1', port: server.port, reconnect: false });
    try {
      const requests = Array.from({ length: 300 }, (_, i) => {
        const n = i % 50;
        if (i % 7 === 0) return client.listVars('ups').then((v) => v[`test.var${n}`]);
        if (i % 11 === 0) return client.getVar('ups', 'no.such.var').catch((e: NutError) => e.code);
        return client.getVar('ups', `test.var${n}`);
      });
      const answers = await Promise.all(requests);
      answers.forEach((answer, i) => {
        const expected = i % 7 === 0 || i % 11 !== 0 ? `value ${i % 50}` : 'VAR-NOT-SUPPORTED';
        assert.equal(answer, expected, `request ${i}`);
      });
    } finally {
      client.close();
      await server.close();
    }
  });

  test('quotes and escapes credentials so any password survives the trip', async () => {
    const server = await startServer();
    try {
      const client = await NutClient.connect({
        host: '127.0.0.1',
        port: server.port,
        reconnect: false,
        session: { username: 'nas user', password: 'pass "with" #spaces\\', login: 'ups' },
      });
      assert.equal(server.numLogins('ups'), 1);
      await client.logout();
      assert.equal(client.connected, false);
      await waitFor(() => server.numLogins('ups') === 0, { timeoutMs: 3000, what: 'the logout' });
    } finally {
      await server.close();
    }
  });

  test('keeps unknown ERR codes and their extra words', async () => {
    const peer = await scriptedPeer((line) =>
      line.startsWith('GET VAR') ? 'ERR SHINY-NEW-ERROR with details\n' : 'ERR ACCESS-DENIED\n',
    );
    const client = await NutClient.connect({ host: '127.0.0.1', port: peer.port, reconnect: false });
    try {
      const error = await client.getVar('ups', 'ups.status').catch((e: unknown) => e);
      assert.ok(error instanceof NutError);
      assert.equal(error.code, 'SHINY-NEW-ERROR');
      assert.equal(error.known, false);
      assert.deepEqual(error.extra, ['with', 'details']);
      const denied = await client.login('ups').catch((e: unknown) => e);
      assert.ok(denied instanceof NutError && denied.known && denied.code === 'ACCESS-DENIED');
      assert.equal(client.connected, true, 'an ERR answer keeps the connection');
    } finally {
      client.close();
      await peer.close();
    }
  });

  test('rejects broken list framing (dropping the connection) and answers that do not echo the request', async () => {
    const broken: Record<string, string> = {
      'LIST VAR a': 'BEGIN LIST VAR b\nEND LIST VAR b\n',
      'LIST VAR b': 'BEGIN LIST VAR b\nVAR other x "1"\nEND LIST VAR b\n',
      'LIST VAR c': 'BEGIN LIST VAR c\nVAR c x "1"\nend list VAR c\nEND LIST VAR d\n',
      'LIST VAR d': 'BEGIN LIST VAR d\nVAR d x "1"\nERR DATA-STALE\n',
      'GET VAR e ups.status': 'VAR f ups.status "OL"\n',
      'GET VAR g ups.status': 'VAR g ups.status\n',
      'GET NUMLOGINS h': 'NUMLOGINS h lots\n',
      'LIST UPS': 'OK\n',
    };
    const peer = await scriptedPeer((line) => broken[line] ?? 'ERR UNKNOWN-COMMAND\n');
    try {
      // A broken list leaves the stream out of step: the connection must go.
      const lists: Array<(c: NutClient) => Promise<unknown>> = [
        (c) => c.listVars('a'),
        (c) => c.listVars('b'),
        (c) => c.listVars('c'),
        (c) => c.listVars('d'),
        (c) => c.listUps(),
      ];
      // A single wrong line is still one answer for one request: the connection stays usable.
      const lines: Array<(c: NutClient) => Promise<unknown>> = [
        (c) => c.getVar('e', 'ups.status'),
        (c) => c.getVar('g', 'ups.status'),
        (c) => c.getNumLogins('h'),
      ];
      for (const [attempts, staysConnected] of [
        [lists, false],
        [lines, true],
      ] as const) {
        for (const attempt of attempts) {
          const client = await NutClient.connect({ host: '127.0.0.1', port: peer.port, reconnect: false });
          await assert.rejects(attempt(client), isTransport('protocol'));
          assert.equal(client.connected, staysConnected);
          client.close();
        }
      }
    } finally {
      await peer.close();
    }
  });

  test('a silent server times the request out, fails every pending request, and the client reconnects', async () => {
    const peer = await scriptedPeer(() => undefined);
    const client = new NutClient({
      host: '127.0.0.1',
      port: peer.port,
      timeouts: { requestMs: 300 },
      reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
    });
    try {
      await client.connect();
      const reconnecting = once(client, 'reconnecting');
      const results = await Promise.allSettled([
        client.ver(),
        client.getVar('ups', 'ups.status'),
        client.help(),
      ]);
      for (const r of results) {
        assert.equal(r.status, 'rejected');
        assert.equal((r.reason as NutTransportError).reason, 'timeout');
      }
      const [info] = await reconnecting;
      assert.equal(info.attempt, 1);
      await waitFor(() => peer.connections >= 2, { timeoutMs: 5000, what: 'a second connection' });
      await assert.rejects(
        NutClient.connect({ host: '127.0.0.1', port: 1, reconnect: false }),
        (e) => isTransport('connect')(e) && (e as NutTransportError).syscallCode === 'ECONNREFUSED',
      );
    } finally {
      client.close();
      await peer.close();
    }
  });

  test('falls back from PRIMARY to MASTER for servers older than 2.8', async () => {
    const peer = await scriptedPeer((line) => {
      if (line.startsWith('PRIMARY')) return 'ERR UNKNOWN-COMMAND\n';
      if (line.startsWith('MASTER')) return 'OK MASTER-GRANTED\n';
      return 'OK\n';
    });
    try {
      const client = await NutClient.connect({
        host: '127.0.0.1',
        port: peer.port,
        reconnect: false,
        session: { username: 'monuser', password: 'secret', login: 'ups', primary: true },
      });
      assert.deepEqual(peer.lines, [
        'USERNAME monuser',
        'PASSWORD secret',
        'LOGIN ups',
        'PRIMARY ups',
        'MASTER ups',
      ]);
      assert.equal(await client.primary('ups'), 'MASTER');
      client.close();
    } finally {
      await peer.close();
    }
  });

  test('reconnects with backoff after the server goes away and restores its session', async () => {
    let server = await startServer();
    const port = server.port;
    const client = new NutClient({
      host: '127.0.0.1',
      port,
      reconnect: { initialDelayMs: 50, maxDelayMs: 400 },
      session: { username: 'nas user', password: 'pass "with" #spaces\\', login: 'ups' },
    });
    const delays: number[] = [];
    client.on('reconnecting', ({ delayMs }) => delays.push(delayMs));
    try {
      await client.connect();
      const lost = once(client, 'disconnect');
      await server.close();
      const [error] = await lost;
      assert.ok(isNoDataError(error));
      await waitFor(() => delays.length >= 3, { timeoutMs: 5000, what: 'several refused attempts' });
      assert.ok((delays[2] ?? 0) > (delays[0] ?? 0), `backoff grows: ${delays.join(', ')}`);
      await assert.rejects(client.ver(), isTransport('not-connected'));
      const back = once(client, 'connect');
      server = await startServer(port);
      await back;
      assert.equal(server.numLogins('ups'), 1, 'the session (LOGIN) is restored');
      assert.equal(await client.getVar('ups', 'ups.status'), 'OL');
    } finally {
      client.close();
      await server.close();
    }
  });
});

describe('NutPoller', () => {
  test('emits readings and changes, and reports no data as a state of its own', async () => {
    let server = await startServer();
    const port = server.port;
    const poller = new NutPoller({
      ups: 'ups',
      intervalMs: 100,
      client: { host: '127.0.0.1', port, reconnect: { initialDelayMs: 50, maxDelayMs: 200 } },
    });
    const readings: NutReading[] = [];
    const states: NutPollerState[] = [];
    const changes: string[][] = [];
    poller.on('reading', (r) => readings.push(r));
    poller.on('state', (s) => states.push(s));
    poller.on('change', (c) => changes.push(c.changed));
    try {
      poller.start();
      await waitFor(() => readings.length >= 3, { timeoutMs: 5000, what: 'three readings' });
      assert.equal(changes.length, 1, 'only the first reading is a change while nothing changes');
      assert.equal(readings.at(-1)?.status.onLine, true);

      server.setVars('ups', { 'ups.status': 'OB DISCHRG' });
      await waitFor(() => changes.length === 2, { timeoutMs: 3000, what: 'a change event' });
      assert.deepEqual(changes[1], ['ups.status']);
      assert.equal(poller.reading?.status.onBattery, true);

      server.setAvailability('ups', 'stale');
      await waitFor(() => poller.state?.state === 'no-data', { timeoutMs: 3000, what: 'no data' });
      assert.equal(poller.state?.state === 'no-data' && poller.state.reason, 'DATA-STALE');
      server.setAvailability('ups', 'driver-not-connected');
      await waitFor(
        () => poller.state?.state === 'no-data' && poller.state.reason === 'DRIVER-NOT-CONNECTED',
      );
      server.setAvailability('ups', 'ok');
      await waitFor(() => poller.state?.state === 'data', { timeoutMs: 3000, what: 'data again' });

      await server.close();
      await waitFor(() => poller.state?.state === 'no-data' && poller.state.reason === 'connection-lost', {
        timeoutMs: 3000,
        what: 'connection-lost',
      });
      const readingsBefore = readings.length;
      await sleep(300);
      assert.equal(readings.length, readingsBefore, 'no readings without a server');
      server = await startServer(port);
      await waitFor(() => readings.length > readingsBefore, {
        timeoutMs: 5000,
        what: 'readings after restart',
      });
      assert.deepEqual(
        states.map((s) => (s.state === 'data' ? 'data' : s.reason)),
        ['data', 'DATA-STALE', 'DRIVER-NOT-CONNECTED', 'data', 'connection-lost', 'data'],
      );
    } finally {
      poller.stop();
      await server.close();
    }
  });
});
