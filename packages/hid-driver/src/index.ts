/**
 * @blackstart/hid-driver — read USB HID Power Device Class UPSes (APC, CyberPower, Eaton/MGE and
 * other PDC units) directly, as NUT-named variables, without NUT.
 *
 * Entry points for the controller: `listUpsDevices()`, `openUps(selector)`, `openReplay(fixture)`.
 */
import { type HidFixture, loadFixtureFile } from './fixture.ts';
import { type NodeHidOptions, nodeHidOpener, type UpsSelector } from './node-hid.ts';
import { ReplayDevice, type ReplayOptions } from './replay.ts';
import { HidUps, type UpsOptions } from './ups.ts';

export {
  decodeField,
  engineeringToLogical,
  logicalToEngineering,
  logicalToPhysical,
  physicalToLogical,
  rawToLogical,
  readBits,
  writeBits,
} from './codec.ts';
export {
  type HidCollection,
  type HidField,
  INDEX_NODE_BASE,
  isIndexNode,
  type ParseOptions,
  parseReportDescriptor,
  ReportDescriptor,
  type ReportKind,
  type ReportLayout,
} from './descriptor.ts';
export {
  FIXTURE_FORMAT,
  FixtureError,
  fixtureFromNutDump,
  type HidFixture,
  loadFixtureFile,
  validateFixture,
} from './fixture.ts';
export { formatApcHexDate, formatFixed, formatPdcDate, fromHex, toHex } from './format.ts';
export { type DescriptorItem, tokenize } from './items.ts';
export {
  type CommandRule,
  GENERIC_TABLE,
  type InstantCommand,
  type MappingTable,
  mergeTables,
  PathIndex,
  resolveMapping,
  type StatusCondition,
  type StatusRule,
  type ValueConversion,
  type VariableRule,
} from './mapping.ts';
export {
  describeSelector,
  isUpsCandidate,
  listUpsDevices,
  loadNodeHid,
  matchesSelector,
  type NodeHidOptions,
  nodeHidOpener,
  parseSelector,
  readSysfsDescriptor,
  type UpsDevice,
  type UpsSelector,
} from './node-hid.ts';
export { type NutDump, type NutPathLine, parseNutDump } from './nut-dump.ts';
export {
  APC_PROFILE,
  CYBERPOWER_PROFILE,
  EATON_PROFILE,
  GENERIC_PROFILE,
  PROFILES,
  type ProfileId,
  parseApcProduct,
  profileFor,
  UPS_USB_IDS,
  type UpsUsbId,
  type VendorProfile,
} from './profiles.ts';
export { QUIRK_DEFAULTS, QUIRK_NAMES, type QuirkSwitches } from './quirks.ts';
export { RecordingTransport, ReplayDevice, type ReplayOptions } from './replay.ts';
export {
  type Conditions,
  composeStatus,
  type OnlineDischarge,
  StatusDebounce,
  type StatusOptions,
} from './status.ts';
export {
  DescriptorUnavailableError,
  type HidDeviceInfo,
  HidIoError,
  type HidTransport,
  HidUnavailableError,
  type TransportOpener,
  UnsupportedDeviceError,
  UpsNotFoundError,
  UpsPermissionError,
} from './transport.ts';
export { decodeUnit, siExponentOffset, UNITS, unitSymbol } from './units.ts';
export {
  type CommandDescription,
  type ExploredField,
  HidUps,
  type HidUpsEvents,
  type StatusChangeEvent,
  UnsupportedCommandError,
  type UpdateEvent,
  type UpdateSource,
  UpsClosedError,
  UpsDisconnectedError,
  type UpsOptions,
} from './ups.ts';
export {
  APC_PAGE,
  BATTERY_SYSTEM_PAGE,
  CYBERPOWER_PAGE,
  MGE_PAGE,
  PAGE,
  POWER_DEVICE_PAGE,
  pageName,
  STANDARD_NAMES,
  STANDARD_TABLES,
  UsageNames,
  type UsageTable,
} from './usages.ts';

/** Opens a real UPS through node-hid. With no selector, the first UPS found. */
export function openUps(
  selector: UpsSelector = {},
  options: UpsOptions & NodeHidOptions = {},
): Promise<HidUps> {
  return HidUps.open(nodeHidOpener(selector, options), options);
}

/**
 * Opens a replayed UPS: a fixture file (Blackstart JSON, or a NUT `.dev` dump with a
 * `usbhid-ups -DDD` log), a fixture object, or a ReplayDevice the caller keeps to inject interrupt
 * reports and unplug/replug it.
 */
export async function openReplay(
  source: string | HidFixture | ReplayDevice,
  options: UpsOptions & ReplayOptions = {},
): Promise<HidUps> {
  const device =
    source instanceof ReplayDevice
      ? source
      : new ReplayDevice(typeof source === 'string' ? await loadFixtureFile(source) : source, options);
  return HidUps.open(device.opener(), options);
}
