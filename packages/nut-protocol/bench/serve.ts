// Serves one UPS from a JSON NutUpsDefinition in a process of its own, like upsd runs in its own,
// for the benchmark. Usage: node --import tsx serve.ts <definition.json>; prints the port.
import { readFileSync } from 'node:fs';
import { NutServer, type NutUpsDefinition } from '../src/index.ts';

const definition = JSON.parse(readFileSync(process.argv[2] ?? '', 'utf8')) as NutUpsDefinition;
const server = new NutServer({ host: '127.0.0.1', port: 0, maxConnections: 10_000 });
server.addUps('ups', definition);
await server.listen();
process.stdout.write(`${server.port}\n`);
process.on('SIGTERM', () => {
  server.close().then(() => process.exit(0));
});
