import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { BX1600MI_DEV, sleep, waitFor } from '../../../tests/harness/index.ts';
import { hashPassword, NutClient, NutError, NutServer, NutTransportError } from '../src/index.ts';
import { parseCorpus, RawConnection, scriptedPeer } from './helpers.ts';

/** A small deterministic PRNG (mulberry32) so that a failing run can be replayed from its seed. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)] as T,
  };
}

const SPECIAL = [...Buffer.from('"#\\= \t\r\n\u000b'), 0x00, 0x01, 0x7f, 0x80, 0xff];

/** Mutated inputs are cut at this size: pipelining copies of a flood would otherwise grow without bound. */
const MAX_INPUT_BYTES = 256 * 1024;

/** One mutation of `input` (bit flips, special bytes, inserts, deletes, duplication, splicing, floods). */
function mutate(input: Buffer, other: Buffer, rnd: ReturnType<typeof prng>): Buffer {
  const out = mutateOnce(input, other, rnd);
  return out.length > MAX_INPUT_BYTES ? out.subarray(0, MAX_INPUT_BYTES) : out;
}

function mutateOnce(input: Buffer, other: Buffer, rnd: ReturnType<typeof prng>): Buffer {
  const bytes = [...input];
  const at = () => rnd.int(bytes.length + 1);
  switch (rnd.int(9)) {
    case 0: // flip a bit
      if (bytes.length) {
        const i = rnd.int(bytes.length);
        bytes[i] = (bytes[i] as number) ^ (1 << rnd.int(8));
      }
      break;
    case 1: // a special byte somewhere
      bytes.splice(at(), rnd.int(2), rnd.pick(SPECIAL));
      break;
    case 2: // random bytes
      bytes.splice(at(), 0, ...Array.from({ length: 1 + rnd.int(16) }, () => rnd.int(256)));
      break;
    case 3: // delete a range
      bytes.splice(at(), 1 + rnd.int(8));
      break;
    case 4: {
      // duplicate a range
      const i = at();
      bytes.splice(i, 0, ...bytes.slice(i, i + 1 + rnd.int(32)));
      break;
    }
    case 5: // splice with another input
      return Buffer.concat([
        input.subarray(0, rnd.int(input.length + 1)),
        other.subarray(rnd.int(other.length + 1)),
      ]);
    case 6: // pipeline several copies
      return Buffer.concat(Array.from({ length: 2 + rnd.int(30) }, () => input));
    case 7: // a flood of one byte (long words, long lines, comment runs)
      bytes.splice(at(), 0, ...new Array(1 + rnd.int(20_000)).fill(rnd.pick([...SPECIAL, 0x41])));
      break;
    default: // truncate
      bytes.length = rnd.int(bytes.length + 1);
  }
  return Buffer.from(bytes);
}

function heapUsedAfterGc(): number {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

const BX_VARS = Object.fromEntries(
  BX1600MI_DEV.split('\n')
    .filter((l) => l.includes(': '))
    .map((l) => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)]),
);

