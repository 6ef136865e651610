/**
 * Self-written UPS fixtures, built with the descriptor builder: a CyberPower CP1500PFCLCD-like unit
 * (0764:0501) with the CyberPower quirks, an Eaton 5P-like unit (0463:ffff) with MGE index
 * collections, vendor usages and reports 254/255, and an APC Back-UPS ES/CS-like unit (051d:0002)
 * with APC's vendor collection and its report quirks. Values are modeled on the NUT DDL dumps of
 * those models; the descriptors are written from the Power Device Class spec, not copied.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type HidDeviceInfo, UNITS } from '../src/index.ts';
import { BATTERY, POWER, UpsBuilder } from './builder.ts';

const APPLICATION = 0x01;
const PHYSICAL = 0x00;
const LOGICAL = 0x02;
/** MGE/Eaton number flows, inputs and outlets with vendor-defined collection types 0x80 + n. */
const INDEX = (n: number) => 0x80 + n;

const APC = 0xff86;
const CPS = 0xff01;
const MGE = 0xffff;
const { volt, second, hertz, watt, ampere, ampereSecond } = UNITS;

export const CYBERPOWER_DEVICE: HidDeviceInfo = {
  vendorId: 0x0764,
  productId: 0x0501,
  manufacturer: 'CPS',
  product: 'CP1500PFCLCD',
  serialNumber: 'CTHGS2000123',
};

export interface CyberPowerOptions {
  /** Output voltage limits copy the high transfer point's (NUT issue #439). Default true. */
  outputLimitsFromTransfer?: boolean;
  /** Input voltage limits copy them too. Default false. */
  inputLimitsFromTransfer?: boolean;
}

