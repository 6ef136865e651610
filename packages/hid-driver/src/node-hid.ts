/**
 * The node-hid transport (hidapi through node-hid 3's async API) for real UPSes.
 *
 * node-hid cannot fetch a report descriptor, so on Linux it is read from sysfs
 * (`/sys/class/hidraw/hidrawN/device/report_descriptor`, world-readable); elsewhere the caller
 * supplies it (`descriptorFile`). Interrupt reports arrive as `data` events; an unplug surfaces as
 * an `error` event or failing calls, never as a dedicated event, so the driver treats those as
 * "device gone" and re-opens by vendor/product/serial.
 */
import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type * as NodeHid from 'node-hid';
import { hex4 } from './format.ts';
import { isKnownUpsVendor, profileFor } from './profiles.ts';
import {
  DescriptorUnavailableError,
  type HidDeviceInfo,
  HidIoError,
  type HidTransport,
  HidUnavailableError,
  type TransportOpener,
  UpsNotFoundError,
  UpsPermissionError,
} from './transport.ts';
import { PAGE } from './usages.ts';

type NodeHidModule = typeof NodeHid;
let nodeHid: Promise<NodeHidModule> | undefined;

/** Loads node-hid on first use, so the package (replay, parser) works where the addon cannot load. */
export function loadNodeHid(): Promise<NodeHidModule> {
  nodeHid ??= import('node-hid').then(
    // node-hid is CommonJS: under ESM its exports arrive as `default` (and mostly as named ones).
    (mod) => ((mod as unknown as { default?: NodeHidModule }).default ?? mod) as NodeHidModule,
    (error: unknown) => {
      nodeHid = undefined;
      const code = (error as NodeJS.ErrnoException).code;
      const hint =
        code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND'
          ? 'the node-hid package is not installed where this program runs (npm install node-hid@3)'
          : 'its native library failed to load; on Debian install libusb-1.0-0 and libudev1';
      throw new HidUnavailableError(`node-hid cannot be loaded: ${hint} (${(error as Error).message})`, {
        cause: error,
      });
    },
  );
  return nodeHid;
}

export interface UpsSelector {
  vendorId?: number;
  productId?: number;
  serialNumber?: string;
  /** OS device path, e.g. `/dev/hidraw3`. */
  path?: string;
}

export interface UpsDevice extends HidDeviceInfo {
  path: string;
  /** The vendor profile the driver will use: `apc`, `cyberpower`, `eaton` or `generic`. */
  profile: string;
}

/**
 * Parses a selector as written on the command line or in configuration:
 * `auto` or empty (the first UPS), `/dev/hidraw3`, `051d:0002`, `051d:0002:SERIAL`, `051d`,
 * or `key=value` pairs separated by commas (`vendor=051d,serial=9B2019A14274`, keys vendor, product,
 * serial, path).
 */
export function parseSelector(text: string | undefined): UpsSelector {
  const input = (text ?? '').trim();
  if (input === '' || input === 'auto') return {};
  if (input.startsWith('/')) return { path: input };
  const hexId = (value: string, what: string) => {
    if (!/^(0x)?[0-9a-f]{1,4}$/i.test(value))
      throw new RangeError(`selector: ${what} '${value}' is not a 16-bit hex ID`);
    return Number.parseInt(value.replace(/^0x/i, ''), 16);
  };
  if (input.includes('=')) {
    const selector: UpsSelector = {};
    for (const part of input.split(',')) {
      const eq = part.indexOf('=');
      const key = part.slice(0, eq).trim();
      const value = part.slice(eq + 1).trim();
      if (eq < 0 || value === '') throw new RangeError(`selector: '${part}' is not key=value`);
      if (key === 'vendor' || key === 'vendorid') selector.vendorId = hexId(value, 'vendor');
      else if (key === 'product' || key === 'productid') selector.productId = hexId(value, 'product');
      else if (key === 'serial') selector.serialNumber = value;
      else if (key === 'path') selector.path = value;
      else throw new RangeError(`selector: unknown key '${key}' (vendor, product, serial, path)`);
    }
    return selector;
  }
  const [vendor, product, ...serial] = input.split(':');
  return {
    vendorId: hexId(vendor!, 'vendor'),
    ...(product !== undefined && product !== '' && { productId: hexId(product, 'product') }),
    ...(serial.length > 0 && { serialNumber: serial.join(':') }),
  };
}

