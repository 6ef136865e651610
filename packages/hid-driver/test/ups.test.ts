/**
 * The HidUps device object through the replay transport: reads, quick polls, events from interrupt
 * reports and polls, background polling, disconnect and reconnect, clean close, open failures.
 *
 * There is no USB UPS and no /dev/uhid here, so unplugging is simulated by the replay device
 * (`unplug()`/`replug()`): its transports fail the way node-hid's do (an error event and failing
 * calls), and re-opening fails until it is plugged back in.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type HidFixture,
  type HidTransport,
  type HidUps,
  HidUps as HidUpsClass,
  openReplay,
  ReplayDevice,
  type StatusChangeEvent,
  type TransportOpener,
  toHex,
  UnsupportedDeviceError,
  type UpdateEvent,
  UpsClosedError,
  UpsDisconnectedError,
  UpsNotFoundError,
} from '../src/index.ts';
import { DescriptorBuilder } from './builder.ts';
import { CYBERPOWER_DEVICE, cyberPower } from './fixtures.ts';
import { nextEvent } from './wait.ts';

const builder = cyberPower();
const baseFixture = (): HidFixture => builder.fixture(CYBERPOWER_DEVICE, 'synthetic CP1500PFCLCD');

async function open(options: Parameters<typeof openReplay>[1] = {}, fixture = baseFixture()) {
  const device = new ReplayDevice(fixture, { playInputs: false });
  const ups = await openReplay(device, { pollIntervalMs: 0, ...options });
  return { device, ups };
}

/** Counts open attempts on top of a replay device's opener. */
function countingOpener(device: ReplayDevice): TransportOpener & { attempts: number } {
  const inner = device.opener();
  const opener = {
    attempts: 0,
    description: inner.description,
    open: async (): Promise<HidTransport> => {
      opener.attempts++;
      return inner.open();
    },
  };
  return opener;
}

