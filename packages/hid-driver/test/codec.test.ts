import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  decodeField,
  decodeUnit,
  engineeringToLogical,
  formatApcHexDate,
  formatFixed,
  formatPdcDate,
  fromHex,
  type HidField,
  logicalToEngineering,
  logicalToPhysical,
  parseReportDescriptor,
  physicalToLogical,
  rawToLogical,
  readBits,
  siExponentOffset,
  toHex,
  UNITS,
  unitSymbol,
  writeBits,
} from '../src/index.ts';
import { DescriptorBuilder } from './builder.ts';

function field(overrides: Partial<HidField>): HidField {
  const [base] = parseReportDescriptor(
    new DescriptorBuilder().usagePage(0x84).reportSize(8).reportCount(1).usage(0x30).feature().build(),
  ).fields;
  return { ...base!, ...overrides };
}

describe('bit extraction (NUT getvaluetest.c reference vectors)', () => {
  // buf (report ID byte first), bit offset, size, logical min, max, expected — the cases NUT's own
  // unit test checks its GetValue() against.
  const vectors: Array<[string, number, number, number, number, number]> = [
    ['00 ff ff ff ff', 0, 32, -1, 2147483647, -1],
    ['00 ff', 0, 8, -1, 127, -1],
    ['00 ff', 0, 8, 0, 127, 127],
    ['00 ff', 0, 8, 0, 255, 255],
    ['33 00 0a 08 80', 0, 32, 0, 65535, 2560],
    ['00 00 08 00 00', 0, 32, 0, 65535, 2048],
    ['06 00 00 08', 0, 8, 0, 255, 0],
    ['06 00 00 08', 8, 8, 0, 255, 0],
    ['06 00 00 08', 16, 8, 0, 255, 8],
    ['16 0c 00 00 00', 0, 1, 0, 1, 0],
    ['16 0c 00 00 00', 1, 1, 0, 1, 0],
    ['16 0c 00 00 00', 2, 1, 0, 1, 1],
    ['16 0c 00 00 00', 3, 1, 0, 1, 1],
    ['16 0c 00 00 00', 4, 1, 0, 1, 0],
    ['16 0c 00 00 00', 5, 1, 0, 1, 0],
    ['16 0c 00 00 00', 6, 1, 0, 1, 0],
    ['16 0c 00 00 00', 7, 1, 0, 1, 0],
    ['16 0c 00 00 00', 8, 1, 0, 1, 0],
    ['16 0c 00 00 00', 9, 1, 0, 1, 0],
    ['16 0c 00 00 00', 10, 1, 0, 1, 0],
  ];
  for (const [hex, offset, size, min, max, expected] of vectors) {
    test(`${hex} @${offset}/${size} in [${min}, ${max}] → ${expected}`, () => {
      const payload = fromHex(hex).subarray(1);
      const f = field({ bitOffset: offset, bitSize: size, logicalMinimum: min, logicalMaximum: max });
      assert.equal(decodeField(f, payload).logical, expected);
    });
  }

  test('a field narrower than its extents takes its sign from its own width', () => {
    // 16-bit field whose inherited extents allow 32-bit values: 0xFFFF is −1, as two's complement says.
    assert.equal(rawToLogical(0xffff, { bitSize: 16, logicalMinimum: -1, logicalMaximum: 2147483647 }), -1);
  });

  test('fields whose extents were never set read as plain unsigned numbers', () => {
    assert.equal(rawToLogical(0x1234, { bitSize: 16, logicalMinimum: 0, logicalMaximum: 0 }), 0x1234);
  });

  test('reading beyond a short payload reads zeros (a short APC reply zero-fills)', () => {
    assert.equal(readBits(Uint8Array.from([0x21]), 0, 16), 0x21);
    assert.equal(readBits(new Uint8Array(0), 3, 9), 0);
  });

  test('writeBits then readBits returns the value at any offset, leaving neighbours intact', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 8, maxLength: 8 }),
        fc.integer({ min: 0, max: 31 }),
        fc.integer({ min: 1, max: 32 }),
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        (initial, offset, size, value) => {
          const buf = Uint8Array.from(initial);
          writeBits(buf, offset, size, value);
          assert.equal(readBits(buf, offset, size), value % 2 ** size);
          const before = readBits(initial, 0, offset);
          assert.equal(readBits(buf, 0, offset), before);
          const after = offset + size;
          const rest = Math.min(32, 64 - after);
          assert.equal(readBits(buf, after, rest), readBits(initial, after, rest));
        },
      ),
      { numRuns: 300 },
    );
  });

  test('negative values are written as two’s complement and never outside the payload', () => {
    const buf = new Uint8Array(2);
    writeBits(buf, 0, 16, -1);
    assert.equal(toHex(buf), 'ff ff');
    writeBits(buf, 12, 8, 0xff); // crosses the end: the excess bits are dropped
    assert.equal(toHex(buf), 'ff ff');
    assert.throws(() => readBits(buf, 0, 64), /too wide/);
  });
});

