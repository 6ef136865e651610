/**
 * Proof against real devices: the two NUT DDL dumps that carry a full `usbhid-ups -DDD` log
 * (APC Back-UPS BK650M2-CH and Back-UPS CS 500). Read in place from the shared fixtures directory
 * (NUT_DDL_DIR overrides it); skipped, with the reason shown, when that directory is absent.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  decodeField,
  FixtureError,
  fixtureFromNutDump,
  fromHex,
  type HidUps,
  loadFixtureFile,
  openReplay,
  parseNutDump,
  parseReportDescriptor,
  ReplayDevice,
  STANDARD_NAMES,
  type StatusChangeEvent,
  toHex,
} from '../src/index.ts';
import { BK650, CS500, nutDdlDir, nutDdlFile } from './fixtures.ts';

const missing = (name: string) =>
  nutDdlFile(name)
    ? false
    : `shared NUT DDL fixture ${name} not found in ${nutDdlDir()} (set NUT_DDL_DIR to read it elsewhere)`;

/**
 * Variables in the dump that do not come from HID report data, with the reason. Everything else
 * in the dump must be derived, and equal (after trimming whitespace, which `upsc` output keeps).
 */
const NOT_FROM_HID: Record<string, string> = {
  'battery.type': 'USB string descriptor (iDeviceChemistry); hidraw cannot fetch string descriptors',
};

interface Case {
  file: string;
  descriptorBytes: number;
  inputItems: number;
  featureItems: number;
  featureReports: number;
  pathLines: number;
  /** Report IDs NUT logged "interpreting LogMax -1 as 255" for. */
  assumedLogicalMaximum: number[];
  /** Dump variables that differ from this log's report data, and why (asserted below). */
  exceptions: Record<string, { ours: string; reason: string }>;
}

const CASES: Case[] = [
  {
    file: BK650,
    descriptorBytes: 743,
    inputItems: 16,
    featureItems: 58,
    featureReports: 42,
    pathLines: 90,
    assumedLogicalMaximum: [0x0c, 0x22, 0x40],
    exceptions: {
      'ups.load': {
        ours: '0',
        reason:
          "the variables were dumped in another session (pollfreq 40); this log's report 0x50 reads 0 %",
      },
      'ups.serial': {
        ours: '9B2019A14274',
        reason: "the reporter redacted ups.serial to 'xxxx' but not device.serial",
      },
    },
  },
  {
    file: CS500,
    descriptorBytes: 374,
    inputItems: 8,
    featureItems: 27,
    featureReports: 23,
    pathLines: 35,
    assumedLogicalMaximum: [],
    exceptions: {},
  },
];

