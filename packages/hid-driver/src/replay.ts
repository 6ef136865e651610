/**
 * Replay and record transports.
 *
 * `ReplayDevice` plays a fixture back as if it were the UPS: feature reads return the recorded
 * bytes (short replies stay short; a reply longer than the requested buffer fails like the USB
 * overflow NUT documents for some APC units), feature writes are logged and change what later reads
 * return, interrupt reports are played on their recorded schedule or injected on demand, and the
 * device can be unplugged and plugged back in to exercise reconnection.
 *
 * `RecordingTransport` wraps any transport (a real UPS) and captures a fixture from what passes.
 */
import { FIXTURE_FORMAT, type HidFixture, parseReportIdKey } from './fixture.ts';
import { fromHex, hex4, toHex } from './format.ts';
import {
  type HidDeviceInfo,
  HidIoError,
  type HidTransport,
  type TransportOpener,
  UpsNotFoundError,
} from './transport.ts';

export interface ReplayOptions {
  /** Play the fixture's recorded interrupt reports once a listener subscribes (default true). */
  playInputs?: boolean;
}

export class ReplayDevice {
  readonly info: HidDeviceInfo;
  readonly descriptor: Uint8Array;
  /** Every SET_REPORT(Feature) the driver sent, in order. */
  readonly writes: Uint8Array[] = [];
  /** When each write arrived (performance.now() milliseconds). */
  readonly writeTimes: number[] = [];
  /** Every GET_REPORT(Feature) the driver asked for: report ID and buffer length. */
  readonly reads: Array<{ reportId: number; length: number }> = [];
  private readonly features = new Map<number, Uint8Array>();
  private readonly open = new Set<ReplayTransport>();
  private pluggedIn = true;
  private stalled = false;

  constructor(
    readonly fixture: HidFixture,
    private readonly options: ReplayOptions = {},
  ) {
    this.info = {
      ...fixture.device,
      path:
        fixture.device.path ?? `replay:${hex4(fixture.device.vendorId)}:${hex4(fixture.device.productId)}`,
    };
    this.descriptor = fromHex(fixture.descriptor);
    for (const [key, hex] of Object.entries(fixture.features)) {
      const id = parseReportIdKey(key);
      if (id !== undefined) this.features.set(id, fromHex(hex));
    }
  }

  get plugged(): boolean {
    return this.pluggedIn;
  }

  get openTransports(): number {
    return this.open.size;
  }

  /** The device disappears: open transports fail, opening fails until `replug()`. */
  unplug(): void {
    this.pluggedIn = false;
    for (const transport of [...this.open]) transport.gone();
  }

  replug(): void {
    this.pluggedIn = true;
  }

  /** The device hangs (still enumerated, nothing answers) until `stall(false)`. */
  stall(on = true): void {
    this.stalled = on;
  }

  /** Delivers an interrupt-IN report to every open transport now. */
  injectInput(data: Uint8Array): void {
    for (const transport of this.open) transport.deliver(data);
  }

  /** Changes what the device answers for a feature report (the UPS state moved on). */
  setFeatureReport(data: Uint8Array): void {
    if (data.length === 0) throw new RangeError('a feature report needs at least its report ID byte');
    this.features.set(data[0]!, Uint8Array.from(data));
  }

  featureReport(reportId: number): Uint8Array | undefined {
    const bytes = this.features.get(reportId);
    return bytes && Uint8Array.from(bytes);
  }

  opener(): TransportOpener {
    return {
      description: `replay of ${this.fixture.description ?? `${hex4(this.info.vendorId)}:${hex4(this.info.productId)}`}`,
      open: async () => {
        if (!this.pluggedIn)
          throw new UpsNotFoundError(
            `replayed UPS ${hex4(this.info.vendorId)}:${hex4(this.info.productId)} is unplugged`,
          );
        const transport = new ReplayTransport(this, this.options.playInputs ?? true);
        this.open.add(transport);
        return transport;
      },
    };
  }

  /** @internal */
  closed(transport: ReplayTransport): void {
    this.open.delete(transport);
  }

  /** @internal */
  read(reportId: number, length: number): Uint8Array {
    this.reads.push({ reportId, length });
    if (this.stalled)
      throw new HidIoError(`report 0x${reportId.toString(16)}: timed out (the device does not answer)`);
    const bytes = this.features.get(reportId);
    if (!bytes)
      throw new HidIoError(`report 0x${reportId.toString(16)}: the device does not answer (not recorded)`);
    if (bytes.length > length) {
      throw new HidIoError(
        `report 0x${reportId.toString(16)}: the device sent ${bytes.length} bytes into a ${length}-byte buffer (overflow)`,
      );
    }
    return Uint8Array.from(bytes);
  }

