import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  BX1600MI_DEV,
  NUT_LAB_TOOLS,
  NutLab,
  needs,
  sleep,
  type UpsmonHandle,
  waitFor,
} from '../../../tests/harness/index.ts';
import { hashPassword, NutServer } from '../src/index.ts';

/** The BX1600MI dump as variables (what the controller would serve from its HID driver). */
const BX1600MI_VARS = Object.fromEntries(
  BX1600MI_DEV.split('\n')
    .filter((l) => l.includes(': ') && !l.startsWith('#'))
    .map((l) => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)]),
);

type Gone = { user?: string; reason: string; at: number };

async function startServer(users: Array<[string, string, 'primary' | 'secondary']>) {
  const server = new NutServer({
    host: '127.0.0.1',
    port: 0,
    users: users.map(([name, password, upsmon]) => ({ name, passwordHash: hashPassword(password), upsmon })),
  });
  // A Synology-style server: UPS "ups", served variables from the caller.
  server.addUps('ups', { description: 'Back-UPS BX1600MI', vars: BX1600MI_VARS });
  await server.listen();
  const gone: Gone[] = [];
  server.on('disconnect', (c) => gone.push({ user: c.user, reason: c.reason, at: Date.now() / 1000 }));
  return { server, gone };
}

const notifyTypes = (m: UpsmonHandle) => [...new Set(m.notifications().map((n) => n.type))];

