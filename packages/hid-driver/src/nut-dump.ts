/**
 * Reader for NUT device dumps (`.dev` files of the NUT Devices Dumps Library): the `upsc`-style
 * variables at the top, `#CMD:` and pasted `upscmd -l` command lists, and — when the comments carry a
 * `usbhid-ups -DDD` log — the USB identity, the raw report descriptor, every report transfer and
 * every `Path: …, Value: …` line NUT decoded. Those are three layers of truth the driver is tested
 * against, and enough to replay the device.
 */
import { fromHex } from './format.ts';
import type { HidDeviceInfo } from './transport.ts';

export interface NutReportLine {
  /** `get`: a full GET_REPORT; `err`: a reply of unexpected length; `buf`: NUT's buffered copy. */
  source: 'get' | 'err' | 'buf';
  bytes: Uint8Array;
  /** `init` while NUT explores the device, `update` once its update loop reads the interrupt pipe. */
  phase: 'init' | 'update';
  /** Log timestamp in seconds, when the log has them. */
  time: number | undefined;
}

export interface NutPathLine {
  path: string;
  type: 'Input' | 'Output' | 'Feature';
  reportId: number;
  offset: number;
  size: number;
  value: number;
  /** The report bytes NUT decoded this value from (the last report line before it). */
  report: Uint8Array | undefined;
  phase: 'init' | 'update';
}

export interface NutDump {
  /** `upsc` variables at the top of the file, values verbatim (end-of-line `#` comments removed). */
  variables: Record<string, string>;
  /** Instant commands from `#CMD:` lines and pasted `upscmd -l` blocks. */
  commands: string[];
  device: HidDeviceInfo | undefined;
  descriptor: Uint8Array | undefined;
  reports: NutReportLine[];
  paths: NutPathLine[];
}

const LOG_LINE = /^#\s*(?:(\d+\.\d+)\s+)?(?:\[D\d\])(.*)$/;
const VARIABLE_LINE = /^([A-Za-z0-9_.-]+):[ \t]?(.*)$/;
const PATH_LINE =
  /^Path: (\S+), Type: (Input|Output|Feature), ReportID: 0x([0-9a-fA-F]+), Offset: (\d+), Size: (\d+), Value: (\S+)/;
const REPORT_LINE = /^Report\[(get|err|buf)\]: \((\d+) bytes\) => ([0-9a-fA-F ]*)$/;
const DESCRIPTOR_LINE = /^Report Descriptor: \((\d+) bytes\) => ([0-9a-fA-F ]*)$/;
const HEX_CONTINUATION = /^\s+([0-9a-fA-F]{2}(?:\s+[0-9a-fA-F]{2})*)\s*$/;

export function parseNutDump(text: string): NutDump {
  const variables: Record<string, string> = {};
  const commands = new Set<string>();
  const reports: NutReportLine[] = [];
  const paths: NutPathLine[] = [];
  let descriptorHex: string | undefined;
  let descriptorLength = 0;
  let deviceBlock: Record<string, string> = {};
  let matched: Record<string, string> | undefined;
  let phase: 'init' | 'update' = 'init';
  let continuation: ((hex: string) => void) | undefined;
  let inCommandBlock = false;

  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trimEnd();
    if (!line.startsWith('#')) {
      continuation = undefined;
      const m = VARIABLE_LINE.exec(line);
      if (m) variables[m[1]!] = m[2]!.replace(/\t+#.*$/, '').replace(/\s+#(?:BAD|COMMENT)\b.*$/, '');
      continue;
    }
    const cmd = /^#CMD:\s*(\S+)/.exec(line);
    if (cmd) commands.add(cmd[1]!);
    if (line.includes('DEVICE:COMMENT-BLOCK:') && line.includes('UPSCMD')) inCommandBlock = true;
    else if (line.includes('DEVICE:EOC')) inCommandBlock = false;
    else if (inCommandBlock) {
      const listed = /^#\s+([a-z][a-z0-9.]+) - /.exec(line);
      if (listed) commands.add(listed[1]!);
    }

    const log = LOG_LINE.exec(line);
    if (!log) {
      continuation = undefined;
      continue;
    }
    const time = log[1] === undefined ? undefined : Number(log[1]);
    const message = log[2]!;
    const hex = HEX_CONTINUATION.exec(message);
    if (hex && continuation) {
      continuation(hex[1]!);
      continue;
    }
    continuation = undefined;
    const body = message.trim();

    if (body.includes('upsdrv_updateinfo')) phase = 'update';
    if (body.startsWith('Checking device')) deviceBlock = {};
    const field = /^- ([A-Za-z ]+): (.*)$/.exec(body);
    if (field) deviceBlock[field[1]!] = field[2]!;
    if (body === 'Device matches') matched = { ...deviceBlock };

    const desc = DESCRIPTOR_LINE.exec(body);
    if (desc) {
      descriptorLength = Number(desc[1]);
      descriptorHex = desc[2]!;
      continuation = (more) => {
        descriptorHex = `${descriptorHex} ${more}`;
      };
      continue;
    }
    const report = REPORT_LINE.exec(body);
    if (report) {
      const entry: NutReportLine = {
        source: report[1] as NutReportLine['source'],
        bytes: fromHex(report[3]!),
        phase,
        time,
      };
      reports.push(entry);
      continuation = (more) => {
        entry.bytes = concat(entry.bytes, fromHex(more));
      };
      continue;
    }
    const p = PATH_LINE.exec(body);
    if (p) {
      paths.push({
        path: p[1]!,
        type: p[2] as NutPathLine['type'],
        reportId: Number.parseInt(p[3]!, 16),
        offset: Number(p[4]),
        size: Number(p[5]),
        value: Number(p[6]),
        report: reports.at(-1)?.bytes,
        phase,
      });
    }
  }

  let descriptor: Uint8Array | undefined;
  if (descriptorHex !== undefined) {
    descriptor = fromHex(descriptorHex);
    if (descriptor.length !== descriptorLength) {
      throw new Error(
        `report descriptor in the log has ${descriptor.length} bytes, the log announces ${descriptorLength}`,
      );
    }
  }
  return {
    variables,
    commands: [...commands].sort(),
    device: deviceFrom(matched),
    descriptor,
    reports,
    paths,
  };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function deviceFrom(block: Record<string, string> | undefined): HidDeviceInfo | undefined {
  if (!block) return undefined;
  const vendorId = Number.parseInt(block.VendorID ?? '', 16);
  const productId = Number.parseInt(block.ProductID ?? '', 16);
  if (!Number.isFinite(vendorId) || !Number.isFinite(productId)) return undefined;
  const release = Number.parseInt(block['Device release number'] ?? '', 16);
  return {
    vendorId,
    productId,
    ...(block.Manufacturer && { manufacturer: block.Manufacturer }),
    ...(block.Product && { product: block.Product }),
    ...(block['Serial Number'] && { serialNumber: block['Serial Number'] }),
    ...(Number.isFinite(release) && { release }),
  };
}
