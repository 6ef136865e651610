/**
 * Vendor profiles: which devices a profile claims, its usage tables and mapping rows (in front of
 * the generic Power Device Class rows), quirk defaults for the device at hand, descriptor fix-ups,
 * value corrections and how the USB strings become `ups.mfr`/`ups.model`/`ups.firmware`.
 */
import type { HidField, ReportDescriptor } from './descriptor.ts';
import { hex4 } from './format.ts';
import {
  type Adjustment,
  BEEPER_STATUS,
  type CommandRule,
  GENERIC_TABLE,
  type MappingTable,
  mergeTables,
  ON_OFF,
  type StatusRule,
  TEST_RESULTS,
  type ValueConversion,
  type VariableRule,
  YES_NO,
} from './mapping.ts';
import type { QuirkSwitches } from './quirks.ts';
import type { HidDeviceInfo } from './transport.ts';
import { APC_PAGE, CYBERPOWER_PAGE, MGE_PAGE, STANDARD_TABLES, type UsageTable } from './usages.ts';

export type ProfileId = 'apc' | 'cyberpower' | 'eaton' | 'generic';

export interface DescriptorFix {
  descriptor: ReportDescriptor;
  notes: string[];
}

export interface VendorProfile {
  id: ProfileId;
  name: string;
  /** Vendor table first: names resolve there before the standard pages. */
  usageTables: readonly UsageTable[];
  table: MappingTable;
  /** Default `ups.delay.shutdown` / `ups.delay.start` in seconds. */
  offDelay: number;
  onDelay: number;
  claims(device: Pick<HidDeviceInfo, 'vendorId' | 'productId'>): boolean;
  quirkDefaults(device: HidDeviceInfo): Partial<QuirkSwitches>;
  fixDescriptor(descriptor: ReportDescriptor, device: HidDeviceInfo): DescriptorFix;
  deviceVariables(device: HidDeviceInfo): Record<string, string>;
}

const q = (decimals: number, adjust?: Adjustment): ValueConversion =>
  adjust ? { kind: 'quantity', decimals, adjust } : { kind: 'quantity', decimals };
const v = (name: string, path: string, convert: ValueConversion, quick = false): VariableRule => ({
  name,
  path,
  convert,
  ...(quick && { quick }),
});
const s = (path: string, condition: StatusRule['condition'], map?: Record<number, boolean>): StatusRule => ({
  path,
  condition,
  ...(map && { map }),
});
const c = (
  name: CommandRule['name'],
  path: string,
  value: CommandRule['value'],
  units: CommandRule['units'],
): CommandRule => ({ name, path, value, units });

// ---------------------------------------------------------------------------------------------
// Descriptor fix-up helpers

/** Every field (Input, Output and Feature twins) of a report ID whose own usage is `usage`. */
function fieldsAt(descriptor: ReportDescriptor, reportId: number, usage: number): HidField[] {
  return descriptor.fields.filter((f) => f.reportId === reportId && f.usage === usage);
}

function patch(
  replacements: Map<number, HidField>,
  fields: HidField[],
  change: Partial<Pick<HidField, 'logicalMinimum' | 'logicalMaximum'>>,
): void {
  for (const field of fields)
    replacements.set(field.index, { ...(replacements.get(field.index) ?? field), ...change });
}

const current = (replacements: Map<number, HidField>, field: HidField): HidField =>
  replacements.get(field.index) ?? field;

const USAGE = {
  voltage: 0x00840030,
  configVoltage: 0x00840040,
  configActivePower: 0x00840044,
  highVoltageTransfer: 0x00840054,
} as const;

function noFix(descriptor: ReportDescriptor): DescriptorFix {
  return { descriptor, notes: [] };
}

// ---------------------------------------------------------------------------------------------
// USB IDs the vendor profiles claim (deploy/udev/70-blackstart-ups.rules grants access to these)

export interface UpsUsbId {
  vendorId: number;
  /** Undefined: every product of the vendor. */
  productId?: number;
  profile: Exclude<ProfileId, 'generic'>;
  brand: string;
}

