import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  APC_PAGE,
  INDEX_NODE_BASE,
  MGE_PAGE,
  parseReportDescriptor,
  STANDARD_NAMES,
  STANDARD_TABLES,
  tokenize,
  UNITS,
  UsageNames,
} from '../src/index.ts';
import { DescriptorBuilder } from './builder.ts';

const fieldsOf = (b: DescriptorBuilder) => parseReportDescriptor(b.build()).fields;

describe('item tokenizer', () => {
  test('decodes short items of 0, 1, 2 and 4 data bytes, little-endian, signed and unsigned', () => {
    const { items, warnings } = tokenize(
      Uint8Array.from([0xc0, 0x15, 0xff, 0x26, 0x34, 0x12, 0x27, 0xfe, 0xff, 0xff, 0xff]),
    );
    assert.deepEqual(warnings, []);
    assert.deepEqual(
      items.map((i) => [i.type, i.tag, i.size, i.unsigned, i.signed]),
      [
        ['main', 0xc, 0, 0, 0],
        ['global', 0x1, 1, 0xff, -1],
        ['global', 0x2, 2, 0x1234, 0x1234],
        ['global', 0x2, 4, 0xfffffffe, -2],
      ],
    );
    assert.deepEqual(
      items.map((i) => [i.offset, i.length]),
      [
        [0, 1],
        [1, 2],
        [3, 3],
        [6, 5],
      ],
    );
  });

  test('reads long items (0xFE, size, tag, data) and carries on after them', () => {
    const bytes = new DescriptorBuilder().longItem(0x42, [1, 2, 3]).usagePage(0x84).build();
    const { items, warnings } = tokenize(bytes);
    assert.deepEqual(warnings, []);
    assert.equal(items[0]!.type, 'long');
    assert.equal(items[0]!.tag, 0x42);
    assert.deepEqual([...items[0]!.data], [1, 2, 3]);
    assert.equal(items[1]!.type, 'global');
    assert.equal(items[1]!.unsigned, 0x84);
  });

  test('a truncated item or long item ends the stream with a warning instead of throwing', () => {
    const short = tokenize(Uint8Array.from([0x05, 0x84, 0x26, 0xff]));
    assert.equal(short.items.length, 1);
    assert.match(short.warnings[0]!, /needs 2 data bytes/);
    const long = tokenize(Uint8Array.from([0xfe, 0x10, 0x01, 0x00]));
    assert.equal(long.items.length, 0);
    assert.match(long.warnings[0]!, /long item at byte 0 is truncated/);
  });
});

