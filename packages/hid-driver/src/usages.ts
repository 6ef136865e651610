/**
 * Usage tables and HID path strings.
 *
 * Standard pages: Power Device (0x84) and Battery System (0x85) from the USB "Usage Tables for HID
 * Power Devices" (HUT sections 30 and 31). Names follow the spellings NUT uses in its path strings
 * (`SwitchOn/Off`, `iDevicename`, …) so paths written for NUT's usbhid-ups resolve here too.
 * Vendor pages: APC (0xFF86), CyberPower (0xFF01) and MGE/Eaton (0xFFFF), with the usages those
 * vendors' UPSes are known to use.
 *
 * A path is the list of collection usages from the outside in, then the field usage:
 * `UPS.PowerSummary.PresentStatus.ACPresent`. Unknown usages print as 8 hex digits
 * (`UPS.ff860005.ff86007c`), index nodes of vendor-defined collections as `[n]`.
 */
import { INDEX_NODE_BASE, isIndexNode } from './descriptor.ts';

export const PAGE = {
  powerDevice: 0x84,
  batterySystem: 0x85,
  apc: 0xff86,
  cyberPower: 0xff01,
  mge: 0xffff,
} as const;

export interface UsageTable {
  readonly page: number;
  readonly name: string;
  readonly usages: Readonly<Record<number, string>>;
}

export const POWER_DEVICE_PAGE: UsageTable = {
  page: PAGE.powerDevice,
  name: 'Power Device',
  usages: {
    0: 'Undefined',
    1: 'iName',
    2: 'PresentStatus',
    3: 'ChangedStatus',
    4: 'UPS',
    5: 'PowerSupply',
    16: 'BatterySystem',
    17: 'BatterySystemID',
    18: 'Battery',
    19: 'BatteryID',
    20: 'Charger',
    21: 'ChargerID',
    22: 'PowerConverter',
    23: 'PowerConverterID',
    24: 'OutletSystem',
    25: 'OutletSystemID',
    26: 'Input',
    27: 'InputID',
    28: 'Output',
    29: 'OutputID',
    30: 'Flow',
    31: 'FlowID',
    32: 'Outlet',
    33: 'OutletID',
    34: 'Gang',
    35: 'GangID',
    36: 'PowerSummary',
    37: 'PowerSummaryID',
    48: 'Voltage',
    49: 'Current',
    50: 'Frequency',
    51: 'ApparentPower',
    52: 'ActivePower',
    53: 'PercentLoad',
    54: 'Temperature',
    55: 'Humidity',
    56: 'BadCount',
    64: 'ConfigVoltage',
    65: 'ConfigCurrent',
    66: 'ConfigFrequency',
    67: 'ConfigApparentPower',
    68: 'ConfigActivePower',
    69: 'ConfigPercentLoad',
    70: 'ConfigTemperature',
    71: 'ConfigHumidity',
    80: 'SwitchOnControl',
    81: 'SwitchOffControl',
    82: 'ToggleControl',
    83: 'LowVoltageTransfer',
    84: 'HighVoltageTransfer',
    85: 'DelayBeforeReboot',
    86: 'DelayBeforeStartup',
    87: 'DelayBeforeShutdown',
    88: 'Test',
    89: 'ModuleReset',
    90: 'AudibleAlarmControl',
    96: 'Present',
    97: 'Good',
    98: 'InternalFailure',
    99: 'VoltageOutOfRange',
    100: 'FrequencyOutOfRange',
    101: 'Overload',
    102: 'OverCharged',
    103: 'OverTemperature',
    104: 'ShutdownRequested',
    105: 'ShutdownImminent',
    107: 'SwitchOn/Off',
    108: 'Switchable',
    109: 'Used',
    110: 'Boost',
    111: 'Buck',
    112: 'Initialized',
    113: 'Tested',
    114: 'AwaitingPower',
    115: 'CommunicationLost',
    253: 'iManufacturer',
    254: 'iProduct',
    255: 'iSerialNumber',
  },
};