describe('fuzzing', () => {
  test('mutated corpus input never crashes or stalls NutServer, and memory stays bounded', async (t) => {
    const seed = Number(process.env.NUT_FUZZ_SEED ?? Date.now() % 1_000_000);
    const budgetMs = Number(process.env.NUT_FUZZ_MS ?? 10_000);
    const rnd = prng(seed);
    const server = new NutServer({
      host: '127.0.0.1',
      port: 0,
      users: [
        {
          name: 'monuser',
          passwordHash: hashPassword('secret'),
          upsmon: 'primary',
          actions: ['SET'],
          instcmds: ['ALL'],
        },
        { name: 'secuser', passwordHash: hashPassword('secpass'), upsmon: 'secondary' },
      ],
      maxLineBytes: 8192,
      onSetVar: ({ ups, name, value }) => server.setVars(ups, { [name]: value }),
      onInstcmd: () => undefined,
    });
    server.addUps('ups', {
      description: 'fuzz target',
      vars: BX_VARS,
      info: Object.fromEntries(Object.keys(BX_VARS).map((k) => [k, { writable: true, maxLength: 32 }])),
      commands: ['load.off', 'test.battery.start.quick'],
    });
    await server.listen();
    const seeds = parseCorpus().flatMap((c) => c.packets.map((p) => p.bytes));
    const heapBefore = heapUsedAfterGc();
    let inputs = 0;
    let bytesSent = 0;
    let maxSessions = 0;
    const deadline = Date.now() + budgetMs;

    const probe = async () => {
      const conn = await RawConnection.open(server.port);
      try {
        const reply = await conn.send(Buffer.from('NETVER\n'), { quietMs: 5, silentMs: 2000 });
        assert.equal(
          reply.toString(),
          '1.3\n',
          `the server stopped answering (seed ${seed}, ${inputs} inputs)`,
        );
      } finally {
        conn.close();
      }
    };

    const worker = async () => {
      while (Date.now() < deadline) {
        const conn = await RawConnection.open(server.port);
        for (let i = 0; i < 100 && !conn.closed; i++) {
          let input = rnd.pick(seeds);
          for (let m = 1 + rnd.int(4); m > 0; m--) input = mutate(input, rnd.pick(seeds), rnd);
          conn.write(input);
          inputs++;
          bytesSent += input.length;
          if (i % 10 === 0) await sleep(0);
          conn.received.length = 0; // answers are not checked here, only that the server survives
        }
        maxSessions = Math.max(maxSessions, server.clients().length);
        conn.close();
        await probe();
      }
    };
    try {
      await Promise.all(Array.from({ length: 6 }, worker));
      await waitFor(() => server.clients().length === 0, { timeoutMs: 5000, what: 'every session to end' });
      await probe();
      const growth = heapUsedAfterGc() - heapBefore;
      t.diagnostic(
        `${inputs} mutated inputs (${(bytesSent / 1e6).toFixed(1)} MB) in ${budgetMs} ms, seed ${seed}, ` +
          `max ${maxSessions} sessions, heap growth ${(growth / 1e6).toFixed(1)} MB`,
      );
      assert.ok(inputs > 1000, `only ${inputs} inputs were tried`);
      assert.ok(growth < 32e6, `heap grew by ${growth} bytes`);
    } finally {
      await server.close();
    }
  });

  test('mutated answers never crash NutClient: every request settles with a typed error or a value', async (t) => {
    const seed = Number(process.env.NUT_FUZZ_SEED ?? Date.now() % 1_000_000);
    const rnd = prng(seed);
    const answers = [
      'VAR ups ups.status "OL"\n',
      'VAR ups battery.charge "100"\n',
      'BEGIN LIST VAR ups\nVAR ups ups.status "OB DISCHRG"\nVAR ups x "a \\"b\\" \\#c"\nEND LIST VAR ups\n',
      'BEGIN LIST UPS\nUPS ups "Back-UPS"\nEND LIST UPS\n',
      'TYPE ups ups.status RW STRING:32\n',
      'NUMLOGINS ups 2\n',
      'ERR DATA-STALE\n',
      'ERR UNKNOWN-UPS\n',
      'OK\n',
      'OK TRACKING 1F2E3D4C-0000-4000-8000-000000000000\n',
    ].map((a) => Buffer.from(a));
    const peer = await scriptedPeer((_line, socket) => {
      let reply: Buffer = rnd.pick(answers);
      for (let m = rnd.int(4); m > 0; m--) reply = mutate(reply, rnd.pick(answers), rnd);
      if (rnd.int(20) === 0) socket.destroy();
      else socket.write(reply);
      return undefined;
    });
    let requests = 0;
    const outcomes = { value: 0, nutError: 0, transport: 0 };
    const deadline = Date.now() + 4000;
    try {
      while (Date.now() < deadline) {
        const client = await NutClient.connect({
          host: '127.0.0.1',
          port: peer.port,
          reconnect: false,
          timeouts: { requestMs: 200 },
        });
        const calls = [
          () => client.getVar('ups', 'ups.status'),
          () => client.listVars('ups'),
          () => client.listUps(),
          () => client.getType('ups', 'ups.status'),
          () => client.getNumLogins('ups'),
          () => client.setVar('ups', 'x', 'y'),
          () => client.getTracking(),
        ];
        const settled = await Promise.allSettled(Array.from({ length: 20 }, () => rnd.pick(calls)()));
        for (const s of settled) {
          requests++;
          if (s.status === 'fulfilled') outcomes.value++;
          else if (s.reason instanceof NutError) outcomes.nutError++;
          else if (s.reason instanceof NutTransportError) outcomes.transport++;
          else assert.fail(`untyped failure: ${s.reason}`);
        }
        client.close();
      }
      t.diagnostic(
        `${requests} requests against mutated answers (seed ${seed}): ${JSON.stringify(outcomes)}`,
      );
      assert.ok(outcomes.value > 0 && outcomes.nutError > 0 && outcomes.transport > 0);
    } finally {
      await peer.close();
    }
  });
});