export const UPS_USB_IDS: readonly UpsUsbId[] = [
  { vendorId: 0x051d, profile: 'apc', brand: 'APC' },
  { vendorId: 0x0764, productId: 0x0005, profile: 'cyberpower', brand: 'CyberPower' },
  { vendorId: 0x0764, productId: 0x0501, profile: 'cyberpower', brand: 'CyberPower' },
  { vendorId: 0x0764, productId: 0x0601, profile: 'cyberpower', brand: 'CyberPower' },
  { vendorId: 0x0483, productId: 0xa430, profile: 'cyberpower', brand: 'Cyber Energy (built by CyberPower)' },
  { vendorId: 0x0463, profile: 'eaton', brand: 'Eaton / MGE UPS Systems' },
  { vendorId: 0x047c, productId: 0xffff, profile: 'eaton', brand: 'Dell (built by Eaton)' },
  { vendorId: 0x0592, productId: 0x0004, profile: 'eaton', brand: 'Powerware (Eaton)' },
  { vendorId: 0x03f0, productId: 0x1fe5, profile: 'eaton', brand: 'HP (built by Eaton)' },
  { vendorId: 0x03f0, productId: 0x1fe6, profile: 'eaton', brand: 'HP (built by Eaton)' },
  { vendorId: 0x03f0, productId: 0x1fe7, profile: 'eaton', brand: 'HP (built by Eaton)' },
  { vendorId: 0x03f0, productId: 0x1fe8, profile: 'eaton', brand: 'HP (built by Eaton)' },
];

function claimedBy(profile: ProfileId, d: Pick<HidDeviceInfo, 'vendorId' | 'productId'>): boolean {
  return UPS_USB_IDS.some(
    (id) =>
      id.profile === profile &&
      id.vendorId === d.vendorId &&
      (id.productId === undefined || id.productId === d.productId),
  );
}

// ---------------------------------------------------------------------------------------------
// APC

/** APCLineFailCause values → voltage/frequency transfer reason (meanings as NUT's apc-hid.c lists them, after apcupsd). */
const APC_VOLTAGE_CAUSES: Record<number, boolean> = {
  0: false,
  1: true,
  2: true,
  3: false,
  4: true,
  5: false,
  6: false,
  7: false,
  8: true,
  9: true,
  10: false,
  11: false,
  12: false,
  13: false,
};
const APC_FREQUENCY_CAUSES: Record<number, boolean> = Object.fromEntries(
  Object.keys(APC_VOLTAGE_CAUSES).map((k) => [k, Number(k) === 7]),
);

