import type { ChannelConfig, ChannelType, NotificationKind } from '../config.ts';
import type { Notification, Severity } from '../notification.ts';

/** One destination. `send` resolves once the service accepted the message, or throws a `DeliveryError`. */
export interface Channel {
  readonly id: string;
  readonly type: ChannelType;
  accepts(kind: NotificationKind): boolean;
  send(notification: Notification, signal?: AbortSignal): Promise<void>;
  close(): void;
}

export interface ChannelOptions {
  /** Milliseconds one attempt may take. */
  timeoutMs: number;
}

/** The filter every channel shares: its `events`, or everything; a test send always passes. */
export function acceptsFrom(config: ChannelConfig): (kind: NotificationKind) => boolean {
  const events = config.events ? new Set<NotificationKind>(config.events) : undefined;
  return (kind) => kind === 'test' || !events || events.has(kind);
}

/** Colours by severity: green, amber, red. */
export const SEVERITY_COLOUR: Record<Severity, number> = {
  info: 0x2e9e44,
  warning: 0xe8a317,
  critical: 0xd92d20,
};

export const hexColour = (severity: Severity) =>
  `#${SEVERITY_COLOUR[severity].toString(16).padStart(6, '0')}`;

/** The title with the site in front, unless the site is the default name. */
export function siteTitle(n: Notification): string {
  return n.site === 'Blackstart' ? n.title : `[${n.site}] ${n.title}`;
}
