/**
 * HID report-descriptor item tokenizer (HID 1.11 §6.2.2.2–§6.2.2.3).
 *
 * A short item is one prefix byte (tag in bits 7..4, type in bits 3..2, size code in bits 1..0 for
 * 0/1/2/4 data bytes) followed by its little-endian data. A long item starts with 0xFE, then
 * bDataSize, bLongItemTag and the data. The tokenizer never throws: a truncated item ends the
 * stream with a warning.
 */

export type ItemType = 'main' | 'global' | 'local' | 'reserved' | 'long';

export interface DescriptorItem {
  /** Byte offset of the prefix in the descriptor. */
  offset: number;
  /** Total length in bytes, prefix included. */
  length: number;
  type: ItemType;
  /** 4-bit tag for short items, bLongItemTag for long items. */
  tag: number;
  /** Number of data bytes. */
  size: number;
  data: Uint8Array;
  /** Data as a little-endian unsigned number (short items; 0 for long items). */
  unsigned: number;
  /** Data as a little-endian two's-complement number of `size` bytes (short items). */
  signed: number;
}

export const MAIN = {
  input: 0x8,
  output: 0x9,
  feature: 0xb,
  collection: 0xa,
  endCollection: 0xc,
} as const;

export const GLOBAL = {
  usagePage: 0x0,
  logicalMinimum: 0x1,
  logicalMaximum: 0x2,
  physicalMinimum: 0x3,
  physicalMaximum: 0x4,
  unitExponent: 0x5,
  unit: 0x6,
  reportSize: 0x7,
  reportId: 0x8,
  reportCount: 0x9,
  push: 0xa,
  pop: 0xb,
} as const;

export const LOCAL = {
  usage: 0x0,
  usageMinimum: 0x1,
  usageMaximum: 0x2,
  designatorIndex: 0x3,
  designatorMinimum: 0x4,
  designatorMaximum: 0x5,
  stringIndex: 0x7,
  stringMinimum: 0x8,
  stringMaximum: 0x9,
  delimiter: 0xa,
} as const;

const TYPES: readonly ItemType[] = ['main', 'global', 'local', 'reserved'];
const SIZES = [0, 1, 2, 4] as const;
const LONG_ITEM_PREFIX = 0xfe;

export function littleEndianUnsigned(data: Uint8Array): number {
  let value = 0;
  for (let i = data.length - 1; i >= 0; i--) value = value * 256 + (data[i] ?? 0);
  return value;
}

export function littleEndianSigned(data: Uint8Array): number {
  const unsigned = littleEndianUnsigned(data);
  if (data.length === 0) return 0;
  const range = 2 ** (8 * data.length);
  return unsigned >= range / 2 ? unsigned - range : unsigned;
}

export function tokenize(bytes: Uint8Array): { items: DescriptorItem[]; warnings: string[] } {
  const items: DescriptorItem[] = [];
  const warnings: string[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const prefix = bytes[pos]!;
    if (prefix === LONG_ITEM_PREFIX) {
      const dataSize = bytes[pos + 1];
      const tag = bytes[pos + 2];
      if (dataSize === undefined || tag === undefined || pos + 3 + dataSize > bytes.length) {
        warnings.push(`long item at byte ${pos} is truncated; parsing stops there`);
        break;
      }
      const data = bytes.subarray(pos + 3, pos + 3 + dataSize);
      items.push({
        offset: pos,
        length: 3 + dataSize,
        type: 'long',
        tag,
        size: dataSize,
        data,
        unsigned: 0,
        signed: 0,
      });
      pos += 3 + dataSize;
      continue;
    }
    const size = SIZES[prefix & 0x3]!;
    if (pos + 1 + size > bytes.length) {
      warnings.push(
        `item 0x${hex2(prefix)} at byte ${pos} needs ${size} data bytes, the descriptor ends first`,
      );
      break;
    }
    const data = bytes.subarray(pos + 1, pos + 1 + size);
    items.push({
      offset: pos,
      length: 1 + size,
      type: TYPES[(prefix >> 2) & 0x3]!,
      tag: prefix >> 4,
      size,
      data,
      unsigned: littleEndianUnsigned(data),
      signed: littleEndianSigned(data),
    });
    pos += 1 + size;
  }
  return { items, warnings };
}

export function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}