const APC_TABLE: MappingTable = {
  variables: [
    v('battery.runtime', 'UPS.Battery.RunTimeToEmpty', q(0), true),
    v('battery.voltage', 'UPS.Battery.Voltage', q(1)),
    v('battery.voltage.nominal', 'UPS.Battery.ConfigVoltage', q(1)),
    v('battery.mfr.date', 'UPS.Battery.ManufacturerDate', { kind: 'pdcDate' }),
    v('battery.mfr.date', 'UPS.PowerSummary.APCBattReplaceDate', { kind: 'apcHexDate' }),
    v('battery.date', 'UPS.Battery.APCBattReplaceDate', { kind: 'apcHexDate' }),
    v('ups.load', 'UPS.Output.PercentLoad', q(1), true),
    v('ups.load', 'UPS.PowerConverter.PercentLoad', q(0), true),
    v('ups.timer.shutdown', 'UPS.APCGeneralCollection.APCDelayBeforeShutdown', q(0), true),
    v('ups.timer.start', 'UPS.APCGeneralCollection.APCDelayBeforeStartup', q(0), true),
    v('ups.timer.reboot', 'UPS.APCGeneralCollection.APCDelayBeforeReboot', q(0), true),
    v('input.sensitivity', 'UPS.Input.APCSensitivity', {
      kind: 'lookup',
      table: { 0: 'low', 1: 'medium', 2: 'high' },
    }),
    v('output.voltage.nominal', 'UPS.Output.ConfigVoltage', q(1)),
    v('ambient.temperature', 'UPS.APCEnvironment.APCProbe1.Temperature', { kind: 'celsius', decimals: 1 }),
    v('ambient.humidity', 'UPS.APCEnvironment.APCProbe1.Humidity', q(1)),
  ],
  status: [
    // 8 is normal operation, 16 appears briefly at power-on; 0 means the output is off.
    s('UPS.PowerSummary.APCStatusFlag', 'off', { 0: true, 8: false, 16: false }),
    s('UPS.Input.APCLineFailCause', 'voltageOutOfRange', APC_VOLTAGE_CAUSES),
    s('UPS.Input.APCLineFailCause', 'frequencyOutOfRange', APC_FREQUENCY_CAUSES),
  ],
  commands: [
    c('load.off.delay', 'UPS.APCGeneralCollection.APCDelayBeforeShutdown', 'offDelay', 'engineering'),
    c('load.on.delay', 'UPS.APCGeneralCollection.APCDelayBeforeStartup', 'onDelay', 'engineering'),
    c('shutdown.stop', 'UPS.APCGeneralCollection.APCDelayBeforeShutdown', -1, 'engineering'),
    c('shutdown.reboot', 'UPS.APCGeneralCollection.APCDelayBeforeReboot', 10, 'engineering'),
    c('test.panel.start', 'UPS.APCPanelTest', 1, 'logical'),
    c('test.panel.stop', 'UPS.APCPanelTest', 0, 'logical'),
    c('test.panel.start', 'UPS.PowerSummary.APCPanelTest', 1, 'logical'),
    c('test.panel.stop', 'UPS.PowerSummary.APCPanelTest', 0, 'logical'),
  ],
};

/** `Back-UPS 500 FW: 6.5.I USB FW: c1` → model, firmware and USB firmware. */
export function parseApcProduct(product: string): { model: string; firmware?: string; firmwareAux?: string } {
  const fw = product.indexOf('FW:');
  if (fw < 0) return { model: product.trim() };
  const model = product.slice(0, fw).trim();
  const rest = product.slice(fw + 3);
  const usb = rest.indexOf('USB FW:');
  if (usb < 0) return { model, firmware: rest.trim() };
  return { model, firmware: rest.slice(0, usb).trim(), firmwareAux: rest.slice(usb + 7).trim() };
}

/** APC models whose DISCHRG/LB/RB flags flap on mains (NUT issues #1970, #2347, #2565, #2944, #3006). */
export function isApcFlappingModel(product: string | undefined): boolean {
  const model = parseApcProduct(product ?? '').model.replace(/_/g, '-');
  return /(^|\s)(BX\d+MI|BVK\d+M2|BK\d+M2-CH)$/.test(model);
}