export const BATTERY_SYSTEM_PAGE: UsageTable = {
  page: PAGE.batterySystem,
  name: 'Battery System',
  usages: {
    0: 'Undefined',
    1: 'SMBBatteryMode',
    2: 'SMBBatteryStatus',
    3: 'SMBAlarmWarning',
    4: 'SMBChargerMode',
    5: 'SMBChargerStatus',
    6: 'SMBChargerSpecInfo',
    7: 'SMBSelectorState',
    8: 'SMBSelectorPresets',
    9: 'SMBSelectorInfo',
    16: 'OptionalMfgFunction1',
    17: 'OptionalMfgFunction2',
    18: 'OptionalMfgFunction3',
    19: 'OptionalMfgFunction4',
    20: 'OptionalMfgFunction5',
    21: 'ConnectionToSMBus',
    22: 'OutputConnection',
    23: 'ChargerConnection',
    24: 'BatteryInsertion',
    25: 'Usenext',
    26: 'OKToUse',
    27: 'BatterySupported',
    28: 'SelectorRevision',
    29: 'ChargingIndicator',
    40: 'ManufacturerAccess',
    41: 'RemainingCapacityLimit',
    42: 'RemainingTimeLimit',
    43: 'AtRate',
    44: 'CapacityMode',
    45: 'BroadcastToCharger',
    46: 'PrimaryBattery',
    47: 'ChargeController',
    64: 'TerminateCharge',
    65: 'TerminateDischarge',
    66: 'BelowRemainingCapacityLimit',
    67: 'RemainingTimeLimitExpired',
    68: 'Charging',
    69: 'Discharging',
    70: 'FullyCharged',
    71: 'FullyDischarged',
    72: 'ConditioningFlag',
    73: 'AtRateOK',
    74: 'SMBErrorCode',
    75: 'NeedReplacement',
    96: 'AtRateTimeToFull',
    97: 'AtRateTimeToEmpty',
    98: 'AverageCurrent',
    99: 'Maxerror',
    100: 'RelativeStateOfCharge',
    101: 'AbsoluteStateOfCharge',
    102: 'RemainingCapacity',
    103: 'FullChargeCapacity',
    104: 'RunTimeToEmpty',
    105: 'AverageTimeToEmpty',
    106: 'AverageTimeToFull',
    107: 'CycleCount',
    128: 'BattPackModelLevel',
    129: 'InternalChargeController',
    130: 'PrimaryBatterySupport',
    131: 'DesignCapacity',
    132: 'SpecificationInfo',
    133: 'ManufacturerDate',
    134: 'SerialNumber',
    135: 'iManufacturerName',
    136: 'iDevicename',
    137: 'iDeviceChemistry',
    138: 'ManufacturerData',
    139: 'Rechargeable',
    140: 'WarningCapacityLimit',
    141: 'CapacityGranularity1',
    142: 'CapacityGranularity2',
    143: 'iOEMInformation',
    192: 'InhibitCharge',
    193: 'EnablePolling',
    194: 'ResetToZero',
    208: 'ACPresent',
    209: 'BatteryPresent',
    210: 'PowerFail',
    211: 'AlarmInhibited',
    212: 'ThermistorUnderRange',
    213: 'ThermistorHot',
    214: 'ThermistorCold',
    215: 'ThermistorOverRange',
    216: 'VoltageOutOfRange',
    217: 'CurrentOutOfRange',
    218: 'CurrentNotRegulated',
    219: 'VoltageNotRegulated',
    220: 'MasterMode',
    240: 'ChargerSelectorSupport',
    241: 'ChargerSpec',
    242: 'Level2',
    243: 'Level3',
  },
};

/** APC's vendor page, as seen on Back-UPS and Smart-UPS units. */
export const APC_PAGE: UsageTable = {
  page: PAGE.apc,
  name: 'APC',
  usages: {
    5: 'APCGeneralCollection',
    6: 'APCEnvironment',
    7: 'APCProbe1',
    8: 'APCProbe2',
    22: 'APCBattReplaceDate',
    25: 'APCBattCapBeforeStartup',
    66: 'APC_UPS_FirmwareRevision',
    82: 'APCLineFailCause',
    96: 'APCStatusFlag',
    97: 'APCSensitivity',
    114: 'APCPanelTest',
    118: 'APCShutdownAfterDelay',
    121: 'APC_USB_FirmwareRevision',
    124: 'APCDelayBeforeReboot',
    125: 'APCDelayBeforeShutdown',
    126: 'APCDelayBeforeStartup',
  },
};

