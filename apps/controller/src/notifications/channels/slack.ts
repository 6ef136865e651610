import type { Static } from 'typebox';
import type { NotificationKind, SlackChannelSchema } from '../config.ts';
import { formatTime, type Notification, truncate } from '../notification.ts';
import { acceptsFrom, type Channel, type ChannelOptions, hexColour, siteTitle } from './channel.ts';
import { postJson } from './http.ts';

/** Slack's mrkdwn treats &, < and > as markup. */
export const slackEscape = (s: string) =>
  s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

/**
 * A Slack incoming-webhook message: `text` for the phone notification, and an attachment coloured
 * by severity holding Block Kit blocks (header, text, figures, a timeline button, the time).
 */
export function slackPayload(n: Notification) {
  const blocks: unknown[] = [
    { type: 'header', text: { type: 'plain_text', text: truncate(siteTitle(n), 150), emoji: true } },
    { type: 'section', text: { type: 'mrkdwn', text: truncate(slackEscape(n.text), 3000) } },
  ];
  if (n.facts && n.facts.length > 0)
    blocks.push({
      type: 'section',
      fields: n.facts.slice(0, 10).map((f) => ({
        type: 'mrkdwn',
        text: truncate(`*${slackEscape(f.label)}*\n${slackEscape(f.value)}`, 2000),
      })),
    });
  if (n.link)
    blocks.push({
      type: 'actions',
      elements: [{ type: 'button', text: { type: 'plain_text', text: 'Open timeline' }, url: n.link }],
    });
  blocks.push({
    type: 'context',
    elements: [{ type: 'mrkdwn', text: slackEscape(`${n.site} · ${formatTime(n.at)}`) }],
  });
  return {
    text: truncate(slackEscape(siteTitle(n)), 3000),
    attachments: [{ color: hexColour(n.severity), fallback: truncate(siteTitle(n), 3000), blocks }],
  };
}

export class SlackChannel implements Channel {
  readonly type = 'slack';
  readonly id: string;
  readonly accepts: (kind: NotificationKind) => boolean;

  constructor(
    private readonly config: Static<typeof SlackChannelSchema>,
    private readonly options: ChannelOptions,
  ) {
    this.id = config.id;
    this.accepts = acceptsFrom(config);
  }

  async send(n: Notification, signal?: AbortSignal): Promise<void> {
    await postJson(this.config.url!, slackPayload(n), {
      timeoutMs: this.options.timeoutMs,
      service: 'slack',
      ...(signal && { signal }),
    });
  }

  close(): void {}
}
