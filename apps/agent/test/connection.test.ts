import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, describe, test } from 'node:test';
import {
  type ControllerMessage,
  generateSigningKeys,
  MAX_MESSAGE_BYTES,
  verifyAgentToken,
} from '@blackstart/agent-protocol';
import { waitFor } from '@blackstart/tests';
import pino from 'pino';
import { WebSocketServer } from 'ws';
import { ControllerConnection } from '../src/connection.ts';

const keys = await generateSigningKeys();

/** A stand-in controller endpoint that does whatever a test tells it to with each connection. */
async function hostileController(
  onConnection: (socket: import('ws').WebSocket, request: IncomingMessage) => void,
) {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const connections: IncomingMessage[] = [];
  server.on('connection', (socket, request) => {
    connections.push(request);
    onConnection(socket, request);
  });
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, connections, close: () => server.close() };
}

function connect(url: string, onMessage: (m: ControllerMessage) => void = () => {}) {
  const logs: string[] = [];
  const log = pino(
    { level: 'debug' },
    {
      write: (line: string) => {
        logs.push((JSON.parse(line) as { msg: string }).msg);
      },
    },
  );
  const closes: boolean[] = [];
  const connection = new ControllerConnection({
    controllerUrl: url,
    host: 'app',
    keys,
    log,
    onMessage,
    onOpen: () => {},
    onClose: (wasOpen) => closes.push(wasOpen),
    minBackoffMs: 50,
    maxBackoffMs: 200,
    heartbeatMs: 200,
  });
  connection.start();
  return { connection, logs, closes };
}

describe('agent connection against a misbehaving controller', () => {
  const cleanups: Array<() => void> = [];
  after(() => {
    for (const c of cleanups) c();
  });

  test('authenticates with a fresh short-lived token signed by its own key, new for every connection', async () => {
    const server = await hostileController((socket) => socket.close(1000));
    const { connection } = connect(server.url);
    cleanups.push(() => connection.stop(), server.close);
    await waitFor(() => server.connections.length >= 2, { what: 'a reconnect' });
    const tokens = server.connections.map((r) => r.headers.authorization!.replace(/^Bearer /, ''));
    assert.notEqual(tokens[0], tokens[1]);
    for (const token of tokens.slice(0, 2)) {
      const { nonce } = await verifyAgentToken(token, {
        agentKey: keys.publicKey,
        host: 'app',
        now: Date.now(),
      });
      assert.ok(nonce.length >= 16);
    }
  });

  test('an oversized message closes the connection (1009) and the agent reconnects; nothing is handled', async () => {
    const received: ControllerMessage[] = [];
    const server = await hostileController((socket) => {
      socket.send(JSON.stringify({ type: 'error', code: 'x', message: 'y'.repeat(MAX_MESSAGE_BYTES + 10) }));
    });
    const { connection, closes } = connect(server.url, (m) => received.push(m));
    cleanups.push(() => connection.stop(), server.close);
    await waitFor(() => server.connections.length >= 2 && closes.length >= 1, {
      what: 'close and reconnect',
    });
    assert.deepEqual(received, []);
    assert.equal(closes[0], true);
  });

  test('malformed and unknown messages are logged and ignored; the connection stays up', async () => {
    const received: ControllerMessage[] = [];
    const server = await hostileController((socket) => {
      socket.send('not json');
      socket.send(JSON.stringify({ type: 'command', jws: 'x', extra: true }));
      socket.send(JSON.stringify({ type: 'self-destruct' }));
      socket.send(Buffer.from([1, 2, 3]), { binary: true });
      socket.send(JSON.stringify({ type: 'ups-state', at: Date.now(), onBattery: true, charge: 50 }));
    });
    const { connection, logs } = connect(server.url, (m) => received.push(m));
    cleanups.push(() => connection.stop(), server.close);
    await waitFor(() => received.length === 1, { what: 'the one valid message' });
    assert.equal(received[0]!.type, 'ups-state');
    assert.equal(logs.filter((l) => l === 'malformed message from the controller').length, 3);
    assert.equal(server.connections.length, 1);
    assert.ok(connection.connected);
  });

  test('a controller that stops answering pings is dropped after three heartbeats', async () => {
    const server = await hostileController((socket) => {
      // Stop reading: no pongs, no frames — like a link that went silent.
      (socket as unknown as { _socket: import('node:net').Socket })._socket.pause();
    });
    const { connection, logs } = connect(server.url);
    cleanups.push(() => connection.stop(), server.close);
    await waitFor(() => logs.includes('no sign of life from the controller; dropping the connection'), {
      timeoutMs: 5000,
      what: 'the liveness check',
    });
    await waitFor(() => server.connections.length >= 2, { what: 'a reconnect' });
  });

  test('a refused token (401) is reported and retried with backoff', async () => {
    const { createServer } = await import('node:http');
    let attempts = 0;
    const server = createServer((_req, res) => {
      attempts++;
      res.writeHead(401).end();
    });
    server.on('upgrade', (_req, socket) => {
      attempts++;
      // The HTTP server no longer watches an upgraded socket: the agent resetting it after reading
      // the refusal must not become an uncaught ECONNRESET here.
      socket.on('error', () => {});
      socket.end('HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { connection, logs } = connect(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
    cleanups.push(
      () => connection.stop(),
      () => server.close(),
    );
    await waitFor(() => attempts >= 3, { what: 'retries' });
    assert.ok(logs.some((l) => /refused the agent token/.test(l)));
    assert.equal(connection.connected, false);
  });
});
