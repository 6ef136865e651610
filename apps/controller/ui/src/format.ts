// How values read on screen. Missing values are an en dash, never 0.

export const dash = '–';

export function num(value: number | null | undefined, unit = '', digits = 0): string {
  if (value === null || value === undefined || Number.isNaN(value)) return dash;
  return `${value.toFixed(digits)}${unit}`;
}

/** 754 → "12 min 34 s"; 45 → "45 s". */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return dash;
  const negative = seconds < 0;
  let s = Math.round(Math.abs(seconds));
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const text = h > 0 ? `${h} h ${m} min` : m > 0 ? `${m} min ${s} s` : `${s} s`;
  return negative ? `−${text}` : text;
}

export function time(iso: string | number | null | undefined): string {
  if (iso === null || iso === undefined) return dash;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? dash : d.toLocaleTimeString();
}

export function dateTime(iso: string | number | null | undefined): string {
  if (iso === null || iso === undefined) return dash;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? dash : d.toLocaleString();
}

/** "3 min ago", from an ISO time. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const seconds = (now - new Date(iso).getTime()) / 1000;
  return seconds < 5 ? 'just now' : `${duration(seconds)} ago`;
}

/** What NUT's status words mean, in short. */
const STATUS_WORDS: Record<string, string> = {
  OL: 'on mains',
  OB: 'on battery',
  LB: 'low battery',
  CHRG: 'charging',
  DISCHRG: 'discharging',
  FSD: 'forced shutdown',
  OFF: 'output off',
  RB: 'replace battery',
  CAL: 'calibrating',
  BYPASS: 'bypass',
  OVER: 'overloaded',
};

/** Status words, from a reading's list or a stored reading's space-separated string. */
function statusWords(status: string | readonly string[] | null | undefined): readonly string[] {
  return typeof status === 'string' || status == null ? (status ?? '').split(/\s+/).filter(Boolean) : status;
}

export function statusText(status: string | readonly string[] | null | undefined): string {
  const words = statusWords(status);
  if (words.length === 0) return 'no data';
  return words.map((w) => STATUS_WORDS[w] ?? w).join(', ');
}

export function onBattery(status: string | readonly string[] | null | undefined): boolean {
  return statusWords(status).includes('OB');
}
