import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type Conditions,
  composeStatus,
  decodeField,
  type MappingTable,
  mergeTables,
  PathIndex,
  parseReportDescriptor,
  resolveMapping,
  STANDARD_NAMES,
  StatusDebounce,
  type StatusOptions,
} from '../src/index.ts';
import { BATTERY, DescriptorBuilder, POWER } from './builder.ts';

/** UPS { PowerSummary { RunTimeToEmpty (input only) }, Battery { RunTimeToEmpty (feature) } }. */
function descriptor() {
  const b = new DescriptorBuilder().usagePage(POWER).usage(0x04);
  b.collection(0x01, (ups) => {
    ups
      .usagePage(POWER)
      .usage(0x24)
      .collection(0x00, (ps) => {
        ps.reportId(1)
          .usagePage(BATTERY)
          .logicalMinimum(0)
          .logicalMaximum(65535)
          .reportSize(16)
          .reportCount(1);
        ps.usage(0x68).input();
        ps.usage(0x66).input().usage(0x66).feature();
      });
    ups
      .usagePage(POWER)
      .usage(0x12)
      .collection(0x00, (bat) => {
        bat.reportId(2).usagePage(BATTERY).usage(0x68).feature();
        bat.reportSize(64).usage(0x83).feature();
      });
  });
  return parseReportDescriptor(b.build());
}

const table = (variables: MappingTable['variables']): MappingTable => ({
  variables,
  status: [],
  commands: [],
});
const q = { kind: 'quantity', decimals: 0 } as const;

describe('HID path → NUT variable mapping', () => {
  const index = new PathIndex(descriptor(), STANDARD_NAMES);

  test('the first candidate path that exists wins', () => {
    const m = resolveMapping(
      table([
        { name: 'battery.runtime', path: 'UPS.Output.RunTimeToEmpty', convert: q },
        { name: 'battery.runtime', path: 'UPS.Battery.RunTimeToEmpty', convert: q },
        { name: 'battery.runtime', path: 'UPS.PowerSummary.RunTimeToEmpty', convert: q },
      ]),
      index,
    );
    assert.equal(m.variables.get('battery.runtime')?.path, 'UPS.Battery.RunTimeToEmpty');
  });

  test('paths match case-insensitively; a Feature field is preferred over its Input twin', () => {
    const m = resolveMapping(
      table([{ name: 'battery.charge', path: 'ups.powersummary.REMAININGCAPACITY', convert: q }]),
      index,
    );
    const resolved = m.variables.get('battery.charge')!;
    assert.equal(resolved.field.kind, 'feature');
    assert.equal(resolved.path, 'UPS.PowerSummary.RemainingCapacity');
  });

  test('an Input-only field is used when nothing else exists; fields too wide for a number are not', () => {
    const m = resolveMapping(
      table([
        { name: 'battery.runtime', path: 'UPS.PowerSummary.RunTimeToEmpty', convert: q },
        { name: 'battery.capacity', path: 'UPS.Battery.DesignCapacity', convert: q },
      ]),
      index,
    );
    assert.equal(m.variables.get('battery.runtime')?.field.kind, 'input');
    assert.equal(m.variables.has('battery.capacity'), false);
  });

  test('merged tables: vendor variables first, vendor status rows applied last', () => {
    const vendor: MappingTable = {
      variables: [{ name: 'x', path: 'A', convert: q }],
      status: [{ path: 'V', condition: 'acPresent' }],
      commands: [],
    };
    const generic: MappingTable = {
      variables: [{ name: 'x', path: 'B', convert: q }],
      status: [{ path: 'G', condition: 'acPresent' }],
      commands: [],
    };
    const merged = mergeTables(vendor, generic);
    assert.deepEqual(
      merged.variables.map((v) => v.path),
      ['A', 'B'],
    );
    assert.deepEqual(
      merged.status.map((s) => s.path),
      ['G', 'V'],
    );
  });

  test('reports longer than 255 bits (beyond NUT) lay out and decode', () => {
    const b = new DescriptorBuilder().usagePage(POWER).reportId(9).logicalMinimum(0).logicalMaximum(255);
    b.reportSize(8).reportCount(40).usageMinimum(0x30).usageMaximum(0x57).feature();
    const d = parseReportDescriptor(b.build());
    assert.equal(d.report('feature', 9)?.byteLength, 40);
    const last = d.fields.at(-1)!;
    assert.equal(last.bitOffset, 312);
    assert.equal(STANDARD_NAMES.formatPath(last.path), 'DelayBeforeShutdown');
    const payload = Uint8Array.from({ length: 40 }, (_, i) => i + 1);
    assert.equal(decodeField(last, payload).value, 40);
  });
});