export function cyberPower(options: CyberPowerOptions = {}): UpsBuilder {
  const transferLimits: [number, number] = [130, 140];
  const b = new UpsBuilder();
  b.collection(POWER, 0x04, APPLICATION, (ups) => {
    ups.collection(POWER, 0x24, PHYSICAL, (ps) => {
      ps.value({
        name: 'batteryNominal',
        reportId: 0x01,
        page: POWER,
        usage: 0x40,
        bits: 8,
        logical: [0, 255],
        unit: volt,
        exponent: 7,
        value: 24,
      });
      // Reads 1.5 × the real voltage on some 0501 firmware.
      ps.value({
        name: 'batteryVoltage',
        reportId: 0x02,
        page: POWER,
        usage: 0x30,
        bits: 8,
        logical: [0, 255],
        unit: volt,
        exponent: 7,
        value: 36,
      });
      ps.value({
        name: 'charge',
        reportId: 0x03,
        page: BATTERY,
        usage: 0x66,
        bits: 8,
        logical: [0, 255],
        kinds: ['input', 'feature'],
        value: 100,
      });
      ps.value({
        name: 'runtime',
        reportId: 0x03,
        page: BATTERY,
        usage: 0x68,
        bits: 16,
        logical: [0, 65535],
        unit: second,
        kinds: ['input', 'feature'],
        value: 1530,
      });
      ps.value({
        name: 'chargeLow',
        reportId: 0x04,
        page: BATTERY,
        usage: 0x29,
        bits: 8,
        logical: [0, 100],
        value: 10,
      });
      ps.value({
        name: 'chargeWarning',
        reportId: 0x05,
        page: BATTERY,
        usage: 0x8c,
        bits: 8,
        logical: [0, 100],
        value: 20,
      });
      ps.value({
        name: 'runtimeLow',
        reportId: 0x06,
        page: BATTERY,
        usage: 0x2a,
        bits: 16,
        logical: [0, 65535],
        unit: second,
        value: 300,
      });
      ps.value({
        name: 'beeper',
        reportId: 0x07,
        page: POWER,
        usage: 0x5a,
        bits: 8,
        logical: [1, 3],
        value: 2,
      });
      ps.collection(POWER, 0x02, LOGICAL, (st) => {
        const flag = (name: string, page: number, usage: number, value: number) =>
          st.value({
            name,
            reportId: 0x0b,
            page,
            usage,
            bits: 1,
            logical: [0, 1],
            kinds: ['input', 'feature'],
            value,
          });
        flag('acPresent', BATTERY, 0xd0, 1);
        flag('charging', BATTERY, 0x44, 0);
        flag('discharging', BATTERY, 0x45, 0);
        flag('belowLimit', BATTERY, 0x42, 0);
        flag('fullyCharged', BATTERY, 0x46, 1);
        flag('timeExpired', BATTERY, 0x43, 0);
        flag('needReplacement', BATTERY, 0x4b, 0);
        flag('shutdownImminent', POWER, 0x69, 0);
      });
    });
    ups.collection(POWER, 0x1a, PHYSICAL, (input) => {
      input.value({
        name: 'inputNominal',
        reportId: 0x0e,
        page: POWER,
        usage: 0x40,
        bits: 8,
        logical: [0, 255],
        unit: volt,
        exponent: 7,
        value: 120,
      });
      input.value({
        name: 'inputVoltage',
        reportId: 0x0f,
        page: POWER,
        usage: 0x30,
        bits: 16,
        logical: options.inputLimitsFromTransfer ? transferLimits : [0, 511],
        unit: volt,
        exponent: 7,
        value: 116,
      });
      input.value({
        name: 'transferHigh',
        reportId: 0x10,
        page: POWER,
        usage: 0x54,
        bits: 16,
        logical: transferLimits,
        unit: volt,
        exponent: 7,
        value: 139,
      });
      input.value({
        name: 'transferLow',
        reportId: 0x11,
        page: POWER,
        usage: 0x53,
        bits: 16,
        logical: [80, 100],
        unit: volt,
        exponent: 7,
        value: 88,
      });
      // Reported in 0.1 Hz with no exponent.
      input.value({
        name: 'inputFrequency',
        reportId: 0x19,
        page: POWER,
        usage: 0x32,
        bits: 16,
        logical: [0, 1000],
        value: 600,
      });
    });
    ups.collection(POWER, 0x1c, PHYSICAL, (out) => {
      out.value({
        name: 'outputVoltage',
        reportId: 0x12,
        page: POWER,
        usage: 0x30,
        bits: 16,
        logical: options.outputLimitsFromTransfer === false ? [0, 511] : transferLimits,
        unit: volt,
        exponent: 7,
        value: 120,
      });
      out.value({
        name: 'load',
        reportId: 0x13,
        page: POWER,
        usage: 0x35,
        bits: 8,
        logical: [0, 100],
        kinds: ['input', 'feature'],
        value: 25,
      });
      out.value({
        name: 'test',
        reportId: 0x14,
        page: POWER,
        usage: 0x58,
        bits: 8,
        logical: [0, 7],
        value: 1,
      });
      out.value({
        name: 'delayShutdown',
        reportId: 0x15,
        page: POWER,
        usage: 0x57,
        bits: 16,
        logical: [-32768, 32767],
        unit: second,
        value: -60,
      });
      out.value({
        name: 'delayStartup',
        reportId: 0x16,
        page: POWER,
        usage: 0x56,
        bits: 16,
        logical: [-32768, 32767],
        unit: second,
        value: -60,
      });
      out.value({
        name: 'apparentNominal',
        reportId: 0x17,
        page: POWER,
        usage: 0x43,
        bits: 16,
        logical: [0, 4000],
        unit: watt,
        exponent: 7,
        value: 1500,
      });
      // Logical Maximum too small for the unit's 900 W (NUT issue #2917).
      out.value({
        name: 'activeNominal',
        reportId: 0x18,
        page: POWER,
        usage: 0x44,
        bits: 16,
        logical: [0, 450],
        unit: watt,
        exponent: 7,
        value: 900,
      });
      out.value({
        name: 'boost',
        reportId: 0x1a,
        page: POWER,
        usage: 0x6e,
        bits: 1,
        logical: [0, 1],
        kinds: ['input', 'feature'],
        value: 0,
      });
      out.value({
        name: 'overload',
        reportId: 0x1a,
        page: POWER,
        usage: 0x65,
        bits: 1,
        logical: [0, 1],
        kinds: ['input', 'feature'],
        value: 0,
      });
      out.pad(0x1a, 6, ['input', 'feature']);
      out.value({
        name: 'sensitivity',
        reportId: 0x1b,
        page: CPS,
        usage: 0x43,
        bits: 8,
        logical: [0, 2],
        value: 1,
      });
    });
  });
  return b;
}