for (const c of CASES) {
  describe(`NUT DDL ${c.file}`, { skip: missing(c.file) }, () => {
    const path = () => nutDdlFile(c.file)!;
    const dump = () => parseNutDump(readFileSync(path(), 'utf8'));

    test('the log yields the complete descriptor and the device identity', () => {
      const d = dump();
      assert.equal(d.descriptor?.length, c.descriptorBytes);
      const parsed = parseReportDescriptor(d.descriptor!);
      const mains = (tag: number) => parsed.items.filter((i) => i.type === 'main' && i.tag === tag).length;
      assert.equal(mains(0x8), c.inputItems);
      assert.equal(mains(0xb), c.featureItems);
      assert.equal(parsed.reportIds('feature').length, c.featureReports);
      assert.equal(
        parsed.warnings.filter((w) => !/Logical Maximum/.test(w)).length,
        0,
        parsed.warnings.join('\n'),
      );
      assert.deepEqual(
        [...new Set(parsed.fields.filter((f) => f.assumedLogicalMaximum).map((f) => f.reportId))].sort(
          (a, b) => a - b,
        ),
        c.assumedLogicalMaximum,
      );
      assert.equal(d.device?.vendorId, 0x051d);
      assert.equal(d.device?.productId, 0x0002);
      assert.equal(d.device?.manufacturer, 'American Power Conversion');
    });

    test('every Path/Value line NUT logged is reproduced: same field, same path, same value', () => {
      const d = dump();
      const descriptor = parseReportDescriptor(d.descriptor!);
      assert.equal(d.paths.length, c.pathLines);
      const mismatches: string[] = [];
      for (const line of d.paths) {
        const kind = line.type.toLowerCase();
        const field = descriptor.fields.find(
          (f) =>
            f.kind === kind &&
            f.reportId === line.reportId &&
            f.bitOffset === line.offset &&
            f.bitSize === line.size,
        );
        if (!field) {
          mismatches.push(
            `no field for ${line.path} (${line.type} 0x${line.reportId.toString(16)} @${line.offset}/${line.size})`,
          );
          continue;
        }
        // NUT ran its "explore" subdriver, which names only the standard pages: compare with those.
        const ourPath = STANDARD_NAMES.formatPath(field.path);
        const value = decodeField(field, line.report!.subarray(1)).value;
        if (ourPath !== line.path) mismatches.push(`path ${ourPath} ≠ ${line.path}`);
        if (Math.abs(value - line.value) > 1e-9 * Math.max(1, Math.abs(line.value))) {
          mismatches.push(`${line.path}: value ${value} ≠ NUT's ${line.value}`);
        }
      }
      assert.deepEqual(mismatches, []);
    });

    test('variables derived from the replayed reports match the dump wherever they come from HID data', async () => {
      const expected = dump().variables;
      const ups = await openReplay(path(), { pollIntervalMs: 0 });
      try {
        const ours = await ups.read();
        const differences: string[] = [];
        for (const [name, value] of Object.entries(expected)) {
          if (name.startsWith('driver.') || name in NOT_FROM_HID) continue;
          const exception = c.exceptions[name];
          if (exception) {
            assert.equal(ours[name], exception.ours, `${name}: ${exception.reason}`);
            assert.notEqual(value.trim(), exception.ours);
            continue;
          }
          if (ours[name]?.trim() !== value.trim())
            differences.push(`${name}: ours ${ours[name]} ≠ dump ${value}`);
        }
        assert.deepEqual(differences, []);
        // The checked set is substantial, not a vacuous pass.
        const checked = Object.keys(expected).filter((n) => !n.startsWith('driver.') && !(n in NOT_FROM_HID));
        assert.ok(checked.length >= 20, `only ${checked.length} variables compared`);
      } finally {
        await ups.close();
      }
    });
  });
}