export function describeSelector(selector: UpsSelector): string {
  const parts: string[] = [];
  if (selector.vendorId !== undefined) parts.push(`vendor ${hex4(selector.vendorId)}`);
  if (selector.productId !== undefined) parts.push(`product ${hex4(selector.productId)}`);
  if (selector.serialNumber !== undefined) parts.push(`serial ${selector.serialNumber}`);
  if (selector.path !== undefined) parts.push(`path ${selector.path}`);
  return parts.length > 0 ? parts.join(', ') : 'any UPS';
}

/** A HID device looks like a UPS: Power Device usage page, or a known UPS vendor/product. */
export function isUpsCandidate(device: Pick<HidDeviceInfo, 'vendorId' | 'productId' | 'usagePage'>): boolean {
  return device.usagePage === PAGE.powerDevice || isKnownUpsVendor(device);
}

export function matchesSelector(device: HidDeviceInfo, selector: UpsSelector): boolean {
  return (
    (selector.vendorId === undefined || device.vendorId === selector.vendorId) &&
    (selector.productId === undefined || device.productId === selector.productId) &&
    (selector.serialNumber === undefined || device.serialNumber?.trim() === selector.serialNumber.trim()) &&
    (selector.path === undefined || device.path === selector.path)
  );
}

function fromNodeHid(d: NodeHid.Device): HidDeviceInfo {
  return {
    vendorId: d.vendorId,
    productId: d.productId,
    ...(d.path !== undefined && { path: d.path }),
    ...(d.manufacturer && { manufacturer: d.manufacturer }),
    ...(d.product && { product: d.product }),
    ...(d.serialNumber && { serialNumber: d.serialNumber }),
    release: d.release,
    interface: d.interface,
    ...(d.usagePage !== undefined && { usagePage: d.usagePage }),
    ...(d.usage !== undefined && { usage: d.usage }),
  };
}

/** The UPSes connected to this machine (usage page 0x84, or a known UPS vendor), one per path. */
export async function listUpsDevices(): Promise<UpsDevice[]> {
  const hid = await loadNodeHid();
  const seen = new Set<string>();
  const out: UpsDevice[] = [];
  for (const device of await hid.devicesAsync()) {
    const info = fromNodeHid(device);
    if (!info.path || seen.has(info.path) || !isUpsCandidate(info)) continue;
    seen.add(info.path);
    out.push({ ...info, path: info.path, profile: profileFor(info).id });
  }
  return out;
}

