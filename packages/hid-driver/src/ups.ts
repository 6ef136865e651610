/**
 * A UPS read over USB HID: NUT-named variables, interrupt-driven status events, instant commands,
 * reconnection after an unplug, clean close. Transport-agnostic: node-hid for real devices, the
 * replay transport for fixtures.
 */
import { EventEmitter } from 'node:events';
import { decodeField, encodeLogical, engineeringToLogical } from './codec.ts';
import { type HidField, parseReportDescriptor, type ReportDescriptor } from './descriptor.ts';
import { formatApcHexDate, formatFixed, formatPdcDate, hex4 } from './format.ts';
import {
  type InstantCommand,
  PathIndex,
  type ResolvedCommand,
  type ResolvedMapping,
  type ResolvedVariable,
  resolveMapping,
  type StatusRule,
  type ValueConversion,
} from './mapping.ts';
import {
  AdjustmentState,
  applyAdjustment,
  PROFILES,
  type ProfileId,
  profileFor,
  type VendorProfile,
} from './profiles.ts';
import { MAX_REPORT_BUFFER, QUIRK_DEFAULTS, type QuirkSwitches } from './quirks.ts';
import {
  type Conditions,
  composeStatus,
  nextDebounceDeadline,
  StatusDebounce,
  type StatusOptions,
} from './status.ts';
import {
  type HidDeviceInfo,
  HidIoError,
  type HidTransport,
  type TransportOpener,
  UnsupportedDeviceError,
} from './transport.ts';
import { unitSymbol } from './units.ts';
import { UsageNames } from './usages.ts';

export interface UpsOptions {
  /** Override any quirk switch; unset ones take the vendor profile's default for this device. */
  quirks?: Partial<QuirkSwitches>;
  /** Force a vendor profile instead of choosing one by vendor/product ID. */
  profile?: ProfileId;
  /** `ups.delay.shutdown`: seconds between `load.off.delay`/`shutdown.return` and output off. */
  offDelay?: number;
  /** `ups.delay.start`: seconds after mains returns before the output comes back (> offDelay). */
  onDelay?: number;
  /** Background quick poll (status, charge, runtime, load, timers); 0 disables. Default 2000 ms. */
  pollIntervalMs?: number;
  /** Background full poll of every mapped report. Default 30 000 ms. */
  fullPollIntervalMs?: number;
  /** First reconnect attempt after an unplug; doubles up to `reconnectMaxIntervalMs`. Default 1000 ms. */
  reconnectIntervalMs?: number;
  reconnectMaxIntervalMs?: number;
  /** Clock for event timestamps and LB/RB debouncing. Default Date.now. */
  now?: () => number;
}

export type UpdateSource = 'open' | 'poll' | 'interrupt' | 'command' | 'debounce' | 'reconnect';

export interface StatusChangeEvent {
  status: string;
  previous: string | undefined;
  source: UpdateSource;
  at: number;
  variables: Readonly<Record<string, string>>;
}

export interface UpdateEvent {
  changed: string[];
  source: UpdateSource;
  at: number;
  variables: Readonly<Record<string, string>>;
}

export interface HidUpsEvents {
  status: [StatusChangeEvent];
  update: [UpdateEvent];
  disconnect: [{ error: Error; at: number }];
  reconnect: [{ attempts: number; downMs: number; at: number }];
  warning: [string];
}

export interface ExploredField {
  path: string;
  kind: HidField['kind'];
  reportId: number;
  bitOffset: number;
  bitSize: number;
  logical: number;
  value: number;
  unit: string;
}

export interface CommandDescription {
  name: InstantCommand;
  /** HID path written, or for composites the commands it runs. */
  via: string;
}

/** The UPS has been unplugged (or stopped answering); the driver is reconnecting. */
export class UpsDisconnectedError extends Error {
  override name = 'UpsDisconnectedError';
}
export class UpsClosedError extends Error {
  override name = 'UpsClosedError';
}
export class UnsupportedCommandError extends Error {
  override name = 'UnsupportedCommandError';
}

const DELAY_BETWEEN_COMMANDS_MS = 125; // some UPSes ignore a second command that follows too closely