export const APC_PROFILE: VendorProfile = {
  id: 'apc',
  name: 'APC',
  usageTables: [APC_PAGE, ...STANDARD_TABLES],
  table: mergeTables(APC_TABLE, GENERIC_TABLE),
  offDelay: 20,
  onDelay: 30,
  claims: (d) => claimedBy('apc', d),
  quirkDefaults(device) {
    const product = device.product ?? '';
    return {
      maxReportLength: product.startsWith('Back-UPS ES 525') || product.startsWith('Back-UPS CS'),
      lowBatteryDebounceMs: isApcFlappingModel(product) ? 3000 : 0,
      interruptPipe: device.productId !== 0x0003 && device.productId !== 0x0004,
    };
  },
  fixDescriptor(descriptor, device) {
    // Back-UPS XS 1400U and relatives declare input voltage limits below the high transfer point.
    if (device.productId !== 0x0002) return noFix(descriptor);
    const replacements = new Map<number, HidField>();
    const notes: string[] = [];
    const hvt = fieldsAt(descriptor, 0x33, USAGE.highVoltageTransfer)[0];
    if (hvt) {
      const voltage = fieldsAt(descriptor, 0x31, USAGE.voltage);
      if (voltage[0] && hvt.logicalMaximum > voltage[0].logicalMaximum) {
        patch(replacements, voltage, { logicalMinimum: 0, logicalMaximum: hvt.logicalMaximum * 2 });
        notes.push(
          `report 0x31 Voltage limits widened to 0..${hvt.logicalMaximum * 2} (below the high transfer point)`,
        );
      }
      const config = fieldsAt(descriptor, 0x30, USAGE.configVoltage);
      if (config[0] && hvt.logicalMaximum > config[0].logicalMaximum && config[0].logicalMaximum !== 255) {
        patch(replacements, config, { logicalMaximum: 255 });
        notes.push('report 0x30 ConfigVoltage Logical Maximum raised to 255');
      }
    }
    return { descriptor: descriptor.withFields(replacements), notes };
  },
  deviceVariables(device) {
    const parsed = parseApcProduct(device.product ?? '');
    return {
      ...commonDeviceVariables(device, device.manufacturer?.trim() || 'APC', parsed.model),
      ...(parsed.firmware && { 'ups.firmware': parsed.firmware }),
      ...(parsed.firmwareAux && { 'ups.firmware.aux': parsed.firmwareAux }),
    };
  },
};

// ---------------------------------------------------------------------------------------------
// CyberPower

const CPS_VENDOR = 0x0764;
const CPS_VOLTAGE_LOGICAL_MAXIMUM = 511;
const CPS_NOMINAL_POWER_LOGICAL_MAXIMUM = 2048;

const CPS_TABLE: MappingTable = {
  variables: [
    v('battery.charge', 'UPS.PowerSummary.RemainingCapacity', q(0, 'clampPercent'), true),
    v('battery.voltage', 'UPS.PowerSummary.Voltage', q(1, 'cpsBatteryVoltage')),
    v('battery.voltage.nominal', 'UPS.PowerSummary.ConfigVoltage', q(0)),
    v('ups.load', 'UPS.Output.PercentLoad', q(0), true),
    v('ups.test.result', 'UPS.Output.Test', { kind: 'lookup', table: TEST_RESULTS }, true),
    v('ups.power', 'UPS.Output.ApparentPower', q(0), true),
    v('ups.power.nominal', 'UPS.Output.ConfigApparentPower', q(0)),
    v('ups.realpower', 'UPS.Output.ActivePower', q(0), true),
    v('ups.realpower.nominal', 'UPS.Output.ConfigActivePower', q(0)),
    v('ups.timer.shutdown', 'UPS.Output.DelayBeforeShutdown', q(0), true),
    v('ups.timer.start', 'UPS.Output.DelayBeforeStartup', q(0), true),
    v('ups.timer.reboot', 'UPS.Output.DelayBeforeReboot', q(0), true),
    v('input.frequency', 'UPS.Input.Frequency', q(1, 'cpsInputFrequency')),
    v('output.frequency', 'UPS.Output.Frequency', q(1, 'cpsOutputFrequency')),
    v('output.voltage.nominal', 'UPS.Output.ConfigVoltage', q(0)),
    v('input.sensitivity', 'UPS.Output.CPSInputSensitivity', {
      kind: 'lookup',
      table: { 0: 'low', 1: 'normal', 2: 'high' },
    }),
  ],
  status: [],
  commands: [
    c('test.battery.start.quick', 'UPS.Output.Test', 1, 'logical'),
    c('test.battery.start.deep', 'UPS.Output.Test', 2, 'logical'),
    c('test.battery.stop', 'UPS.Output.Test', 3, 'logical'),
  ],
};