describe('reading', () => {
  test('read() polls the device and returns the same snapshot variables() keeps', async () => {
    const { device, ups } = await open();
    try {
      device.setFeatureReport(builder.featureReport(0x13, { load: 61 }));
      assert.equal(ups.variables()['ups.load'], '25', 'variables() does not touch the device');
      const vars = await ups.read();
      assert.equal(vars['ups.load'], '61');
      assert.deepEqual(ups.variables(), vars);
    } finally {
      await ups.close();
    }
  });

  test('a quick read fetches only status, charge, runtime, load and timers', async () => {
    const { device, ups } = await open();
    try {
      device.reads.length = 0;
      await ups.read({ quick: true });
      const ids = new Set(device.reads.map((r) => r.reportId));
      assert.ok(ids.has(0x0b) && ids.has(0x03) && ids.has(0x13) && ids.has(0x15), [...ids].join(','));
      assert.ok(!ids.has(0x01) && !ids.has(0x17) && !ids.has(0x0e), 'nominal values wait for a full poll');
      device.reads.length = 0;
      await ups.read();
      assert.ok(device.reads.some((r) => r.reportId === 0x01));
    } finally {
      await ups.close();
    }
  });

  test('polls emit update events with the changed names, and status events only when the status changes', async () => {
    let clock = 1_000;
    const { device, ups } = await open({ now: () => clock });
    try {
      const updates: UpdateEvent[] = [];
      const statuses: StatusChangeEvent[] = [];
      ups.on('update', (e) => updates.push(e));
      ups.on('status', (e) => statuses.push(e));
      await ups.read();
      assert.equal(updates.length, 0, 'nothing changed, nothing emitted');
      device.setFeatureReport(builder.featureReport(0x03, { charge: 97, runtime: 1400 }));
      clock = 2_000;
      await ups.read();
      assert.deepEqual(updates.at(-1)?.changed.sort(), ['battery.charge', 'battery.runtime']);
      assert.equal(updates.at(-1)?.source, 'poll');
      assert.equal(statuses.length, 0);
      device.setFeatureReport(builder.featureReport(0x0b, { acPresent: 0, discharging: 1, fullyCharged: 0 }));
      clock = 3_000;
      await ups.read();
      assert.equal(statuses.length, 1);
      assert.deepEqual(
        {
          status: statuses[0]!.status,
          previous: statuses[0]!.previous,
          source: statuses[0]!.source,
          at: statuses[0]!.at,
        },
        { status: 'OB DISCHRG', previous: 'OL', source: 'poll', at: 3_000 },
      );
      assert.equal(statuses[0]!.variables['battery.charge'], '97');
    } finally {
      await ups.close();
    }
  });

  test('an interrupt report reaches listeners synchronously as a status change', async () => {
    const { device, ups } = await open();
    try {
      const statuses: StatusChangeEvent[] = [];
      ups.on('status', (e) => statuses.push(e));
      device.injectInput(builder.inputReport(0x0b, { acPresent: 0, discharging: 1, fullyCharged: 0 }));
      assert.equal(statuses.length, 1, 'delivered before injectInput returns');
      assert.equal(statuses[0]!.status, 'OB DISCHRG');
      assert.equal(statuses[0]!.source, 'interrupt');
      device.injectInput(builder.inputReport(0x03, { charge: 35, runtime: 600 }));
      assert.equal(ups.variables()['battery.runtime'], '600');
      device.injectInput(
        builder.inputReport(0x0b, { acPresent: 0, discharging: 1, fullyCharged: 0, belowLimit: 1 }),
      );
      assert.equal(statuses.at(-1)!.status, 'OB DISCHRG LB');
    } finally {
      await ups.close();
    }
  });

  test('recorded interrupt reports play on their schedule once the driver listens', async () => {
    const fixture = {
      ...baseFixture(),
      inputs: [
        {
          afterMs: 20,
          data: toHex(builder.inputReport(0x0b, { acPresent: 0, discharging: 1, fullyCharged: 0 })),
        },
      ],
    };
    const ups = await openReplay(fixture, { pollIntervalMs: 0 });
    try {
      const event = await nextEvent(ups, 'status');
      assert.equal(event.status, 'OB DISCHRG');
    } finally {
      await ups.close();
    }
  });

  test('malformed interrupt reports are ignored: unknown report ID (warned once), empty, or oversized', async () => {
    const { device, ups } = await open();
    try {
      const warnings: string[] = [];
      ups.on('warning', (w) => warnings.push(w));
      const before = ups.variables();
      device.injectInput(Uint8Array.from([0x77, 1, 2]));
      device.injectInput(Uint8Array.from([0x77, 1, 2]));
      device.injectInput(new Uint8Array(0));
      device.injectInput(Uint8Array.from([0x0b, 0x01, ...new Array(500).fill(0xff)]));
      assert.equal(warnings.filter((w) => /interrupt report 0x77/.test(w)).length, 1);
      assert.equal(ups.variables()['ups.status'], 'OL');
      assert.deepEqual(Object.keys(ups.variables()), Object.keys(before));
    } finally {
      await ups.close();
    }
  });

  test('background polling notices a change without being asked', async () => {
    const { device, ups } = await open({ pollIntervalMs: 15 });
    try {
      const change = nextEvent(ups, 'status', (e) => e.source === 'poll');
      device.setFeatureReport(builder.featureReport(0x0b, { acPresent: 0, discharging: 1, fullyCharged: 0 }));
      assert.equal((await change).status, 'OB DISCHRG');
    } finally {
      await ups.close();
    }
  });
});