interface Setup {
  transport: HidTransport;
  descriptor: ReportDescriptor;
  profile: VendorProfile;
  quirks: QuirkSwitches;
  index: PathIndex;
  mapping: ResolvedMapping;
  notes: string[];
  /** Input report ID → fields of that report that feed a variable or status row. */
  inputRoutes: Map<number, Array<{ field: HidField; variable?: ResolvedVariable; status: StatusRule[] }>>;
  deviceVariables: Record<string, string>;
  unsubscribe: Array<() => void>;
}

export class HidUps extends EventEmitter<HidUpsEvents> {
  private setup!: Setup;
  private state: 'opening' | 'connected' | 'disconnected' | 'closed' = 'opening';
  private readonly now: () => number;
  private conditions: Conditions = {};
  private readonly debounce = new StatusDebounce();
  private readonly adjustments = new AdjustmentState();
  private readonly values = new Map<string, number>();
  private mapped: Record<string, string> = {};
  private snapshot: Record<string, string> = {};
  private readonly featureCache = new Map<number, Uint8Array>();
  private chain: Promise<unknown> = Promise.resolve();
  private pollTimer: NodeJS.Timeout | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private lastFullPoll = 0;
  private disconnectedAt = 0;
  private reconnectAttempts = 0;
  private readonly unknownInputIds = new Set<number>();

  private constructor(
    private readonly opener: TransportOpener,
    private readonly options: UpsOptions,
  ) {
    super();
    this.now = options.now ?? Date.now;
    const off = options.offDelay;
    const on = options.onDelay;
    if (off !== undefined && !(Number.isFinite(off) && off >= 0))
      throw new RangeError('options.offDelay must be a number ≥ 0');
    if (on !== undefined && !(Number.isFinite(on) && on >= 0))
      throw new RangeError('options.onDelay must be a number ≥ 0');
  }

  /** Opens a UPS through any transport opener (node-hid, replay, or a test's own). */
  static async open(opener: TransportOpener, options: UpsOptions = {}): Promise<HidUps> {
    const ups = new HidUps(opener, options);
    const transport = await opener.open();
    try {
      await ups.attach(transport);
      await ups.poll('full', 'open');
      ups.state = 'connected';
    } catch (error) {
      ups.state = 'closed';
      ups.detach();
      await transport.close().catch(() => {});
      throw error;
    }
    ups.schedulePoll();
    return ups;
  }

  // ------------------------------------------------------------------------------------------
  // Public surface

  get info(): HidDeviceInfo {
    return this.setup.transport.info;
  }
  get profile(): VendorProfile {
    return this.setup.profile;
  }
  get quirks(): Readonly<QuirkSwitches> {
    return this.setup.quirks;
  }
  get descriptor(): ReportDescriptor {
    return this.setup.descriptor;
  }
  /** Descriptor fix-ups and other adaptations applied to this device, for diagnostics. */
  get notes(): readonly string[] {
    return this.setup.notes;
  }
  get connected(): boolean {
    return this.state === 'connected';
  }
  get closed(): boolean {
    return this.state === 'closed';
  }
  get description(): string {
    return this.opener.description;
  }

  /** The last known variables, without touching the device. */
  variables(): Record<string, string> {
    return { ...this.snapshot };
  }

  /** Polls the device and returns the current variables. Rejects while disconnected or after close. */
  read(options: { quick?: boolean } = {}): Promise<Record<string, string>> {
    return this.exclusive(async () => {
      this.assertUsable();
      await this.poll(options.quick ? 'quick' : 'full', 'poll');
      return this.variables();
    });
  }

  /** The instant commands this device supports, sorted. */
  supportedCommands(): InstantCommand[] {
    return this.describeCommands()
      .map((c) => c.name)
      .sort();
  }