describe('report descriptor parser', () => {
  test('main item flags: constant, variable/array, relative, null state, volatile', () => {
    const b = new DescriptorBuilder()
      .usagePage(0x84)
      .reportSize(8)
      .reportCount(1)
      .logicalMinimum(0)
      .logicalMaximum(255);
    b.usage(0x30)
      .input(0x02)
      .usage(0x31)
      .input(0x03)
      .usage(0x32)
      .feature(0x06)
      .usage(0x33)
      .feature(0xc2)
      .usage(0x34)
      .output(0x00);
    const fields = fieldsOf(b);
    assert.deepEqual(
      fields.map((f) => [f.kind, f.constant, f.variable, f.relative, f.nullState, f.volatile]),
      [
        ['input', false, true, false, false, false],
        ['input', true, true, false, false, false],
        ['feature', false, true, true, false, false],
        ['feature', false, true, false, true, true],
        ['output', false, false, false, false, false],
      ],
    );
  });

  test('bit offsets are tracked per report kind and report ID; lengths include padding', () => {
    const b = new DescriptorBuilder()
      .usagePage(0x85)
      .logicalMinimum(0)
      .logicalMaximum(1)
      .reportSize(1)
      .reportCount(1);
    b.reportId(0x16).usage(0x44).input().usage(0x44).feature().usage(0x45).input().usage(0x45).feature();
    b.reportCount(6).input(0x01).feature(0x01); // padding: no usage, constant
    b.reportId(0x20).reportSize(16).reportCount(1).logicalMaximum(65535).usage(0x85).feature();
    const d = parseReportDescriptor(b.build());
    assert.equal(d.numbered, true);
    const at = (kind: string, id: number) => d.fields.filter((f) => f.kind === kind && f.reportId === id);
    assert.deepEqual(
      at('input', 0x16).map((f) => [f.usage, f.bitOffset, f.bitSize]),
      [
        [0x00850044, 0, 1],
        [0x00850045, 1, 1],
      ],
    );
    assert.deepEqual(
      at('feature', 0x16).map((f) => f.bitOffset),
      [0, 1],
    );
    assert.equal(d.report('input', 0x16)?.byteLength, 1);
    assert.equal(d.report('feature', 0x16)?.bitLength, 8);
    assert.equal(d.report('feature', 0x20)?.byteLength, 2);
    assert.deepEqual(d.reportIds('feature'), [0x16, 0x20]);
    assert.equal(d.report('output', 0x16), undefined);
  });

  test('unnumbered descriptors use report ID 0', () => {
    const b = new DescriptorBuilder()
      .usagePage(0x84)
      .usage(0x30)
      .logicalMaximum(255)
      .reportSize(8)
      .reportCount(1)
      .feature();
    const d = parseReportDescriptor(b.build());
    assert.equal(d.numbered, false);
    assert.equal(d.fields[0]!.reportId, 0);
    assert.equal(d.report('feature', 0)?.byteLength, 1);
  });

  test('globals persist across main items, locals do not; Push/Pop restore the global state', () => {
    const b = new DescriptorBuilder().usagePage(0x84).reportId(1).reportSize(16).reportCount(1);
    b.logicalMinimum(0).logicalMaximum(1000).unit(UNITS.volt).unitExponent(7);
    b.push().unit(UNITS.second).unitExponent(-2).reportSize(8).logicalMaximum(100).usage(0x57).feature();
    b.pop().usage(0x30).feature();
    b.feature(); // no usage left: padding, not a field
    const fields = fieldsOf(b);
    assert.equal(fields.length, 2);
    assert.deepEqual(
      fields.map((f) => [f.usage, f.bitSize, f.bitOffset, f.unit, f.unitExponent, f.logicalMaximum]),
      [
        [0x00840057, 8, 0, UNITS.second, -2, 100],
        [0x00840030, 16, 8, UNITS.volt, 7, 1000],
      ],
    );
  });

  test('Pop without Push, unbalanced collections and unknown tags are warnings, not crashes', () => {
    const b = new DescriptorBuilder()
      .pop()
      .raw(0xc0)
      .raw(0xf4, 0x01)
      .usagePage(0x84)
      .usage(4)
      .raw(0xa1, 0x01);
    const d = parseReportDescriptor(b.build());
    assert.equal(d.fields.length, 0);
    assert.ok(d.warnings.some((w) => /Pop without a matching Push/.test(w)));
    assert.ok(d.warnings.some((w) => /End Collection without/.test(w)));
    assert.ok(d.warnings.some((w) => /unknown global item tag 0xf/.test(w)));
    assert.ok(d.warnings.some((w) => /1 collection\(s\) not closed/.test(w)));
  });

  test('logical and physical extents are signed by their item size', () => {
    const b = new DescriptorBuilder().usagePage(0x84).reportSize(16).reportCount(1);
    b.logicalMinimum(-1, 2).logicalMaximum(0x7fff, 2).physicalMinimum(-100).physicalMaximum(0x1ffff, 4);
    b.usage(0x57).feature();
    const [f] = fieldsOf(b);
    assert.equal(f!.logicalMinimum, -1);
    assert.equal(f!.logicalMaximum, 32767);
    assert.equal(f!.physicalMinimum, -100);
    assert.equal(f!.physicalMaximum, 0x1ffff);
  });

  test('a Logical Maximum encoded too short is read as unsigned, unless the fix is switched off', () => {
    const bytes = new DescriptorBuilder()
      .usagePage(0x85)
      .reportId(0x0c)
      .reportSize(8)
      .reportCount(1)
      .logicalMinimum(0)
      .raw(0x25, 0xff) // Logical Maximum −1, meant as 255
      .usage(0x66)
      .feature()
      .build();
    const fixed = parseReportDescriptor(bytes);
    assert.equal(fixed.fields[0]!.logicalMaximum, 255);
    assert.equal(fixed.fields[0]!.assumedLogicalMaximum, true);
    assert.match(fixed.warnings[0]!, /Logical Maximum -1 is below Logical Minimum 0; read as 255/);
    const raw = parseReportDescriptor(bytes, { fixLogicalMaximum: false });
    assert.equal(raw.fields[0]!.logicalMaximum, -1);
    assert.equal(raw.fields[0]!.assumedLogicalMaximum, false);
  });

  test('Unit Exponent accepts the spec nibble (0x0E = −2) and a full signed byte (0xFE = −2)', () => {
    const make = (raw: number) =>
      fieldsOf(
        new DescriptorBuilder()
          .usagePage(0x84)
          .reportSize(8)
          .reportCount(1)
          .raw(0x55, raw)
          .usage(0x30)
          .feature(),
      )[0]!.unitExponent;
    assert.equal(make(0x0e), -2);
    assert.equal(make(0xfe), -2);
    assert.equal(make(0x07), 7);
    assert.equal(make(0x08), -8);
    assert.equal(make(0x05), 5);
  });

  test('usage ranges expand over the report count, also with extended 32-bit usages', () => {
    const b = new DescriptorBuilder().usagePage(0x85).reportSize(1).reportCount(4).logicalMaximum(1);
    b.usageMinimum(0x44).usageMaximum(0x47).input();
    b.usageMinimum(0x00840068).usageMaximum(0x00840069).reportCount(2).feature();
    const fields = fieldsOf(b);
    assert.deepEqual(
      fields.map((f) => STANDARD_NAMES.formatPath(f.path)),
      ['Charging', 'Discharging', 'FullyCharged', 'FullyDischarged', 'ShutdownRequested', 'ShutdownImminent'],
    );
  });

  test('a single usage mixed with a range keeps declaration order', () => {
    const b = new DescriptorBuilder().usagePage(0x84).reportSize(8).reportCount(4).logicalMaximum(255);
    b.usage(0x30).usageMinimum(0x31).usageMaximum(0x33).feature();
    assert.deepEqual(
      fieldsOf(b).map((f) => f.usage & 0xffff),
      [0x30, 0x31, 0x32, 0x33],
    );
  });

  test('with fewer usages than slots the last usage repeats (HID 1.11 §6.2.2.8)', () => {
    const b = new DescriptorBuilder()
      .usagePage(0xffff)
      .reportId(0xe3)
      .reportSize(8)
      .reportCount(3)
      .logicalMaximum(255);
    b.usage(0xffff00ef).input(0x82);
    const fields = fieldsOf(b);
    assert.deepEqual(
      fields.map((f) => [f.usage, f.bitOffset, f.usageRepeated]),
      [
        [0xffff00ef, 0, false],
        [0xffff00ef, 8, true],
        [0xffff00ef, 16, true],
      ],
    );
  });

  test('array items list every selectable usage in each slot', () => {
    const b = new DescriptorBuilder()
      .usagePage(0x85)
      .reportSize(8)
      .reportCount(2)
      .logicalMinimum(0x40)
      .logicalMaximum(0x47);
    b.usageMinimum(0x40).usageMaximum(0x47).input(0x00);
    const fields = fieldsOf(b);
    assert.equal(fields.length, 2);
    assert.equal(fields[0]!.variable, false);
    assert.equal(fields[0]!.arrayUsages?.length, 8);
    assert.equal(fields[1]!.bitOffset, 8);
  });

  test('delimiter sets keep only their first alternative', () => {
    const b = new DescriptorBuilder().usagePage(0x84).reportSize(8).reportCount(1).logicalMaximum(255);
    b.delimiter(true).usage(0x30).usage(0x31).delimiter(false).feature();
    const fields = fieldsOf(b);
    assert.equal(fields.length, 1);
    assert.equal(fields[0]!.usage, 0x00840030);
  });

  test('string and designator indices attach to the next main item only', () => {
    const b = new DescriptorBuilder().usagePage(0x84).reportSize(8).reportCount(1).logicalMaximum(255);
    b.stringIndex(2).item('local', 0x3, 5).usage(0xfe).feature().usage(0xff).feature();
    const [first, second] = fieldsOf(b);
    assert.equal(first!.stringIndex, 2);
    assert.equal(first!.designatorIndex, 5);
    assert.equal(second!.stringIndex, undefined);
  });

  test('collections build the path; vendor-defined types (≥ 0x80) add an [n] index node', () => {
    const b = new DescriptorBuilder().usagePage(0x84).usage(0x04);
    b.collection(0x01, (ups) => {
      ups.usage(0x1e).collection(0x84, (flow) => {
        flow.reportId(0x22).usage(0x40).reportSize(16).reportCount(1).logicalMaximum(65535).feature();
      });
      ups.usage(0x24).collection(0x00, (ps) => ps.usage(0x30).feature());
    });
    const d = parseReportDescriptor(b.build());
    assert.deepEqual(
      d.fields.map((f) => STANDARD_NAMES.formatPath(f.path)),
      ['UPS.Flow.[4].ConfigVoltage', 'UPS.PowerSummary.Voltage'],
    );
    assert.deepEqual(d.fields[0]!.collectionPath, [0x00840004, 0x0084001e, INDEX_NODE_BASE | 4]);
    assert.deepEqual(
      d.collections.map((c) => [c.usage, c.type, c.depth]),
      [
        [0x00840004, 1, 0],
        [0x0084001e, 0x84, 1],
        [0x00840024, 0, 1],
      ],
    );
    assert.equal(d.applications[0]!.usage, 0x00840004);
  });

  test('withFields replaces fields without changing the layout', () => {
    const b = new DescriptorBuilder()
      .usagePage(0x84)
      .reportId(1)
      .reportSize(8)
      .reportCount(1)
      .logicalMaximum(100);
    b.usage(0x30).feature();
    const d = parseReportDescriptor(b.build());
    const patched = d.withFields(new Map([[0, { ...d.fields[0]!, logicalMaximum: 511 }]]));
    assert.equal(patched.fields[0]!.logicalMaximum, 511);
    assert.equal(d.fields[0]!.logicalMaximum, 100);
    assert.equal(patched.report('feature', 1)?.fields[0]?.logicalMaximum, 511);
    assert.equal(d.withFields(new Map()), d);
  });

  test('hostile descriptors are bounded: a huge report count does not allocate billions of fields', () => {
    const b = new DescriptorBuilder()
      .usagePage(0x84)
      .reportSize(8)
      .item('global', 0x9, 0xffffffff, 4)
      .usage(0x30)
      .feature();
    const d = parseReportDescriptor(b.build());
    assert.ok(d.fields.length <= 8192);
    assert.ok(d.warnings.some((w) => /would exceed/.test(w)));
  });

  test('deeply nested collections are flattened past 64 levels and stay balanced', () => {
    const b = new DescriptorBuilder().usagePage(0x84);
    for (let i = 0; i < 100; i++) b.usage(0x24).raw(0xa1, 0x00);
    b.usage(0x30).reportSize(8).reportCount(1).logicalMaximum(1).feature();
    for (let i = 0; i < 100; i++) b.raw(0xc0);
    const d = parseReportDescriptor(b.build());
    assert.equal(d.fields[0]!.collectionPath.length, 64);
    assert.ok(!d.warnings.some((w) => /not closed|without a matching/.test(w)));
  });

  test('random bytes never throw and never produce fields outside their report', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        const d = parseReportDescriptor(bytes);
        for (const f of d.fields) {
          const report = d.report(f.kind, f.reportId)!;
          assert.ok(f.bitOffset + f.bitSize <= report.bitLength);
        }
      }),
      { numRuns: 300 },
    );
  });

  test('random well-formed item streams parse, and every field fits its report', () => {
    // Blocks of random globals, then usages, then a main item — the shape that creates fields.
    const shortItem = (prefixes: number[]) =>
      fc
        .tuple(
          fc.constantFrom(...prefixes),
          fc.constantFrom(0, 1, 2, 3),
          fc.uint8Array({ minLength: 4, maxLength: 4 }),
        )
        .map(([prefix, code, data]) => [prefix | code, ...data.subarray(0, [0, 1, 2, 4][code])]);
    const globals = shortItem([0x04, 0x14, 0x24, 0x34, 0x44, 0x54, 0x64, 0x84, 0xa4, 0xb4]);
    const locals = shortItem([0x08, 0x18, 0x28, 0x78, 0xa8]);
    const main = shortItem([0x80, 0x90, 0xb0, 0xa0, 0xc0]);
    const size = fc.integer({ min: 1, max: 40 }).map((n) => [0x75, n]);
    const count = fc.integer({ min: 1, max: 12 }).map((n) => [0x95, n]);
    const block = fc
      .tuple(
        fc.array(globals, { maxLength: 4 }),
        size,
        count,
        fc.array(locals, { minLength: 1, maxLength: 3 }),
        main,
      )
      .map(([g, s, c, l, m]) => [...g.flat(), ...s, ...c, ...l.flat(), ...m]);
    let fieldsSeen = 0;
    fc.assert(
      fc.property(fc.array(block, { minLength: 1, maxLength: 30 }), (blocks) => {
        const d = parseReportDescriptor(Uint8Array.from(blocks.flat()));
        fieldsSeen += d.fields.length;
        for (const f of d.fields) {
          assert.ok(f.bitOffset + f.bitSize <= d.report(f.kind, f.reportId)!.bitLength);
          assert.ok(Number.isFinite(f.logicalMinimum) && Number.isFinite(f.logicalMaximum));
          assert.ok(f.path.length === f.collectionPath.length + 1);
        }
      }),
      { numRuns: 200 },
    );
    assert.ok(fieldsSeen > 1000, `the generator must exercise field creation (saw ${fieldsSeen} fields)`);
  });
});