export const CYBERPOWER_PROFILE: VendorProfile = {
  id: 'cyberpower',
  name: 'CyberPower',
  usageTables: [CYBERPOWER_PAGE, ...STANDARD_TABLES],
  table: mergeTables(CPS_TABLE, GENERIC_TABLE),
  // CyberPower rounds delays down to whole minutes.
  offDelay: 60,
  onDelay: 120,
  claims: (d) => claimedBy('cyberpower', d),
  quirkDefaults: () => ({ cyberPowerScaling: true }),
  fixDescriptor(descriptor, device) {
    if (device.vendorId !== CPS_VENDOR || (device.productId !== 0x0501 && device.productId !== 0x0601)) {
      return noFix(descriptor);
    }
    const replacements = new Map<number, HidField>();
    const notes: string[] = [];
    const hvt = fieldsAt(descriptor, 0x10, USAGE.highVoltageTransfer)[0];
    const output = fieldsAt(descriptor, 0x12, USAGE.voltage);
    const input = fieldsAt(descriptor, 0x0f, USAGE.voltage);
    const sameLimits = (a: HidField, b: HidField) =>
      a.logicalMinimum === b.logicalMinimum && a.logicalMaximum === b.logicalMaximum;
    const widened = { logicalMinimum: 0, logicalMaximum: CPS_VOLTAGE_LOGICAL_MAXIMUM };
    // Output.Voltage (and sometimes Input.Voltage) carry the high transfer point's limits: 224 V
    // would clamp to 260 (NUT issue #439).
    if (hvt && output[0] && sameLimits(hvt, output[0])) {
      patch(replacements, output, widened);
      notes.push(
        `report 0x12 Output Voltage limits were the high transfer point's; widened to 0..${widened.logicalMaximum}`,
      );
      if (input[0] && sameLimits(hvt, input[0])) {
        patch(replacements, input, widened);
        notes.push(`report 0x0f Input Voltage limits widened to 0..${widened.logicalMaximum}`);
      }
    }
    // Voltage limits encoded too short (read as unsigned): re-derive a sane maximum.
    const out0 = output[0] && current(replacements, output[0]);
    const in0 = input[0] && current(replacements, input[0]);
    if (out0 && in0 && (out0.assumedLogicalMaximum || in0.assumedLogicalMaximum)) {
      let outMax = out0.logicalMaximum;
      let inMax = in0.logicalMaximum;
      if (out0.assumedLogicalMaximum && outMax < CPS_VOLTAGE_LOGICAL_MAXIMUM)
        outMax = CPS_VOLTAGE_LOGICAL_MAXIMUM;
      if (in0.assumedLogicalMaximum && inMax < CPS_VOLTAGE_LOGICAL_MAXIMUM)
        inMax = CPS_VOLTAGE_LOGICAL_MAXIMUM;
      if (out0.assumedLogicalMaximum && outMax < inMax) outMax = inMax;
      else if (in0.assumedLogicalMaximum && inMax < outMax) inMax = outMax;
      if (in0.assumedLogicalMaximum) inMax = Math.min(inMax, 2 ** in0.bitSize - 1);
      if (out0.assumedLogicalMaximum) outMax = Math.min(outMax, 2 ** out0.bitSize - 1);
      if (inMax !== in0.logicalMaximum) {
        patch(replacements, input, { logicalMaximum: inMax });
        notes.push(`report 0x0f Input Voltage Logical Maximum set to ${inMax}`);
      }
      if (outMax !== out0.logicalMaximum) {
        patch(replacements, output, { logicalMaximum: outMax });
        notes.push(`report 0x12 Output Voltage Logical Maximum set to ${outMax}`);
      }
    }
    // ConfigActivePower limited to e.g. 450 clips the nominal power (NUT issue #2917).
    const power = fieldsAt(descriptor, 0x18, USAGE.configActivePower);
    if (power[0] && power[0].logicalMaximum < CPS_NOMINAL_POWER_LOGICAL_MAXIMUM) {
      patch(replacements, power, { logicalMaximum: CPS_NOMINAL_POWER_LOGICAL_MAXIMUM });
      notes.push(
        `report 0x18 ConfigActivePower Logical Maximum raised to ${CPS_NOMINAL_POWER_LOGICAL_MAXIMUM}`,
      );
    }
    return { descriptor: descriptor.withFields(replacements), notes };
  },
  deviceVariables: (device) =>
    commonDeviceVariables(device, device.manufacturer?.trim() || 'CPS', device.product?.trim() || 'unknown'),
};