describe(`NUT DDL ${BK650}: interrupts and commands on the real descriptor`, { skip: missing(BK650) }, () => {
  const open = async () => {
    const fixture = await loadFixtureFile(nutDdlFile(BK650)!);
    const device = new ReplayDevice(fixture, { playInputs: false });
    const ups = await openReplay(device, { pollIntervalMs: 0 });
    return { fixture, device, ups };
  };

  test("the log's interrupt reads become input reports cut to their declared length", async () => {
    const fixture = fixtureFromNutDump(readFileSync(nutDdlFile(BK650)!, 'utf8'));
    assert.deepEqual(
      fixture.inputs?.map((i) => i.data),
      ['16 0e 00 b4 fd', '0c 64', '16 0e 00 83 a0'],
    );
    assert.deepEqual(
      fixture.inputs?.map((i) => i.afterMs),
      [0, 168, 328],
    );
  });

  test('a status interrupt (ACPresent cleared) reaches a listener as a status change to OB', async () => {
    const { device, ups } = await open();
    try {
      assert.equal(ups.variables()['ups.status'], 'OL DISCHRG');
      const events: StatusChangeEvent[] = [];
      ups.on('status', (e) => events.push(e));
      // The logged report 16 0e 00 … with the ACPresent bit (bit 2) cleared.
      device.injectInput(fromHex('16 0a 00 00 00'));
      assert.equal(events.length, 1);
      assert.equal(events[0]!.status, 'OB DISCHRG');
      assert.equal(events[0]!.previous, 'OL DISCHRG');
      assert.equal(events[0]!.source, 'interrupt');
      // The logged report itself restores OL.
      device.injectInput(fromHex('16 0e 00 b4 fd'));
      assert.equal(events.at(-1)!.status, 'OL DISCHRG');
      // A charge interrupt updates battery.charge without a status event.
      device.injectInput(fromHex('0c 50'));
      assert.equal(ups.variables()['battery.charge'], '80');
      assert.equal(events.length, 2);
    } finally {
      await ups.close();
    }
  });

  test('commands write the fields NUT would, read-modify-write, with the right encodings', async () => {
    const { device, ups } = await open();
    const written = () => device.writes.map(toHex);
    try {
      assert.deepEqual(ups.supportedCommands(), [
        'beeper.disable',
        'beeper.enable',
        'beeper.mute',
        'beeper.toggle',
        'load.off',
        'load.off.delay',
        'shutdown.reboot',
        'shutdown.return',
        'shutdown.stop',
        'test.battery.start.deep',
        'test.battery.start.quick',
        'test.battery.stop',
      ]);
      await ups.runCommand('load.off.delay');
      await ups.runCommand('shutdown.stop');
      await ups.runCommand('beeper.enable');
      await ups.runCommand('test.battery.start.quick');
      // No startup delay on this unit: shutdown.return is APC's reboot-style variant.
      await ups.runCommand('shutdown.return');
      // Reports 0x21 and 0x40 are declared 23 bytes long (Report Count 23 leaks from the padding
      // before them; NUT logs "expected 24 bytes" for them too): the whole report is written back.
      const pad22 = ' 00'.repeat(22);
      assert.deepEqual(written(), ['15 14 00', '15 ff ff', '18 02', `21 01${pad22}`, `40 14${pad22}`]);
      assert.equal(ups.variables()['ups.beeper.status'], 'enabled');
      assert.equal(ups.variables()['ups.timer.reboot'], '20');
      const via = ups.describeCommands().find((d) => d.name === 'shutdown.return')!.via;
      assert.match(
        via,
        /UPS\.APCGeneralCollection\.APCDelayBeforeReboot = ups\.delay\.shutdown \(reboot-style\)/,
      );
    } finally {
      await ups.close();
    }
  });
});

describe(`NUT DDL ${CS500}: commands`, { skip: missing(CS500) }, () => {
  test("the commands NUT listed are supported; the only extra is Blackstart's reboot-style shutdown.return", async () => {
    const text = readFileSync(nutDdlFile(CS500)!, 'utf8');
    const listed = parseNutDump(text).commands;
    assert.deepEqual(listed, ['shutdown.reboot', 'test.panel.start', 'test.panel.stop']);
    const ups: HidUps = await openReplay(nutDdlFile(CS500)!, { pollIntervalMs: 0 });
    try {
      const ours = ups.supportedCommands();
      assert.deepEqual(
        listed.filter((c) => !ours.includes(c as never)),
        [],
      );
      assert.deepEqual(
        ours.filter((c) => !listed.includes(c)),
        ['shutdown.return'],
      );
    } finally {
      await ups.close();
    }
  });
});

describe('NUT DDL dumps without a HID log', {
  skip: missing('APC__Back-UPS_BVK750M2___usbhid-ups__2.8.3.1__01.dev'),
}, () => {
  test('cannot be replayed, and say so clearly; their variables and command lists still parse', async () => {
    const file = nutDdlFile('APC__Back-UPS_BVK750M2___usbhid-ups__2.8.3.1__01.dev')!;
    await assert.rejects(loadFixtureFile(file), (error: unknown) => {
      assert.ok(error instanceof FixtureError);
      assert.match(error.message, /no usbhid-ups -DDD log with the device identity and report descriptor/);
      return true;
    });
    const dump = parseNutDump(readFileSync(file, 'utf8'));
    assert.equal(dump.variables['ups.status'], 'OL');
    assert.equal(dump.variables['ups.model'], 'Back-UPS BVK750M2');
    assert.ok(dump.commands.includes('shutdown.reboot') && dump.commands.includes('beeper.mute'));
  });
});