describe('real upsmon 2.8.0 against NutServer', needs(...NUT_LAB_TOOLS, 'upsmon'), () => {
  let lab: NutLab;
  before(async () => {
    lab = await NutLab.start();
  });
  after(() => lab?.stop());

  test('a secondary shuts down when FSD is raised for its identity, and not for another one', async () => {
    const { server, gone } = await startServer([
      ['nas', 'naspass', 'secondary'],
      ['monuser', 'secret', 'secondary'],
    ]);
    const monitor = `ups@127.0.0.1:${server.port}`;
    try {
      const nas = await lab.startUpsmon({
        role: 'secondary',
        user: 'nas',
        password: 'naspass',
        monitor,
        name: 'sec-nas',
      });
      const other = await lab.startUpsmon({
        role: 'secondary',
        user: 'monuser',
        password: 'secret',
        monitor,
        name: 'sec-other',
      });
      await waitFor(() => server.numLogins('ups') === 2, {
        timeoutMs: 15_000,
        what: 'both upsmons to log in',
      });
      assert.deepEqual(
        server
          .clients()
          .map((c) => c.user)
          .sort(),
        ['monuser', 'nas'],
      );

      server.raiseFsd('ups', { user: 'nas' });
      await waitFor(() => nas.shutdownAt(), { timeoutMs: 15_000, what: "the NAS upsmon's SHUTDOWNCMD" });
      assert.ok(notifyTypes(nas).includes('FSD'), nas.log());
      // Its connection dropped without LOGOUT when its shutdown started: that is the signal.
      await waitFor(() => gone.some((g) => g.user === 'nas'), { timeoutMs: 5000, what: 'the NAS to leave' });
      assert.deepEqual(
        gone.map((g) => [g.user, g.reason]),
        [['nas', 'closed']],
      );
      // The other secondary polls every 2 s: three cycles later it still has not seen FSD.
      await sleep(6000);
      assert.equal(other.shutdownAt(), undefined, other.log());
      assert.ok(!notifyTypes(other).includes('FSD'));
      assert.equal(server.numLogins('ups'), 1);

      server.raiseFsd('ups', { user: 'monuser' });
      await waitFor(() => other.shutdownAt(), { timeoutMs: 15_000, what: "the other upsmon's SHUTDOWNCMD" });
      await nas.stop();
      await other.stop();
    } finally {
      await server.close();
    }
  });

  test('a primary logs in with PRIMARY and runs the same FSD / NUMLOGINS handshake as with upsd', async () => {
    const { server, gone } = await startServer([
      ['monuser', 'secret', 'primary'],
      ['secuser', 'secpass', 'secondary'],
    ]);
    const fsdBy: string[] = [];
    server.on('fsd', (e) => fsdBy.push(e.user));
    const ours = `ups@127.0.0.1:${server.port}`;
    try {
      // The same pair of upsmons, once against real upsd and once against NutServer, side by side.
      const runs = {
        upsd: {
          primary: await lab.startUpsmon({
            role: 'primary',
            user: 'monuser',
            password: 'secret',
            name: 'p-upsd',
          }),
          secondary: await lab.startUpsmon({
            role: 'secondary',
            user: 'secuser',
            password: 'secpass',
            name: 's-upsd',
          }),
        },
        ours: {
          primary: await lab.startUpsmon({
            role: 'primary',
            user: 'monuser',
            password: 'secret',
            monitor: ours,
            name: 'p-ours',
          }),
          secondary: await lab.startUpsmon({
            role: 'secondary',
            user: 'secuser',
            password: 'secpass',
            monitor: ours,
            name: 's-ours',
          }),
        },
      };
      // upsmon sends LOGIN, then PRIMARY: wait for both.
      await waitFor(
        () =>
          server.numLogins('ups') === 2 && server.clients().some((c) => c.user === 'monuser' && c.primary),
        { timeoutMs: 15_000, what: 'both logins on NutServer, PRIMARY granted to monuser' },
      );
      await waitFor(() => lab.upsc(['-c', lab.target]).stdout.split('\n').filter(Boolean).length === 2, {
        timeoutMs: 15_000,
        what: 'logins on upsd',
      });

      // Outage: on battery, then low battery, on both servers at about the same time.
      server.setVars('ups', { 'ups.status': 'OB DISCHRG', 'battery.charge': '60' });
      await lab.setVars({ 'ups.status': 'OB DISCHRG', 'battery.charge': '60' });
      await sleep(2500);
      server.setVars('ups', { 'ups.status': 'OB DISCHRG LB', 'battery.charge': '9' });
      await lab.setVars({ 'ups.status': 'OB DISCHRG LB', 'battery.charge': '9' });

      for (const [name, run] of Object.entries(runs)) {
        await waitFor(() => run.primary.shutdownAt(), {
          timeoutMs: 30_000,
          what: `${name}: primary SHUTDOWNCMD`,
        });
        const secondaryAt = run.secondary.shutdownAt();
        const primaryAt = run.primary.shutdownAt() ?? 0;
        assert.ok(secondaryAt !== undefined, `${name}: the secondary shut down\n${run.secondary.log()}`);
        assert.ok(secondaryAt <= primaryAt, `${name}: the secondary went first`);
        assert.ok(
          primaryAt - secondaryAt < 8,
          `${name}: the primary waited for NUMLOGINS to drop, not for HOSTSYNC to expire`,
        );
        assert.doesNotMatch(run.primary.log(), /Host sync timer expired/);
      }
      assert.deepEqual(fsdBy, ['monuser'], 'the primary set FSD on NutServer');
      assert.deepEqual(
        gone.map((g) => [g.user, g.reason]),
        [
          ['secuser', 'closed'],
          ['monuser', 'closed'],
        ],
      );
      // The same notifications from the upsmons of both servers, ONBATT first (seconds before the
      // rest). Their order after that is not asserted: upsmon runs each NOTIFYCMD in a process of
      // its own, so FSD and SHUTDOWN, emitted together, are recorded in whichever order those finish;
      // and whether a secondary's poll sees LB before FSD or both at once is a race on either server.
      for (const run of Object.values(runs)) {
        for (const m of [run.primary, run.secondary]) {
          // NOTIFYCMD runs in the background: under load it may trail SHUTDOWNCMD.
          await waitFor(() => notifyTypes(m).includes('SHUTDOWN'), {
            timeoutMs: 10_000,
            what: 'NOTIFY SHUTDOWN',
          });
        }
      }
      for (const role of ['primary', 'secondary'] as const) {
        const theirs = notifyTypes(runs.upsd[role]);
        const mine = notifyTypes(runs.ours[role]);
        assert.deepEqual([...mine].sort(), [...theirs].sort(), role);
        assert.equal(mine[0], 'ONBATT', role);
        assert.ok(mine.includes('SHUTDOWN'), role);
      }
      for (const run of Object.values(runs)) {
        await run.primary.stop();
        await run.secondary.stop();
      }
    } finally {
      await server.close();
      await lab.restartUpsd(); // clear upsd's FSD latch
    }
  });
});
