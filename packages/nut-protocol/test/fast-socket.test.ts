import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { waitFor } from '../../../tests/harness/index.ts';
import { readIntoSharedBuffer, writeDirectly } from '../src/fast-socket.ts';

/** A loopback connection: the listening server, the client socket and the accepted one. */
async function loopbackPair(options: { pauseOnConnect?: boolean }) {
  const accepted: Socket[] = [];
  const server = createServer(options, (socket) => accepted.push(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const client = connect({ host: '127.0.0.1', port });
  try {
    await waitFor(() => accepted.length === 1, { timeoutMs: 3000, what: 'the connection' });
  } catch (error) {
    client.destroy();
    server.close();
    throw error;
  }
  return { server, client, socket: accepted[0] as Socket };
}

// NutServer falls back to 'data' events when this does not apply: this test notices a Node version
// on which it silently stopped applying (and so stopped being fast).
test('an accepted socket reads into a shared buffer, stops and restarts, and still closes', async () => {
  const { server, client, socket } = await loopbackPair({ pauseOnConnect: true });
  try {
    const buffer = Buffer.alloc(1024);
    let received = '';
    const reads = readIntoSharedBuffer(socket, buffer, (length) => {
      received += buffer.toString('latin1', 0, length);
    });
    assert.ok(reads, 'this Node version supports reading into a caller buffer');
    const handle = (socket as unknown as { _handle: { onread: { name: string } } })._handle;
    assert.notEqual(handle.onread.name, 'onStreamRead', "reads with data skip Node's read callback");
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

    // End of input still goes through Node's callback to the socket.
    const ended = once(socket, 'end');
    const closed = once(socket, 'close');
    client.end();
    await ended;
    await closed;
  } finally {
    client.destroy();
    server.close();
  }
});

test('writes go straight to the handle, in order, also when the kernel cannot take them at once', async () => {
  const { server, client, socket } = await loopbackPair({});
  try {
    const writer = writeDirectly(socket);
    assert.ok(writer, 'this Node version lets us write to the handle');
    // The client does not read yet: the kernel's buffers fill and libuv queues the rest.
    client.pause();
    const line = `${'x'.repeat(1000)}é\n`;
    let queued = 0;
    for (let i = 0; i < 5000; i++) queued = writer.write(line);
    assert.ok(queued > 0, 'some of it waits in the queue');
    let received = '';
    client.setEncoding('utf8');
    client.on('data', (d: string) => {
      received += d;
    });
    client.resume();
    await waitFor(() => received.length >= line.length * 5000, { timeoutMs: 5000, what: 'every write' });
    assert.equal(received, line.repeat(5000));
    // end() waits for the queue; a write after the socket is gone fails.
    socket.end();
    await once(socket, 'close');
    assert.equal(writer.write('late\n'), -1);
  } finally {
    client.destroy();
    server.close();
  }
});
