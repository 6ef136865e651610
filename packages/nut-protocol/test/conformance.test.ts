import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  DEFAULT_NUT_USERS,
  NUT_LAB_TOOLS,
  NutLab,
  needs,
  sleep,
  waitFor,
} from '../../../tests/harness/index.ts';
import { NutClient, NutError, NutServer, readSystemCmdvartab } from '../src/index.ts';
import { type Case, mirrorUps, parseCorpus, RawConnection, serverUsers, type UpsState } from './helpers.ts';

interface Transcript {
  /** Per connection: every byte received (normalized), and whether the server closed it. */
  connections: Record<string, { received: string; closed: boolean }>;
  /** Per packet, for readable failure messages. */
  steps: string[];
}

const UPSD_BANNER = 'Network UPS Tools upsd 2.8.0 - http://www.networkupstools.org/';
const UUID = /[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}/g;

interface Target {
  port: number;
  banner: string;
  setState(state: UpsState): Promise<void>;
}

async function replay(target: Target, cases: Case[]): Promise<Map<string, Transcript>> {
  const normalize = (s: string) => s.split(target.banner).join('<BANNER>').replace(UUID, '<UUID>');
  const out = new Map<string, Transcript>();
  let state: UpsState = 'ok';
  for (const c of cases) {
    if (c.state !== state) {
      await target.setState(c.state);
      state = c.state;
    }
    const conns = new Map<string, RawConnection>();
    const transcript: Transcript = { connections: {}, steps: [] };
    for (const packet of c.packets) {
      let conn = conns.get(packet.conn);
      if (!conn) {
        conn = await RawConnection.open(target.port);
        conns.set(packet.conn, conn);
      }
      const reply = await conn.send(packet.bytes, { quietMs: 50 });
      transcript.steps.push(
        `@${packet.conn} >> ${JSON.stringify(packet.bytes.toString('latin1').slice(0, 120))}\n` +
          `   << ${JSON.stringify(normalize(reply.toString('latin1')).slice(0, 600))}`,
      );
    }
    for (const [name, conn] of conns) {
      transcript.connections[name] = { received: normalize(conn.text), closed: conn.closed };
      conn.close();
    }
    out.set(c.name, transcript);
    await sleep(40); // let the servers see the closes before the next case counts logins
  }
  return out;
}

describe(
  'differential conformance: real upsd 2.8.0 and NutServer answer the corpus identically',
  needs(...NUT_LAB_TOOLS),
  () => {
    let lab: NutLab;
    let server: NutServer;
    /** The same server on the socket stream API, the path Node versions without the fast one take. */
    let streamServer: NutServer;
    const cases = parseCorpus();

    before(async () => {
      lab = await NutLab.start();
      const client = await NutClient.connect({ host: lab.host, port: lab.port, reconnect: false });
      const definition = await mirrorUps(client, lab.upsName);
      client.close();
      const serve = (fastSocketPath: boolean) => {
        const s: NutServer = new NutServer({
          host: '127.0.0.1',
          port: 0,
          users: serverUsers(DEFAULT_NUT_USERS),
          descriptions: readSystemCmdvartab(),
          onSetVar: ({ ups, name, value }) => s.setVars(ups, { [name]: value }),
          onInstcmd: () => {
            throw new NutError('UNKNOWN', 'INSTCMD'); // dummy-ups rejects every instant command
          },
          fastSocketPath,
        });
        s.addUps(lab.upsName, definition);
        return s;
      };
      server = serve(true);
      streamServer = serve(false);
      await server.listen();
      await streamServer.listen();
    });

    after(async () => {
      await server?.close();
      await streamServer?.close();
      await lab?.stop();
    });

    test(`the corpus has cases for every command (${cases.length} cases)`, () => {
      const text = cases
        .flatMap((c) => c.packets.map((p) => p.bytes.toString('latin1').toUpperCase()))
        .join('\n');
      for (const command of [
        'VER',
        'NETVER',
        'PROTVER',
        'HELP',
        'STARTTLS',
        'GET VAR',
        'GET TYPE',
        'GET DESC',
        'GET CMDDESC',
        'GET UPSDESC',
        'GET NUMLOGINS',
        'GET TRACKING',
        'LIST UPS',
        'LIST VAR',
        'LIST RW',
        'LIST CMD',
        'LIST ENUM',
        'LIST RANGE',
        'LIST CLIENT',
        'USERNAME',
        'PASSWORD',
        'LOGIN',
        'LOGOUT',
        'PRIMARY',
        'MASTER',
        'FSD',
        'SET VAR',
        'SET TRACKING',
        'INSTCMD',
      ]) {
        assert.ok(text.includes(command), `no case sends ${command}`);
      }
    });

    test('every case gets the same bytes from both servers', async () => {
      const upsdTarget: Target = {
        port: lab.port,
        banner: UPSD_BANNER,
        async setState(state) {
          if (state === 'driver-not-connected') {
            await lab.killDriver();
            await waitFor(
              () => lab.upsc([lab.target, 'ups.status']).stderr.includes('Driver not connected'),
              {
                timeoutMs: 10_000,
                what: 'upsd to notice the driver is gone',
              },
            );
          } else {
            lab.startDriver();
            await lab.waitForData();
          }
        },
      };
      const ourTarget = (s: NutServer): Target => ({
        port: s.port,
        banner: s.banner,
        async setState(state) {
          s.setAvailability(lab.upsName, state);
        },
      });
      const [upsd, ours, oursStreamed] = await Promise.all([
        replay(upsdTarget, cases),
        replay(ourTarget(server), cases),
        replay(ourTarget(streamServer), cases),
      ]);
      const mismatches: string[] = [];
      for (const [c, b] of cases.flatMap((c) => [
        [c, ours.get(c.name)] as const,
        [c, oursStreamed.get(c.name)] as const,
      ])) {
        const a = upsd.get(c.name);
        try {
          assert.deepEqual(b?.connections, a?.connections);
        } catch {
          const streams = (t: Transcript | undefined) =>
            Object.entries(t?.connections ?? {})
              .map(([name, c]) => `@${name}${c.closed ? ' (closed)' : ''} ${JSON.stringify(c.received)}`)
              .join('\n');
          mismatches.push(
            `${b === oursStreamed.get(c.name) ? '(stream API) ' : ''}case '${c.name}' (corpus.nut:${c.packets[0]?.line}):\n-- upsd:\n${streams(a)}\n-- NutServer:\n${streams(b)}\n` +
              `-- upsd, packet by packet:\n${a?.steps.join('\n')}\n-- NutServer, packet by packet:\n${b?.steps.join('\n')}`,
          );
        }
      }
      assert.equal(
        mismatches.length,
        0,
        `${mismatches.length} of ${2 * cases.length} cases differ:\n\n${mismatches.join('\n\n')}`,
      );
    });
  },
);
