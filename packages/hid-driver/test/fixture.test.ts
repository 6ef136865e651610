import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  FixtureError,
  fixtureFromNutDump,
  HidUps,
  loadFixtureFile,
  openReplay,
  parseNutDump,
  RecordingTransport,
  ReplayDevice,
  toHex,
  validateFixture,
} from '../src/index.ts';
import { CYBERPOWER_DEVICE, cyberPower } from './fixtures.ts';

const builder = cyberPower();
const fixture = () => builder.fixture(CYBERPOWER_DEVICE, 'synthetic CP1500PFCLCD');
const dir = mkdtempSync(join(tmpdir(), 'hid-fixture-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('fixture validation', () => {
  const cases: Array<[string, (f: Record<string, unknown>) => void, RegExp]> = [
    ['format', (f) => delete f.format, /fixture.format: must be 'blackstart-hid-fixture'/],
    ['version', (f) => (f.version = 2), /fixture.version: must be 1/],
    [
      'vendorId',
      (f) => ((f.device as Record<string, unknown>).vendorId = 70000),
      /fixture.device.vendorId: must be an integer 0..65535/,
    ],
    [
      'product',
      (f) => ((f.device as Record<string, unknown>).product = 5),
      /fixture.device.product: must be a string/,
    ],
    ['descriptor', (f) => (f.descriptor = 'zz'), /fixture.descriptor: not a hex byte string/],
    [
      'feature key',
      (f) => (f.features = { report: '01 00' }),
      /fixture.features: key 'report' is not a report ID/,
    ],
    [
      'feature id byte',
      (f) => (f.features = { '0x02': '01 00' }),
      /fixture.features.0x02: must start with its report ID byte/,
    ],
    [
      'inputs',
      (f) => (f.inputs = [{ afterMs: -1, data: '0b 00' }]),
      /fixture.inputs\[0\].afterMs: must be a number ≥ 0/,
    ],
    [
      'expect',
      (f) => (f.expect = { variables: { 'ups.load': 5 } }),
      /fixture.expect.variables.ups.load: must be a string/,
    ],
  ];
  for (const [name, mutate, message] of cases) {
    test(`rejects a bad ${name}, naming the field`, () => {
      const f = structuredClone(fixture()) as unknown as Record<string, unknown>;
      mutate(f);
      assert.throws(
        () => validateFixture(f),
        (e: unknown) => e instanceof FixtureError && message.test(e.message),
      );
    });
  }

  test('accepts decimal and 0x report ID keys', () => {
    const f = fixture();
    f.features = { '11': '0b 01', '0x0c': '0c 02' };
    assert.equal(validateFixture(f), f);
  });

  test('loadFixtureFile explains unreadable, invalid and unreplayable files', async () => {
    await assert.rejects(loadFixtureFile(join(dir, 'missing.json')), /cannot read .*missing.json/);
    writeFileSync(join(dir, 'broken.json'), '{ "format": ');
    await assert.rejects(loadFixtureFile(join(dir, 'broken.json')), /broken.json is not valid JSON/);
    writeFileSync(join(dir, 'plain.dev'), 'ups.status: OL\nbattery.charge: 100\n');
    await assert.rejects(
      loadFixtureFile(join(dir, 'plain.dev')),
      /plain.dev: this NUT dump has no usbhid-ups -DDD log/,
    );
  });
});

describe('recording', () => {
  test('a recording of a UPS replays to the same variables', async () => {
    const source = new ReplayDevice(fixture(), { playInputs: false });
    let recorder: RecordingTransport | undefined;
    const ups = await HidUps.open(
      {
        description: 'recorded UPS',
        open: async () => {
          recorder = new RecordingTransport(await source.opener().open());
          return recorder;
        },
      },
      { pollIntervalMs: 0 },
    );
    const live = ups.variables();
    source.injectInput(builder.inputReport(0x03, { charge: 99, runtime: 1500 }));
    const recorded = recorder!.toFixture({ variables: ups.variables() }, 'recorded in a test');
    await ups.close();

    assert.equal(recorded.description, 'recorded in a test');
    assert.equal(recorded.device.path, undefined, 'the OS path is not part of a fixture');
    assert.equal(recorded.inputs?.length, 1);
    assert.equal(recorded.inputs?.[0]?.data, toHex(builder.inputReport(0x03, { charge: 99, runtime: 1500 })));
    const path = join(dir, 'recorded.json');
    writeFileSync(path, JSON.stringify(recorded));
    const replayed = await openReplay(path, { pollIntervalMs: 0, playInputs: false });
    try {
      assert.deepEqual(replayed.variables(), live);
    } finally {
      await replayed.close();
    }
  });

  test('toFixture refuses an empty recording', () => {
    const source = new ReplayDevice(fixture());
    return source
      .opener()
      .open()
      .then(async (transport) => {
        const recorder = new RecordingTransport(transport);
        assert.throws(() => recorder.toFixture(undefined), /nothing recorded/);
        await recorder.close();
      });
  });
});