// ---------------------------------------------------------------------------------------------
// Eaton / MGE (and Dell, HP, Powerware units built by Eaton)

const EATON_TABLE: MappingTable = {
  variables: [
    v('battery.charge.low', 'UPS.PowerSummary.RemainingCapacityLimitSetting', q(0)),
    v('battery.charge.restart', 'UPS.PowerSummary.RestartLevel', q(0)),
    v('battery.capacity', 'UPS.BatterySystem.Battery.DesignCapacity', {
      kind: 'quantity',
      decimals: 2,
      scale: 1 / 3600,
    }),
    v('battery.voltage', 'UPS.BatterySystem.Voltage', q(1)),
    v('battery.voltage.nominal', 'UPS.BatterySystem.ConfigVoltage', q(0)),
    v('battery.voltage.nominal', 'UPS.PowerSummary.ConfigVoltage', q(0)),
    v('battery.protection', 'UPS.BatterySystem.Battery.DeepDischargeProtection', {
      kind: 'lookup',
      table: YES_NO,
    }),
    v('battery.energysave', 'UPS.PowerConverter.Input.[3].EnergySaving', { kind: 'lookup', table: YES_NO }),
    v('ups.load', 'UPS.PowerSummary.PercentLoad', q(0), true),
    v('ups.load.high', 'UPS.Flow.[4].ConfigPercentLoad', q(0)),
    v('ups.efficiency', 'UPS.PowerConverter.Output.Efficiency', q(0)),
    v('ups.test.result', 'UPS.BatterySystem.Battery.Test', { kind: 'lookup', table: TEST_RESULTS }, true),
    v('ups.test.interval', 'UPS.BatterySystem.Battery.TestPeriod', q(0)),
    v('ups.beeper.status', 'UPS.BatterySystem.Battery.AudibleAlarmControl', {
      kind: 'lookup',
      table: BEEPER_STATUS,
    }),
    v('ups.power', 'UPS.PowerConverter.Output.ApparentPower', q(0), true),
    v('ups.realpower', 'UPS.PowerConverter.Output.ActivePower', q(0), true),
    v('ups.power.nominal', 'UPS.Flow.[4].ConfigApparentPower', q(0)),
    v('ups.realpower.nominal', 'UPS.Flow.[4].ConfigActivePower', q(0)),
    v('ups.start.auto', 'UPS.PowerConverter.Input.[1].AutomaticRestart', { kind: 'lookup', table: YES_NO }),
    v('ups.start.battery', 'UPS.PowerConverter.Input.[3].StartOnBattery', { kind: 'lookup', table: YES_NO }),
    v('ups.start.reboot', 'UPS.PowerConverter.Output.ForcedReboot', { kind: 'lookup', table: YES_NO }),
    v('ups.type', 'UPS.PowerConverter.ConverterType', {
      kind: 'lookup',
      table: {
        1: 'offline / line interactive',
        2: 'online',
        3: 'online - unitary/parallel',
        4: 'online - parallel with hot standy',
        5: 'online - hot standby redundancy',
      },
    }),
    v('input.voltage', 'UPS.PowerConverter.Input.[1].Voltage', q(1), true),
    v('input.voltage.nominal', 'UPS.Flow.[1].ConfigVoltage', q(0)),
    v('input.current', 'UPS.PowerConverter.Input.[1].Current', q(2)),
    v('input.frequency', 'UPS.PowerConverter.Input.[1].Frequency', q(1)),
    v('input.frequency.nominal', 'UPS.Flow.[1].ConfigFrequency', q(0)),
    v('input.transfer.boost.low', 'UPS.PowerConverter.Output.LowVoltageBoostTransfer', q(0)),
    v('input.transfer.trim.high', 'UPS.PowerConverter.Output.HighVoltageBuckTransfer', q(0)),
    v('input.sensitivity', 'UPS.PowerConverter.Output.SensitivityMode', {
      kind: 'lookup',
      table: { 0: 'normal', 1: 'high', 2: 'low' },
    }),
    v('output.voltage.nominal', 'UPS.Flow.[4].ConfigVoltage', q(0)),
    v('output.frequency.nominal', 'UPS.Flow.[4].ConfigFrequency', q(0)),
    v('output.current.nominal', 'UPS.Flow.[4].ConfigCurrent', q(2)),
    v('output.powerfactor', 'UPS.PowerConverter.Output.PowerFactor', {
      kind: 'quantity',
      decimals: 2,
      scale: 0.01,
    }),
    v('outlet.id', 'UPS.OutletSystem.Outlet.[1].OutletID', q(0)),
    v('outlet.switchable', 'UPS.OutletSystem.Outlet.[1].PresentStatus.Switchable', {
      kind: 'lookup',
      table: YES_NO,
    }),
    v('outlet.1.status', 'UPS.OutletSystem.Outlet.[2].PresentStatus.SwitchOn/Off', {
      kind: 'lookup',
      table: ON_OFF,
    }),
    v('outlet.2.status', 'UPS.OutletSystem.Outlet.[3].PresentStatus.SwitchOn/Off', {
      kind: 'lookup',
      table: ON_OFF,
    }),
  ],
  status: [
    // Input [3] is the battery: "used" means on battery.
    s('UPS.PowerConverter.Input.[3].PresentStatus.Used', 'acPresent', { 0: true, 1: false }),
    s('UPS.PowerConverter.Output.Overload.[1].PresentStatus.OverThreshold', 'overload'),
    s('UPS.PowerConverter.Input.[1].PresentStatus.Buck', 'buck'),
    s('UPS.PowerConverter.Input.[1].PresentStatus.Boost', 'boost'),
    s('UPS.PowerConverter.Input.[1].PresentStatus.VoltageOutOfRange', 'voltageOutOfRange'),
    s('UPS.PowerConverter.Input.[1].PresentStatus.FrequencyOutOfRange', 'frequencyOutOfRange'),
    s('UPS.PowerConverter.Input.[2].PresentStatus.Used', 'bypassAuto'),
    s('UPS.PowerConverter.Input.[4].PresentStatus.Used', 'bypassManual'),
    // Good = 0 means the UPS output is off.
    s('UPS.PowerSummary.PresentStatus.Good', 'off', { 0: true, 1: false }),
    s('UPS.PowerSummary.PresentStatus.FanFailure', 'fanFailure'),
    s('UPS.BatterySystem.Battery.PresentStatus.Present', 'batteryPresent'),
    s('UPS.BatterySystem.Charger.PresentStatus.InternalFailure', 'chargerFailure'),
    s('UPS.BatterySystem.Charger.PresentStatus.VoltageTooHigh', 'batteryVoltageHigh'),
    s('UPS.BatterySystem.Charger.PresentStatus.VoltageTooLow', 'batteryVoltageLow'),
  ],
  commands: [
    c('test.battery.start.quick', 'UPS.BatterySystem.Battery.Test', 1, 'logical'),
    c('test.battery.start.deep', 'UPS.BatterySystem.Battery.Test', 2, 'logical'),
    c('test.battery.stop', 'UPS.BatterySystem.Battery.Test', 3, 'logical'),
  ],
};