  describeCommands(): CommandDescription[] {
    const { commands, variables } = this.setup.mapping;
    const out: CommandDescription[] = [...commands.values()].map((c) => ({ name: c.rule.name, via: c.path }));
    const has = (name: InstantCommand) => commands.has(name);
    if (has('load.off.delay')) out.push({ name: 'load.off', via: 'load.off.delay 0' });
    if (has('load.on.delay')) out.push({ name: 'load.on', via: 'load.on.delay 0' });
    if (has('load.on.delay') && has('load.off.delay')) {
      out.push({
        name: 'shutdown.return',
        via: 'load.on.delay ups.delay.start, then load.off.delay ups.delay.shutdown',
      });
      out.push({ name: 'shutdown.stayoff', via: 'load.on.delay -1, then load.off.delay ups.delay.shutdown' });
    } else if (has('shutdown.reboot')) {
      out.push({
        name: 'shutdown.return',
        via: `${commands.get('shutdown.reboot')!.path} = ups.delay.shutdown (reboot-style)`,
      });
    }
    if (has('beeper.enable') && has('beeper.disable') && variables.has('ups.beeper.status')) {
      out.push({
        name: 'beeper.toggle',
        via: 'beeper.enable or beeper.disable, opposite of ups.beeper.status',
      });
    }
    return out;
  }

  /**
   * Runs an instant command. `argument` overrides the delay for `load.off.delay`, `load.on.delay`,
   * `shutdown.reboot` and `shutdown.return` (seconds). Rejects with UnsupportedCommandError for a
   * command this device lacks.
   */
  runCommand(name: string, argument?: number): Promise<void> {
    return this.exclusive(async () => {
      this.assertUsable();
      const supported = this.supportedCommands();
      if (!supported.includes(name as InstantCommand)) {
        throw new UnsupportedCommandError(
          `${this.description} does not support '${name}' (supported: ${supported.join(', ') || 'none'})`,
        );
      }
      if (argument !== undefined && !Number.isFinite(argument))
        throw new RangeError(`command argument must be a number`);
      try {
        await this.execute(name as InstantCommand, argument);
      } catch (error) {
        this.checkGone(error);
        throw error;
      }
      // Like NUT, re-read everything after a write: the command may change any variable.
      await this.poll('full', 'command').catch((error) => this.checkGone(error));
    });
  }

  /** Reads every feature report (minus skipped IDs) and decodes every field: a NUT-explore-like view. */
  explore(): Promise<ExploredField[]> {
    return this.exclusive(async () => {
      this.assertUsable();
      const { descriptor, index } = this.setup;
      const payloads = new Map<number, Uint8Array>();
      for (const id of descriptor.reportIds('feature')) {
        if (this.setup.quirks.skipReportIds.includes(id)) continue;
        try {
          payloads.set(id, await this.readFeature(id));
        } catch (error) {
          if (error instanceof HidIoError && error.gone) throw this.lostDuringIo(error);
          this.emit('warning', `${this.description}: ${(error as Error).message}`);
        }
      }
      const out: ExploredField[] = [];
      for (const field of descriptor.fields) {
        const payload = payloads.get(field.reportId);
        if (!payload || field.bitSize > 52 || field.kind === 'output') continue;
        const decoded = decodeField(field, payload);
        out.push({
          path: index.pathOf.get(field.index)!,
          kind: field.kind,
          reportId: field.reportId,
          bitOffset: field.bitOffset,
          bitSize: field.bitSize,
          logical: decoded.logical,
          value: decoded.value,
          unit: unitSymbol(field.unit),
        });
      }
      return out;
    });
  }

