/**
 * HID report-descriptor parser (HID 1.11 §6.2.2, §8).
 *
 * Turns the item stream into a flat list of report fields — one per report slot — each with its
 * report ID, report kind, bit offset and size, flags, usage and collection path, and the global
 * state (logical/physical extents, unit, unit exponent) in force when its main item was parsed.
 *
 * Implemented: every main, global and local item; Push/Pop; usage ranges (Usage Minimum/Maximum),
 * 32-bit extended usages, delimiter sets (first alternative wins), string and designator indices;
 * long items (recorded, skipped); bit offsets tracked per (kind, report ID) so Input and Feature
 * declarations of the same report ID lay out independently. Collections of a vendor-defined type
 * (≥ 0x80, as MGE/Eaton use for numbered flows and outlets) add an index node `0x00FF00nn` after
 * the collection usage, rendered `[n]` in paths, exactly as NUT's usbhid-ups does.
 *
 * Robustness: malformed input never throws. Problems become `warnings`; limits keep hostile
 * descriptors from exhausting memory. A Logical Maximum smaller than the Logical Minimum (firmware
 * that encodes 0..255 as `25 FF`) is reinterpreted as unsigned at the main item unless
 * `fixLogicalMaximum` is false; such fields carry `assumedLogicalMaximum`.
 */
import { type DescriptorItem, GLOBAL, LOCAL, MAIN, tokenize } from './items.ts';

export type ReportKind = 'input' | 'output' | 'feature';

export interface HidField {
  /** Position in `ReportDescriptor.fields`. */
  readonly index: number;
  readonly kind: ReportKind;
  /** 0 when the descriptor declares no report IDs. */
  readonly reportId: number;
  /** Offset in bits from the start of the report payload (after the report ID byte). */
  readonly bitOffset: number;
  readonly bitSize: number;
  /** Raw main-item data (HID 1.11 §6.2.2.5). */
  readonly flags: number;
  readonly constant: boolean;
  /** Variable (true) or Array (false). */
  readonly variable: boolean;
  readonly relative: boolean;
  readonly nullState: boolean;
  readonly volatile: boolean;
  /** 32-bit usage: page in the high 16 bits. For array slots the first selectable usage. */
  readonly usage: number;
  /** Array fields: every usage the slot may report. */
  readonly arrayUsages?: readonly number[];
  /** The main item had fewer usages than slots; this slot repeats the last one (HID 1.11 §6.2.2.8). */
  readonly usageRepeated: boolean;
  /** Usages of the enclosing collections, outermost first, with `[n]` index nodes. */
  readonly collectionPath: readonly number[];
  /** `collectionPath` plus the field usage. */
  readonly path: readonly number[];
  readonly logicalMinimum: number;
  readonly logicalMaximum: number;
  /** The Logical Maximum was encoded too short and has been read as unsigned. */
  readonly assumedLogicalMaximum: boolean;
  readonly physicalMinimum: number | undefined;
  readonly physicalMaximum: number | undefined;
  readonly unit: number;
  readonly unitExponent: number;
  readonly stringIndex: number | undefined;
  readonly designatorIndex: number | undefined;
}

export interface ReportLayout {
  readonly kind: ReportKind;
  readonly reportId: number;
  readonly bitLength: number;
  /** Payload length in bytes, without the report ID byte. */
  readonly byteLength: number;
  readonly fields: readonly HidField[];
}

export interface HidCollection {
  readonly usage: number;
  /** 0 physical, 1 application, 2 logical, 3 report, … ≥ 0x80 vendor-defined. */
  readonly type: number;
  readonly depth: number;
  readonly path: readonly number[];
}

export interface ParseOptions {
  /** Reinterpret a Logical/Physical Maximum below its minimum as unsigned (default true). */
  fixLogicalMaximum?: boolean;
}

/** An index node `[n]` in a path (vendor-defined collection types, NUT convention). */
export const INDEX_NODE_BASE = 0x00ff0000;
export const isIndexNode = (node: number): boolean =>
  (node & 0xffff0000) >>> 0 === INDEX_NODE_BASE && node <= 0x00ff00ff;

const MAX_FIELDS = 8192;
const MAX_REPORT_BITS = 1 << 20;
const MAX_COLLECTION_DEPTH = 64;
const MAX_ARRAY_USAGES = 4096;

interface GlobalState {
  usagePage: number;
  logicalMinimum: number;
  logicalMaximum: number;
  logicalMaximumUnsigned: number;
  physicalMinimum: number | undefined;
  physicalMaximum: number | undefined;
  physicalMaximumUnsigned: number | undefined;
  unitExponent: number;
  unit: number;
  reportSize: number;
  reportId: number;
  reportCount: number;
}

interface UsageRange {
  min: number;
  max: number;
}

