import type { Static } from 'typebox';
import type { DiscordChannelSchema, NotificationKind } from '../config.ts';
import { type Notification, truncate } from '../notification.ts';
import { acceptsFrom, type Channel, type ChannelOptions, SEVERITY_COLOUR } from './channel.ts';
import { postJson } from './http.ts';

/** A Discord webhook message: one embed, coloured by severity, linking to the timeline. */
export function discordPayload(username: string, n: Notification) {
  return {
    username,
    embeds: [
      {
        title: truncate(n.title, 256),
        description: truncate(n.text, 4096),
        color: SEVERITY_COLOUR[n.severity],
        timestamp: new Date(n.at).toISOString(),
        ...(n.link && { url: n.link }),
        ...(n.facts &&
          n.facts.length > 0 && {
            fields: n.facts.slice(0, 25).map((f) => ({
              name: truncate(f.label, 256),
              value: truncate(f.value, 1024),
              inline: true,
            })),
          }),
        footer: { text: truncate(n.site, 2048) },
      },
    ],
    // Host names or texts must never ping @everyone.
    allowed_mentions: { parse: [] },
  };
}

export class DiscordChannel implements Channel {
  readonly type = 'discord';
  readonly id: string;
  readonly accepts: (kind: NotificationKind) => boolean;

  constructor(
    private readonly config: Static<typeof DiscordChannelSchema>,
    private readonly options: ChannelOptions,
  ) {
    this.id = config.id;
    this.accepts = acceptsFrom(config);
  }

  async send(n: Notification, signal?: AbortSignal): Promise<void> {
    await postJson(this.config.url!, discordPayload(this.config.username, n), {
      timeoutMs: this.options.timeoutMs,
      service: 'discord',
      ...(signal && { signal }),
    });
  }

  close(): void {}
}