describe('disconnect and reconnect', () => {
  test('an unplug is reported, reads fail clearly, and the replugged UPS comes back with its new state', async () => {
    const device = new ReplayDevice(baseFixture(), { playInputs: false });
    const opener = countingOpener(device);
    const ups = await HidUpsClass.open(opener, {
      pollIntervalMs: 0,
      reconnectIntervalMs: 10,
      reconnectMaxIntervalMs: 20,
    });
    try {
      const statuses: StatusChangeEvent[] = [];
      ups.on('status', (e) => statuses.push(e));
      const disconnected = nextEvent(ups, 'disconnect');
      device.unplug();
      const { error } = await disconnected;
      assert.match(error.message, /unplugged/);
      assert.equal(ups.connected, false);
      await assert.rejects(
        ups.read(),
        (e: unknown) => e instanceof UpsDisconnectedError && /reconnecting/.test(e.message),
      );
      await assert.rejects(ups.runCommand('beeper.enable'), UpsDisconnectedError);
      assert.equal(ups.variables()['ups.status'], 'OL', 'the last known values stay available');

      // A few attempts fail while it is away; then mains fails and the UPS is plugged back in.
      while (opener.attempts < 3) await new Promise((r) => setTimeout(r, 5));
      device.setFeatureReport(builder.featureReport(0x0b, { acPresent: 0, discharging: 1, fullyCharged: 0 }));
      const reconnected = nextEvent(ups, 'reconnect');
      device.replug();
      const info = await reconnected;
      assert.ok(info.attempts >= 3);
      assert.ok(info.downMs >= 0);
      assert.equal(ups.connected, true);
      assert.equal(statuses.at(-1)?.status, 'OB DISCHRG');
      assert.equal(statuses.at(-1)?.source, 'reconnect');
      assert.equal((await ups.read())['ups.status'], 'OB DISCHRG');
      // Interrupts flow again on the new transport.
      device.injectInput(builder.inputReport(0x0b, {}));
      assert.equal(ups.variables()['ups.status'], 'OL');
      assert.equal(device.openTransports, 1);
    } finally {
      await ups.close();
    }
  });

  test('a UPS that stops answering every report is treated as disconnected, and recovers', async () => {
    const { device, ups } = await open({ reconnectIntervalMs: 10 });
    try {
      const disconnected = nextEvent(ups, 'disconnect');
      device.stall();
      await assert.rejects(ups.read(), (e: unknown) => e instanceof UpsDisconnectedError);
      assert.match(
        (await disconnected).error.message,
        /no feature report could be read \(\d+ failed; last: .*timed out/,
      );
      const reconnected = nextEvent(ups, 'reconnect');
      device.stall(false);
      await reconnected;
      assert.equal((await ups.read())['ups.status'], 'OL');
    } finally {
      await ups.close();
    }
  });

  test('opening a UPS that answers nothing fails with the reason instead of hanging or reconnecting', async () => {
    const device = new ReplayDevice(baseFixture());
    device.stall();
    await assert.rejects(openReplay(device, { pollIntervalMs: 0 }), /no feature report could be read/);
    assert.equal(device.openTransports, 0);
  });

  test('close() while disconnected stops the reconnect attempts', async () => {
    const device = new ReplayDevice(baseFixture(), { playInputs: false });
    const opener = countingOpener(device);
    const ups = await HidUpsClass.open(opener, {
      pollIntervalMs: 0,
      reconnectIntervalMs: 5,
      reconnectMaxIntervalMs: 5,
    });
    const disconnected = nextEvent(ups, 'disconnect');
    device.unplug();
    await disconnected;
    while (opener.attempts < 2) await new Promise((r) => setTimeout(r, 5));
    await ups.close();
    const attempts = opener.attempts;
    await new Promise((r) => setTimeout(r, 40));
    assert.equal(opener.attempts, attempts);
    assert.equal(ups.closed, true);
  });
});

describe('opening and closing', () => {
  test('close() is idempotent, closes the transport, and later calls fail with UpsClosedError', async () => {
    const { device, ups } = await open({ pollIntervalMs: 10 });
    assert.equal(device.openTransports, 1);
    await ups.close();
    await ups.close();
    assert.equal(device.openTransports, 0);
    assert.equal(ups.closed, true);
    await assert.rejects(ups.read(), UpsClosedError);
    await assert.rejects(ups.runCommand('beeper.enable'), UpsClosedError);
    await assert.rejects(ups.explore(), UpsClosedError);
    device.injectInput(builder.inputReport(0x0b, { acPresent: 0 }));
    assert.equal(ups.variables()['ups.status'], 'OL');
  });

  test('a descriptor without UPS data is refused, and the transport is closed again', async () => {
    const mouse = new DescriptorBuilder().usagePage(0x01).usage(0x02);
    mouse.collection(0x01, (c) =>
      c
        .usagePage(0x09)
        .usageMinimum(1)
        .usageMaximum(3)
        .logicalMaximum(1)
        .reportSize(1)
        .reportCount(3)
        .input(),
    );
    const device = new ReplayDevice({ ...baseFixture(), descriptor: toHex(mouse.build()), features: {} });
    await assert.rejects(openReplay(device), (error: unknown) => {
      assert.ok(error instanceof UnsupportedDeviceError);
      assert.match(
        error.message,
        /describes no UPS data this driver knows \(3 fields, top-level usages 0001:0002\)/,
      );
      return true;
    });
    assert.equal(device.openTransports, 0);
  });

  test('opening an unplugged replay fails with UpsNotFoundError', async () => {
    const device = new ReplayDevice(baseFixture());
    device.unplug();
    await assert.rejects(openReplay(device), UpsNotFoundError);
  });

  test('invalid options are rejected with the field named', async () => {
    await assert.rejects(
      openReplay(baseFixture(), { offDelay: -5 }),
      /options.offDelay must be a number ≥ 0/,
    );
    await assert.rejects(
      openReplay(baseFixture(), { profile: 'nope' as never }),
      /options.profile: unknown profile 'nope'/,
    );
  });

  test('a forced profile overrides the vendor/product match', async () => {
    const { ups } = await open({ profile: 'generic' });
    try {
      assert.equal(ups.profile.id, 'generic');
      // Without the CyberPower rows the Output-collection test and scaling are gone.
      assert.equal(ups.variables()['battery.voltage'], '36.0');
      assert.equal(ups.variables()['ups.delay.shutdown'], '20');
    } finally {
      await ups.close();
    }
  });
});

describe('commands', () => {
  test('runCommand rejects unknown commands with the supported list, and non-numeric arguments', async () => {
    const { ups } = await open();
    try {
      await assert.rejects(
        ups.runCommand('make.coffee'),
        /does not support 'make.coffee' \(supported: beeper.disable, /,
      );
      await assert.rejects(ups.runCommand('load.off.delay', Number.NaN), /must be a number/);
    } finally {
      await ups.close();
    }
  });

  test('beeper.toggle reads the current state and flips it; commands refresh the variables', async () => {
    const { device, ups }: { device: ReplayDevice; ups: HidUps } = await open();
    try {
      await ups.runCommand('beeper.toggle');
      assert.equal(ups.variables()['ups.beeper.status'], 'disabled');
      await ups.runCommand('beeper.toggle');
      assert.equal(ups.variables()['ups.beeper.status'], 'enabled');
      assert.deepEqual(device.writes.map(toHex), ['07 01', '07 02']);
    } finally {
      await ups.close();
    }
  });

  test('describeCommands says how each command is carried out', async () => {
    const { ups } = await open();
    try {
      const described = Object.fromEntries(ups.describeCommands().map((c) => [c.name, c.via]));
      assert.equal(described['load.off.delay'], 'UPS.Output.DelayBeforeShutdown');
      assert.equal(described['test.battery.start.quick'], 'UPS.Output.Test');
      assert.match(
        described['shutdown.return']!,
        /load.on.delay ups.delay.start, then load.off.delay ups.delay.shutdown/,
      );
    } finally {
      await ups.close();
    }
  });
});