describe('usage names and paths', () => {
  test('standard pages name Power Device and Battery System usages the way NUT paths do', () => {
    assert.equal(STANDARD_NAMES.name(0x00840004), 'UPS');
    assert.equal(STANDARD_NAMES.name(0x0084006b), 'SwitchOn/Off');
    assert.equal(STANDARD_NAMES.name(0x008500d0), 'ACPresent');
    assert.equal(STANDARD_NAMES.formatPath([0x00840004, 0xff860005, 0xff86007c]), 'UPS.ff860005.ff86007c');
  });

  test('vendor tables resolve first, and lookups are case-insensitive', () => {
    const apc = new UsageNames([APC_PAGE, ...STANDARD_TABLES]);
    assert.equal(
      apc.formatPath([0x00840004, 0xff860005, 0xff86007c]),
      'UPS.APCGeneralCollection.APCDelayBeforeReboot',
    );
    assert.deepEqual(
      apc.parsePath('ups.apcgeneralcollection.APCDELAYBEFOREREBOOT'),
      [0x00840004, 0xff860005, 0xff86007c],
    );
    const mge = new UsageNames([MGE_PAGE, ...STANDARD_TABLES]);
    assert.deepEqual(mge.parsePath('UPS.PowerConverter.Input.[3].PresentStatus.Used'), [
      0x00840004,
      0x00840016,
      0x0084001a,
      INDEX_NODE_BASE | 3,
      0x00840002,
      0x0084006d,
    ]);
    assert.equal(mge.parsePath('UPS.NoSuchThing'), undefined);
    assert.deepEqual(STANDARD_NAMES.parsePath('UPS.ffff00ef'), [0x00840004, 0xffff00ef]);
  });
});
