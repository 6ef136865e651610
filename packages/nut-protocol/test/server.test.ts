import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { needs, requireTool, sleep, tempDir, waitFor } from '../../../tests/harness/index.ts';
import {
  hashPassword,
  NutClient,
  type NutClientInfo,
  NutError,
  NutServer,
  type NutServerOptions,
  NutTransportError,
  verifyPassword,
} from '../src/index.ts';
import { RawConnection } from './helpers.ts';

const PRIMARY = { name: 'monuser', passwordHash: hashPassword('secret'), upsmon: 'primary' as const };
const NAS = { name: 'nas', passwordHash: hashPassword('naspass'), upsmon: 'secondary' as const };
const OPERATOR = {
  name: 'operator',
  passwordHash: hashPassword('op'),
  actions: ['SET'],
  instcmds: ['load.off', 'test.battery.start.quick'],
};

async function startServer(options: NutServerOptions = {}): Promise<NutServer> {
  const server = new NutServer({ host: '127.0.0.1', port: 0, users: [PRIMARY, NAS, OPERATOR], ...options });
  server.addUps('ups', {
    description: 'test UPS',
    vars: { 'ups.status': 'OB DISCHRG', 'battery.charge': '80', 'input.sensitivity': 'medium' },
    info: {
      'battery.charge': { writable: true, ranges: [{ min: 10, max: 90 }] },
      'input.sensitivity': { writable: true, maxLength: 6, enum: ['low', 'medium', 'high'] },
    },
    commands: ['load.off', 'test.battery.start.quick'],
  });
  await server.listen();
  return server;
}

const connect = (server: NutServer, extra: Partial<Parameters<typeof NutClient.connect>[0]> = {}) =>
  NutClient.connect({ host: '127.0.0.1', port: server.port, reconnect: false, ...extra });