  /** Stops polling and reconnecting, and closes the device. Safe to call twice. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.clearTimers();
    await this.chain.catch(() => {});
    this.detach();
    await this.setup.transport.close().catch(() => {});
  }

  // ------------------------------------------------------------------------------------------
  // Setup

  private async attach(transport: HidTransport): Promise<void> {
    const info = transport.info;
    const profile = this.options.profile
      ? PROFILES.find((p) => p.id === this.options.profile)
      : profileFor(info);
    if (!profile) throw new RangeError(`options.profile: unknown profile '${this.options.profile}'`);
    const quirks: QuirkSwitches = {
      ...QUIRK_DEFAULTS,
      ...profile.quirkDefaults(info),
      ...this.options.quirks,
    };
    const bytes = await transport.getReportDescriptor();
    const parsed = parseReportDescriptor(bytes, { fixLogicalMaximum: quirks.fixLogicalMaximum });
    const notes = parsed.warnings.map((w) => `descriptor: ${w}`);
    let descriptor = parsed;
    if (quirks.fixReportDescriptor) {
      const fix = profile.fixDescriptor(parsed, info);
      descriptor = fix.descriptor;
      notes.push(...fix.notes);
    }
    const index = new PathIndex(descriptor, new UsageNames(profile.usageTables));
    const mapping = resolveMapping(profile.table, index);
    if (mapping.variables.size === 0 && mapping.status.length === 0) {
      throw new UnsupportedDeviceError(
        `${this.opener.description}: the report descriptor describes no UPS data this driver knows (${descriptor.fields.length} fields, top-level usages ${descriptor.applications.map((a) => hex8(a.usage)).join(', ') || 'none'})`,
      );
    }
    const inputRoutes: Setup['inputRoutes'] = new Map();
    const variablesByPath = new Map<string, ResolvedVariable>();
    for (const resolved of mapping.variables.values())
      variablesByPath.set(resolved.path.toLowerCase(), resolved);
    const statusByPath = new Map<string, StatusRule[]>();
    for (const s of mapping.status) {
      const key = s.path.toLowerCase();
      statusByPath.set(key, [...(statusByPath.get(key) ?? []), s.rule]);
    }
    for (const field of descriptor.fields) {
      if (field.kind !== 'input' || field.bitSize > 52) continue;
      const key = index.pathOf.get(field.index)!.toLowerCase();
      const variable = variablesByPath.get(key);
      const status = statusByPath.get(key) ?? [];
      if (!variable && status.length === 0) continue;
      const routes = inputRoutes.get(field.reportId) ?? [];
      routes.push({ field, ...(variable && { variable }), status });
      inputRoutes.set(field.reportId, routes);
    }
    const deviceVariables = profile.deviceVariables(info);
    this.setup = {
      transport,
      descriptor,
      profile,
      quirks,
      index,
      mapping,
      notes,
      inputRoutes,
      deviceVariables,
      unsubscribe: [],
    };
    this.featureCache.clear();
    if (quirks.interruptPipe) {
      this.setup.unsubscribe.push(transport.onInputReport((data) => this.onInput(data)));
    }
    this.setup.unsubscribe.push(transport.onError((error) => this.lost(error)));
    for (const note of notes) this.emit('warning', note);
  }

  private detach(): void {
    if (!this.setup) return;
    for (const unsubscribe of this.setup.unsubscribe.splice(0)) unsubscribe();
  }

  private statusOptions(): StatusOptions {
    const q = this.setup.quirks;
    return {
      onlineDischarge: q.onlineDischarge,
      lowBatteryDebounceMs: q.lowBatteryDebounceMs,
      chargingAtFullIsFloat: q.chargingAtFullIsFloat,
    };
  }

  // ------------------------------------------------------------------------------------------
  // Reading

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => {});
    return run;
  }

  private assertUsable(): void {
    if (this.state === 'closed') throw new UpsClosedError(`${this.description} is closed`);
    if (this.state === 'disconnected') {
      throw new UpsDisconnectedError(
        `${this.description} disconnected ${Math.round((this.now() - this.disconnectedAt) / 1000)} s ago; reconnecting`,
      );
    }
  }

  private featureLength(reportId: number): number {
    const declared = (this.setup.descriptor.report('feature', reportId)?.byteLength ?? 0) + 1;
    return this.setup.quirks.maxReportLength ? Math.max(MAX_REPORT_BUFFER, declared) : declared;
  }

  /** GET_REPORT(Feature) → payload of exactly the declared length (or an error, per quirk switches). */
  private async readFeature(reportId: number): Promise<Uint8Array> {
    const { transport, descriptor, quirks } = this.setup;
    const bytes = await transport.getFeatureReport(reportId, this.featureLength(reportId));
    if (bytes.length === 0) throw new HidIoError(`report 0x${reportId.toString(16)}: empty reply`);
    if (descriptor.numbered && bytes[0] !== reportId) {
      throw new HidIoError(
        `report 0x${reportId.toString(16)}: reply carries report ID 0x${bytes[0]!.toString(16)}`,
      );
    }
    const declared = descriptor.report('feature', reportId)?.byteLength ?? bytes.length - 1;
    const payload = bytes.subarray(1);
    if (payload.length !== declared && !quirks.tolerateReportLength) {
      throw new HidIoError(
        `report 0x${reportId.toString(16)}: ${payload.length} data bytes, ${declared} declared (enable tolerateReportLength to accept)`,
      );
    }
    const normalized = new Uint8Array(declared);
    normalized.set(payload.subarray(0, declared));
    this.featureCache.set(reportId, normalized);
    return normalized;
  }

