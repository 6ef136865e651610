/**
 * Blackstart HID fixtures: a recorded UPS (identity, report descriptor, the bytes of every feature
 * report, timed interrupt reports, and the variables the driver derived when it was recorded), as
 * JSON. `blackstart hid record` writes them from a real device for bug reports; the replay transport
 * plays them back. NUT device dumps that carry a `usbhid-ups -DDD` log convert to the same shape.
 */
import { readFile } from 'node:fs/promises';
import { parseReportDescriptor } from './descriptor.ts';
import { fromHex, toHex } from './format.ts';
import { parseNutDump } from './nut-dump.ts';
import type { HidDeviceInfo } from './transport.ts';

export const FIXTURE_FORMAT = 'blackstart-hid-fixture';

export interface HidFixture {
  format: typeof FIXTURE_FORMAT;
  version: 1;
  description?: string;
  device: HidDeviceInfo;
  /** Report descriptor, hex. */
  descriptor: string;
  /** Feature report ID (decimal or `0x..`) → the bytes the device returns, report ID byte first, hex. */
  features: Record<string, string>;
  /** Interrupt-IN reports, played `afterMs` after the driver starts listening. */
  inputs?: Array<{ afterMs: number; data: string }>;
  /** What the driver read when the fixture was recorded (or what NUT reported, for converted dumps). */
  expect?: { variables?: Record<string, string>; commands?: string[] };
}

/** Thrown for fixture files that cannot be replayed; the message names the offending field. */
export class FixtureError extends Error {
  override name = 'FixtureError';
}

function fail(where: string, message: string): never {
  throw new FixtureError(`${where}: ${message}`);
}

function checkHex(where: string, value: unknown): Uint8Array {
  if (typeof value !== 'string') fail(where, 'must be a hex string');
  try {
    return fromHex(value);
  } catch (error) {
    return fail(where, (error as Error).message);
  }
}

function checkId(where: string, value: unknown, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    fail(where, `must be an integer 0..${max}`);
  }
  return value;
}

export function parseReportIdKey(key: string): number | undefined {
  const n = /^0x[0-9a-f]+$/i.test(key)
    ? Number.parseInt(key.slice(2), 16)
    : /^\d+$/.test(key)
      ? Number(key)
      : NaN;
  return Number.isInteger(n) && n >= 0 && n <= 255 ? n : undefined;
}

/** Validates an object read from JSON; throws FixtureError naming the first bad field. */
export function validateFixture(input: unknown, where = 'fixture'): HidFixture {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    fail(where, 'must be a JSON object');
  const f = input as Record<string, unknown>;
  if (f.format !== FIXTURE_FORMAT) fail(`${where}.format`, `must be '${FIXTURE_FORMAT}'`);
  if (f.version !== 1) fail(`${where}.version`, 'must be 1');
  if (f.description !== undefined && typeof f.description !== 'string')
    fail(`${where}.description`, 'must be a string');
  const device = f.device as Record<string, unknown> | undefined;
  if (typeof device !== 'object' || device === null) fail(`${where}.device`, 'must be an object');
  checkId(`${where}.device.vendorId`, device.vendorId, 0xffff);
  checkId(`${where}.device.productId`, device.productId, 0xffff);
  for (const key of ['path', 'manufacturer', 'product', 'serialNumber'] as const) {
    if (device[key] !== undefined && typeof device[key] !== 'string')
      fail(`${where}.device.${key}`, 'must be a string');
  }
  checkHex(`${where}.descriptor`, f.descriptor);
  if (typeof f.features !== 'object' || f.features === null || Array.isArray(f.features)) {
    fail(`${where}.features`, 'must be an object of report ID → hex bytes');
  }
  for (const [key, value] of Object.entries(f.features)) {
    const id = parseReportIdKey(key);
    if (id === undefined) fail(`${where}.features`, `key '${key}' is not a report ID 0..255`);
    const bytes = checkHex(`${where}.features.${key}`, value);
    if (bytes.length === 0 || bytes[0] !== id)
      fail(`${where}.features.${key}`, 'must start with its report ID byte');
  }
  if (f.inputs !== undefined) {
    if (!Array.isArray(f.inputs)) fail(`${where}.inputs`, 'must be an array');
    f.inputs.forEach((entry: unknown, i) => {
      const e = entry as Record<string, unknown>;
      if (typeof e !== 'object' || e === null) fail(`${where}.inputs[${i}]`, 'must be an object');
      if (typeof e.afterMs !== 'number' || !(e.afterMs >= 0))
        fail(`${where}.inputs[${i}].afterMs`, 'must be a number ≥ 0');
      checkHex(`${where}.inputs[${i}].data`, e.data);
    });
  }
  if (f.expect !== undefined) {
    const e = f.expect as Record<string, unknown>;
    if (typeof e !== 'object' || e === null) fail(`${where}.expect`, 'must be an object');
    if (e.variables !== undefined) {
      if (typeof e.variables !== 'object' || e.variables === null)
        fail(`${where}.expect.variables`, 'must be an object');
      for (const [k, val] of Object.entries(e.variables)) {
        if (typeof val !== 'string') fail(`${where}.expect.variables.${k}`, 'must be a string');
      }
    }
    if (
      e.commands !== undefined &&
      (!Array.isArray(e.commands) || e.commands.some((c) => typeof c !== 'string'))
    ) {
      fail(`${where}.expect.commands`, 'must be an array of strings');
    }
  }
  return input as HidFixture;
}

