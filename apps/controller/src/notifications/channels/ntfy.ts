import type { Static } from 'typebox';
import type { NotificationKind, NtfyChannelSchema } from '../config.ts';
import { type Notification, type Severity, truncateBytes } from '../notification.ts';
import { acceptsFrom, type Channel, type ChannelOptions, siteTitle } from './channel.ts';
import { postJson } from './http.ts';

/** ntfy priorities: 3 default, 4 high, 5 urgent (bypasses Do Not Disturb on phones that allow it). */
const PRIORITY: Record<Severity, number> = { info: 3, warning: 4, critical: 5 };
/** Tags that ntfy shows as emoji. */
const TAG: Record<Severity, string> = {
  info: 'information_source',
  warning: 'warning',
  critical: 'rotating_light',
};
const RECOVERY = new Set<NotificationKind>([
  'mains-returned',
  'host-up',
  'restore-done',
  'agent-back',
  'ups-comm-restored',
]);

/** ntfy's JSON publish body (POST to the server's root URL). */
export function ntfyPayload(topic: string, n: Notification) {
  return {
    topic,
    title: siteTitle(n),
    // ntfy keeps messages up to 4096 bytes; longer ones become attachments.
    message: truncateBytes(n.text, 4000),
    priority: PRIORITY[n.severity],
    tags: [RECOVERY.has(n.kind) ? 'white_check_mark' : TAG[n.severity], n.kind],
    ...(n.link && {
      click: n.link,
      actions: [{ action: 'view', label: 'Timeline', url: n.link, clear: false }],
    }),
  };
}

export class NtfyChannel implements Channel {
  readonly type = 'ntfy';
  readonly id: string;
  readonly accepts: (kind: NotificationKind) => boolean;

  constructor(
    private readonly config: Static<typeof NtfyChannelSchema>,
    private readonly options: ChannelOptions,
  ) {
    this.id = config.id;
    this.accepts = acceptsFrom(config);
  }

  async send(n: Notification, signal?: AbortSignal): Promise<void> {
    const { token, user, password } = this.config;
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    else if (user && password)
      headers.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    await postJson(this.config.url.replace(/\/+$/, ''), ntfyPayload(this.config.topic, n), {
      headers,
      timeoutMs: this.options.timeoutMs,
      service: 'ntfy',
      ...(signal && { signal }),
    });
  }

  close(): void {}
}
