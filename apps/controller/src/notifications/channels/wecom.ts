import type { Static } from 'typebox';
import { type NotificationKind, WECOM_WEBHOOK_URL, type WecomChannelSchema } from '../config.ts';
import { formatTime, type Notification, type Severity, truncateBytes } from '../notification.ts';
import { acceptsFrom, type Channel, type ChannelOptions, siteTitle } from './channel.ts';
import { DeliveryError, postJson } from './http.ts';

type WecomConfig = Static<typeof WecomChannelSchema>;

/** The three colours WeChat Work markdown has: info (green), comment (grey), warning (orange-red). */
const COLOUR: Record<Severity, 'info' | 'warning'> = {
  info: 'info',
  warning: 'warning',
  critical: 'warning',
};

/** WeChat Work markdown has no escaping; keep texts from opening tags or links of their own. */
const plain = (s: string) => s.replaceAll('<', '‹').replaceAll('>', '›');

/**
 * A WeChat Work group-robot message: `markdown` (coloured title, text, figures in grey, a timeline
 * link; at most 4096 bytes) or `text` (at most 2048 bytes, with @-mentions on warnings).
 */
export function wecomPayload(
  config: Pick<WecomConfig, 'format' | 'mentionedList' | 'mentionedMobileList'>,
  n: Notification,
) {
  const mention = n.severity !== 'info';
  if (config.format === 'text') {
    const lines = [siteTitle(n), n.text, ...(n.link ? [`Timeline: ${n.link}`] : [])];
    return {
      msgtype: 'text' as const,
      text: {
        content: truncateBytes(lines.join('\n'), 2048),
        ...(mention && config.mentionedList && { mentioned_list: config.mentionedList }),
        ...(mention && config.mentionedMobileList && { mentioned_mobile_list: config.mentionedMobileList }),
      },
    };
  }
  const parts = [`### <font color="${COLOUR[n.severity]}">${plain(siteTitle(n))}</font>`, plain(n.text)];
  if (n.facts && n.facts.length > 0)
    parts.push(
      n.facts.map((f) => `> <font color="comment">${plain(f.label)}:</font> ${plain(f.value)}`).join('\n'),
    );
  const tail = [
    ...(n.link ? [`[Open timeline](${n.link})`] : []),
    `<font color="comment">${plain(formatTime(n.at))}</font>`,
    ...(mention && config.mentionedList ? [config.mentionedList.map((id) => `<@${id}>`).join(' ')] : []),
  ].join('\n');
  // The tail (link, time, mentions) survives a cut of a long text.
  const head = truncateBytes(parts.join('\n'), 4096 - Buffer.byteLength(tail) - 1);
  return { msgtype: 'markdown' as const, markdown: { content: `${head}\n${tail}` } };
}

export function wecomUrl(config: Pick<WecomConfig, 'url' | 'key'>): string {
  return config.url ?? `${WECOM_WEBHOOK_URL}?key=${encodeURIComponent(config.key ?? '')}`;
}

export class WecomChannel implements Channel {
  readonly type = 'wecom';
  readonly id: string;
  readonly accepts: (kind: NotificationKind) => boolean;

  constructor(
    private readonly config: WecomConfig,
    private readonly options: ChannelOptions,
  ) {
    this.id = config.id;
    this.accepts = acceptsFrom(config);
  }

  async send(n: Notification, signal?: AbortSignal): Promise<void> {
    const { body } = await postJson(wecomUrl(this.config), wecomPayload(this.config, n), {
      timeoutMs: this.options.timeoutMs,
      service: 'wecom',
      ...(signal && { signal }),
    });
    // The robot answers HTTP 200 with `{"errcode":0,"errmsg":"ok"}`; anything else is a failure.
    let answer: { errcode?: unknown; errmsg?: unknown };
    try {
      answer = JSON.parse(body) as typeof answer;
    } catch {
      throw new DeliveryError(`wecom answered something other than JSON: ${body.slice(0, 100)}`);
    }
    if (answer?.errcode !== 0)
      throw new DeliveryError(`wecom errcode ${String(answer?.errcode)}: ${String(answer?.errmsg ?? '')}`);
  }

  close(): void {}
}