  /** Reads the mapped feature reports and updates variables and status. */
  private async poll(kind: 'quick' | 'full', source: UpdateSource): Promise<void> {
    const { mapping, quirks } = this.setup;
    // Input-only fields cannot be polled (node-hid has no GET_REPORT(Input)); interrupts fill them.
    const wanted = new Set<number>();
    const want = (field: HidField) => {
      if (field.kind === 'feature' && !quirks.skipReportIds.includes(field.reportId))
        wanted.add(field.reportId);
    };
    for (const v of mapping.variables.values()) if (kind === 'full' || v.rule.quick) want(v.field);
    for (const s of mapping.status) want(s.field);

    const payloads = new Map<number, Uint8Array>();
    let failures = 0;
    let lastError: unknown;
    for (const id of [...wanted].sort((a, b) => a - b)) {
      try {
        payloads.set(id, await this.readFeature(id));
      } catch (error) {
        if (error instanceof HidIoError && error.gone) throw this.lostDuringIo(error);
        failures++;
        lastError = error;
        this.emit('warning', `${this.description}: ${(error as Error).message}`);
      }
    }
    if (wanted.size > 0 && payloads.size === 0) {
      // Nothing answered at all: treat it like an unplug, as NUT does.
      const detail = lastError instanceof Error ? lastError.message : String(lastError);
      throw this.lostDuringIo(
        new HidIoError(`no feature report could be read (${failures} failed; last: ${detail})`, true),
      );
    }

    const variableUpdates: Array<[ResolvedVariable, Uint8Array]> = [];
    for (const v of mapping.variables.values()) {
      const payload = payloads.get(v.field.reportId);
      if (payload && v.field.kind === 'feature' && (kind === 'full' || v.rule.quick))
        variableUpdates.push([v, payload]);
    }
    this.applyVariables(variableUpdates);
    for (const s of mapping.status) {
      const payload = payloads.get(s.field.reportId);
      if (payload && s.field.kind === 'feature') this.applyStatus(s.rule, s.field, payload);
    }
    if (kind === 'full') this.lastFullPoll = this.now();
    this.publish(source);
  }

  private sourceValue(
    field: HidField,
    payload: Uint8Array,
  ): { logical: number; value: number; enumValue: number } {
    const decoded = decodeField(field, payload);
    return {
      logical: decoded.logical,
      value: decoded.value,
      enumValue: this.setup.quirks.enumsIgnoreUnits ? decoded.logical : decoded.value,
    };
  }

  private applyVariables(updates: Array<[ResolvedVariable, Uint8Array]>): void {
    // Rows without a vendor correction first: a correction may compare against another variable.
    const ordered = [...updates].sort(
      (a, b) => Number(hasAdjustment(a[0].rule.convert)) - Number(hasAdjustment(b[0].rule.convert)),
    );
    for (const [resolved, payload] of ordered) {
      const { value, enumValue } = this.sourceValue(resolved.field, payload);
      const text = this.convert(resolved.rule.name, resolved.rule.convert, value, enumValue);
      if (text === undefined) delete this.mapped[resolved.rule.name];
      else this.mapped[resolved.rule.name] = text;
    }
  }

  private convert(
    name: string,
    convert: ValueConversion,
    value: number,
    enumValue: number,
  ): string | undefined {
    switch (convert.kind) {
      case 'quantity': {
        let x = value * (convert.scale ?? 1);
        if (convert.adjust) {
          x = applyAdjustment(convert.adjust, x, {
            quirks: this.setup.quirks,
            device: this.setup.transport.info,
            state: this.adjustments,
            valueOf: (other) => this.values.get(other),
          });
        }
        this.values.set(name, x);
        return formatFixed(x, convert.decimals);
      }
      case 'celsius': {
        const celsius = value - 273.15;
        this.values.set(name, celsius);
        return formatFixed(celsius, convert.decimals);
      }
      case 'lookup':
        return Number.isInteger(enumValue) ? convert.table[enumValue] : undefined;
      case 'pdcDate':
        return formatPdcDate(enumValue);
      case 'apcHexDate':
        return formatApcHexDate(enumValue);
    }
  }

