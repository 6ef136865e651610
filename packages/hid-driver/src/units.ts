/**
 * HID units (HID 1.11 §6.2.2.7): a 32-bit code of eight nibbles — system, then signed exponents of
 * length, mass, time, temperature, current, luminous intensity (and one reserved nibble).
 *
 * SI-linear (system 1) base units are centimetre, gram, second, kelvin and ampere, so a value in
 * "SI-linear volts" is in g·cm²·s⁻³·A⁻¹ and needs ×10⁻⁷ to become volts. `siExponentOffset` computes
 * that power of ten for any SI-linear unit from its exponents (cm→m: −2 per length exponent, g→kg:
 * −3 per mass exponent); for the units UPSes use this equals the table NUT carries (Volt and VA/W
 * 7, everything else 0). Units of the other systems get no correction.
 */

export interface DecodedUnit {
  /** 0 none, 1 SI linear, 2 SI rotation, 3 English linear, 4 English rotation, else vendor/reserved. */
  system: number;
  length: number;
  mass: number;
  time: number;
  temperature: number;
  current: number;
  luminousIntensity: number;
}

const nibble = (code: number, index: number): number => {
  const n = Math.floor(code / 16 ** index) % 16;
  return n >= 8 ? n - 16 : n;
};

export function decodeUnit(code: number): DecodedUnit {
  return {
    system: Math.floor(code) % 16,
    length: nibble(code, 1),
    mass: nibble(code, 2),
    time: nibble(code, 3),
    temperature: nibble(code, 4),
    current: nibble(code, 5),
    luminousIntensity: nibble(code, 6),
  };
}

/**
 * The power of ten that turns a value in the unit's base units into SI (metre, kilogram) units:
 * value_SI = value × 10^(unitExponent + siExponentOffset(unit)).
 */
export function siExponentOffset(code: number): number {
  const unit = decodeUnit(code);
  if (unit.system !== 1) return 0;
  return -(2 * unit.length + 3 * unit.mass) || 0; // `|| 0` avoids −0
}

/** Named units a UPS uses (codes from the HID Power Device Class tables). */
export const UNITS = {
  none: 0x00000000,
  volt: 0x00f0d121,
  ampere: 0x00100001,
  watt: 0x0000d121,
  second: 0x00001001,
  kelvin: 0x00010001,
  hertz: 0x0000f001,
  ampereSecond: 0x00101001,
} as const;

const SYMBOLS = new Map<number, string>([
  [UNITS.volt, 'V'],
  [UNITS.ampere, 'A'],
  [UNITS.watt, 'W'],
  [UNITS.second, 's'],
  [UNITS.kelvin, 'K'],
  [UNITS.hertz, 'Hz'],
  [UNITS.ampereSecond, 'A·s'],
]);

const SYSTEM_BASES: Record<number, [string, string, string, string, string, string]> = {
  1: ['m', 'kg', 's', 'K', 'A', 'cd'],
  2: ['rad', 'kg', 's', 'K', 'A', 'cd'],
  3: ['in', 'slug', 's', '°F', 'A', 'cd'],
  4: ['deg', 'slug', 's', '°F', 'A', 'cd'],
};

/** A short human-readable symbol: `V`, `W`, `s`, … or a product of base units for others. */
export function unitSymbol(code: number): string {
  if (code === 0) return '';
  const known = SYMBOLS.get(code);
  if (known) return known;
  const unit = decodeUnit(code);
  const bases = SYSTEM_BASES[unit.system];
  if (!bases) return `unit 0x${code.toString(16).padStart(8, '0')}`;
  const exponents = [
    unit.length,
    unit.mass,
    unit.time,
    unit.temperature,
    unit.current,
    unit.luminousIntensity,
  ];
  return exponents
    .map((e, i) => (e === 0 ? '' : e === 1 ? bases[i] : `${bases[i]}^${e}`))
    .filter(Boolean)
    .join('·');
}
