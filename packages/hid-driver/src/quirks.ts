/**
 * Every known firmware quirk the driver works around, each behind a switch. Vendor profiles pick
 * defaults for the device at hand (see profiles.ts); `UpsOptions.quirks` overrides any of them.
 */
import type { OnlineDischarge } from './status.ts';

export interface QuirkSwitches {
  /** A Logical Maximum below its Minimum (0..255 encoded as `25 FF`) is read as unsigned. */
  fixLogicalMaximum: boolean;
  /**
   * Vendor descriptor fix-ups: APC Back-UPS (051d:0002) input voltage limits narrower than the high
   * transfer point; CyberPower (0764:0501/0601) output/input voltage limits copied from the high
   * transfer point or encoded too short, and a too small ConfigActivePower maximum.
   */
  fixReportDescriptor: boolean;
  /** Feature replies shorter than declared are zero-filled, longer ones truncated (APC). Off: short replies are errors. */
  tolerateReportLength: boolean;
  /** Request feature reports with a 64-byte buffer (Back-UPS ES 525 / CS reply with more than declared). */
  maxReportLength: boolean;
  /** Enums, flags and dates are decoded from the logical value, ignoring a unit/exponent leaked onto them. */
  enumsIgnoreUnits: boolean;
  /**
   * CyberPower value corrections: battery voltage ×2/3 when it reads above 1.4 × nominal (0764:0501),
   * frequency reported in 0.1 Hz without an exponent (0764:0501), battery charge above 100 % clamped.
   */
  cyberPowerScaling: boolean;
  /** How "AC present" together with "discharging" is reported (APC M2/MI flapping, CyberPower UT). */
  onlineDischarge: OnlineDischarge;
  /** LB/RB raised while on line must persist this long (ms) before they are reported. */
  lowBatteryDebounceMs: number;
  /** Charging stays set in float mode (Eaton): no CHRG at ≥ 100 % charge. */
  chargingAtFullIsFloat: boolean;
  /** Report IDs the driver never reads (Eaton/MGE 254 and 255 are special). */
  skipReportIds: readonly number[];
  /** Listen to interrupt-IN reports (APC Smart-UPS 5G use that pipe for a proprietary protocol). */
  interruptPipe: boolean;
}

export const QUIRK_DEFAULTS: QuirkSwitches = {
  fixLogicalMaximum: true,
  fixReportDescriptor: true,
  tolerateReportLength: true,
  maxReportLength: false,
  enumsIgnoreUnits: true,
  cyberPowerScaling: false,
  onlineDischarge: 'report',
  lowBatteryDebounceMs: 0,
  chargingAtFullIsFloat: false,
  skipReportIds: [],
  interruptPipe: true,
};

/** Buffer size used for feature reads when `maxReportLength` is on (includes the report ID byte). */
export const MAX_REPORT_BUFFER = 64;

export const QUIRK_NAMES = Object.keys(QUIRK_DEFAULTS) as Array<keyof QuirkSwitches>;
