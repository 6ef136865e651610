/**
 * The transport seam: everything the driver needs from a HID device, implemented by node-hid
 * (a real UPS), the replay transport (recorded fixtures) and the recorder (a wrapper that captures
 * a fixture while it forwards to another transport).
 */

export interface HidDeviceInfo {
  vendorId: number;
  productId: number;
  /** OS path (`/dev/hidraw3` on Linux with the hidraw backend). */
  path?: string;
  manufacturer?: string;
  product?: string;
  serialNumber?: string;
  release?: number;
  interface?: number;
  /** Top-level collection usage page/usage from enumeration (0x84/0x04 for a UPS). */
  usagePage?: number;
  usage?: number;
}

export interface HidTransport {
  readonly info: HidDeviceInfo;
  getReportDescriptor(): Promise<Uint8Array>;
  /** GET_REPORT(Feature). The result starts with the report ID byte (0 for unnumbered reports). */
  getFeatureReport(reportId: number, length: number): Promise<Uint8Array>;
  /** SET_REPORT(Feature); `data[0]` is the report ID. Resolves to the number of bytes written. */
  sendFeatureReport(data: Uint8Array): Promise<number>;
  /** Interrupt-IN reports, as delivered (numbered reports start with their ID). Returns an unsubscribe. */
  onInputReport(listener: (data: Uint8Array) => void): () => void;
  /** Asynchronous failures of the input stream (unplug). Returns an unsubscribe. */
  onError(listener: (error: Error) => void): () => void;
  close(): Promise<void>;
}

/** Opens (and after an unplug, re-opens) the same UPS. */
export interface TransportOpener {
  /** A short description for messages: `UPS 051d:0002 serial 9B20…` or `replay of file.dev`. */
  readonly description: string;
  open(): Promise<HidTransport>;
}

/** No device matches the selector (or the replayed device is unplugged). */
export class UpsNotFoundError extends Error {
  override name = 'UpsNotFoundError';
}

/** The device exists but this user may not open it (missing udev rule). */
export class UpsPermissionError extends Error {
  override name = 'UpsPermissionError';
}

/** The report descriptor could not be obtained. */
export class DescriptorUnavailableError extends Error {
  override name = 'DescriptorUnavailableError';
}

/** An I/O failure talking to an open device; `gone` when the device has disappeared. */
export class HidIoError extends Error {
  override name = 'HidIoError';
  constructor(
    message: string,
    readonly gone = false,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The descriptor does not describe a UPS this driver can read. */
export class UnsupportedDeviceError extends Error {
  override name = 'UnsupportedDeviceError';
}

/** The native node-hid module cannot be loaded on this system. */
export class HidUnavailableError extends Error {
  override name = 'HidUnavailableError';
}
