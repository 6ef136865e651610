import { createHmac } from 'node:crypto';
import type { Static } from 'typebox';
import type { NotificationKind, WebhookChannelSchema } from '../config.ts';
import type { Notification } from '../notification.ts';
import { acceptsFrom, type Channel, type ChannelOptions } from './channel.ts';
import { post } from './http.ts';

/** The JSON a generic webhook receives (documented in docs/notifications.md). */
export function webhookPayload(n: Notification) {
  return {
    version: 1,
    id: n.id,
    event: n.kind,
    severity: n.severity,
    site: n.site,
    title: n.title,
    text: n.text,
    at: new Date(n.at).toISOString(),
    outage: n.outage ?? null,
    ups: n.ups ?? [],
    hosts: n.hosts ?? [],
    link: n.link ?? null,
    facts: n.facts ?? [],
  };
}

/** Generic JSON webhook: one POST per message, optionally signed with HMAC-SHA256. */
export class WebhookChannel implements Channel {
  readonly type = 'webhook';
  readonly id: string;
  readonly accepts: (kind: NotificationKind) => boolean;

  constructor(
    private readonly config: Static<typeof WebhookChannelSchema>,
    private readonly options: ChannelOptions,
  ) {
    this.id = config.id;
    this.accepts = acceptsFrom(config);
  }

  async send(n: Notification, signal?: AbortSignal): Promise<void> {
    const body = JSON.stringify(webhookPayload(n));
    const headers: Record<string, string> = {
      ...this.config.headers,
      'x-blackstart-event': n.kind,
      // Receivers can de-duplicate on it: a retried delivery carries the same id.
      'x-blackstart-delivery': n.id,
    };
    if (this.config.secret)
      headers['x-blackstart-signature'] =
        `sha256=${createHmac('sha256', this.config.secret).update(body).digest('hex')}`;
    await post(this.config.url!, body, {
      headers,
      contentType: 'application/json',
      timeoutMs: this.options.timeoutMs,
      service: 'webhook',
      ...(signal && { signal }),
    });
  }

  close(): void {}
}
