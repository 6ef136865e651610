import type { NotificationKind } from './config.ts';

export type Severity = 'info' | 'warning' | 'critical';

/** One message, ready for every channel to format in its own way. Plain JSON (it travels in jobs). */
export interface Notification {
  /** Stable: the same event always has the same id, so it is delivered once per channel. */
  id: string;
  kind: NotificationKind;
  severity: Severity;
  /** The site, from `notifications.name`. */
  site: string;
  title: string;
  /** Plain text; lines separated by `\n`. */
  text: string;
  /** When it happened, epoch ms. */
  at: number;
  outage?: string;
  ups?: string[];
  hosts?: string[];
  /** The outage's timeline in the web UI. */
  link?: string;
  /** Key figures, for services that show fields. */
  facts?: Array<{ label: string; value: string }>;
}

/** "45 s", "3 min 12 s", "2 h 5 min". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return s % 60 === 0 ? `${s / 60} min` : `${Math.floor(s / 60)} min ${s % 60} s`;
  const minutes = Math.round(s / 60);
  return minutes % 60 === 0 ? `${minutes / 60} h` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** Local wall-clock time with its UTC offset, e.g. `2026-05-01 14:02:11 +02:00`. */
export function formatTime(ms: number): string {
  const d = new Date(ms);
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const abs = Math.abs(offset);
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ` +
    `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
  );
}

/** "a", "a and b", "a, b and c", "a, b, c and 7 more". */
export function formatList(items: readonly string[], max = 8): string {
  if (items.length === 0) return 'none';
  const shown = items.length > max ? [...items.slice(0, max - 1), `${items.length - max + 1} more`] : items;
  return shown.length === 1 ? shown[0]! : `${shown.slice(0, -1).join(', ')} and ${shown.at(-1)}`;
}

/** Cuts `text` to at most `maxBytes` of UTF-8, on a character boundary, marking the cut with "…". */
export function truncateBytes(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let out = '';
  let bytes = 0;
  const budget = maxBytes - Buffer.byteLength('…');
  for (const ch of text) {
    const size = Buffer.byteLength(ch);
    if (bytes + size > budget) break;
    out += ch;
    bytes += size;
  }
  return `${out}…`;
}

/** Cuts `text` to at most `max` characters (UTF-16 units, as JSON APIs count them), marking the cut. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
