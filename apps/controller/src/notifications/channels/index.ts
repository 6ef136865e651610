import type { ChannelConfig } from '../config.ts';
import type { Channel, ChannelOptions } from './channel.ts';
import { DiscordChannel } from './discord.ts';
import { EmailChannel } from './email.ts';
import { NtfyChannel } from './ntfy.ts';
import { SlackChannel } from './slack.ts';
import { WebhookChannel } from './webhook.ts';
import { WecomChannel } from './wecom.ts';

export type { Channel, ChannelOptions } from './channel.ts';
export { DeliveryError } from './http.ts';

export function createChannel(config: ChannelConfig, options: ChannelOptions): Channel {
  switch (config.type) {
    case 'webhook':
      return new WebhookChannel(config, options);
    case 'ntfy':
      return new NtfyChannel(config, options);
    case 'discord':
      return new DiscordChannel(config, options);
    case 'slack':
      return new SlackChannel(config, options);
    case 'wecom':
      return new WecomChannel(config, options);
    case 'email':
      return new EmailChannel(config, options);
  }
}