  private applyStatus(rule: StatusRule, field: HidField, payload: Uint8Array): void {
    const { enumValue } = this.sourceValue(field, payload);
    const next = rule.map ? rule.map[enumValue] : enumValue !== 0;
    if (next !== undefined) this.conditions[rule.condition] = next;
  }

  private onInput(data: Uint8Array): void {
    if (this.state !== 'connected') return;
    const { descriptor, inputRoutes } = this.setup;
    const reportId = descriptor.numbered ? (data[0] ?? 0) : 0;
    const layout = descriptor.report('input', reportId);
    if (!layout) {
      if (!this.unknownInputIds.has(reportId)) {
        this.unknownInputIds.add(reportId);
        this.emit(
          'warning',
          `${this.description}: interrupt report 0x${reportId.toString(16)} is not in the descriptor; ignored`,
        );
      }
      return;
    }
    // Only the declared length counts: some stacks hand over a larger buffer with garbage after it.
    const payload = new Uint8Array(layout.byteLength);
    payload.set((descriptor.numbered ? data.subarray(1) : data).subarray(0, layout.byteLength));
    const routes = inputRoutes.get(reportId);
    if (!routes) return;
    const updates: Array<[ResolvedVariable, Uint8Array]> = [];
    for (const route of routes) {
      if (route.variable) updates.push([{ ...route.variable, field: route.field }, payload]);
      for (const rule of route.status) this.applyStatus(rule, route.field, payload);
    }
    this.applyVariables(updates);
    this.publish('interrupt');
  }

  /** Recomposes the snapshot and emits `update` / `status` for what changed. */
  private publish(source: UpdateSource): void {
    const at = this.now();
    const statusOptions = this.statusOptions();
    const status = composeStatus(
      this.conditions,
      this.values.get('battery.charge'),
      statusOptions,
      this.debounce,
      at,
    );
    const { profile, mapping } = this.setup;
    const next: Record<string, string> = { ...this.setup.deviceVariables };
    const offDelay = this.options.offDelay ?? profile.offDelay;
    const onDelay = this.options.onDelay ?? profile.onDelay;
    if (mapping.commands.has('load.off.delay') || mapping.commands.has('shutdown.reboot')) {
      next['ups.delay.shutdown'] = String(offDelay);
    }
    if (mapping.commands.has('load.on.delay')) next['ups.delay.start'] = String(onDelay);
    Object.assign(next, this.mapped);
    next['ups.status'] = status.tokens.join(' ');
    if (status.alarms.length > 0) next['ups.alarm'] = status.alarms.join(' ');
    if (status.transferReason) next['input.transfer.reason'] = status.transferReason;
    const sorted: Record<string, string> = {};
    for (const key of Object.keys(next).sort()) sorted[key] = next[key]!;

    const previous = this.snapshot;
    const changed = Object.keys(sorted).filter((k) => previous[k] !== sorted[k]);
    for (const k of Object.keys(previous)) if (!(k in sorted)) changed.push(k);
    this.snapshot = sorted;
    this.scheduleDebounce(statusOptions);
    if (source === 'open' || changed.length === 0) return;
    const variables = this.variables();
    this.emit('update', { changed, source, at, variables });
    if (previous['ups.status'] !== sorted['ups.status']) {
      this.emit('status', {
        status: sorted['ups.status']!,
        previous: previous['ups.status'],
        source,
        at,
        variables,
      });
    }
  }

  private scheduleDebounce(statusOptions: StatusOptions): void {
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.debounceTimer = undefined;
    const deadline = nextDebounceDeadline(this.debounce, statusOptions);
    if (deadline === undefined || this.state !== 'connected') return;
    this.debounceTimer = setTimeout(
      () => {
        this.debounceTimer = undefined;
        if (this.state === 'connected') this.publish('debounce');
      },
      Math.max(0, deadline - this.now()) + 1,
    );
    this.debounceTimer.unref();
  }

  // ------------------------------------------------------------------------------------------
  // Commands

