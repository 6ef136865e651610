import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { waitFor } from '../../../tests/harness/index.ts';
import { readIntoSharedBuffer } from '../src/shared-read.ts';

// NutServer falls back to 'data' events when this does not apply: this test notices a Node version
// on which it silently stopped applying (and so stopped being fast).
test('an accepted socket reads into a shared buffer, stops and restarts, and still closes', async () => {
  const accepted: Socket[] = [];
  const server = createServer({ pauseOnConnect: true }, (socket) => accepted.push(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const client = connect({ host: '127.0.0.1', port });
  try {
    await waitFor(() => accepted.length === 1, { timeoutMs: 3000, what: 'the connection' });
    const socket = accepted[0] as Socket;
    const buffer = Buffer.alloc(1024);
    let received = '';
    const reads = readIntoSharedBuffer(socket, buffer, (length) => {
      received += buffer.toString('latin1', 0, length);
    });
    assert.ok(reads, 'this Node version supports reading into a caller buffer');
    assert.equal(
      readIntoSharedBuffer(socket, buffer, () => {}),
      undefined,
      'only once per socket',
    );
    let dataEvents = 0;
    socket.on('data', () => dataEvents++);
    socket.resume();
    client.write('hello\n');
    await waitFor(() => received === 'hello\n', { timeoutMs: 3000, what: 'the first read' });

    reads.stop();
    client.write('later\n');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(received, 'hello\n', 'nothing is read while stopped');
    reads.start();
    await waitFor(() => received === 'hello\nlater\n', { timeoutMs: 3000, what: 'the read after start()' });
    assert.equal(dataEvents, 0);

    const closed = once(socket, 'close');
    client.end();
    await closed;
  } finally {
    client.destroy();
    server.close();
  }
});