export const EATON_DEVICE: HidDeviceInfo = {
  vendorId: 0x0463,
  productId: 0xffff,
  manufacturer: 'EATON',
  product: '5P 650',
  serialNumber: 'G114L41071',
};

export function eaton(): UpsBuilder {
  const b = new UpsBuilder();
  b.collection(POWER, 0x04, APPLICATION, (ups) => {
    ups.collection(POWER, 0x24, PHYSICAL, (ps) => {
      ps.value({
        name: 'charge',
        reportId: 0x01,
        page: BATTERY,
        usage: 0x66,
        bits: 8,
        logical: [0, 100],
        kinds: ['input', 'feature'],
        value: 100,
      });
      ps.value({
        name: 'runtime',
        reportId: 0x01,
        page: BATTERY,
        usage: 0x68,
        bits: 32,
        logical: [0, 2147483647],
        unit: second,
        kinds: ['input', 'feature'],
        value: 1575,
      });
      ps.value({
        name: 'load',
        reportId: 0x02,
        page: POWER,
        usage: 0x35,
        bits: 8,
        logical: [0, 255],
        value: 21,
      });
      ps.value({
        name: 'chargeLowFixed',
        reportId: 0x03,
        page: BATTERY,
        usage: 0x29,
        bits: 8,
        logical: [0, 100],
        value: 30,
      });
      ps.value({
        name: 'chargeLowSetting',
        reportId: 0x04,
        page: MGE,
        usage: 0x4d,
        bits: 8,
        logical: [0, 100],
        value: 20,
      });
      ps.value({
        name: 'delayShutdown',
        reportId: 0x05,
        page: POWER,
        usage: 0x57,
        bits: 16,
        logical: [-1, 32767],
        unit: second,
        value: -1,
      });
      ps.value({
        name: 'delayStartup',
        reportId: 0x06,
        page: POWER,
        usage: 0x56,
        bits: 16,
        logical: [-1, 32767],
        unit: second,
        value: -1,
      });
      ps.collection(POWER, 0x02, LOGICAL, (st) => {
        const flag = (name: string, page: number, usage: number, value: number) =>
          st.value({
            name,
            reportId: 0x08,
            page,
            usage,
            bits: 1,
            logical: [0, 1],
            kinds: ['input', 'feature'],
            value,
          });
        flag('acPresent', BATTERY, 0xd0, 1);
        flag('charging', BATTERY, 0x44, 1);
        flag('discharging', BATTERY, 0x45, 0);
        // Float charging: "not fully charged" and "charging" stay set at 100 %.
        flag('fullyCharged', BATTERY, 0x46, 0);
        flag('belowLimit', BATTERY, 0x42, 0);
        flag('shutdownImminent', POWER, 0x69, 0);
        flag('needReplacement', BATTERY, 0x4b, 0);
        flag('good', POWER, 0x61, 1);
      });
    });
    ups.collection(POWER, 0x10, PHYSICAL, (bs) => {
      bs.value({
        name: 'batteryVoltage',
        reportId: 0x0a,
        page: POWER,
        usage: 0x30,
        bits: 16,
        logical: [0, 65535],
        unit: volt,
        exponent: 5,
        value: 1370,
      });
      bs.value({
        name: 'batteryNominal',
        reportId: 0x0b,
        page: POWER,
        usage: 0x40,
        bits: 8,
        logical: [0, 255],
        unit: volt,
        exponent: 7,
        value: 12,
      });
      bs.collection(POWER, 0x12, PHYSICAL, (bat) => {
        bat.value({
          name: 'test',
          reportId: 0x0c,
          page: POWER,
          usage: 0x58,
          bits: 8,
          logical: [0, 7],
          value: 1,
        });
        bat.value({
          name: 'testPeriod',
          reportId: 0x0d,
          page: MGE,
          usage: 0x45,
          bits: 32,
          logical: [0, 2147483647],
          unit: second,
          value: 2592000,
        });
        bat.value({
          name: 'capacity',
          reportId: 0x0e,
          page: BATTERY,
          usage: 0x83,
          bits: 32,
          logical: [0, 2147483647],
          unit: ampereSecond,
          value: 32400,
        });
        bat.value({
          name: 'beeper',
          reportId: 0x09,
          page: POWER,
          usage: 0x5a,
          bits: 8,
          logical: [1, 3],
          value: 2,
        });
      });
    });
    ups.collection(POWER, 0x16, PHYSICAL, (pc) => {
      pc.collection(POWER, 0x1a, INDEX(1), (in1) => {
        in1.value({
          name: 'inputVoltage',
          reportId: 0x10,
          page: POWER,
          usage: 0x30,
          bits: 16,
          logical: [0, 65535],
          unit: volt,
          exponent: 6,
          value: 2359,
        });
        in1.value({
          name: 'inputFrequency',
          reportId: 0x11,
          page: POWER,
          usage: 0x32,
          bits: 16,
          logical: [0, 65535],
          unit: hertz,
          exponent: -1,
          value: 499,
        });
        in1.value({
          name: 'autoRestart',
          reportId: 0x1f,
          page: MGE,
          usage: 0x43,
          bits: 8,
          logical: [0, 1],
          value: 1,
        });
        in1.collection(POWER, 0x02, LOGICAL, (st) => {
          const flag = (name: string, usage: number, value: number) =>
            st.value({
              name,
              reportId: 0x12,
              page: POWER,
              usage,
              bits: 1,
              logical: [0, 1],
              kinds: ['input', 'feature'],
              value,
            });
          flag('buck', 0x6f, 0);
          flag('boost', 0x6e, 0);
          flag('mainsUsed', 0x6d, 1);
          flag('voltageOutOfRange', 0x63, 0);
          st.pad(0x12, 4, ['input', 'feature']);
        });
      });
      pc.collection(POWER, 0x1a, INDEX(3), (in3) => {
        in3.collection(POWER, 0x02, LOGICAL, (st) => {
          st.value({
            name: 'batteryUsed',
            reportId: 0x13,
            page: POWER,
            usage: 0x6d,
            bits: 1,
            logical: [0, 1],
            kinds: ['input', 'feature'],
            value: 0,
          });
          st.pad(0x13, 7, ['input', 'feature']);
        });
      });
      pc.collection(POWER, 0x1c, PHYSICAL, (out) => {
        out.value({
          name: 'outputVoltage',
          reportId: 0x14,
          page: POWER,
          usage: 0x30,
          bits: 16,
          logical: [0, 65535],
          unit: volt,
          exponent: 6,
          value: 2359,
        });
        out.value({
          name: 'outputFrequency',
          reportId: 0x15,
          page: POWER,
          usage: 0x32,
          bits: 16,
          logical: [0, 65535],
          unit: hertz,
          exponent: -1,
          value: 499,
        });
        out.value({
          name: 'outputCurrent',
          reportId: 0x16,
          page: POWER,
          usage: 0x31,
          bits: 16,
          logical: [0, 65535],
          unit: ampere,
          exponent: -2,
          value: 60,
        });
        out.value({
          name: 'apparentPower',
          reportId: 0x17,
          page: POWER,
          usage: 0x33,
          bits: 16,
          logical: [0, 65535],
          unit: watt,
          exponent: 7,
          value: 142,
        });
        out.value({
          name: 'activePower',
          reportId: 0x18,
          page: POWER,
          usage: 0x34,
          bits: 16,
          logical: [0, 65535],
          unit: watt,
          exponent: 7,
          value: 76,
        });
        out.value({
          name: 'transferLow',
          reportId: 0x19,
          page: POWER,
          usage: 0x53,
          bits: 16,
          logical: [0, 65535],
          unit: volt,
          exponent: 7,
          value: 160,
        });
        out.value({
          name: 'transferHigh',
          reportId: 0x1a,
          page: POWER,
          usage: 0x54,
          bits: 16,
          logical: [0, 65535],
          unit: volt,
          exponent: 7,
          value: 294,
        });
        out.value({
          name: 'sensitivity',
          reportId: 0x1b,
          page: MGE,
          usage: 0x4c,
          bits: 8,
          logical: [0, 2],
          value: 0,
        });
        out.value({
          name: 'boostLow',
          reportId: 0x1c,
          page: MGE,
          usage: 0x50,
          bits: 16,
          logical: [0, 65535],
          unit: volt,
          exponent: 7,
          value: 184,
        });
        out.value({
          name: 'trimHigh',
          reportId: 0x1d,
          page: MGE,
          usage: 0x53,
          bits: 16,
          logical: [0, 65535],
          unit: volt,
          exponent: 7,
          value: 265,
        });
      });
      pc.value({
        name: 'converterType',
        reportId: 0x1e,
        page: MGE,
        usage: 0x41,
        bits: 8,
        logical: [0, 5],
        value: 1,
      });
    });
    ups.collection(POWER, 0x1e, INDEX(1), (flow) => {
      flow.value({
        name: 'inputNominal',
        reportId: 0x20,
        page: POWER,
        usage: 0x40,
        bits: 16,
        logical: [0, 65535],
        unit: volt,
        exponent: 7,
        value: 230,
      });
      flow.value({
        name: 'inputFrequencyNominal',
        reportId: 0x21,
        page: POWER,
        usage: 0x42,
        bits: 8,
        logical: [0, 255],
        unit: hertz,
        value: 50,
      });
    });
    ups.collection(POWER, 0x1e, INDEX(4), (flow) => {
      flow.value({
        name: 'outputNominal',
        reportId: 0x22,
        page: POWER,
        usage: 0x40,
        bits: 16,
        logical: [0, 65535],
        unit: volt,
        exponent: 7,
        value: 230,
      });
      flow.value({
        name: 'outputFrequencyNominal',
        reportId: 0x23,
        page: POWER,
        usage: 0x42,
        bits: 8,
        logical: [0, 255],
        unit: hertz,
        value: 50,
      });
      flow.value({
        name: 'apparentNominal',
        reportId: 0x24,
        page: POWER,
        usage: 0x43,
        bits: 16,
        logical: [0, 65535],
        unit: watt,
        exponent: 7,
        value: 650,
      });
      flow.value({
        name: 'activeNominal',
        reportId: 0x25,
        page: POWER,
        usage: 0x44,
        bits: 16,
        logical: [0, 65535],
        unit: watt,
        exponent: 7,
        value: 420,
      });
      flow.value({
        name: 'loadHigh',
        reportId: 0x26,
        page: POWER,
        usage: 0x45,
        bits: 8,
        logical: [0, 255],
        value: 105,
      });
    });
    ups.collection(POWER, 0x18, PHYSICAL, (os) => {
      os.collection(POWER, 0x20, INDEX(1), (outlet) => {
        outlet.value({
          name: 'outletId',
          reportId: 0x27,
          page: POWER,
          usage: 0x21,
          bits: 8,
          logical: [0, 255],
          value: 0,
        });
        outlet.collection(POWER, 0x02, LOGICAL, (st) =>
          st.value({
            name: 'switchable',
            reportId: 0x28,
            page: POWER,
            usage: 0x6c,
            bits: 8,
            logical: [0, 1],
            value: 0,
          }),
        );
      });
      os.collection(POWER, 0x20, INDEX(2), (outlet) =>
        outlet.collection(POWER, 0x02, LOGICAL, (st) =>
          st.value({
            name: 'outlet1On',
            reportId: 0x29,
            page: POWER,
            usage: 0x6b,
            bits: 8,
            logical: [0, 1],
            value: 1,
          }),
        ),
      );
    });
    // Eaton's special reports: a real unit answers them with something NUT must not read as data.
    ups.value({
      name: 'special254',
      reportId: 0xfe,
      page: MGE,
      usage: 0xe9,
      bits: 8,
      logical: [0, 255],
      value: 0,
    });
    ups.value({
      name: 'special255',
      reportId: 0xff,
      page: MGE,
      usage: 0xe9,
      bits: 8,
      logical: [0, 255],
      value: 0,
    });
  });
  return b;
}

