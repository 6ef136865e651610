/**
 * Vendor profiles and quirks on self-written fixtures (they run without the shared NUT dumps):
 * CyberPower, Eaton/MGE and APC descriptors built with the test descriptor builder. Every quirk is
 * exercised with its switch on and off.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  fromHex,
  type HidFixture,
  type HidUps,
  openReplay,
  type QuirkSwitches,
  ReplayDevice,
  type StatusChangeEvent,
  toHex,
  type UpsOptions,
} from '../src/index.ts';
import type { UpsBuilder } from './builder.ts';
import {
  APC_BACKUPS_DEVICE,
  apcBackUps,
  apcRebootOnly,
  CYBERPOWER_DEVICE,
  cyberPower,
  EATON_DEVICE,
  eaton,
} from './fixtures.ts';
import { nextEvent } from './wait.ts';

async function withUps<T>(
  fixture: HidFixture,
  options: UpsOptions,
  body: (ups: HidUps, device: ReplayDevice) => Promise<T>,
): Promise<T> {
  const device = new ReplayDevice(fixture, { playInputs: false });
  const ups = await openReplay(device, { pollIntervalMs: 0, ...options });
  try {
    return await body(ups, device);
  } finally {
    await ups.close();
  }
}

const quirks = (q: Partial<QuirkSwitches>): UpsOptions => ({ quirks: q });

describe('CyberPower (0764:0501, modeled on the CP1500PFCLCD)', () => {
  const fixture = (b: UpsBuilder = cyberPower(), overrides: Record<string, number> = {}) =>
    b.fixture(CYBERPOWER_DEVICE, 'synthetic CP1500PFCLCD', overrides);

  test('derives the NUT variables CyberPower units report', async () => {
    await withUps(fixture(), {}, async (ups) => {
      assert.equal(ups.profile.id, 'cyberpower');
      assert.deepEqual(ups.variables(), {
        'battery.charge': '100',
        'battery.charge.low': '10',
        'battery.charge.warning': '20',
        'battery.runtime': '1530',
        'battery.runtime.low': '300',
        'battery.voltage': '24.0',
        'battery.voltage.nominal': '24',
        'device.mfr': 'CPS',
        'device.model': 'CP1500PFCLCD',
        'device.serial': 'CTHGS2000123',
        'device.type': 'ups',
        'input.frequency': '60.0',
        'input.sensitivity': 'normal',
        'input.transfer.high': '139',
        'input.transfer.low': '88',
        'input.voltage': '116.0',
        'input.voltage.nominal': '120',
        'output.voltage': '120.0',
        'ups.beeper.status': 'enabled',
        'ups.delay.shutdown': '60',
        'ups.delay.start': '120',
        'ups.load': '25',
        'ups.mfr': 'CPS',
        'ups.model': 'CP1500PFCLCD',
        'ups.power.nominal': '1500',
        'ups.productid': '0501',
        'ups.realpower.nominal': '900',
        'ups.serial': 'CTHGS2000123',
        'ups.status': 'OL',
        'ups.test.result': 'Done and passed',
        'ups.timer.shutdown': '-60',
        'ups.timer.start': '-60',
        'ups.vendorid': '0764',
      });
    });
  });

  test('descriptor fix: output voltage limits copied from the high transfer point, too small ConfigActivePower', async () => {
    await withUps(fixture(), {}, async (ups) => {
      assert.equal(ups.variables()['output.voltage'], '120.0');
      assert.equal(ups.variables()['ups.realpower.nominal'], '900');
      assert.ok(ups.notes.some((n) => /0x12 Output Voltage limits were the high transfer point's/.test(n)));
      assert.ok(ups.notes.some((n) => /0x18 ConfigActivePower Logical Maximum raised to 2048/.test(n)));
    });
    await withUps(fixture(), quirks({ fixReportDescriptor: false }), async (ups) => {
      // What NUT issues #439 and #2917 describe: 120 V clamps to 130; 900 W is masked to the 9 bits
      // a 0..450 range needs (900 mod 512 = 388), exactly as NUT's decoder does.
      assert.equal(ups.variables()['output.voltage'], '130.0');
      assert.equal(ups.variables()['ups.realpower.nominal'], '388');
      assert.equal(ups.notes.filter((n) => !n.startsWith('descriptor:')).length, 0);
    });
  });

  test('descriptor fix also widens input voltage when it carries the transfer limits', async () => {
    const b = cyberPower({ inputLimitsFromTransfer: true });
    await withUps(fixture(b), {}, async (ups) => assert.equal(ups.variables()['input.voltage'], '116.0'));
    await withUps(fixture(b), quirks({ fixReportDescriptor: false }), async (ups) =>
      assert.equal(ups.variables()['input.voltage'], '130.0'),
    );
  });

  test('scaling: battery voltage ×2/3 above 1.4 × nominal, frequency in 0.1 Hz, charge capped at 100', async () => {
    const over = fixture(cyberPower(), { charge: 110 });
    await withUps(over, {}, async (ups) => {
      assert.equal(ups.variables()['battery.voltage'], '24.0');
      assert.equal(ups.variables()['input.frequency'], '60.0');
      assert.equal(ups.variables()['battery.charge'], '100');
    });
    await withUps(over, quirks({ cyberPowerScaling: false }), async (ups) => {
      assert.equal(ups.variables()['battery.voltage'], '36.0');
      assert.equal(ups.variables()['input.frequency'], '600.0');
      assert.equal(ups.variables()['battery.charge'], '110');
    });
  });

  test('the battery scale is decided once: a sagging battery does not flip it back', async () => {
    const b = cyberPower();
    await withUps(fixture(b), {}, async (ups, device) => {
      assert.equal(ups.variables()['battery.voltage'], '24.0');
      // 30 raw is 20.0 V real: 30 / 24 = 1.25 is below the 1.4 threshold, yet the scale stays.
      device.setFeatureReport(b.featureReport(0x02, { batteryVoltage: 30 }));
      assert.equal((await ups.read())['battery.voltage'], '20.0');
    });
  });

  test('scaling applies to 0764:0501 only; a correct reading is left alone', async () => {
    const other = { ...fixture(), device: { ...CYBERPOWER_DEVICE, productId: 0x0601 } };
    await withUps(other, {}, async (ups) => assert.equal(ups.variables()['battery.voltage'], '36.0'));
    await withUps(fixture(cyberPower(), { batteryVoltage: 27 }), {}, async (ups) =>
      assert.equal(ups.variables()['battery.voltage'], '27.0'),
    );
  });

  test('delays default to whole minutes (60/120 s); shutdown.return and stayoff are composed with a gap', async () => {
    await withUps(fixture(), {}, async (ups, device) => {
      await ups.runCommand('load.off.delay');
      await ups.runCommand('shutdown.return');
      await ups.runCommand('shutdown.stayoff');
      await ups.runCommand('load.off');
      assert.deepEqual(device.writes.map(toHex), [
        '15 3c 00', // load.off.delay 60
        '16 78 00', // shutdown.return: load.on.delay 120 …
        '15 3c 00', // … then load.off.delay 60
        '16 ff ff', // shutdown.stayoff: load.on.delay −1 …
        '15 3c 00',
        '15 00 00', // load.off = load.off.delay 0
      ]);
      assert.ok(device.writeTimes[2]! - device.writeTimes[1]! >= 120, 'the second write waits ~125 ms');
      await ups.runCommand('load.off.delay', 180);
      assert.equal(toHex(device.writes.at(-1)!), '15 b4 00');
      // shutdown.return 180: the 120 s startup delay would expire first; it is raised to 240 s.
      const warnings: string[] = [];
      ups.on('warning', (w) => warnings.push(w));
      await ups.runCommand('shutdown.return', 180);
      assert.deepEqual(device.writes.slice(-2).map(toHex), ['16 f0 00', '15 b4 00']);
      assert.match(
        warnings[0]!,
        /startup delay 120 s is not longer than the shutdown delay 180 s; using 240 s/,
      );
      await assert.rejects(ups.runCommand('shutdown.stop', 5), /takes no argument/);
      await assert.rejects(ups.runCommand('test.panel.start'), /does not support 'test.panel.start'/);
    });
  });

  test('online discharge (UT series reports ACPresent on battery): the switch picks the reading', async () => {
    const b = cyberPower();
    const expectations: Array<[QuirkSwitches['onlineDischarge'], string]> = [
      ['report', 'OL DISCHRG'],
      ['on-battery', 'OB DISCHRG'],
      ['ignore', 'OL'],
      ['calibration', 'OL CAL DISCHRG'],
    ];
    for (const [mode, status] of expectations) {
      await withUps(fixture(b), quirks({ onlineDischarge: mode }), async (ups, device) => {
        device.injectInput(b.inputReport(0x0b, { discharging: 1, fullyCharged: 0 }));
        assert.equal(ups.variables()['ups.status'], status, mode);
      });
    }
  });
});

describe('Eaton/MGE (0463:ffff, modeled on the 5P 650)', () => {
  const b = eaton();
  const fixture = () => {
    const f = b.fixture(EATON_DEVICE, 'synthetic 5P 650');
    // Reports 254/255 are special on these units: the replayed device does not answer them.
    delete f.features['0xfe'];
    delete f.features['0xff'];
    return f;
  };

  test('derives variables through MGE index collections ([n]) and vendor usages', async () => {
    await withUps(fixture(), {}, async (ups) => {
      assert.equal(ups.profile.id, 'eaton');
      const vars = ups.variables();
      const expected: Record<string, string> = {
        'battery.capacity': '9.00',
        'battery.charge': '100',
        'battery.charge.low': '20',
        'battery.runtime': '1575',
        'battery.voltage': '13.7',
        'battery.voltage.nominal': '12',
        'input.frequency': '49.9',
        'input.frequency.nominal': '50',
        'input.sensitivity': 'normal',
        'input.transfer.boost.low': '184',
        'input.transfer.high': '294',
        'input.transfer.low': '160',
        'input.transfer.trim.high': '265',
        'input.voltage': '235.9',
        'input.voltage.nominal': '230',
        'outlet.1.status': 'on',
        'outlet.id': '0',
        'outlet.switchable': 'no',
        'output.current': '0.60',
        'output.frequency': '49.9',
        'output.frequency.nominal': '50',
        'output.voltage': '235.9',
        'output.voltage.nominal': '230',
        'ups.beeper.status': 'enabled',
        'ups.load': '21',
        'ups.load.high': '105',
        'ups.mfr': 'EATON',
        'ups.model': '5P 650',
        'ups.power': '142',
        'ups.power.nominal': '650',
        'ups.realpower': '76',
        'ups.realpower.nominal': '420',
        'ups.start.auto': 'yes',
        'ups.status': 'OL',
        'ups.test.interval': '2592000',
        'ups.test.result': 'Done and passed',
        'ups.type': 'offline / line interactive',
      };
      for (const [name, value] of Object.entries(expected)) assert.equal(vars[name], value, name);
    });
  });

  test('reports 254 and 255 are never read by default, and only by an explicit switch', async () => {
    await withUps(fixture(), {}, async (ups, device) => {
      assert.deepEqual(ups.quirks.skipReportIds, [254, 255]);
      const explored = await ups.explore();
      assert.ok(explored.some((f) => f.path === 'UPS.PowerConverter.Input.[3].PresentStatus.Used'));
      assert.ok(!device.reads.some((r) => r.reportId >= 254));
    });
    await withUps(fixture(), quirks({ skipReportIds: [] }), async (ups, device) => {
      const warnings: string[] = [];
      ups.on('warning', (w) => warnings.push(w));
      await ups.explore();
      assert.ok(device.reads.some((r) => r.reportId === 0xfe));
      assert.ok(warnings.some((w) => /report 0xfe: the device does not answer/.test(w)));
    });
  });

  test('float charging: no CHRG at 100 % unless the switch is off; CHRG below 100 %', async () => {
    await withUps(fixture(), {}, async (ups) => assert.equal(ups.variables()['ups.status'], 'OL'));
    await withUps(fixture(), quirks({ chargingAtFullIsFloat: false }), async (ups) =>
      assert.equal(ups.variables()['ups.status'], 'OL CHRG'),
    );
    await withUps(fixture(), {}, async (ups, device) => {
      device.injectInput(b.inputReport(0x01, { charge: 90 }));
      assert.equal(ups.variables()['ups.status'], 'OL CHRG');
    });
  });

  test('Input [3] "used" (the battery feeds the output) means OB even before ACPresent drops', async () => {
    await withUps(fixture(), {}, async (ups, device) => {
      const events: StatusChangeEvent[] = [];
      ups.on('status', (e) => events.push(e));
      device.injectInput(b.inputReport(0x13, { batteryUsed: 1 }));
      assert.equal(events.at(-1)?.status, 'OB');
      device.injectInput(b.inputReport(0x08, { acPresent: 0, charging: 0, discharging: 1 }));
      assert.equal(events.at(-1)?.status, 'OB DISCHRG');
      device.injectInput(b.inputReport(0x12, { buck: 1 }));
      assert.equal(ups.variables()['ups.status'], 'OB DISCHRG TRIM');
    });
  });

  test('PresentStatus.Good = 0 means the output is OFF', async () => {
    await withUps(fixture(), {}, async (ups, device) => {
      device.injectInput(b.inputReport(0x08, { good: 0, charging: 0 }));
      assert.equal(ups.variables()['ups.status'], 'OL OFF');
    });
  });

  test('commands use the Eaton paths; shutdown.return first allows the automatic restart', async () => {
    await withUps(fixture(), {}, async (ups, device) => {
      assert.ok(ups.supportedCommands().includes('shutdown.return'));
      await ups.runCommand('test.battery.start.deep');
      await ups.runCommand('beeper.mute');
      await ups.runCommand('shutdown.return');
      assert.deepEqual(device.writes.map(toHex), ['0c 02', '09 03', '1f 01', '06 1e 00', '05 14 00']);
    });
  });
});

describe('APC Back-UPS (051d:0002, synthetic ES/CS-style unit)', () => {
  const b = apcBackUps();
  const fixture = (device = APC_BACKUPS_DEVICE, builder: UpsBuilder = b) =>
    builder.fixture(device, 'synthetic Back-UPS ES');

  test('APC vendor usages: status flag, sensitivity, vendor delays, panel test; model and firmware from the product string', async () => {
    await withUps(fixture(), {}, async (ups) => {
      const vars = ups.variables();
      assert.equal(vars['ups.model'], 'Back-UPS ES 700');
      assert.equal(vars['ups.firmware'], '871.O2 .I');
      assert.equal(vars['ups.firmware.aux'], 'O2');
      assert.equal(vars['input.sensitivity'], 'medium');
      assert.equal(vars['battery.voltage'], '13.6');
      assert.equal(vars['battery.mfr.date'], '2023/12/13');
      assert.equal(vars['ups.test.result'], 'No test initiated');
      assert.equal(vars['ups.timer.shutdown'], '-1');
      assert.equal(vars['ups.status'], 'OL');
      assert.ok(ups.supportedCommands().includes('test.panel.start'));
    });
  });

  test('Logical Maximum encoded as 25 FF: read as 255 with the fix, garbage without', async () => {
    await withUps(fixture(), {}, async (ups) => assert.equal(ups.variables()['battery.charge'], '100'));
    await withUps(fixture(), quirks({ fixLogicalMaximum: false }), async (ups) =>
      assert.equal(ups.variables()['battery.charge'], '-1'),
    );
  });

  test('unit and exponent leaking onto an enum: decoded from the logical value unless the switch is off', async () => {
    await withUps(fixture(), {}, async (ups) =>
      assert.equal(ups.variables()['ups.beeper.status'], 'enabled'),
    );
    // NUT's behaviour: AudibleAlarmControl 2 × 10^(5−7) = 0.02 matches no enum value.
    await withUps(fixture(), quirks({ enumsIgnoreUnits: false }), async (ups) =>
      assert.equal(ups.variables()['ups.beeper.status'], undefined),
    );
  });

  test('short feature replies are zero-filled; with tolerance off they are errors', async () => {
    const f = fixture();
    f.features['0x0f'] = '0f 60'; // runtime declared 2 bytes, the unit sends 1
    await withUps(f, {}, async (ups) => assert.equal(ups.variables()['battery.runtime'], '96'));
    const warnings: string[] = [];
    const device = new ReplayDevice(f, { playInputs: false });
    const ups = await openReplay(device, { pollIntervalMs: 0, quirks: { tolerateReportLength: false } });
    ups.on('warning', (w) => warnings.push(w));
    try {
      assert.equal(ups.variables()['battery.runtime'], undefined);
      await ups.read();
      assert.ok(warnings.some((w) => /report 0xf: 1 data bytes, 2 declared/.test(w)));
    } finally {
      await ups.close();
    }
  });

  test('long feature replies need the large read buffer (auto-enabled for Back-UPS CS / ES 525)', async () => {
    const f = fixture();
    f.features['0x0c'] = '0c 64 00 00'; // RemainingCapacity declared 1 byte, the unit sends 3
    await withUps(f, {}, async (ups) => assert.equal(ups.variables()['battery.charge'], undefined));
    await withUps(f, quirks({ maxReportLength: true }), async (ups, device) => {
      assert.equal(ups.variables()['battery.charge'], '100');
      assert.ok(device.reads.every((r) => r.length === 64));
    });
    const cs = { ...f, device: { ...APC_BACKUPS_DEVICE, product: 'Back-UPS CS 650 FW:817.v4.I USB FW:v4' } };
    await withUps(cs, {}, async (ups) => {
      assert.equal(ups.quirks.maxReportLength, true);
      assert.equal(ups.variables()['battery.charge'], '100');
    });
  });

  test('APCStatusFlag 0 means OFF; APCLineFailCause gives the transfer reason', async () => {
    await withUps(fixture(), {}, async (ups, device) => {
      device.setFeatureReport(b.featureReport(0x06, { statusFlag: 0 }));
      device.setFeatureReport(b.featureReport(0x37, { lineFailCause: 2 }));
      let vars = await ups.read();
      assert.equal(vars['ups.status'], 'OL OFF');
      assert.equal(vars['input.transfer.reason'], 'input voltage out of range');
      device.setFeatureReport(b.featureReport(0x06, { statusFlag: 8 }));
      device.setFeatureReport(b.featureReport(0x37, { lineFailCause: 7 }));
      vars = await ups.read();
      assert.equal(vars['ups.status'], 'OL');
      assert.equal(vars['input.transfer.reason'], 'input frequency out of range');
    });
  });

  test('OL+DISCHRG flapping models (BX…MI, BVK…M2, BK…M2-CH) debounce LB/RB on line by default', async () => {
    const flapping = { ...APC_BACKUPS_DEVICE, product: 'Back-UPS BX1600MI' };
    await withUps(fixture(flapping), {}, async (ups) => assert.equal(ups.quirks.lowBatteryDebounceMs, 3000));
    await withUps(fixture(), {}, async (ups) => assert.equal(ups.quirks.lowBatteryDebounceMs, 0));
    await withUps(fixture(flapping), quirks({ lowBatteryDebounceMs: 40 }), async (ups, device) => {
      const events: StatusChangeEvent[] = [];
      ups.on('status', (e) => events.push(e));
      device.injectInput(b.inputReport(0x16, { belowLimit: 1 }));
      assert.equal(ups.variables()['ups.status'], 'OL', 'LB on line is held back');
      const lb = await nextEvent(ups, 'status');
      assert.equal(lb.status, 'OL LB');
      assert.equal(lb.source, 'debounce');
      // On battery LB is never delayed.
      device.injectInput(b.inputReport(0x16, { belowLimit: 1, acPresent: 0, discharging: 1 }));
      assert.equal(ups.variables()['ups.status'], 'OB DISCHRG LB');
      // A blip that clears within the window never shows.
      device.injectInput(b.inputReport(0x16, {}));
      device.injectInput(b.inputReport(0x16, { needReplacement: 1 }));
      device.injectInput(b.inputReport(0x16, {}));
      await new Promise((r) => setTimeout(r, 80));
      assert.ok(!events.some((e) => e.status.includes('RB')));
    });
    await withUps(fixture(flapping), quirks({ lowBatteryDebounceMs: 0 }), async (ups, device) => {
      device.injectInput(b.inputReport(0x16, { belowLimit: 1 }));
      assert.equal(ups.variables()['ups.status'], 'OL LB');
    });
  });

  test('shutdown.return on a unit with only APC reboot delay uses the reboot-style variant', async () => {
    const f = apcRebootOnly().fixture(APC_BACKUPS_DEVICE, 'reboot-only Back-UPS');
    await withUps(f, {}, async (ups, device) => {
      assert.deepEqual(ups.supportedCommands(), ['shutdown.reboot', 'shutdown.return']);
      await ups.runCommand('shutdown.return');
      await ups.runCommand('shutdown.return', 45);
      await ups.runCommand('shutdown.reboot');
      assert.deepEqual(device.writes.map(toHex), ['40 14', '40 2d', '40 0a']);
      assert.equal(ups.variables()['ups.delay.shutdown'], '20');
    });
  });

  test('Smart-UPS 5G (PIDs 0003/0004) use the interrupt pipe for another protocol: it is not listened to', async () => {
    const g5 = { ...fixture(), device: { ...APC_BACKUPS_DEVICE, productId: 0x0003 } };
    await withUps(g5, {}, async (ups, device) => {
      assert.equal(ups.quirks.interruptPipe, false);
      device.injectInput(fromHex('16 00 00 00 00'));
      assert.equal(ups.variables()['ups.status'], 'OL');
    });
  });
});