/** CyberPower's vendor page. */
export const CYBERPOWER_PAGE: UsageTable = {
  page: PAGE.cyberPower,
  name: 'CyberPower',
  usages: {
    67: 'CPSInputSensitivity',
    208: 'CPSFirmwareVersion',
  },
};

/** MGE UPS Systems / Eaton vendor page (also used by Dell- and HP-branded Eaton units). */
export const MGE_PAGE: UsageTable = {
  page: PAGE.mge,
  name: 'MGE/Eaton',
  usages: {
    1: 'STS',
    2: 'Environment',
    3: 'Statistic',
    4: 'StatisticSystem',
    5: 'USB',
    16: 'Phase',
    17: 'PhaseID',
    18: 'Chopper',
    19: 'ChopperID',
    20: 'Inverter',
    21: 'InverterID',
    22: 'Rectifier',
    23: 'RectifierID',
    24: 'LCMSystem',
    25: 'LCMSystemID',
    26: 'LCMAlarm',
    27: 'LCMAlarmID',
    28: 'HistorySystem',
    29: 'HistorySystemID',
    30: 'Event',
    31: 'EventID',
    32: 'CircuitBreaker',
    33: 'TransferForbidden',
    34: 'OverallAlarm',
    35: 'Dephasing',
    36: 'BypassBreaker',
    37: 'PowerModule',
    38: 'PowerRate',
    39: 'PowerSource',
    40: 'CurrentPowerSource',
    41: 'RedundancyLevel',
    42: 'RedundancyLost',
    43: 'NotificationStatus',
    44: 'ProtectionLost',
    45: 'ConfigurationFailure',
    46: 'CompatibilityFailure',
    64: 'SwitchType',
    65: 'ConverterType',
    66: 'FrequencyConverterMode',
    67: 'AutomaticRestart',
    68: 'ForcedReboot',
    69: 'TestPeriod',
    70: 'EnergySaving',
    71: 'StartOnBattery',
    72: 'Schedule',
    73: 'DeepDischargeProtection',
    74: 'ShortCircuit',
    75: 'ExtendedVoltageMode',
    76: 'SensitivityMode',
    77: 'RemainingCapacityLimitSetting',
    78: 'ExtendedFrequencyMode',
    79: 'FrequencyConverterModeSetting',
    80: 'LowVoltageBoostTransfer',
    81: 'HighVoltageBoostTransfer',
    82: 'LowVoltageBuckTransfer',
    83: 'HighVoltageBuckTransfer',
    84: 'OverloadTransferEnable',
    85: 'OutOfToleranceTransferEnable',
    86: 'ForcedTransferEnable',
    87: 'LowVoltageBypassTransfer',
    88: 'HighVoltageBypassTransfer',
    89: 'FrequencyRangeBypassTransfer',
    90: 'LowVoltageEcoTransfer',
    91: 'HighVoltageEcoTransfer',
    92: 'FrequencyRangeEcoTransfer',
    93: 'ShutdownTimer',
    94: 'StartupTimer',
    95: 'RestartLevel',
    96: 'PhaseOutOfRange',
    97: 'CurrentLimitation',
    98: 'ThermalOverload',
    99: 'SynchroSource',
    100: 'FuseFault',
    101: 'ExternalProtectedTransfert',
    102: 'ExternalForcedTransfert',
    103: 'Compensation',
    104: 'EmergencyStop',
    105: 'PowerFactor',
    106: 'PeakFactor',
    107: 'ChargerType',
    112: 'FrequencyRangeTransfer',
    113: 'WiringFaultDetection',
    114: 'ControlStandby',
    115: 'ShortCircuitTolerance',
    116: 'VoltageTooHigh',
    117: 'VoltageTooLow',
    118: 'DCBusUnbalanced',
    119: 'FanFailure',
    120: 'WiringFault',
    121: 'Floating',
    122: 'OverCurrent',
    123: 'RemainingActivePower',
    124: 'Energy',
    125: 'Threshold',
    126: 'OverThreshold',
    128: 'Sensor',
    129: 'LowHumidity',
    130: 'HighHumidity',
    131: 'LowTemperature',
    132: 'HighTemperature',
    133: 'ECOControl',
    134: 'Efficiency',
    135: 'ABMEnable',
    136: 'NegativeCurrent',
    137: 'AutomaticStart',
    144: 'Count',
    145: 'Timer',
    146: 'Interval',
    147: 'TimerExpired',
    148: 'Mode',
    149: 'Country',
    150: 'State',
    151: 'Time',
    152: 'Code',
    153: 'DataValid',
    154: 'ToggleTimer',
    155: 'BypassTransferDelay',
    156: 'HysteresisVoltageTransfer',
    157: 'SlewRate',
    160: 'PDU',
    161: 'Breaker',
    162: 'BreakerID',
    163: 'OverVoltage',
    164: 'Tripped',
    165: 'OverEnergy',
    166: 'OverHumidity',
    167: 'ConfigurationReset',
    186: 'iDesignator',
    224: 'COPIBridge',
    225: 'Gateway',
    229: 'System',
    233: 'Status',
    240: 'iModel',
    241: 'iVersion',
    242: 'iTechnicalLevel',
    243: 'iPartNumber',
    244: 'iReferenceNumber',
    245: 'iGang',
  },
};

