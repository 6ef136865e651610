import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { NUT_LAB_TOOLS, NutLab, needs, sleep, waitFor } from '@blackstart/tests';
import pino from 'pino';
import { FailSafe } from '../src/failsafe.ts';

const log = pino({ level: 'silent' });
const DEADLINE_MS = 600;

const live = new Set<FailSafe>();
after(() => {
  for (const safe of live) safe.stop();
});

function failsafe(options: { nut?: NutLab; deadlineMs?: number } = {}) {
  const shutdowns: Array<{ reason: string; at: number }> = [];
  const safe = new FailSafe({
    deadlineMs: options.deadlineMs ?? DEADLINE_MS,
    log,
    shutDown: async (reason) => {
      shutdowns.push({ reason, at: Date.now() });
    },
    ...(options.nut && {
      nut: {
        ups: options.nut.upsName,
        host: options.nut.host,
        port: options.nut.port,
        username: 'monuser',
        password: 'secret',
        intervalMs: 100,
      },
    }),
  });
  live.add(safe);
  return { safe, shutdowns };
}

describe('fail-safe from the controller’s UPS stream', () => {
  test('controller lost while on battery: shuts down once, at the deadline', async () => {
    const { safe, shutdowns } = failsafe();
    safe.controllerConnected();
    safe.upsFromController({ type: 'ups-state', at: Date.now(), onBattery: true, charge: 70 });
    const lost = Date.now();
    safe.controllerLost();
    assert.ok(safe.status().shutdownAt! >= lost + DEADLINE_MS);
    await waitFor(() => shutdowns.length > 0, { what: 'the fail-safe shutdown' });
    assert.ok(shutdowns[0]!.at - lost >= DEADLINE_MS - 5, 'not before the deadline');
    assert.match(shutdowns[0]!.reason, /controller unreachable for 0.6 s while on battery/);
    safe.controllerLost();
    await sleep(DEADLINE_MS * 2);
    assert.equal(shutdowns.length, 1, 'never twice');
    safe.stop();
  });

  test('the controller coming back before the deadline stands the fail-safe down', async () => {
    const { safe, shutdowns } = failsafe();
    safe.controllerConnected();
    safe.upsFromController({ type: 'ups-state', at: Date.now(), onBattery: true });
    safe.controllerLost();
    await sleep(DEADLINE_MS / 2);
    safe.controllerConnected();
    assert.equal(safe.status().shutdownAt, null);
    await sleep(DEADLINE_MS * 1.5);
    assert.deepEqual(shutdowns, []);
    safe.stop();
  });

  test('controller lost on mains, or before any UPS state was heard: only reconnect', async () => {
    const { safe, shutdowns } = failsafe();
    safe.controllerLost();
    safe.controllerConnected();
    safe.upsFromController({ type: 'ups-state', at: Date.now(), onBattery: false, charge: 100 });
    safe.controllerLost();
    await sleep(DEADLINE_MS * 1.5);
    assert.deepEqual(shutdowns, []);
    assert.equal(safe.status().shutdownAt, null);
    safe.stop();
  });
});

describe(
  'fail-safe following a real NUT server while the controller is gone',
  needs(...NUT_LAB_TOOLS),
  () => {
    let nut: NutLab;
    before(async () => {
      nut = await NutLab.start();
      await nut.waitForData();
    });
    after(async () => {
      await nut?.stop();
    });

    test('NUT on battery arms the deadline even though the controller last said mains; NUT back on mains disarms it', async () => {
      await nut.setStatus('OL');
      // dummy-ups takes a moment to pass a status change on: a deadline long enough to see it.
      const deadlineMs = 5000;
      const { safe, shutdowns } = failsafe({ nut, deadlineMs });
      safe.controllerConnected();
      safe.upsFromController({ type: 'ups-state', at: Date.now(), onBattery: false });
      safe.controllerLost();
      await sleep(300);
      assert.equal(safe.status().shutdownAt, null, 'NUT says mains');
      await nut.setStatus('OB DISCHRG');
      await waitFor(() => safe.status().shutdownAt, { what: 'NUT on battery to arm the deadline' });
      assert.equal(safe.status().ups?.source, 'nut');
      await nut.setStatus('OL CHRG');
      await waitFor(() => safe.status().shutdownAt === null, { what: 'mains back to disarm it' });
      assert.equal(shutdowns.length, 0);

      await nut.setStatus('OB DISCHRG');
      await waitFor(() => shutdowns.length > 0, {
        timeoutMs: deadlineMs + 10_000,
        what: 'the deadline to pass on battery',
      });
      assert.match(shutdowns[0]!.reason, /controller unreachable/);
      safe.stop();
    });

    test('NUT reporting low battery shuts down at once, without waiting for the deadline', async () => {
      await nut.setStatus('OL');
      const { safe, shutdowns } = failsafe({ nut, deadlineMs: 10_000 });
      safe.start();
      await sleep(300);
      const lowAt = Date.now();
      await nut.setStatus('OB LB');
      await waitFor(() => shutdowns.length > 0, { what: 'the low-battery shutdown' });
      assert.match(shutdowns[0]!.reason, /NUT reports OB LB while the controller is unreachable/);
      assert.ok(shutdowns[0]!.at - lowAt < 4000, 'well before the 10 s deadline');
      safe.stop();
    });

    test('while the controller is connected, NUT does not act on its own: the controller decides', async () => {
      await nut.setStatus('OB LB');
      const { safe, shutdowns } = failsafe({ nut });
      safe.controllerConnected();
      safe.upsFromController({ type: 'ups-state', at: Date.now(), onBattery: true });
      await sleep(500);
      assert.deepEqual(shutdowns, []);
      assert.equal(safe.status().ups?.source, 'controller');
      safe.stop();
      await nut.setStatus('OL');
    });
  },
);
