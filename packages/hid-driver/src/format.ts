/** Value formatting the way NUT's drivers print variables (`%.0f`, `%.1f`, dates). */

/**
 * printf("%.Nf"): correctly rounded like C, including round-half-to-even on exact binary ties
 * (`%.0f` of 2.5 is "2"), where Number#toFixed would round up. Unlike C, a value that rounds to
 * zero prints without a minus sign ("0.0", not "-0.0").
 */
export function formatFixed(value: number, decimals: number): string {
  if (!Number.isFinite(value)) return String(value);
  const scaled = value * 10 ** decimals;
  const floor = Math.floor(scaled);
  // Only an exact tie in binary (x.5 exactly, representable) is rounded to even.
  if (scaled - floor === 0.5 && Number.isInteger(scaled * 2) && scaled / 10 ** decimals === value) {
    const even = floor % 2 === 0 ? floor : floor + 1;
    return stripNegativeZero((even / 10 ** decimals).toFixed(decimals));
  }
  return stripNegativeZero(value.toFixed(decimals));
}

function stripNegativeZero(text: string): string {
  return /^-0(\.0*)?$/.test(text) ? text.slice(1) : text;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** USB PDC ManufacturerDate: (year − 1980)·512 + month·32 + day. 0 means "not set". */
export function formatPdcDate(packed: number): string {
  const v = Math.trunc(packed);
  if (v === 0) return 'not set';
  const year = 1980 + Math.floor(v / 512);
  const month = Math.floor(v / 32) % 16;
  const day = v % 32;
  return `${pad(year, 4)}/${pad(month)}/${pad(day)}`;
}

/** APC's hexadecimal-as-decimal date: 0x102202 is 2002-10-22 (month, day, two-digit year). */
export function formatApcHexDate(packed: number): string {
  const v = Math.trunc(packed);
  if (v === 0) return 'not set';
  const digit = (shift: number) => Math.floor(v / 16 ** shift) % 16;
  const yy = digit(0) + 10 * digit(1);
  const day = digit(2) + 10 * digit(3);
  const month = digit(4) + 10 * digit(5);
  const year = yy >= 70 ? 1900 + yy : 2000 + yy;
  return `${pad(year, 4)}/${pad(month)}/${pad(day)}`;
}

export const hex4 = (n: number): string => n.toString(16).padStart(4, '0');

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/** Parses `05 84 09 04`, `0584 0904` or `05840904`; throws on anything that is not hex bytes. */
export function fromHex(text: string): Uint8Array {
  const compact = text.replace(/\s+/g, '');
  if (compact.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(compact)) {
    throw new Error(`not a hex byte string: '${text.length > 40 ? `${text.slice(0, 40)}…` : text}'`);
  }
  const out = new Uint8Array(compact.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(compact.slice(2 * i, 2 * i + 2), 16);
  return out;
}
