// The floor under any NUT server written for Node, for the benchmark: NutServer's socket path
// (fast-socket.ts, TCP_NODELAY, one process) with no protocol at all. Every read is answered at
// once with a reply fixed in advance: a read that starts with "L" gets the LIST VAR answer, any
// other the GET VAR answer (the benchmark's clients send one request per read and wait for its
// answer). What this costs per request is what Node itself costs; NutServer can only add to it.
// Usage: node --import tsx node-floor.ts <replies.json>, with {"get": "...", "list": "..."};
// prints the port.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { readIntoSharedBuffer, writeDirectly } from '../src/fast-socket.ts';

const replies = JSON.parse(readFileSync(process.argv[2] ?? '', 'utf8')) as { get: string; list: string };
const L = 'L'.charCodeAt(0);
const readBuffer = Buffer.alloc(64 * 1024);

const server = createServer({ noDelay: true, pauseOnConnect: true }, (socket) => {
  socket.on('error', () => {});
  const writer = writeDirectly(socket);
  const reading = readIntoSharedBuffer(socket, readBuffer, () => {
    writer?.write(readBuffer[0] === L ? replies.list : replies.get);
  });
  if (!writer || !reading) {
    process.stderr.write('node-floor: this Node lacks the internals fast-socket.ts uses\n');
    process.exit(1);
  }
  socket.resume();
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${typeof address === 'object' && address ? address.port : 0}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