/** Reads a hidraw node's report descriptor from sysfs. */
export async function readSysfsDescriptor(devicePath: string): Promise<Uint8Array> {
  const name = basename(devicePath);
  if (!/^hidraw\d+$/.test(name)) {
    throw new DescriptorUnavailableError(
      `cannot find the report descriptor of ${devicePath}: only Linux hidraw paths (/dev/hidrawN) have one in sysfs; pass descriptorFile`,
    );
  }
  const sysfs = `/sys/class/hidraw/${name}/device/report_descriptor`;
  try {
    return new Uint8Array(await readFile(sysfs));
  } catch (error) {
    throw new DescriptorUnavailableError(`cannot read ${sysfs}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

async function readDescriptorFile(file: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(file));
  } catch (error) {
    throw new DescriptorUnavailableError(`cannot read descriptorFile ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

export interface NodeHidOptions {
  /** A report descriptor file, for platforms without sysfs (or the libusb backend). */
  descriptorFile?: string;
}

/** Opens the UPS a selector names, and re-opens it after an unplug (matching vendor/product/serial). */
export function nodeHidOpener(selector: UpsSelector = {}, options: NodeHidOptions = {}): TransportOpener {
  let identity: UpsSelector | undefined;
  return {
    get description() {
      const who = identity ?? selector;
      return `UPS ${describeSelector(who)}`;
    },
    async open() {
      const transport = await openNodeHid(identity ?? selector, options);
      // After the first open, re-find the same unit even if its hidraw number changes.
      const info = transport.info;
      identity ??= {
        vendorId: info.vendorId,
        productId: info.productId,
        ...(info.serialNumber?.trim() && { serialNumber: info.serialNumber.trim() }),
        ...(selector.path && !info.serialNumber?.trim() && { path: selector.path }),
      };
      return transport;
    },
  };
}

async function openNodeHid(selector: UpsSelector, options: NodeHidOptions): Promise<HidTransport> {
  const hid = await loadNodeHid();
  const all = (await hid.devicesAsync()).map(fromNodeHid);
  let info = all.find(
    (d) => matchesSelector(d, selector) && (selector.path !== undefined || isUpsCandidate(d)),
  );
  if (!info && selector.path) {
    const exists = await stat(selector.path).then(
      () => true,
      () => false,
    );
    if (!exists) throw new UpsNotFoundError(`${selector.path} does not exist (is the UPS plugged in?)`);
    throw new UpsNotFoundError(`${selector.path} is not a HID device hidapi can enumerate`);
  }
  if (!info) {
    const candidates = all.filter((d) => isUpsCandidate(d));
    const found = candidates.length
      ? `; UPSes found: ${candidates.map((d) => `${hex4(d.vendorId)}:${hex4(d.productId)} ${d.serialNumber ?? ''} ${d.path ?? ''}`.trim()).join('; ')}`
      : '; no HID UPS is connected to this machine';
    throw new UpsNotFoundError(`no UPS matches ${describeSelector(selector)}${found}`);
  }
  const path = info.path!;
  const descriptor = options.descriptorFile
    ? await readDescriptorFile(options.descriptorFile)
    : await readSysfsDescriptor(path);
  if (path.startsWith('/dev/')) {
    await access(path, constants.R_OK | constants.W_OK).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'EACCES') {
        throw new UpsPermissionError(
          `no permission to open ${path}; install deploy/udev/70-blackstart-ups.rules and replug the UPS (or run 'udevadm trigger')`,
        );
      }
    });
  }
  let device: NodeHid.HIDAsync;
  try {
    device = await hid.HIDAsync.open(path);
  } catch (error) {
    const message = (error as Error).message;
    if (/permission denied/i.test(message)) {
      throw new UpsPermissionError(
        `no permission to open ${path}: ${message}; install deploy/udev/70-blackstart-ups.rules`,
      );
    }
    throw new UpsNotFoundError(`cannot open ${path}: ${message}`);
  }
  info = { ...info, path };
  return new NodeHidTransport(device, info, descriptor);
}

const GONE = /could not read|no such device|device not connected|disconnected|i\/o error|-19|ENODEV/i;

class NodeHidTransport implements HidTransport {
  private closed = false;

  constructor(
    private readonly device: NodeHid.HIDAsync,
    readonly info: HidDeviceInfo,
    private readonly descriptor: Uint8Array,
  ) {
    // An 'error' event without a listener would throw and take the process down; the driver's own
    // listener comes and goes with reconnects, so a permanent one guards the gaps.
    device.on('error', () => {});
  }

  private wrap(error: unknown, what: string): HidIoError {
    const message = (error as Error)?.message ?? String(error);
    return new HidIoError(`${what}: ${message}`, GONE.test(message), { cause: error });
  }

  async getReportDescriptor(): Promise<Uint8Array> {
    return Uint8Array.from(this.descriptor);
  }

  async getFeatureReport(reportId: number, length: number): Promise<Uint8Array> {
    if (this.closed) throw new HidIoError('device is closed');
    try {
      return new Uint8Array(await this.device.getFeatureReport(reportId, length));
    } catch (error) {
      throw this.wrap(error, `GET_REPORT(Feature 0x${reportId.toString(16)})`);
    }
  }

  async sendFeatureReport(data: Uint8Array): Promise<number> {
    if (this.closed) throw new HidIoError('device is closed');
    try {
      return await this.device.sendFeatureReport(Buffer.from(data));
    } catch (error) {
      throw this.wrap(error, `SET_REPORT(Feature 0x${(data[0] ?? 0).toString(16)})`);
    }
  }

  onInputReport(listener: (data: Uint8Array) => void): () => void {
    const handler = (data: Buffer) => listener(new Uint8Array(data));
    this.device.on('data', handler);
    return () => this.device.off('data', handler);
  }

  onError(listener: (error: Error) => void): () => void {
    // node-hid reports an unplug as a read error on the data stream.
    const handler = (error: unknown) =>
      listener(new HidIoError(`interrupt read: ${(error as Error)?.message ?? error}`, true));
    this.device.on('error', handler);
    return () => this.device.off('error', handler);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.device.close();
  }
}