describe('NUT dump reader', () => {
  // A hand-written log in the shape usbhid-ups -DDD prints, with two enumerated devices.
  const log = [
    '# DEVICE:URL:REPORT: https://example.invalid',
    'battery.charge: 97',
    'battery.voltage: 16.0\t#BAD: scaled wrongly',
    'ups.status: OL',
    '#CMD:beeper.enable',
    '# DEVICE:COMMENT-BLOCK:FIXME:UPSCMD: ups',
    '# load.off - Turn off the load immediately',
    '# DEVICE:EOC',
    '#    0.0010\t[D2] Checking device 1 of 2 (046D/C52B)',
    '#    0.0011\t[D2] - VendorID: 046d',
    '#    0.0012\t[D2] - ProductID: c52b',
    '#    0.0020\t[D2] Checking device 2 of 2 (0764/0501)',
    '#    0.0021\t[D2] - VendorID: 0764',
    '#    0.0022\t[D2] - ProductID: 0501',
    '#    0.0023\t[D2] - Manufacturer: CPS',
    '#    0.0024\t[D2] - Product: CP1500PFCLCD',
    '#    0.0025\t[D2] - Serial Number: 000000000000',
    '#    0.0026\t[D2] Device matches',
    '#    0.0030\t[D3] Report Descriptor: (6 bytes) => 05 84 09',
    '#    0.0031\t[D3]  04 a1 01',
    '#    0.0040\t[D3] Report[get]: (2 bytes) => 08 64',
    '#    0.0041\t[D1] Path: UPS.PowerSummary.RemainingCapacity, Type: Feature, ReportID: 0x08, Offset: 0, Size: 8, Value: 100',
    '#    0.5000\t[D1] upsdrv_updateinfo...',
    '#    0.6000\t[D3] Report[err]: (4 bytes) => 0b 05 00 ff',
  ].join('\n');

  test('finds variables, commands, the matched device, the descriptor across lines and every report', () => {
    const dump = parseNutDump(log);
    assert.deepEqual(dump.variables, {
      'battery.charge': '97',
      'battery.voltage': '16.0',
      'ups.status': 'OL',
    });
    assert.deepEqual(dump.commands, ['beeper.enable', 'load.off']);
    assert.deepEqual(dump.device, {
      vendorId: 0x0764,
      productId: 0x0501,
      manufacturer: 'CPS',
      product: 'CP1500PFCLCD',
      serialNumber: '000000000000',
    });
    assert.equal(toHex(dump.descriptor!), '05 84 09 04 a1 01');
    assert.deepEqual(
      dump.reports.map((r) => [r.source, toHex(r.bytes), r.phase]),
      [
        ['get', '08 64', 'init'],
        ['err', '0b 05 00 ff', 'update'],
      ],
    );
    assert.equal(dump.paths[0]?.value, 100);
    assert.equal(toHex(dump.paths[0]!.report!), '08 64');
  });

  test('a descriptor whose byte count disagrees with the log is an error', () => {
    assert.throws(
      () => parseNutDump(log.replace('(6 bytes)', '(7 bytes)')),
      /has 6 bytes, the log announces 7/,
    );
  });

  test('converts to a fixture: first replies become feature reports, update-phase reads become inputs', () => {
    const f = fixtureFromNutDump(log, 'hand-written');
    assert.deepEqual(f.features, { '0x08': '08 64' });
    // Report 0x0b is not declared as an input report in this tiny descriptor: kept as read.
    assert.deepEqual(f.inputs, [{ afterMs: 0, data: '0b 05 00 ff' }]);
    assert.deepEqual(f.expect?.commands, ['beeper.enable', 'load.off']);
    assert.equal(validateFixture(f), f);
  });
});