  private resolvedCommand(name: InstantCommand): ResolvedCommand {
    const command = this.setup.mapping.commands.get(name);
    if (!command) throw new UnsupportedCommandError(`${this.description} does not support '${name}'`);
    return command;
  }

  private async execute(name: InstantCommand, argument: number | undefined): Promise<void> {
    const profile = this.setup.profile;
    const offDelay = this.options.offDelay ?? profile.offDelay;
    const onDelay = this.options.onDelay ?? profile.onDelay;
    const commands = this.setup.mapping.commands;
    switch (name) {
      case 'load.off':
        return this.writeCommand(this.resolvedCommand('load.off.delay'), 0);
      case 'load.on':
        return this.writeCommand(this.resolvedCommand('load.on.delay'), 0);
      case 'shutdown.return':
        if (commands.has('load.on.delay') && commands.has('load.off.delay')) {
          const off = argument ?? offDelay;
          // The startup delay must outlast the shutdown delay, or some units switch the output
          // back on before the shutdown and then stay off for good (NUT requires ondelay > offdelay).
          let on = onDelay;
          if (on <= off) {
            on = off + Math.max(1, profile.onDelay - profile.offDelay);
            this.emit(
              'warning',
              `${this.description}: shutdown.return: startup delay ${onDelay} s is not longer than the shutdown delay ${off} s; using ${on} s`,
            );
          }
          await this.setAutoStart(1);
          await this.writeCommand(this.resolvedCommand('load.on.delay'), on);
          await sleep(DELAY_BETWEEN_COMMANDS_MS);
          return this.writeCommand(this.resolvedCommand('load.off.delay'), off);
        }
        // APC Back-UPS without startup delay: "reboot" turns the output off after the delay and
        // back on once mains is present, which is what shutdown.return means.
        return this.writeCommand(this.resolvedCommand('shutdown.reboot'), argument ?? offDelay);
      case 'shutdown.stayoff':
        await this.setAutoStart(0);
        await this.writeCommand(this.resolvedCommand('load.on.delay'), -1);
        await sleep(DELAY_BETWEEN_COMMANDS_MS);
        return this.writeCommand(this.resolvedCommand('load.off.delay'), argument ?? offDelay);
      case 'beeper.toggle': {
        const field = this.setup.mapping.variables.get('ups.beeper.status')!.field;
        const payload = await this.readFeature(field.reportId);
        const enabled = this.sourceValue(field, payload).enumValue === 2;
        return this.writeCommand(
          this.resolvedCommand(enabled ? 'beeper.disable' : 'beeper.enable'),
          undefined,
        );
      }
      default: {
        const command = this.resolvedCommand(name);
        const value = command.rule.value;
        const isDelay = value === 'offDelay' || value === 'onDelay' || name === 'shutdown.reboot';
        if (argument !== undefined && !isDelay) throw new RangeError(`'${name}' takes no argument`);
        return this.writeCommand(command, argument);
      }
    }
  }

  /** Eaton's AutomaticRestart must allow the restart for shutdown.return to come back. */
  private async setAutoStart(logical: 0 | 1): Promise<void> {
    const resolved = this.setup.mapping.variables.get('ups.start.auto');
    if (resolved && resolved.field.kind === 'feature') await this.writeField(resolved.field, logical);
  }

  private async writeCommand(command: ResolvedCommand, argument: number | undefined): Promise<void> {
    const profile = this.setup.profile;
    const rule = command.rule;
    let value: number;
    if (argument !== undefined) value = argument;
    else if (rule.value === 'offDelay') value = this.options.offDelay ?? profile.offDelay;
    else if (rule.value === 'onDelay') value = this.options.onDelay ?? profile.onDelay;
    else value = rule.value;
    const logical = rule.units === 'engineering' ? engineeringToLogical(command.field, value) : value;
    await this.writeField(command.field, logical);
  }

  /** Read-modify-write of the whole report, so other fields keep their current values. */
  private async writeField(field: HidField, logical: number): Promise<void> {
    const { transport, descriptor } = this.setup;
    let payload: Uint8Array;
    try {
      payload = Uint8Array.from(await this.readFeature(field.reportId));
    } catch (error) {
      if (error instanceof HidIoError && error.gone) throw error;
      const cached = this.featureCache.get(field.reportId);
      payload = cached
        ? Uint8Array.from(cached)
        : new Uint8Array(descriptor.report('feature', field.reportId)?.byteLength ?? 0);
    }
    encodeLogical(field, payload, logical);
    const data = new Uint8Array(payload.length + 1);
    data[0] = field.reportId;
    data.set(payload, 1);
    await transport.sendFeatureReport(data);
    this.featureCache.set(field.reportId, payload);
  }