class LocalState {
  usages: UsageRange[] = [];
  last: number | undefined;
  pendingMinimum: number | undefined;
  pendingMaximum: number | undefined;
  stringIndex: number | undefined;
  designatorIndex: number | undefined;
  inDelimiter = false;
  delimiterTaken = false;

  /** The next usage in declaration order, or undefined when the queue is empty. */
  take(): number | undefined {
    const head = this.usages[0];
    if (!head) return undefined;
    const usage = head.min;
    if (head.min >= head.max) this.usages.shift();
    else head.min += 1;
    this.last = usage;
    return usage;
  }

  get empty(): boolean {
    return this.usages.length === 0;
  }
}

export class ReportDescriptor {
  readonly reports: readonly ReportLayout[];
  private readonly byKey: Map<string, ReportLayout>;

  constructor(
    readonly bytes: Uint8Array,
    readonly items: readonly DescriptorItem[],
    readonly fields: readonly HidField[],
    readonly collections: readonly HidCollection[],
    /** True when the descriptor uses Report ID items: every report then starts with its ID byte. */
    readonly numbered: boolean,
    readonly warnings: readonly string[],
    /** Length in bits of every declared report, trailing padding included. */
    private readonly reportBits: ReadonlyMap<string, number>,
  ) {
    const fieldsByKey = new Map<string, HidField[]>();
    for (const field of fields) {
      const key = reportKey(field.kind, field.reportId);
      const list = fieldsByKey.get(key);
      if (list) list.push(field);
      else fieldsByKey.set(key, [field]);
    }
    this.byKey = new Map();
    for (const [key, bits] of reportBits) {
      const [kind, id] = key.split(':') as [ReportKind, string];
      this.byKey.set(key, {
        kind,
        reportId: Number(id),
        bitLength: bits,
        byteLength: Math.ceil(bits / 8),
        fields: fieldsByKey.get(key) ?? [],
      });
    }
    this.reports = [...this.byKey.values()].sort(
      (a, b) => a.reportId - b.reportId || a.kind.localeCompare(b.kind),
    );
  }

  report(kind: ReportKind, reportId: number): ReportLayout | undefined {
    return this.byKey.get(reportKey(kind, reportId));
  }

  reportIds(kind: ReportKind): number[] {
    return this.reports.filter((r) => r.kind === kind).map((r) => r.reportId);
  }

  /** Top-level collections (usage page 0x84 usage 0x04 is a UPS). */
  get applications(): HidCollection[] {
    return this.collections.filter((c) => c.depth === 0);
  }

  /** The same descriptor with some fields replaced (vendor fix-ups); layout is unchanged. */
  withFields(replacements: ReadonlyMap<number, HidField>): ReportDescriptor {
    if (replacements.size === 0) return this;
    const fields = this.fields.map((f) => replacements.get(f.index) ?? f);
    return new ReportDescriptor(
      this.bytes,
      this.items,
      fields,
      this.collections,
      this.numbered,
      this.warnings,
      this.reportBits,
    );
  }
}

export function reportKey(kind: ReportKind, reportId: number): string {
  return `${kind}:${reportId}`;
}

function initialGlobals(): GlobalState {
  return {
    usagePage: 0,
    logicalMinimum: 0,
    logicalMaximum: 0,
    logicalMaximumUnsigned: 0,
    physicalMinimum: undefined,
    physicalMaximum: undefined,
    physicalMaximumUnsigned: undefined,
    unitExponent: 0,
    unit: 0,
    reportSize: 0,
    reportId: 0,
    reportCount: 0,
  };
}

/** Unit Exponent: a signed nibble per the spec, or a full signed byte as some firmware writes it. */
export function decodeUnitExponent(item: DescriptorItem): number {
  if (item.size === 0) return 0;
  const low = item.data[0] ?? 0;
  if (low <= 0x0f) return low >= 8 ? low - 16 : low;
  return low >= 0x80 ? low - 256 : low;
}

function extendedUsage(item: DescriptorItem, page: number): number {
  return item.size === 4 ? item.unsigned >>> 0 : ((page << 16) | (item.unsigned & 0xffff)) >>> 0;
}

const KIND_BY_TAG: Record<number, ReportKind> = {
  [MAIN.input]: 'input',
  [MAIN.output]: 'output',
  [MAIN.feature]: 'feature',
};