describe('NutServer', () => {
  test('passwords are stored as scrypt hashes and verified in constant time', async () => {
    const hash = hashPassword('secret');
    assert.match(hash, /^scrypt\$16384\$8\$1\$/);
    assert.ok(!hash.includes('secret'));
    assert.equal(await verifyPassword('secret', hash), true);
    assert.equal(await verifyPassword('Secret', hash), false);
    assert.equal(await verifyPassword('secret', 'not-a-hash'), false);
    assert.throws(() => new NutServer({ users: [{ name: 'x', passwordHash: 'plain' }] }), /passwordHash/);
  });

  test('refuses values and names the protocol cannot carry, naming the field', async () => {
    const server = new NutServer();
    server.addUps('ups');
    assert.throws(() => server.setVars('ups', { 'ups.status': 'OL\nFSD' }), /ups\.status.*control/);
    assert.throws(() => server.setVars('ups', { 'bad name': 'x' }), /variable name/);
    assert.throws(() => server.setVars('ups', { 'x.y': 'v'.repeat(300) }), /x\.y.*255 bytes/);
    assert.throws(() => server.setVars('nope', { a: 'b' }), /unknown UPS nope/);
    assert.throws(() => server.addUps('UPS'), /already defined/);
    assert.throws(() => server.raiseFsd('ups', {}), /user, an address, or both/);
    assert.throws(
      () => server.setVarInfo('ups', 'missing.var', { writable: true }),
      /no variable missing\.var/,
    );
  });

  describe('per-client views, events and commands', () => {
    let server: NutServer;
    before(async () => {
      server = await startServer({
        host: ['127.0.0.1', '::1'],
        onInstcmd: async ({ command }) => {
          if (command === 'test.battery.start.quick') throw new Error('battery test refused');
        },
        onSetVar: ({ ups, name, value }) => server.setVars(ups, { [name]: value }),
      });
    });
    after(() => server.close());

    test('FSD raised for one user: that client sees it, every other keeps the real status', async () => {
      const nas = await connect(server, { session: { username: 'nas', password: 'naspass', login: 'ups' } });
      const other = await connect(server, {
        session: { username: 'monuser', password: 'secret', login: 'ups', primary: true },
      });
      const anonymous = await connect(server);
      try {
        server.raiseFsd('ups', { user: 'nas' });
        assert.equal(await nas.getVar('ups', 'ups.status'), 'FSD OB DISCHRG');
        assert.equal((await nas.listVars('ups'))['ups.status'], 'FSD OB DISCHRG');
        assert.equal(await other.getVar('ups', 'ups.status'), 'OB DISCHRG');
        assert.equal(await anonymous.getVar('ups', 'ups.status'), 'OB DISCHRG');
        assert.equal(server.isFsd('ups'), false);
        assert.equal(server.isFsd('ups', { user: 'nas' }), true);
        assert.equal((await nas.listRw('ups'))['input.sensitivity'], 'medium', 'LIST RW never carries FSD');
        server.clearFsd('ups', { user: 'nas' });
        assert.equal(await nas.getVar('ups', 'ups.status'), 'OB DISCHRG');
      } finally {
        for (const c of [nas, other, anonymous]) c.close();
      }
    });

    test('FSD raised for one source address, over IPv6 and IPv4', async () => {
      const v6 = await NutClient.connect({ host: '::1', port: server.port, reconnect: false });
      const v4 = await connect(server);
      try {
        server.raiseFsd('ups', { address: '::1' });
        assert.equal(await v6.getVar('ups', 'ups.status'), 'FSD OB DISCHRG');
        assert.equal(await v4.getVar('ups', 'ups.status'), 'OB DISCHRG');
        server.raiseFsd('ups', { user: 'nas', address: '127.0.0.1' });
        assert.equal(await v4.getVar('ups', 'ups.status'), 'OB DISCHRG', 'both must match: no user here');
        server.clearFsd('ups');
        assert.equal(await v6.getVar('ups', 'ups.status'), 'OB DISCHRG');
      } finally {
        v6.close();
        v4.close();
      }
    });

    test('login and disconnect events; a drop without LOGOUT is reported as closed', async () => {
      const logins: NutClientInfo[] = [];
      const gone: Array<NutClientInfo & { reason: string }> = [];
      const onLogin = (c: NutClientInfo) => logins.push(c);
      const onGone = (c: NutClientInfo & { reason: string }) => gone.push(c);
      server.on('login', onLogin);
      server.on('disconnect', onGone);
      try {
        const orderly = await connect(server, {
          session: { username: 'nas', password: 'naspass', login: 'ups' },
        });
        const dropped = await connect(server, {
          session: { username: 'monuser', password: 'secret', login: 'UPS' },
        });
        assert.equal(server.numLogins('ups'), 2);
        assert.deepEqual(
          logins.map((l) => [l.user, l.ups, l.address]),
          [
            ['nas', 'ups', '127.0.0.1'],
            ['monuser', 'ups', '127.0.0.1'],
          ],
        );
        await orderly.logout();
        dropped.close({ logout: false });
        await waitFor(() => gone.length === 2, { timeoutMs: 5000, what: 'two disconnect events' });
        assert.deepEqual(gone.map((g) => [g.user, g.reason]).sort(), [
          ['monuser', 'closed'],
          ['nas', 'logout'],
        ]);
        assert.equal(server.numLogins('ups'), 0);
      } finally {
        server.off('login', onLogin);
        server.off('disconnect', onGone);
      }
    });

    test('a client FSD sets the latch and is reported', async () => {
      const primary = await connect(server, { session: { username: 'monuser', password: 'secret' } });
      const watcher = await connect(server);
      try {
        const event = once(server, 'fsd');
        await primary.fsd('ups');
        assert.deepEqual((await event)[0], { ups: 'ups', user: 'monuser', address: '127.0.0.1' });
        assert.equal(await watcher.getVar('ups', 'ups.status'), 'FSD OB DISCHRG');
      } finally {
        server.clearFsd('ups');
        primary.close();
        watcher.close();
      }
    });

    test('INSTCMD and SET VAR reach the handlers; tracking reports their outcome', async () => {
      const op = await connect(server, { session: { username: 'operator', password: 'op' } });
      try {
        await op.setTracking(true);
        const ok = await op.instcmd('ups', 'load.off', '30');
        const refused = await op.instcmd('ups', 'test.battery.start.quick');
        assert.match(ok.tracking ?? '', /^[0-9A-F-]{36}$/);
        await waitFor(async () => (await op.getTrackingResult(ok.tracking ?? '')) === 'SUCCESS');
        await assert.rejects(
          op.getTrackingResult(refused.tracking ?? ''),
          (e) => e instanceof NutError && e.code === 'FAILED',
        );
        await op.setVar('ups', 'input.sensitivity', 'high');
        assert.equal(await op.getVar('ups', 'input.sensitivity'), 'high');
        await assert.rejects(op.setVar('ups', 'input.sensitivity', 'medium-high'), { code: 'TOO-LONG' });
        await assert.rejects(op.setVar('ups', 'input.sensitivity', 'mid'), { code: 'INVALID-VALUE' });
        await op.setVar('ups', 'battery.charge', '12abc'); // upsd's atoi: 12 is in 10..90
        await assert.rejects(op.setVar('ups', 'battery.charge', '95'), { code: 'INVALID-VALUE' });
        await assert.rejects(op.setVar('ups', 'ups.status', 'OL'), { code: 'READONLY' });
        await assert.rejects(op.instcmd('ups', 'shutdown.return'), { code: 'CMD-NOT-SUPPORTED' });
        await assert.rejects(op.fsd('ups'), { code: 'ACCESS-DENIED' });
        assert.deepEqual(await op.listEnum('ups', 'input.sensitivity'), ['low', 'medium', 'high']);
        assert.deepEqual(await op.listRange('ups', 'battery.charge'), [{ min: 10, max: 90 }]);
        assert.deepEqual(await op.getType('ups', 'input.sensitivity'), {
          writable: true,
          enum: true,
          range: false,
          number: false,
          maxLength: 6,
          words: ['RW', 'ENUM', 'STRING:6'],
        });
      } finally {
        op.close();
      }
    });
  });

  test('without handlers, SET VAR and INSTCMD fail like a driver that cannot be reached', async () => {
    const server = await startServer();
    const op = await connect(server, { session: { username: 'operator', password: 'op' } });
    try {
      await assert.rejects(op.instcmd('ups', 'load.off'), { code: 'INSTCMD-FAILED' });
      await assert.rejects(op.setVar('ups', 'input.sensitivity', 'low'), { code: 'SET-FAILED' });
    } finally {
      op.close();
      await server.close();
    }
  });

  test('stale and driver-less UPSes answer DATA-STALE and DRIVER-NOT-CONNECTED', async () => {
    const server = await startServer();
    const client = await connect(server);
    try {
      server.setAvailability('ups', 'stale');
      await assert.rejects(client.getVar('ups', 'ups.status'), { code: 'DATA-STALE' });
      server.setAvailability('ups', 'driver-not-connected');
      await assert.rejects(client.listVars('ups'), { code: 'DRIVER-NOT-CONNECTED' });
      assert.equal(await client.getUpsDesc('ups'), 'test UPS');
      server.setAvailability('ups', 'ok');
      assert.equal(await client.getVar('ups', 'battery.charge'), '80');
    } finally {
      client.close();
      await server.close();
    }
  });

  test('GET VAR answers follow every change of what they depend on (no stale cached answer)', async () => {
    const server = await startServer();
    const a = await RawConnection.open(server.port);
    const b = await RawConnection.open(server.port);
    const ask = async (conn: RawConnection, line = 'GET VAR ups ups.status') =>
      (await conn.send(Buffer.from(`${line}\n`))).toString();
    try {
      assert.equal(await ask(a), 'VAR ups ups.status "OB DISCHRG"\n');
      assert.equal(await ask(a), 'VAR ups ups.status "OB DISCHRG"\n');
      server.setVars('ups', { 'ups.status': 'OL' });
      assert.equal(await ask(a), 'VAR ups ups.status "OL"\n');
      server.raiseFsd('ups');
      assert.equal(await ask(b), 'VAR ups ups.status "FSD OL"\n');
      server.clearFsd('ups');
      assert.equal(await ask(b), 'VAR ups ups.status "OL"\n');
      // A per-identity FSD answers each connection for itself.
      await b.send(Buffer.from('USERNAME nas\n'));
      server.raiseFsd('ups', { user: 'nas' });
      assert.equal(await ask(a), 'VAR ups ups.status "OL"\n');
      assert.equal(await ask(b), 'VAR ups ups.status "FSD OL"\n');
      assert.equal(await ask(a), 'VAR ups ups.status "OL"\n');
      server.clearFsd('ups');
      assert.equal(await ask(b), 'VAR ups ups.status "OL"\n');
      server.setAvailability('ups', 'stale');
      assert.equal(await ask(a), 'ERR DATA-STALE\n');
      server.setAvailability('ups', 'ok');
      assert.equal(await ask(a, 'GET VAR ups battery.charge'), 'VAR ups battery.charge "80"\n');
      server.deleteVars('ups', ['battery.charge']);
      assert.equal(await ask(a, 'GET VAR ups battery.charge'), 'ERR VAR-NOT-SUPPORTED\n');
      server.setVars('ups', { 'battery.charge': '75' });
      assert.equal(await ask(a, 'GET VAR ups battery.charge'), 'VAR ups battery.charge "75"\n');
      server.removeUps('ups');
      assert.equal(await ask(a), 'ERR UNKNOWN-UPS\n');
      server.addUps('ups', { vars: { 'ups.status': 'OB' } });
      assert.equal(await ask(a), 'VAR ups ups.status "OB"\n');
      // A client's FSD request sets the latch for everyone.
      const primary = await connect(server, {
        session: { username: 'monuser', password: 'secret', login: 'ups' },
      });
      try {
        await primary.fsd('ups');
      } finally {
        primary.close();
      }
      assert.equal(await ask(a), 'VAR ups ups.status "FSD OB"\n');
    } finally {
      a.close();
      b.close();
      await server.close();
    }
  });

  test('LIST VAR answers follow every change of what they depend on, per connection under a per-identity FSD', async () => {
    const server = await startServer();
    const a = await RawConnection.open(server.port);
    const b = await RawConnection.open(server.port);
    const status = async (conn: RawConnection) => {
      const text = (await conn.send(Buffer.from('LIST VAR ups\n'))).toString();
      assert.match(text, /^BEGIN LIST VAR ups\n[\s\S]*END LIST VAR ups\n$/);
      return /VAR ups ups\.status "([^"]*)"/.exec(text)?.[1];
    };
    try {
      assert.equal(await status(a), 'OB DISCHRG');
      assert.equal(await status(a), 'OB DISCHRG');
      server.setVars('ups', { 'ups.status': 'OL' });
      assert.equal(await status(a), 'OL');
      server.raiseFsd('ups');
      assert.equal(await status(b), 'FSD OL');
      server.clearFsd('ups');
      await b.send(Buffer.from('USERNAME nas\n'));
      server.raiseFsd('ups', { user: 'nas' });
      assert.equal(await status(a), 'OL');
      assert.equal(await status(b), 'FSD OL');
      assert.equal(await status(a), 'OL');
      server.clearFsd('ups');
      assert.equal(await status(b), 'OL');
      server.setVars('ups', { 'battery.runtime': '600' });
      assert.match(
        (await a.send(Buffer.from('LIST VAR ups\n'))).toString(),
        /VAR ups battery\.runtime "600"/,
      );
      server.setAvailability('ups', 'stale');
      assert.equal((await a.send(Buffer.from('LIST VAR ups\n'))).toString(), 'ERR DATA-STALE\n');
    } finally {
      a.close();
      b.close();
      await server.close();
    }
  });

  describe('limits', () => {
    test('drops clients idle longer than the idle timeout; a keep-alive client stays', async () => {
      const server = await startServer({ idleTimeoutMs: 400 });
      const idle = await RawConnection.open(server.port);
      const kept = await connect(server, { timeouts: { keepAliveMs: 150 } });
      try {
        await waitFor(() => idle.closed, { timeoutMs: 5000, what: 'the idle client to be dropped' });
        await sleep(600);
        assert.equal(kept.connected, true);
        assert.equal(await kept.netver(), '1.3');
      } finally {
        kept.close();
        idle.close();
        await server.close();
      }
    });

    test('closes a connection whose line grows past maxLineBytes', async () => {
      const server = await startServer({ maxLineBytes: 1024 });
      const raw = await RawConnection.open(server.port);
      try {
        await raw.send(Buffer.from(`GET VAR ups ${'x'.repeat(2000)}`));
        await waitFor(() => raw.closed, { timeoutMs: 3000, what: 'the connection to close' });
        assert.equal(raw.text, '');
      } finally {
        raw.close();
        await server.close();
      }
    });

    test('refuses connections beyond maxConnections', async () => {
      const server = await startServer({ maxConnections: 2 });
      const a = await RawConnection.open(server.port);
      const b = await RawConnection.open(server.port);
      await sleep(50);
      const c = await RawConnection.open(server.port);
      try {
        await waitFor(() => c.closed, { timeoutMs: 3000, what: 'the third connection to be refused' });
        assert.equal((await a.send(Buffer.from('NETVER\n'))).toString(), '1.3\n');
        assert.equal(b.closed, false);
      } finally {
        for (const r of [a, b, c]) r.close();
        await server.close();
      }
    });

    for (const fastSocketPath of [true, false]) {
      test(`input behind a password check waits, bounded, and is answered in order (${fastSocketPath ? 'fast socket path' : 'stream API'})`, async () => {
        const server = await startServer({ fastSocketPath });
        const a = await RawConnection.open(server.port);
        const b = await RawConnection.open(server.port);
        try {
          // Far more than the 64 KiB held while LOGIN's password check runs: reading stops, then resumes.
          const requests = 10_000;
          a.write(
            Buffer.from(
              `USERNAME monuser\nPASSWORD secret\nLOGIN ups\n${'GET VAR ups battery.charge\n'.repeat(requests)}`,
            ),
          );
          // Meanwhile another connection's reads land in the same shared buffer.
          for (let i = 0; i < 20; i++) await b.send(Buffer.from('GET VAR ups ups.status\nLIST UPS\n'));
          const answer = 'VAR ups battery.charge "80"\n';
          await waitFor(() => a.text.length >= 9 + answer.length * requests || a.closed, {
            timeoutMs: 10_000,
            what: 'every answer',
          });
          assert.equal(a.text, `OK\nOK\nOK\n${answer.repeat(requests)}`);
          assert.equal(
            b.text,
            'VAR ups ups.status "OB DISCHRG"\nBEGIN LIST UPS\nUPS ups "test UPS"\nEND LIST UPS\n'.repeat(20),
          );
        } finally {
          a.close();
          b.close();
          await server.close();
        }
      });
    }

    test('drops a client that does not read its answers instead of buffering them', async () => {
      const server = await startServer({ maxOutputBytes: 64 * 1024 });
      const raw = await RawConnection.open(server.port);
      try {
        raw.pause();
        const flood = Buffer.from('LIST VAR ups\n'.repeat(200_000)); // ~20 MB of answers
        raw.write(flood);
        await waitFor(() => server.clients().length === 0, {
          timeoutMs: 10_000,
          what: 'the server to drop it',
        });
      } finally {
        raw.close();
        await server.close();
      }
    });
  });

  test('a port that is taken fails listen() with the address in the message, and nothing stays bound', async () => {
    const first = new NutServer({ host: '127.0.0.1', port: 0 });
    await first.listen();
    const second = new NutServer({ host: ['::1', '127.0.0.1'], port: first.port });
    try {
      await assert.rejects(
        second.listen(),
        new RegExp(`cannot listen on 127\\.0\\.0\\.1 port ${first.port}`),
      );
      // The ::1 listener it had opened first was closed again.
      await assert.rejects(
        NutClient.connect({ host: '::1', port: first.port, reconnect: false }),
        (e) => e instanceof NutTransportError && e.syscallCode === 'ECONNREFUSED',
      );
    } finally {
      await first.close();
    }
  });

  test('listens on IPv4 and IPv6 (127.0.0.1 and ::1 by default)', async () => {
    const server = new NutServer({ port: 0 });
    server.addUps('ups', { vars: { 'ups.status': 'OL' } });
    const { addresses } = await server.listen();
    assert.deepEqual(addresses, ['127.0.0.1', '::1']);
    try {
      for (const host of ['127.0.0.1', '::1']) {
        const client = await NutClient.connect({ host, port: server.port, reconnect: false });
        assert.equal(await client.getVar('ups', 'ups.status'), 'OL');
        client.close();
      }
    } finally {
      await server.close();
    }
  });

  describe('STARTTLS', needs('openssl', 'upsc'), () => {
    let dir: ReturnType<typeof tempDir>;
    let key: string;
    let cert: string;
    before(() => {
      dir = tempDir('blackstart-tls-');
      execFileSync(
        requireTool('openssl'),
        [
          ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1'],
          ...['-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
          ...['-keyout', join(dir.path, 'key.pem'), '-out', join(dir.path, 'cert.pem')],
        ],
        { stdio: 'ignore' },
      );
      key = readFileSync(join(dir.path, 'key.pem'), 'utf8');
      cert = readFileSync(join(dir.path, 'cert.pem'), 'utf8');
    });
    after(() => dir.remove());

    test('without a certificate STARTTLS is not configured, and "try" may fall back to clear text', async () => {
      const server = await startServer();
      try {
        await assert.rejects(
          NutClient.connect({ host: '127.0.0.1', port: server.port, reconnect: false, tls: { mode: 'try' } }),
          (e) =>
            e instanceof NutTransportError && e.reason === 'tls' && /FEATURE-NOT-CONFIGURED/.test(e.message),
        );
        const fallback = await NutClient.connect({
          host: '127.0.0.1',
          port: server.port,
          reconnect: false,
          tls: { mode: 'try', allowPlaintextFallback: true },
        });
        assert.equal(fallback.encrypted, false);
        assert.equal(await fallback.getVar('ups', 'ups.status'), 'OB DISCHRG');
        fallback.close();
      } finally {
        await server.close();
      }
    });

    test('with a certificate: verified by CA or pinned fingerprint, and real upsc negotiates TLS', async () => {
      const server = await startServer({ tls: { key, cert } });
      const logins: NutClientInfo[] = [];
      server.on('login', (c) => logins.push(c));
      try {
        const byCa = await connect(server, {
          tls: { mode: 'require', ca: cert },
          session: { username: 'nas', password: 'naspass', login: 'ups' },
        });
        assert.equal(byCa.encrypted, true);
        assert.equal(await byCa.getVar('ups', 'battery.charge'), '80');
        assert.equal(logins[0]?.tls, true);
        await assert.rejects(byCa.startTls(), /ALREADY-SSL-MODE/);
        byCa.close();

        const { X509Certificate } = await import('node:crypto');
        const pinned = await connect(server, {
          tls: { mode: 'require', fingerprint256: new X509Certificate(cert).fingerprint256 },
        });
        assert.equal(pinned.encrypted, true);
        pinned.close();
        await assert.rejects(connect(server, { tls: { mode: 'require' } }), /self-signed/);

        // NUT's upsc always tries STARTTLS (NSS, no certificate check without a database).
        const { stdout, stderr } = await promisify(execFile)(requireTool('upsc'), [
          `ups@127.0.0.1:${server.port}`,
          'ups.status',
        ]);
        assert.equal(stdout, 'OB DISCHRG\n');
        assert.match(stderr, /SSL handshake done successfully with server 127\.0\.0\.1/);
        await waitFor(() => server.clients().length === 0, { timeoutMs: 3000, what: 'upsc to leave' });
      } finally {
        await server.close();
      }
    });
  });
});