export const EATON_PROFILE: VendorProfile = {
  id: 'eaton',
  name: 'Eaton/MGE',
  usageTables: [MGE_PAGE, ...STANDARD_TABLES],
  table: mergeTables(EATON_TABLE, GENERIC_TABLE),
  offDelay: 20,
  onDelay: 30,
  claims: (d) => claimedBy('eaton', d),
  quirkDefaults: (device) => ({
    skipReportIds: device.vendorId === 0x0463 || device.vendorId === 0x047c ? [254, 255] : [],
    chargingAtFullIsFloat: true,
  }),
  fixDescriptor: noFix,
  deviceVariables: (device) =>
    commonDeviceVariables(
      device,
      device.manufacturer?.trim() || 'EATON',
      device.product?.trim() || 'unknown',
    ),
};

// ---------------------------------------------------------------------------------------------
// Generic Power Device Class

export const GENERIC_PROFILE: VendorProfile = {
  id: 'generic',
  name: 'USB Power Device Class',
  usageTables: STANDARD_TABLES,
  table: GENERIC_TABLE,
  offDelay: 20,
  onDelay: 30,
  claims: () => true,
  quirkDefaults: () => ({}),
  fixDescriptor: noFix,
  deviceVariables: (device) =>
    commonDeviceVariables(
      device,
      device.manufacturer?.trim() || 'unknown',
      device.product?.trim() || 'unknown',
    ),
};