/**
 * Turns a NUT device dump with a `usbhid-ups -DDD` log into a fixture: the first reply NUT got for
 * each report ID during its exploration becomes the feature report (short replies stay short, as
 * the device sent them); replies read by its update loop are interrupt reports, cut to the
 * declared input length (NUT's libusb reads report 512 bytes of stack garbage after them).
 */
export function fixtureFromNutDump(text: string, description?: string): HidFixture {
  const dump = parseNutDump(text);
  if (!dump.descriptor || !dump.device) {
    throw new FixtureError(
      'this NUT dump has no usbhid-ups -DDD log with the device identity and report descriptor; only such dumps can be replayed',
    );
  }
  const descriptor = parseReportDescriptor(dump.descriptor);
  const features: Record<string, string> = {};
  const inputs: Array<{ afterMs: number; data: string }> = [];
  let firstInputTime: number | undefined;
  for (const report of dump.reports) {
    if (report.source === 'buf' || report.bytes.length === 0) continue;
    const id = report.bytes[0]!;
    if (report.phase === 'init') {
      const key = `0x${id.toString(16).padStart(2, '0')}`;
      features[key] ??= toHex(report.bytes);
      continue;
    }
    const declared = descriptor.report('input', id)?.byteLength;
    const bytes = declared === undefined ? report.bytes : report.bytes.subarray(0, declared + 1);
    firstInputTime ??= report.time;
    const afterMs =
      report.time !== undefined && firstInputTime !== undefined
        ? Math.round((report.time - firstInputTime) * 1000)
        : 0;
    inputs.push({ afterMs, data: toHex(bytes) });
  }
  return {
    format: FIXTURE_FORMAT,
    version: 1,
    ...(description && { description }),
    device: dump.device,
    descriptor: toHex(dump.descriptor),
    features,
    ...(inputs.length > 0 && { inputs }),
    expect: { variables: dump.variables, ...(dump.commands.length > 0 && { commands: dump.commands }) },
  };
}

/** Reads a fixture file: Blackstart JSON, or a NUT `.dev` dump with a `usbhid-ups -DDD` log. */
export async function loadFixtureFile(path: string): Promise<HidFixture> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new FixtureError(`cannot read ${path}: ${(error as Error).message}`);
  }
  if (text.trimStart().startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new FixtureError(`${path} is not valid JSON: ${(error as Error).message}`);
    }
    return validateFixture(json, path);
  }
  try {
    return fixtureFromNutDump(text, `converted from ${path}`);
  } catch (error) {
    if (error instanceof FixtureError) throw new FixtureError(`${path}: ${error.message}`);
    throw new FixtureError(`${path}: ${(error as Error).message}`);
  }
}
