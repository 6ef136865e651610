/**
 * Report codec: bit extraction and insertion, logical ↔ physical ↔ engineering (SI) values.
 *
 * Reports are little-endian bit streams (HID 1.11 §8.4); `payload` is the report without its ID
 * byte. Reads beyond the payload read zeros, so a short reply from the device decodes as if it had
 * been zero-filled to its declared length (the APC short-report quirk) — callers that want to treat
 * a short report as missing check its length first.
 *
 * Logical decoding follows what real UPS firmware needs and NUT's usbhid-ups does: the raw bits are
 * masked to the width the logical extents need (some APC units send garbage in the high bits of a
 * 32-bit 0..65535 field), sign-extended when the Logical Minimum is negative, then clamped into
 * [Logical Minimum, Logical Maximum]. A field whose extents were never set (both 0) is read as a
 * plain unsigned number instead of always decoding to 0.
 */
import type { HidField } from './descriptor.ts';
import { siExponentOffset } from './units.ts';

/** Fields wider than this cannot be represented exactly as a JS number. */
export const MAX_NUMERIC_BITS = 52;

export function readBits(payload: Uint8Array, bitOffset: number, bitSize: number): number {
  if (bitSize > MAX_NUMERIC_BITS) throw new RangeError(`field of ${bitSize} bits is too wide to decode`);
  let value = 0;
  let weight = 1;
  for (let i = 0; i < bitSize; i++) {
    const bit = bitOffset + i;
    const byte = payload[bit >> 3] ?? 0;
    if ((byte >> (bit & 7)) & 1) value += weight;
    weight *= 2;
  }
  return value;
}

/** Writes the low `bitSize` bits of `value` (two's complement for negatives) into `payload`. */
export function writeBits(payload: Uint8Array, bitOffset: number, bitSize: number, value: number): void {
  if (bitSize > MAX_NUMERIC_BITS) throw new RangeError(`field of ${bitSize} bits is too wide to encode`);
  const range = 2 ** bitSize;
  let v = ((Math.trunc(value) % range) + range) % range;
  for (let i = 0; i < bitSize; i++) {
    const bit = bitOffset + i;
    const index = bit >> 3;
    if (index >= payload.length) return;
    const mask = 1 << (bit & 7);
    const set = v % 2 === 1;
    v = Math.floor(v / 2);
    payload[index] = set ? payload[index]! | mask : payload[index]! & ~mask;
  }
}

function bitLength(n: number): number {
  let bits = 0;
  let v = n;
  while (v >= 1) {
    v = Math.floor(v / 2);
    bits++;
  }
  return bits;
}

type Extents = Pick<HidField, 'logicalMinimum' | 'logicalMaximum' | 'bitSize'>;

/** Raw bits → logical value: mask to the extents' width, sign-extend, clamp. */
export function rawToLogical(raw: number, field: Extents): number {
  const { logicalMinimum: min, logicalMaximum: max } = field;
  if (min === 0 && max === 0) return raw;
  const magnitude = Math.max(max >= 0 ? max : -(max + 1), min >= 0 ? min : -(min + 1));
  const valueBits = bitLength(magnitude);
  const signed = min < 0;
  const width = Math.min(valueBits + (signed ? 1 : 0), Math.max(field.bitSize, 1));
  let value = raw % 2 ** width;
  if (signed && value >= 2 ** (width - 1)) value -= 2 ** width;
  if (value < min) return min;
  if (value > max) return max;
  return value;
}

export function readLogical(field: HidField, payload: Uint8Array): number {
  return rawToLogical(readBits(payload, field.bitOffset, field.bitSize), field);
}

function hasPhysical(
  field: HidField,
): field is HidField & { physicalMinimum: number; physicalMaximum: number } {
  return (
    field.physicalMinimum !== undefined &&
    field.physicalMaximum !== undefined &&
    !(field.physicalMinimum === 0 && field.physicalMaximum === 0)
  );
}

/** HID 1.11 §6.2.2.7: physical extents absent or both zero mean physical = logical. */
export function logicalToPhysical(field: HidField, logical: number): number {
  if (!hasPhysical(field)) return logical;
  const { physicalMinimum: pMin, physicalMaximum: pMax, logicalMinimum: lMin, logicalMaximum: lMax } = field;
  if (pMax <= pMin || lMax <= lMin) return logical;
  const physical = ((logical - lMin) * (pMax - pMin)) / (lMax - lMin) + pMin;
  return Math.min(pMax, Math.max(pMin, physical));
}

export function physicalToLogical(field: HidField, physical: number): number {
  let logical = physical;
  if (hasPhysical(field)) {
    const {
      physicalMinimum: pMin,
      physicalMaximum: pMax,
      logicalMinimum: lMin,
      logicalMaximum: lMax,
    } = field;
    if (pMax > pMin && lMax > lMin) logical = ((physical - pMin) * (lMax - lMin)) / (pMax - pMin) + lMin;
  }
  logical = Math.round(logical);
  const { logicalMinimum: min, logicalMaximum: max } = field;
  if (min === 0 && max === 0) return logical;
  return Math.min(max, Math.max(min, logical));
}

/** The power of ten from physical to SI engineering units: Unit Exponent plus the unit's offset. */
export function engineeringExponent(field: Pick<HidField, 'unit' | 'unitExponent'>): number {
  return field.unitExponent + siExponentOffset(field.unit);
}

export function scaleByPowerOfTen(value: number, exponent: number): number {
  // Dividing by an exact power of ten keeps 1358 × 10⁻² at 13.58 instead of 13.580000000000002.
  return exponent >= 0 ? value * 10 ** exponent : value / 10 ** -exponent;
}

/** Logical → engineering value in SI units (V, A, W, s, K, Hz, A·s) with the field's exponent. */
export function logicalToEngineering(field: HidField, logical: number): number {
  return scaleByPowerOfTen(logicalToPhysical(field, logical), engineeringExponent(field));
}

export function engineeringToLogical(field: HidField, value: number): number {
  return physicalToLogical(field, scaleByPowerOfTen(value, -engineeringExponent(field)));
}

export interface DecodedValue {
  raw: number;
  logical: number;
  /** Engineering value (SI units, unit exponent applied) — what NUT's explore mode logs. */
  value: number;
}

export function decodeField(field: HidField, payload: Uint8Array): DecodedValue {
  const raw = readBits(payload, field.bitOffset, field.bitSize);
  const logical = rawToLogical(raw, field);
  return { raw, logical, value: logicalToEngineering(field, logical) };
}

/** Inserts a logical value (clamped to the field's extents) into a payload. */
export function encodeLogical(field: HidField, payload: Uint8Array, logical: number): void {
  const { logicalMinimum: min, logicalMaximum: max } = field;
  const clamped = min === 0 && max === 0 ? logical : Math.min(max, Math.max(min, Math.round(logical)));
  writeBits(payload, field.bitOffset, field.bitSize, clamped);
}
