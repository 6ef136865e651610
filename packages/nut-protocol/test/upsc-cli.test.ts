import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, NUT_LAB_TOOLS, NutLab, needs, requireTool } from '../../../tests/harness/index.ts';
import { NutClient, NutServer } from '../src/index.ts';
import { mirrorUps } from './helpers.ts';

const BLACKSTART = fileURLToPath(new URL('../../../apps/controller/bin/blackstart.mjs', import.meta.url));

interface Run {
  stdout: string;
  stderr: string;
  status: number;
}

/** Runs a command without blocking the event loop (NutServer runs in this process). */
function run(command: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: 30_000 }, (error, stdout, stderr) => {
      const status = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ stdout, stderr, status });
    });
  });
}

/** upsc prints an SSL notice on stderr that we do not: the rest of stderr must match too. */
const withoutSslNotice = (stderr: string) =>
  stderr
    .split('\n')
    .filter((l) => l !== 'Init SSL without certificate database')
    .join('\n');

/** Runs real upsc and `blackstart upsc` with each argument list, a few at a time. */
async function compare(argLists: string[][]): Promise<Array<{ args: string[]; upsc: Run; ours: Run }>> {
  const results: Array<{ args: string[]; upsc: Run; ours: Run }> = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 3 }, async () => {
      for (let i = next++; i < argLists.length; i = next++) {
        const args = argLists[i] ?? [];
        const [upsc, ours] = await Promise.all([
          run(requireTool('upsc'), args),
          run(process.execPath, [BLACKSTART, 'upsc', ...args]),
        ]);
        results[i] = { args, upsc, ours };
      }
    }),
  );
  return results;
}

function assertSame(results: Awaited<ReturnType<typeof compare>>): void {
  for (const { args, upsc, ours } of results) {
    const what = `upsc ${args.join(' ')}`;
    assert.equal(ours.stdout, upsc.stdout, `${what}: stdout`);
    assert.equal(ours.status, upsc.status, `${what}: exit status (${ours.stderr})`);
    assert.equal(withoutSslNotice(ours.stderr), withoutSslNotice(upsc.stderr), `${what}: stderr`);
  }
}

describe(
  'blackstart upsc prints what NUT upsc prints, with the same exit status',
  needs(...NUT_LAB_TOOLS),
  () => {
    let lab: NutLab;
    let server: NutServer;
    let closedPort: number;

    before(async () => {
      lab = await NutLab.start();
      const client = await NutClient.connect({ host: lab.host, port: lab.port, reconnect: false });
      const definition = await mirrorUps(client, lab.upsName);
      client.close();
      server = new NutServer({ host: '127.0.0.1', port: 0 });
      server.addUps('ups', definition);
      server.addUps('nas-ups', { description: 'second "UPS" #2', vars: { 'ups.status': 'OB LB' } });
      await server.listen();
      closedPort = await freePort();
    });
    after(async () => {
      await server?.close();
      await lab?.stop();
    });

    const cases = (address: string) => [
      ['-l', address],
      ['-L', address],
      [`ups@${address}`],
      [`ups@${address}`, 'ups.status'],
      [`ups@${address}`, 'device.mfr'],
      [`nosuchups@${address}`],
      [`nosuchups@${address}`, 'ups.status'],
      [`ups@${address}`, 'no.such.variable'],
      [`ups@${address}`, 'status'],
      ['-c', `ups@${address}`],
    ];

    test('against real upsd', async () => {
      const results = await compare(cases(`${lab.host}:${lab.port}`));
      assertSame(results);
      const all = results.find((r) => r.args.length === 1 && r.args[0]?.startsWith('ups@'));
      assert.match(all?.ours.stdout ?? '', /^battery\.charge: 100\n/);
      assert.equal(
        results.find((r) => r.args[0]?.startsWith('nosuchups'))?.ours.stderr,
        'Error: Unknown UPS\n',
      );
    });

    test('against NutServer serving the same UPS (and a second one)', async () => {
      assertSame(await compare([...cases(`127.0.0.1:${server.port}`), [`nas-ups@127.0.0.1:${server.port}`]]));
    });

    test('refused connections, bad addresses, and a UPS without its driver', async () => {
      server.setAvailability('nas-ups', 'driver-not-connected');
      try {
        const results = await compare([
          [`ups@127.0.0.1:${closedPort}`],
          ['-l', `127.0.0.1:${closedPort}`],
          [`nas-ups@127.0.0.1:${server.port}`, 'ups.status'],
          [],
        ]);
        assertSame(results);
        assert.equal(results[0]?.ours.stderr, 'Error: Connection failure: Connection refused\n');
        assert.ok(results.every((r) => r.ours.status === 1));
      } finally {
        server.setAvailability('nas-ups', 'ok');
      }
    });
  },
);
