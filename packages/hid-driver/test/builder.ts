/**
 * A small HID report-descriptor builder for tests: raw items with explicit or minimal encodings,
 * plus a UPS-fixture layer that declares one value per usage, remembers where it lands in its
 * report, and produces the feature/input report bytes a device with those values would send.
 */
import { FIXTURE_FORMAT, type HidDeviceInfo, type HidFixture, toHex, writeBits } from '../src/index.ts';

type ItemType = 'main' | 'global' | 'local';
const TYPE_BITS: Record<ItemType, number> = { main: 0, global: 1, local: 2 };

export type Size = 0 | 1 | 2 | 4;

function minimalSigned(value: number): Size {
  if (value === 0) return 0;
  if (value >= -128 && value <= 127) return 1;
  if (value >= -32768 && value <= 32767) return 2;
  return 4;
}

function minimalUnsigned(value: number): Size {
  if (value === 0) return 0;
  if (value <= 0xff) return 1;
  if (value <= 0xffff) return 2;
  return 4;
}

export class DescriptorBuilder {
  readonly bytes: number[] = [];

  /** A short item with `value` little-endian in `size` bytes (two's complement for negatives). */
  item(type: ItemType, tag: number, value = 0, size: Size = minimalUnsigned(value)): this {
    const code = size === 4 ? 3 : size;
    this.bytes.push((tag << 4) | (TYPE_BITS[type] << 2) | code);
    let v = value < 0 ? 2 ** (8 * size) + value : value;
    for (let i = 0; i < size; i++) {
      this.bytes.push(v % 256);
      v = Math.floor(v / 256);
    }
    return this;
  }

  raw(...bytes: number[]): this {
    this.bytes.push(...bytes);
    return this;
  }

  longItem(tag: number, data: number[]): this {
    return this.raw(0xfe, data.length, tag, ...data);
  }

  usagePage(page: number): this {
    return this.item('global', 0x0, page);
  }
  /** A 16-bit usage, or an extended 32-bit one (page in the high half) when `usage` > 0xffff. */
  usage(usage: number): this {
    return this.item('local', 0x0, usage, usage > 0xffff ? 4 : minimalUnsigned(usage) || 1);
  }
  usageMinimum(usage: number): this {
    return this.item('local', 0x1, usage, usage > 0xffff ? 4 : 1);
  }
  usageMaximum(usage: number): this {
    return this.item('local', 0x2, usage, usage > 0xffff ? 4 : 1);
  }
  logicalMinimum(value: number, size: Size = minimalSigned(value)): this {
    return this.item('global', 0x1, value, size);
  }
  logicalMaximum(value: number, size: Size = minimalSigned(value)): this {
    return this.item('global', 0x2, value, size);
  }
  physicalMinimum(value: number, size: Size = minimalSigned(value)): this {
    return this.item('global', 0x3, value, size);
  }
  physicalMaximum(value: number, size: Size = minimalSigned(value)): this {
    return this.item('global', 0x4, value, size);
  }
  unitExponent(value: number, size: Size = 1): this {
    return this.item('global', 0x5, value, size);
  }
  unit(code: number): this {
    return this.item('global', 0x6, code, code > 0xffff ? 4 : minimalUnsigned(code));
  }
  reportSize(bits: number): this {
    return this.item('global', 0x7, bits);
  }
  reportId(id: number): this {
    return this.item('global', 0x8, id, 1);
  }
  reportCount(count: number): this {
    return this.item('global', 0x9, count);
  }
  push(): this {
    return this.item('global', 0xa);
  }
  pop(): this {
    return this.item('global', 0xb);
  }
  stringIndex(index: number): this {
    return this.item('local', 0x7, index, 1);
  }
  delimiter(open: boolean): this {
    return this.item('local', 0xa, open ? 1 : 0, 1);
  }
  input(flags = 0x02): this {
    return this.item('main', 0x8, flags, 1);
  }
  output(flags = 0x02): this {
    return this.item('main', 0x9, flags, 1);
  }
  feature(flags = 0x02): this {
    return this.item('main', 0xb, flags, 1);
  }
  collection(type: number, body: (b: this) => void): this {
    this.item('main', 0xa, type, 1);
    body(this);
    return this.item('main', 0xc);
  }