export const PROFILES: readonly VendorProfile[] = [
  APC_PROFILE,
  CYBERPOWER_PROFILE,
  EATON_PROFILE,
  GENERIC_PROFILE,
];

export function profileFor(device: Pick<HidDeviceInfo, 'vendorId' | 'productId'>): VendorProfile {
  return PROFILES.find((p) => p.claims(device)) ?? GENERIC_PROFILE;
}

/** Vendor IDs a UPS may have even when enumeration reports no 0x84 usage page (libusb backend). */
export function isKnownUpsVendor(device: Pick<HidDeviceInfo, 'vendorId' | 'productId'>): boolean {
  return PROFILES.some((p) => p.id !== 'generic' && p.claims(device));
}

function commonDeviceVariables(device: HidDeviceInfo, mfr: string, model: string): Record<string, string> {
  const vars: Record<string, string> = {
    'device.type': 'ups',
    'device.mfr': mfr,
    'device.model': model,
    'ups.mfr': mfr,
    'ups.model': model,
    'ups.vendorid': hex4(device.vendorId),
    'ups.productid': hex4(device.productId),
  };
  const serial = device.serialNumber?.trim();
  if (serial) {
    vars['device.serial'] = serial;
    vars['ups.serial'] = serial;
  }
  return vars;
}

// ---------------------------------------------------------------------------------------------
// Value corrections

/** Per-connection memory: a scale, once decided, stays (a sagging battery must not flip it back). */
export class AdjustmentState {
  readonly decided = new Map<Adjustment, number>();
}

export interface AdjustmentContext {
  quirks: QuirkSwitches;
  device: Pick<HidDeviceInfo, 'productId'>;
  state: AdjustmentState;
  /** Another variable's engineering value, if the device has it. */
  valueOf(name: string): number | undefined;
}

const BATTERY_SANITY_RATIO = 1.4;

function frequencyScale(value: number, nominal: number | undefined): number | undefined {
  const windows = nominal ? [[nominal * 0.95, nominal * 1.05]] : [[45, 65]];
  for (const [low, high] of windows as Array<[number, number]>) {
    if (value >= low && value <= high) return 1;
    if (value / 10 >= low && value / 10 <= high) return 0.1;
  }
  return undefined;
}

export function applyAdjustment(adjust: Adjustment, value: number, ctx: AdjustmentContext): number {
  if (!ctx.quirks.cyberPowerScaling) return value;
  if (adjust === 'clampPercent') return Math.min(value, 100);
  if (ctx.device.productId !== 0x0501) return value;
  let scale = ctx.state.decided.get(adjust);
  if (scale === undefined) {
    if (adjust === 'cpsBatteryVoltage') {
      const nominal = ctx.valueOf('battery.voltage.nominal');
      if (!nominal) return value;
      scale = value / nominal > BATTERY_SANITY_RATIO ? 2 / 3 : 1;
    } else {
      const nominal = ctx.valueOf(
        adjust === 'cpsInputFrequency' ? 'input.frequency.nominal' : 'output.frequency.nominal',
      );
      scale = frequencyScale(value, nominal);
      if (scale === undefined) return value;
    }
    ctx.state.decided.set(adjust, scale);
  }
  return value * scale;
}