export const APC_BACKUPS_DEVICE: HidDeviceInfo = {
  vendorId: 0x051d,
  productId: 0x0002,
  manufacturer: 'American Power Conversion',
  product: 'Back-UPS ES 700 FW:871.O2 .I USB FW:O2',
  serialNumber: '4B1234P56789',
};

export interface ApcOptions {
  /** Declare RemainingCapacity's maximum as `25 FF` (255 encoded as −1). Default true. */
  shortLogicalMaximum?: boolean;
  /** CapacityMode and AudibleAlarmControl inherit the voltage's unit and exponent 5. Default true. */
  leakUnits?: boolean;
}

/** A Back-UPS ES/CS-style unit: PresentStatus flags, APC vendor collection with delays, panel test. */
export function apcBackUps(options: ApcOptions = {}): UpsBuilder {
  const b = new UpsBuilder();
  b.collection(POWER, 0x04, APPLICATION, (ups) => {
    ups.collection(POWER, 0x24, PHYSICAL, (ps) => {
      ps.value({
        name: 'charge',
        reportId: 0x0c,
        page: BATTERY,
        usage: 0x66,
        bits: 8,
        logical: [0, options.shortLogicalMaximum === false ? 100 : 255],
        logicalMaximumSize: options.shortLogicalMaximum === false ? undefined : 1,
        kinds: ['input', 'feature'],
        value: 100,
      });
      ps.value({
        name: 'runtime',
        reportId: 0x0f,
        page: BATTERY,
        usage: 0x68,
        bits: 16,
        logical: [0, 65535],
        unit: second,
        kinds: ['input', 'feature'],
        value: 2400,
      });
      ps.value({
        name: 'batteryVoltage',
        reportId: 0x09,
        page: POWER,
        usage: 0x30,
        bits: 16,
        logical: [0, 65535],
        unit: volt,
        exponent: 5,
        value: 1358,
      });
      ps.value({
        name: 'capacityMode',
        reportId: 0x0b,
        page: BATTERY,
        usage: 0x2c,
        bits: 8,
        logical: [0, 3],
        inheritUnit: options.leakUnits !== false,
        value: 2,
      });
      ps.value({
        name: 'beeper',
        reportId: 0x18,
        page: POWER,
        usage: 0x5a,
        bits: 8,
        logical: [1, 3],
        inheritUnit: options.leakUnits !== false,
        value: 2,
      });
      ps.value({
        name: 'delayShutdown',
        reportId: 0x15,
        page: POWER,
        usage: 0x57,
        bits: 16,
        logical: [-1, 32767],
        unit: second,
        value: -1,
      });
      ps.value({
        name: 'statusFlag',
        reportId: 0x06,
        page: APC,
        usage: 0x60,
        bits: 8,
        logical: [0, 255],
        value: 8,
      });
      ps.value({
        name: 'panelTest',
        reportId: 0x35,
        page: APC,
        usage: 0x72,
        bits: 8,
        logical: [0, 1],
        value: 0,
      });
      ps.collection(POWER, 0x02, LOGICAL, (st) => {
        const flag = (name: string, page: number, usage: number, value: number) =>
          st.value({
            name,
            reportId: 0x16,
            page,
            usage,
            bits: 1,
            logical: [0, 1],
            kinds: ['input', 'feature'],
            value,
          });
        flag('charging', BATTERY, 0x44, 0);
        flag('discharging', BATTERY, 0x45, 0);
        flag('acPresent', BATTERY, 0xd0, 1);
        flag('batteryPresent', BATTERY, 0xd1, 1);
        flag('shutdownImminent', POWER, 0x69, 0);
        flag('timeExpired', BATTERY, 0x43, 0);
        flag('needReplacement', BATTERY, 0x4b, 0);
        flag('overload', POWER, 0x65, 0);
        flag('belowLimit', BATTERY, 0x42, 0);
        st.pad(0x16, 23, ['input', 'feature']);
      });
    });
    ups.collection(POWER, 0x12, PHYSICAL, (bat) => {
      bat.value({
        name: 'test',
        reportId: 0x21,
        page: POWER,
        usage: 0x58,
        bits: 8,
        logical: [0, 7],
        value: 6,
      });
      bat.value({
        name: 'batteryDate',
        reportId: 0x20,
        page: BATTERY,
        usage: 0x85,
        bits: 16,
        logical: [0, 65535],
        value: 22413,
      });
    });
    ups.collection(POWER, 0x1a, PHYSICAL, (input) => {
      input.value({
        name: 'inputVoltage',
        reportId: 0x31,
        page: POWER,
        usage: 0x30,
        bits: 16,
        logical: [0, 65535],
        unit: volt,
        exponent: 7,
        value: 230,
      });
      input.value({
        name: 'sensitivity',
        reportId: 0x35 + 1,
        page: APC,
        usage: 0x61,
        bits: 8,
        logical: [0, 2],
        value: 1,
      });
      input.value({
        name: 'lineFailCause',
        reportId: 0x37,
        page: APC,
        usage: 0x52,
        bits: 8,
        logical: [0, 255],
        value: 0,
      });
    });
    ups.collection(APC, 0x05, PHYSICAL, (general) => {
      general.value({
        name: 'apcDelayShutdown',
        reportId: 0x41,
        page: APC,
        usage: 0x7d,
        bits: 16,
        logical: [-1, 32767],
        unit: second,
        value: -1,
      });
      general.value({
        name: 'apcDelayReboot',
        reportId: 0x40,
        page: APC,
        usage: 0x7c,
        bits: 8,
        logical: [0, 255],
        logicalMaximumSize: 1,
        value: 0,
      });
    });
  });
  return b;
}