  // ------------------------------------------------------------------------------------------
  // Background polling and reconnection

  private schedulePoll(): void {
    const interval = this.options.pollIntervalMs ?? 2000;
    if (interval <= 0 || this.state === 'closed') return;
    this.pollTimer = setTimeout(() => {
      this.pollTimer = undefined;
      if (this.state !== 'connected') return;
      const full = this.now() - this.lastFullPoll >= (this.options.fullPollIntervalMs ?? 30_000);
      this.exclusive(() =>
        this.state === 'connected' ? this.poll(full ? 'full' : 'quick', 'poll') : Promise.resolve(),
      )
        .catch((error: unknown) => {
          if (!(error instanceof UpsDisconnectedError))
            this.emit('warning', `${this.description}: poll failed: ${(error as Error).message}`);
        })
        .finally(() => {
          if (this.state === 'connected') this.schedulePoll();
        });
    }, interval);
    this.pollTimer.unref();
  }

  private checkGone(error: unknown): void {
    if (error instanceof HidIoError && error.gone) this.lost(error);
  }

  /** While connected an I/O loss starts reconnection; while opening or reconnecting it is just an error. */
  private lostDuringIo(error: Error): Error {
    if (this.state !== 'connected') return error;
    this.lost(error);
    return new UpsDisconnectedError(`${this.description} disconnected: ${error.message}`, { cause: error });
  }

  /** The device went away: close it, tell listeners, and start reconnecting. */
  private lost(error: Error): void {
    if (this.state !== 'connected') return;
    this.state = 'disconnected';
    this.disconnectedAt = this.now();
    this.reconnectAttempts = 0;
    this.clearTimers();
    this.detach();
    const transport = this.setup.transport;
    void transport.close().catch(() => {});
    this.emit('disconnect', { error, at: this.disconnectedAt });
    this.scheduleReconnect(this.options.reconnectIntervalMs ?? 1000);
  }

  private scheduleReconnect(delay: number): void {
    if (this.state !== 'disconnected') return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.tryReconnect(delay);
    }, delay);
    this.reconnectTimer.unref();
  }

  private async tryReconnect(lastDelay: number): Promise<void> {
    if (this.state !== 'disconnected') return;
    this.reconnectAttempts++;
    let transport: HidTransport | undefined;
    try {
      transport = await this.opener.open();
      if (this.state !== 'disconnected') {
        await transport.close();
        return;
      }
      // State stays 'disconnected' until the first poll succeeded: a failure here is just a failed attempt.
      await this.attach(transport);
      await this.poll('full', 'reconnect');
      if (this.state !== 'disconnected') {
        this.detach();
        await transport.close();
        return;
      }
      this.state = 'connected';
    } catch (error) {
      if (this.closed) return;
      this.detach();
      if (transport) await transport.close().catch(() => {});
      const next = Math.min(lastDelay * 2, this.options.reconnectMaxIntervalMs ?? 30_000);
      if (!(error instanceof UpsDisconnectedError) && this.reconnectAttempts === 1) {
        this.emit('warning', `${this.description}: reconnect failed: ${(error as Error).message}`);
      }
      this.scheduleReconnect(next);
      return;
    }
    const at = this.now();
    this.emit('reconnect', { attempts: this.reconnectAttempts, downMs: at - this.disconnectedAt, at });
    this.schedulePoll();
  }

  private clearTimers(): void {
    for (const timer of [this.pollTimer, this.debounceTimer, this.reconnectTimer])
      if (timer) clearTimeout(timer);
    this.pollTimer = this.debounceTimer = this.reconnectTimer = undefined;
  }
}

function hasAdjustment(convert: ValueConversion): boolean {
  return convert.kind === 'quantity' && convert.adjust !== undefined;
}

function hex8(usage: number): string {
  return `${hex4(usage >>> 16)}:${hex4(usage & 0xffff)}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