  /** @internal */
  write(data: Uint8Array): number {
    this.writes.push(Uint8Array.from(data));
    this.writeTimes.push(performance.now());
    this.features.set(data[0]!, Uint8Array.from(data));
    return data.length;
  }
}

class ReplayTransport implements HidTransport {
  private readonly inputListeners = new Set<(data: Uint8Array) => void>();
  private readonly errorListeners = new Set<(error: Error) => void>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private state: 'open' | 'gone' | 'closed' = 'open';
  private played = false;

  constructor(
    private readonly device: ReplayDevice,
    private readonly playInputs: boolean,
  ) {}

  get info(): HidDeviceInfo {
    return this.device.info;
  }

  private check(): void {
    if (this.state === 'closed') throw new HidIoError('device is closed');
    if (this.state === 'gone') throw new HidIoError('device disconnected', true);
  }

  async getReportDescriptor(): Promise<Uint8Array> {
    this.check();
    return Uint8Array.from(this.device.descriptor);
  }

  async getFeatureReport(reportId: number, length: number): Promise<Uint8Array> {
    this.check();
    return this.device.read(reportId, length);
  }

  async sendFeatureReport(data: Uint8Array): Promise<number> {
    this.check();
    if (data.length === 0) throw new HidIoError('empty feature report');
    return this.device.write(data);
  }

  onInputReport(listener: (data: Uint8Array) => void): () => void {
    this.inputListeners.add(listener);
    if (this.playInputs && !this.played) {
      this.played = true;
      for (const input of this.device.fixture.inputs ?? []) {
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          this.deliver(fromHex(input.data));
        }, input.afterMs);
        timer.unref();
        this.timers.add(timer);
      }
    }
    return () => this.inputListeners.delete(listener);
  }

  onError(listener: (error: Error) => void): () => void {
    this.errorListeners.add(listener);
    return () => this.errorListeners.delete(listener);
  }

  deliver(data: Uint8Array): void {
    if (this.state !== 'open') return;
    for (const listener of this.inputListeners) listener(Uint8Array.from(data));
  }

  gone(): void {
    if (this.state !== 'open') return;
    this.state = 'gone';
    this.stopTimers();
    const error = new HidIoError('could not read from HID device (unplugged)', true);
    for (const listener of this.errorListeners) listener(error);
  }

  private stopTimers(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  async close(): Promise<void> {
    this.state = 'closed';
    this.stopTimers();
    this.inputListeners.clear();
    this.errorListeners.clear();
    this.device.closed(this);
  }
}

/** Forwards to another transport and remembers what passed, to write a fixture. */
export class RecordingTransport implements HidTransport {
  private descriptor: Uint8Array | undefined;
  private readonly features = new Map<number, Uint8Array>();
  private readonly inputs: Array<{ afterMs: number; data: string }> = [];
  private readonly started = Date.now();

  constructor(private readonly inner: HidTransport) {
    inner.onInputReport((data) => {
      this.inputs.push({ afterMs: Date.now() - this.started, data: toHex(data) });
    });
  }

  get info(): HidDeviceInfo {
    return this.inner.info;
  }

  async getReportDescriptor(): Promise<Uint8Array> {
    this.descriptor = await this.inner.getReportDescriptor();
    return this.descriptor;
  }

  async getFeatureReport(reportId: number, length: number): Promise<Uint8Array> {
    const bytes = await this.inner.getFeatureReport(reportId, length);
    if (bytes.length > 0) this.features.set(reportId, Uint8Array.from(bytes));
    return bytes;
  }

  sendFeatureReport(data: Uint8Array): Promise<number> {
    return this.inner.sendFeatureReport(data);
  }

  onInputReport(listener: (data: Uint8Array) => void): () => void {
    return this.inner.onInputReport(listener);
  }

  onError(listener: (error: Error) => void): () => void {
    return this.inner.onError(listener);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  toFixture(expect: HidFixture['expect'], description?: string): HidFixture {
    if (!this.descriptor) throw new Error('nothing recorded: the report descriptor was never read');
    const features: Record<string, string> = {};
    for (const [id, bytes] of [...this.features].sort((a, b) => a[0] - b[0])) {
      features[`0x${id.toString(16).padStart(2, '0')}`] = toHex(bytes);
    }
    const { path: _path, ...device } = this.info;
    return {
      format: FIXTURE_FORMAT,
      version: 1,
      ...(description && { description }),
      device,
      descriptor: toHex(this.descriptor),
      features,
      ...(this.inputs.length > 0 && { inputs: [...this.inputs] }),
      ...(expect && { expect }),
    };
  }
}