  build(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

export const POWER = 0x84;
export const BATTERY = 0x85;

export interface ValueSpec {
  /** Label for `inputReport()` overrides and assertions. */
  name: string;
  reportId: number;
  page: number;
  usage: number;
  bits: number;
  logical: [number, number];
  /** Encode the Logical Maximum in this many bytes (1 with 255 gives the `25 FF` quirk). */
  logicalMaximumSize?: Size;
  physical?: [number, number];
  unit?: number;
  exponent?: number;
  kinds?: Array<'input' | 'feature'>;
  /** Raw logical value the device reports. */
  value: number;
  /** Emit no Unit/Unit Exponent items: the field inherits the previous ones (the leak quirk). */
  inheritUnit?: boolean;
}

interface Placed {
  spec: ValueSpec;
  kind: 'input' | 'feature';
  offset: number;
}

/** Builds a UPS fixture: nested collections with one value per usage, in numbered reports. */
export class UpsBuilder {
  readonly d = new DescriptorBuilder();
  private readonly placed: Placed[] = [];
  private readonly offsets = new Map<string, number>();

  collection(page: number, usage: number, type: number, body: (b: this) => void): this {
    this.d.usagePage(page).usage(usage);
    this.d.collection(type, () => body(this));
    return this;
  }

  value(spec: ValueSpec): this {
    const d = this.d;
    d.reportId(spec.reportId).usagePage(spec.page);
    d.logicalMinimum(spec.logical[0]).logicalMaximum(spec.logical[1], spec.logicalMaximumSize);
    if (spec.physical) d.physicalMinimum(spec.physical[0]).physicalMaximum(spec.physical[1]);
    else d.physicalMinimum(0).physicalMaximum(0);
    if (!spec.inheritUnit) d.unit(spec.unit ?? 0).unitExponent(spec.exponent ?? 0);
    d.reportSize(spec.bits).reportCount(1);
    for (const kind of spec.kinds ?? ['feature']) {
      d.usage(spec.usage);
      if (kind === 'input') d.input(0x82);
      else d.feature(0x82);
      const key = `${kind}:${spec.reportId}`;
      const offset = this.offsets.get(key) ?? 0;
      this.placed.push({ spec, kind, offset });
      this.offsets.set(key, offset + spec.bits);
    }
    return this;
  }

  /** Constant padding bits in a report. */
  pad(reportId: number, bits: number, kinds: Array<'input' | 'feature'> = ['feature']): this {
    this.d.reportId(reportId).reportSize(bits).reportCount(1);
    for (const kind of kinds) {
      if (kind === 'input') this.d.input(0x01);
      else this.d.feature(0x01);
      const key = `${kind}:${reportId}`;
      this.offsets.set(key, (this.offsets.get(key) ?? 0) + bits);
    }
    return this;
  }

  private report(
    kind: 'input' | 'feature',
    reportId: number,
    overrides: Record<string, number> = {},
  ): Uint8Array {
    const bits = this.offsets.get(`${kind}:${reportId}`) ?? 0;
    const payload = new Uint8Array(Math.ceil(bits / 8));
    for (const p of this.placed) {
      if (p.kind !== kind || p.spec.reportId !== reportId) continue;
      writeBits(payload, p.offset, p.spec.bits, overrides[p.spec.name] ?? p.spec.value);
    }
    return Uint8Array.from([reportId, ...payload]);
  }

  featureReport(reportId: number, overrides?: Record<string, number>): Uint8Array {
    return this.report('feature', reportId, overrides);
  }

  /** The interrupt report of `reportId` with some values changed. */
  inputReport(reportId: number, overrides: Record<string, number> = {}): Uint8Array {
    return this.report('input', reportId, overrides);
  }

  reportIdOf(name: string): number {
    const p = this.placed.find((x) => x.spec.name === name);
    if (!p) throw new Error(`no value named ${name}`);
    return p.spec.reportId;
  }

  fixture(device: HidDeviceInfo, description: string, overrides: Record<string, number> = {}): HidFixture {
    const ids = [
      ...new Set(this.placed.filter((p) => p.kind === 'feature').map((p) => p.spec.reportId)),
    ].sort((a, b) => a - b);
    const features: Record<string, string> = {};
    for (const id of ids)
      features[`0x${id.toString(16).padStart(2, '0')}`] = toHex(this.featureReport(id, overrides));
    return {
      format: FIXTURE_FORMAT,
      version: 1,
      description,
      device,
      descriptor: toHex(this.d.build()),
      features,
    };
  }
}