/** A Back-UPS with only APC's reboot delay: shutdown.return must use the reboot-style variant. */
export function apcRebootOnly(): UpsBuilder {
  const b = new UpsBuilder();
  b.collection(POWER, 0x04, APPLICATION, (ups) => {
    ups.collection(POWER, 0x24, PHYSICAL, (ps) => {
      ps.value({
        name: 'acPresent',
        reportId: 0x13,
        page: BATTERY,
        usage: 0xd0,
        bits: 8,
        logical: [0, 1],
        kinds: ['input', 'feature'],
        value: 1,
      });
      ps.value({
        name: 'charge',
        reportId: 0x0c,
        page: BATTERY,
        usage: 0x66,
        bits: 8,
        logical: [0, 100],
        value: 100,
      });
    });
    ups.collection(APC, 0x05, PHYSICAL, (general) =>
      general.value({
        name: 'apcDelayReboot',
        reportId: 0x40,
        page: APC,
        usage: 0x7c,
        bits: 8,
        logical: [0, 255],
        value: 0,
      }),
    );
  });
  return b;
}

/** Where the shared NUT DDL fixtures are read in place: `<repo>/../shared/fixtures/nut-ddl`, or NUT_DDL_DIR. */
export function nutDdlDir(): string {
  return process.env.NUT_DDL_DIR ?? resolve(import.meta.dirname, '../../../../shared/fixtures/nut-ddl');
}

/** The path of a shared NUT DDL dump, or undefined when it is absent. */
export function nutDdlFile(name: string): string | undefined {
  const path = join(nutDdlDir(), name);
  return existsSync(path) ? path : undefined;
}

export const BK650 = 'APC__Back-UPS_BK650M2-CH__usbhid-ups__2.8.0__01.dev';
export const CS500 = 'APC__Back-UPS_CS_500__usbhid-ups__2.8.0__01.dev';