export const STANDARD_TABLES: readonly UsageTable[] = [POWER_DEVICE_PAGE, BATTERY_SYSTEM_PAGE];

/** Name ↔ usage lookups over a list of tables; earlier tables win on name clashes. */
export class UsageNames {
  private readonly byUsage = new Map<number, string>();
  private readonly byName = new Map<string, number>();

  constructor(readonly tables: readonly UsageTable[]) {
    for (const table of tables) {
      for (const [id, name] of Object.entries(table.usages)) {
        const usage = ((table.page << 16) | Number(id)) >>> 0;
        if (!this.byUsage.has(usage)) this.byUsage.set(usage, name);
        const key = name.toLowerCase();
        if (!this.byName.has(key)) this.byName.set(key, usage);
      }
    }
  }

  name(usage: number): string | undefined {
    return this.byUsage.get(usage >>> 0);
  }

  /** Case-insensitive, like NUT's path lookups. */
  usage(name: string): number | undefined {
    return this.byName.get(name.toLowerCase());
  }

  formatNode(node: number): string {
    if (isIndexNode(node)) return `[${node & 0xff}]`;
    return this.name(node) ?? (node >>> 0).toString(16).padStart(8, '0');
  }

  formatPath(nodes: readonly number[]): string {
    return nodes.map((n) => this.formatNode(n)).join('.');
  }

  /** Parses a path string back into nodes; undefined when a segment is unknown. */
  parsePath(text: string): number[] | undefined {
    const nodes: number[] = [];
    for (const segment of splitPath(text)) {
      const index = /^\[(\d{1,3})\]$/.exec(segment);
      if (index) {
        nodes.push((INDEX_NODE_BASE | (Number(index[1]) & 0x7f)) >>> 0);
        continue;
      }
      const named = this.usage(segment);
      if (named !== undefined) nodes.push(named);
      else if (/^[0-9a-f]{8}$/i.test(segment)) nodes.push(Number.parseInt(segment, 16) >>> 0);
      else return undefined;
    }
    return nodes;
  }
}

// `SwitchOn/Off` contains no dot, so a plain split is enough.
function splitPath(text: string): string[] {
  return text.split('.').filter((s) => s.length > 0);
}

export const STANDARD_NAMES = new UsageNames(STANDARD_TABLES);

/** Usage page name for display: `Power Device`, `APC`, or `0xff86`. */
export function pageName(page: number): string {
  const table = [...STANDARD_TABLES, APC_PAGE, CYBERPOWER_PAGE, MGE_PAGE].find((t) => t.page === page);
  return table?.name ?? `0x${page.toString(16).padStart(4, '0')}`;
}