export function parseReportDescriptor(bytes: Uint8Array, options: ParseOptions = {}): ReportDescriptor {
  const fixLogicalMaximum = options.fixLogicalMaximum ?? true;
  const { items, warnings } = tokenize(bytes);
  const fields: HidField[] = [];
  const collections: HidCollection[] = [];
  const offsets = new Map<string, number>();
  const globalStack: GlobalState[] = [];
  let globals = initialGlobals();
  let locals = new LocalState();
  let numbered = false;
  const path: number[] = [];
  // Nesting depth, counting collections too deep to be recorded, so End Collection stays balanced.
  const pushedNodes: number[] = [];
  let fieldLimitWarned = false;

  const warn = (item: DescriptorItem, message: string) => warnings.push(`byte ${item.offset}: ${message}`);

  for (const item of items) {
    if (item.type === 'long') continue; // no long item tags are defined for report descriptors
    if (item.type === 'reserved') {
      warn(item, `reserved item type (prefix 0x${bytes[item.offset]?.toString(16)}) ignored`);
      continue;
    }

    if (item.type === 'global') {
      switch (item.tag) {
        case GLOBAL.usagePage:
          globals.usagePage = item.unsigned & 0xffff;
          break;
        case GLOBAL.logicalMinimum:
          globals.logicalMinimum = item.signed;
          break;
        case GLOBAL.logicalMaximum:
          globals.logicalMaximum = item.signed;
          globals.logicalMaximumUnsigned = item.unsigned;
          break;
        case GLOBAL.physicalMinimum:
          globals.physicalMinimum = item.signed;
          break;
        case GLOBAL.physicalMaximum:
          globals.physicalMaximum = item.signed;
          globals.physicalMaximumUnsigned = item.unsigned;
          break;
        case GLOBAL.unitExponent:
          globals.unitExponent = decodeUnitExponent(item);
          break;
        case GLOBAL.unit:
          globals.unit = item.unsigned >>> 0;
          break;
        case GLOBAL.reportSize:
          globals.reportSize = item.unsigned;
          break;
        case GLOBAL.reportId:
          if (item.unsigned === 0 || item.unsigned > 0xff) warn(item, `invalid Report ID ${item.unsigned}`);
          globals.reportId = item.unsigned & 0xff;
          numbered = true;
          break;
        case GLOBAL.reportCount:
          globals.reportCount = item.unsigned;
          break;
        case GLOBAL.push:
          if (globalStack.length >= 64) warn(item, 'Push nested deeper than 64 levels ignored');
          else globalStack.push({ ...globals });
          break;
        case GLOBAL.pop: {
          const restored = globalStack.pop();
          if (restored) globals = restored;
          else warn(item, 'Pop without a matching Push ignored');
          break;
        }
        default:
          warn(item, `unknown global item tag 0x${item.tag.toString(16)} ignored`);
      }
      continue;
    }

    if (item.type === 'local') {
      const acceptUsage = () => {
        if (!locals.inDelimiter) return true;
        if (locals.delimiterTaken) return false;
        locals.delimiterTaken = true;
        return true;
      };
      switch (item.tag) {
        case LOCAL.usage:
          if (acceptUsage()) {
            const usage = extendedUsage(item, globals.usagePage);
            locals.usages.push({ min: usage, max: usage });
          }
          break;
        case LOCAL.usageMinimum:
          locals.pendingMinimum = extendedUsage(item, globals.usagePage);
          break;
        case LOCAL.usageMaximum:
          locals.pendingMaximum = extendedUsage(item, globals.usagePage);
          break;
        case LOCAL.designatorIndex:
        case LOCAL.designatorMinimum:
          locals.designatorIndex = item.unsigned;
          break;
        case LOCAL.stringIndex:
        case LOCAL.stringMinimum:
          locals.stringIndex = item.unsigned;
          break;
        case LOCAL.designatorMaximum:
        case LOCAL.stringMaximum:
          break;
        case LOCAL.delimiter:
          if (item.unsigned === 1) {
            if (locals.inDelimiter) warn(item, 'nested delimiter set');
            locals.inDelimiter = true;
            locals.delimiterTaken = false;
          } else {
            if (!locals.inDelimiter) warn(item, 'delimiter close without open');
            locals.inDelimiter = false;
          }
          break;
        default:
          warn(item, `unknown local item tag 0x${item.tag.toString(16)} ignored`);
      }
      if (locals.pendingMinimum !== undefined && locals.pendingMaximum !== undefined) {
        const min = locals.pendingMinimum;
        const max = locals.pendingMaximum;
        locals.pendingMinimum = undefined;
        locals.pendingMaximum = undefined;
        if (max >>> 16 !== min >>> 16) warn(item, 'usage range spans two usage pages; using the minimum');
        if (max < min) warn(item, 'Usage Maximum below Usage Minimum; range ignored');
        else if (acceptUsage()) locals.usages.push({ min, max: max >>> 16 === min >>> 16 ? max : min });
      }
      continue;
    }

    // Main items.
    if (item.tag === MAIN.collection) {
      const usage = locals.take() ?? 0;
      const type = item.unsigned & 0xff;
      if (pushedNodes.length >= MAX_COLLECTION_DEPTH) {
        warn(item, `collections nested deeper than ${MAX_COLLECTION_DEPTH} levels are flattened`);
        pushedNodes.push(0);
      } else {
        collections.push({ usage, type, depth: pushedNodes.length, path: [...path, usage] });
        path.push(usage);
        let nodes = 1;
        if (type >= 0x80) {
          path.push((INDEX_NODE_BASE | (type & 0x7f)) >>> 0);
          nodes = 2;
        }
        pushedNodes.push(nodes);
      }
      locals = new LocalState();
      continue;
    }
    if (item.tag === MAIN.endCollection) {
      const nodes = pushedNodes.pop();
      if (nodes === undefined) warn(item, 'End Collection without a matching Collection ignored');
      else path.length -= nodes;
      locals = new LocalState();
      continue;
    }
    const kind = KIND_BY_TAG[item.tag];
    if (!kind) {
      warn(item, `unknown main item tag 0x${item.tag.toString(16)} ignored`);
      locals = new LocalState();
      continue;
    }

    const flags = item.unsigned;
    const variable = (flags & 0x02) !== 0;
    const key = reportKey(kind, globals.reportId);
    let offset = offsets.get(key) ?? 0;
    const size = globals.reportSize;
    let count = globals.reportCount;
    if (size * count + offset > MAX_REPORT_BITS) {
      warn(
        item,
        `report 0x${globals.reportId.toString(16).padStart(2, '0')} would exceed ${MAX_REPORT_BITS} bits; item truncated`,
      );
      count = size === 0 ? 0 : Math.max(0, Math.floor((MAX_REPORT_BITS - offset) / size));
    }

    let logicalMaximum = globals.logicalMaximum;
    let assumedLogicalMaximum = false;
    if (logicalMaximum < globals.logicalMinimum && fixLogicalMaximum) {
      logicalMaximum = globals.logicalMaximumUnsigned;
      assumedLogicalMaximum = true;
      warnings.push(
        `report 0x${globals.reportId.toString(16).padStart(2, '0')} (${kind}): Logical Maximum ${globals.logicalMaximum} is below Logical Minimum ${globals.logicalMinimum}; read as ${logicalMaximum}`,
      );
    }
    let physicalMaximum = globals.physicalMaximum;
    if (
      fixLogicalMaximum &&
      physicalMaximum !== undefined &&
      globals.physicalMinimum !== undefined &&
      physicalMaximum < globals.physicalMinimum
    ) {
      physicalMaximum = globals.physicalMaximumUnsigned;
    }

    const padding = locals.empty;
    let arrayUsages: number[] | undefined;
    if (!padding && !variable) {
      arrayUsages = [];
      for (
        let u = locals.take();
        u !== undefined && arrayUsages.length < MAX_ARRAY_USAGES;
        u = locals.take()
      ) {
        arrayUsages.push(u);
      }
    }
    if (size === 0 && count > 0 && !padding) warn(item, 'Report Size 0: fields skipped');

    const capacity = padding || size === 0 ? 0 : Math.min(count, MAX_FIELDS - fields.length);
    if (!padding && size > 0 && capacity < count && !fieldLimitWarned) {
      warn(item, `more than ${MAX_FIELDS} fields; the rest are ignored`);
      fieldLimitWarned = true;
    }
    const collectionPath = capacity > 0 ? [...path] : [];
    for (let slot = 0; slot < capacity; slot++) {
      let usage: number;
      let usageRepeated = false;
      if (arrayUsages) usage = arrayUsages[0] ?? 0;
      else {
        const next = locals.take();
        if (next === undefined) {
          usage = locals.last ?? 0;
          usageRepeated = true;
        } else usage = next;
      }
      fields.push({
        index: fields.length,
        kind,
        reportId: globals.reportId,
        bitOffset: offset + slot * size,
        bitSize: size,
        flags,
        constant: (flags & 0x01) !== 0,
        variable,
        relative: (flags & 0x04) !== 0,
        nullState: (flags & 0x40) !== 0,
        volatile: (flags & 0x80) !== 0,
        usage,
        ...(arrayUsages && { arrayUsages }),
        usageRepeated,
        collectionPath,
        path: [...collectionPath, usage],
        logicalMinimum: globals.logicalMinimum,
        logicalMaximum,
        assumedLogicalMaximum,
        physicalMinimum: globals.physicalMinimum,
        physicalMaximum,
        unit: globals.unit,
        unitExponent: globals.unitExponent,
        stringIndex: locals.stringIndex,
        designatorIndex: locals.designatorIndex,
      });
    }
    offset += size * count;
    offsets.set(key, offset);
    locals = new LocalState();
  }

  if (pushedNodes.length > 0) warnings.push(`${pushedNodes.length} collection(s) not closed at the end`);
  if (globalStack.length > 0) warnings.push(`${globalStack.length} Push item(s) without Pop`);

  return new ReportDescriptor(bytes, items, fields, collections, numbered, warnings, offsets);
}