describe('logical, physical and engineering values', () => {
  test('physical extents map linearly and clamp; absent or zero extents mean physical = logical', () => {
    const f = field({ logicalMinimum: 0, logicalMaximum: 255, physicalMinimum: 0, physicalMaximum: 510 });
    assert.equal(logicalToPhysical(f, 100), 200);
    assert.equal(physicalToLogical(f, 200), 100);
    assert.equal(physicalToLogical(f, 9999), 255);
    const none = field({ logicalMinimum: 0, logicalMaximum: 255, physicalMinimum: 0, physicalMaximum: 0 });
    assert.equal(logicalToPhysical(none, 100), 100);
    const unset = field({
      logicalMinimum: 0,
      logicalMaximum: 255,
      physicalMinimum: undefined,
      physicalMaximum: undefined,
    });
    assert.equal(logicalToPhysical(unset, 77), 77);
  });

  test('units decode into system and exponents; SI-linear volts and watts need 10^-7', () => {
    assert.deepEqual(decodeUnit(UNITS.volt), {
      system: 1,
      length: 2,
      mass: 1,
      time: -3,
      temperature: 0,
      current: -1,
      luminousIntensity: 0,
    });
    assert.equal(siExponentOffset(UNITS.volt), -7);
    assert.equal(siExponentOffset(UNITS.watt), -7);
    for (const unit of [
      UNITS.second,
      UNITS.kelvin,
      UNITS.hertz,
      UNITS.ampere,
      UNITS.ampereSecond,
      UNITS.none,
    ]) {
      assert.equal(siExponentOffset(unit), 0);
    }
    // English-linear units get no cgs correction.
    assert.equal(siExponentOffset(0x00f0d123), 0);
    assert.deepEqual([UNITS.volt, UNITS.watt, UNITS.second, UNITS.hertz, 0].map(unitSymbol), [
      'V',
      'W',
      's',
      'Hz',
      '',
    ]);
    assert.equal(unitSymbol(0x00000101), 'kg');
    assert.equal(unitSymbol(0x00000f12), 'rad·kg^-1');
  });

  test('engineering values: 1200 V·10^(5−7) = 12 V; 1358 → 13.58 V exactly; a nibble exponent −1', () => {
    const config = field({ bitSize: 16, logicalMaximum: 65534, unit: UNITS.volt, unitExponent: 5 });
    assert.equal(logicalToEngineering(config, 1200), 12);
    assert.equal(logicalToEngineering(config, 1358), 13.58);
    const freq = field({ bitSize: 16, logicalMaximum: 65535, unit: UNITS.hertz, unitExponent: -1 });
    assert.equal(logicalToEngineering(freq, 499), 49.9);
    assert.equal(engineeringToLogical(freq, 50), 500);
    // A signed delay: −1 means "no shutdown pending".
    const delay = field({ bitSize: 16, logicalMinimum: -1, logicalMaximum: 32767, unit: UNITS.second });
    assert.equal(decodeField(delay, fromHex('ff ff')).value, -1);
  });

  test('engineering → logical → engineering round-trips within one logical step', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -3, max: 7 }),
        fc.integer({ min: 0, max: 60000 }),
        fc.boolean(),
        (exponent, logical, volt) => {
          const f = field({
            bitSize: 16,
            logicalMaximum: 65535,
            unit: volt ? UNITS.volt : UNITS.second,
            unitExponent: exponent,
          });
          assert.equal(engineeringToLogical(f, logicalToEngineering(f, logical)), logical);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('formatting', () => {
  test('%.Nf like C printf, including round-half-to-even on exact binary ties', () => {
    assert.equal(formatFixed(13.58, 1), '13.6');
    assert.equal(formatFixed(232, 1), '232.0');
    assert.equal(formatFixed(2.5, 0), '2');
    assert.equal(formatFixed(3.5, 0), '4');
    assert.equal(formatFixed(0.125, 2), '0.12');
    assert.equal(formatFixed(-0.04, 1), '0.0'); // no negative zero, unlike C
    assert.equal(formatFixed(-60, 0), '-60');
    assert.equal(formatFixed(0.6, 2), '0.60');
  });

  test('PDC and APC date formats', () => {
    assert.equal(formatPdcDate(10785), '2001/01/01');
    assert.equal(formatPdcDate(20648), '2020/05/08');
    assert.equal(formatPdcDate(0), 'not set');
    assert.equal(formatApcHexDate(0x102202), '2002/10/22');
    assert.equal(formatApcHexDate(0x070304), '2004/07/03');
    assert.equal(formatApcHexDate(0x123199), '1999/12/31');
    assert.equal(formatApcHexDate(0), 'not set');
  });

  test('hex helpers reject what is not hex bytes', () => {
    assert.deepEqual([...fromHex('05 84 0904')], [5, 0x84, 9, 4]);
    assert.throws(() => fromHex('0x12'), /not a hex byte string/);
    assert.throws(() => fromHex('123'), /not a hex byte string/);
  });
});