describe('status bits → ups.status', () => {
  const options: StatusOptions = {
    onlineDischarge: 'report',
    lowBatteryDebounceMs: 0,
    chargingAtFullIsFloat: false,
  };
  const status = (c: Conditions, charge?: number, o: Partial<StatusOptions> = {}) =>
    composeStatus(c, charge, { ...options, ...o }, new StatusDebounce(), 0);

  const cases: Array<[string, Conditions, number | undefined, string]> = [
    ['AC present', { acPresent: true }, 100, 'OL'],
    ['AC absent, discharging', { acPresent: false, discharging: true }, 80, 'OB DISCHRG'],
    ['no AC flag but discharging', { discharging: true }, 80, 'OB DISCHRG'],
    ['no AC flag at all', {}, 80, ''],
    [
      'fully discharged suppresses DISCHRG',
      { acPresent: false, discharging: true, fullyDischarged: true },
      0,
      'OB',
    ],
    ['charging, not fully charged', { acPresent: true, charging: true, fullyCharged: false }, 100, 'OL CHRG'],
    ['charging but fully charged', { acPresent: true, charging: true, fullyCharged: true }, 100, 'OL'],
    ['charging, no FullyCharged flag, below 100 %', { acPresent: true, charging: true }, 60, 'OL CHRG'],
    ['charging, no FullyCharged flag, at 100 %', { acPresent: true, charging: true }, 100, 'OL'],
    [
      'below capacity limit',
      { acPresent: false, discharging: true, belowRemainingCapacityLimit: true },
      9,
      'OB DISCHRG LB',
    ],
    ['time limit expired', { acPresent: false, remainingTimeLimitExpired: true }, 20, 'OB LB'],
    ['shutdown imminent', { acPresent: false, shutdownImminent: true }, 20, 'ALARM OB LB'],
    ['replace battery', { acPresent: true, needReplacement: true }, 100, 'ALARM OL RB'],
    ['no battery', { acPresent: true, batteryPresent: false }, 0, 'ALARM OL RB'],
    [
      'overload, buck, boost',
      { acPresent: true, overload: true, buck: true, boost: true },
      100,
      'OL OVER TRIM BOOST',
    ],
    ['bypass and off', { acPresent: true, bypassAuto: true, off: true }, 100, 'ALARM OL BYPASS OFF'],
    ['calibrating', { acPresent: true, calibrating: true }, 100, 'CAL OL'],
  ];
  for (const [name, conditions, charge, expected] of cases) {
    test(`${name} → '${expected}'`, () =>
      assert.equal(status(conditions, charge).tokens.join(' '), expected));
  }

  test('alarm texts and the transfer reason accompany the tokens', () => {
    const r = status(
      { acPresent: false, shutdownImminent: true, overTemperature: true, voltageOutOfRange: true },
      10,
    );
    assert.deepEqual(r.alarms, ['Shutdown imminent!', 'Temperature too high!']);
    assert.equal(r.transferReason, 'input voltage out of range');
    assert.equal(
      status({ acPresent: true, frequencyOutOfRange: true }).transferReason,
      'input frequency out of range',
    );
  });

  test('LB/RB on line wait for the debounce time; on battery they do not', () => {
    const debounce = new StatusDebounce();
    const o = { ...options, lowBatteryDebounceMs: 3000 };
    const online = { acPresent: true, belowRemainingCapacityLimit: true };
    assert.equal(composeStatus(online, 50, o, debounce, 1000).tokens.join(' '), 'OL');
    assert.equal(composeStatus(online, 50, o, debounce, 3999).tokens.join(' '), 'OL');
    assert.equal(composeStatus(online, 50, o, debounce, 4000).tokens.join(' '), 'OL LB');
    // Cleared, then raised again: the wait starts over.
    composeStatus({ acPresent: true }, 50, o, debounce, 4100);
    assert.equal(composeStatus(online, 50, o, debounce, 4200).tokens.join(' '), 'OL');
    const battery = { acPresent: false, belowRemainingCapacityLimit: true };
    assert.equal(composeStatus(battery, 50, o, new StatusDebounce(), 0).tokens.join(' '), 'OB LB');
  });
});
