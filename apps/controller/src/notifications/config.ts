import type { PlanError } from '@blackstart/policy';
import Type, { type Static, type TSchema } from 'typebox';
import Value from 'typebox/value';

/** Everything Blackstart notifies about, roughly in the order an outage produces them. */
export const NOTIFICATION_KINDS = [
  'on-battery',
  'mains-returned',
  'low-battery',
  'runtime-short',
  'stage-started',
  'host-down',
  'host-no-ack',
  'ups-powered-off',
  'restore-started',
  'host-up',
  'host-wake-failed',
  'restore-done',
  'outage-summary',
  'agent-lost',
  'agent-back',
  'ups-comm-lost',
  'ups-comm-restored',
  'battery-replace',
] as const;
/** What a channel can filter on, plus `test` (a test send, which every channel takes). */
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number] | 'test';

const KindSchema = Type.Union(NOTIFICATION_KINDS.map((k) => Type.Literal(k)));

const ChannelId = Type.String({
  pattern: '^[a-z0-9][a-z0-9_-]{0,62}$',
  description: 'lower-case letters, digits, - and _ (at most 63), starting with a letter or digit',
});
const HttpUrl = Type.String({
  pattern: '^https?://[^\\s]+$',
  description: 'an http:// or https:// URL',
});

/** Fields every channel has. `events`: what it receives (default: everything). */
const common = {
  id: ChannelId,
  /** Only these events go to this channel; default: all of them. */
  events: Type.Optional(Type.Array(KindSchema, { minItems: 1 })),
};

export const WebhookChannelSchema = Type.Object(
  {
    ...common,
    type: Type.Literal('webhook'),
    /** Secret: also BLACKSTART_NOTIFY_<ID>_URL[_FILE]. */
    url: Type.Optional(HttpUrl),
    headers: Type.Optional(Type.Record(Type.String(), Type.String())),
    /** Signs the body: `X-Blackstart-Signature: sha256=<HMAC-SHA256 hex>`. Also BLACKSTART_NOTIFY_<ID>_SECRET[_FILE]. */
    secret: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

export const NtfyChannelSchema = Type.Object(
  {
    ...common,
    type: Type.Literal('ntfy'),
    /** The ntfy server. */
    url: Type.String({ ...HttpUrl, default: 'https://ntfy.sh' }),
    topic: Type.String({
      pattern: '^[-_A-Za-z0-9]{1,64}$',
      description: 'an ntfy topic: letters, digits, - and _ (at most 64)',
    }),
    /** Access token (BLACKSTART_NOTIFY_<ID>_TOKEN[_FILE]) … */
    token: Type.Optional(Type.String({ minLength: 1 })),
    /** … or a user and password (BLACKSTART_NOTIFY_<ID>_PASSWORD[_FILE]). */
    user: Type.Optional(Type.String({ minLength: 1 })),
    password: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

export const DiscordChannelSchema = Type.Object(
  {
    ...common,
    type: Type.Literal('discord'),
    /** The channel's webhook URL (a secret: BLACKSTART_NOTIFY_<ID>_URL[_FILE]). */
    url: Type.Optional(HttpUrl),
    username: Type.String({ minLength: 1, maxLength: 80, default: 'Blackstart' }),
  },
  { additionalProperties: false },
);

export const SlackChannelSchema = Type.Object(
  {
    ...common,
    type: Type.Literal('slack'),
    /** The incoming-webhook URL (a secret: BLACKSTART_NOTIFY_<ID>_URL[_FILE]). */
    url: Type.Optional(HttpUrl),
  },
  { additionalProperties: false },
);

export const WECOM_WEBHOOK_URL = 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send';

export const WecomChannelSchema = Type.Object(
  {
    ...common,
    type: Type.Literal('wecom'),
    /** The group robot's key (BLACKSTART_NOTIFY_<ID>_KEY[_FILE]) … */
    key: Type.Optional(Type.String({ minLength: 1 })),
    /** … or its whole webhook URL (BLACKSTART_NOTIFY_<ID>_URL[_FILE]). */
    url: Type.Optional(HttpUrl),
    /** `markdown` (coloured) or `text` (plain, can @-mention members). */
    format: Type.Union([Type.Literal('markdown'), Type.Literal('text')], { default: 'markdown' }),
    /** User ids to @-mention on warnings and critical events (`@all`, everyone: text format only). */
    mentionedList: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    /** Mobile numbers to @-mention on warnings and critical events; text format only. */
    mentionedMobileList: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
  },
  { additionalProperties: false },
);

export const EmailChannelSchema = Type.Object(
  {
    ...common,
    type: Type.Literal('email'),
    /** SMTP server. */
    host: Type.String({ minLength: 1 }),
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 587 }),
    /** `starttls` (required, usually port 587), `tls` (implicit, usually 465), `none` (plain, a local relay). */
    security: Type.Union([Type.Literal('starttls'), Type.Literal('tls'), Type.Literal('none')], {
      default: 'starttls',
    }),
    user: Type.Optional(Type.String({ minLength: 1 })),
    /** BLACKSTART_NOTIFY_<ID>_PASSWORD[_FILE]. */
    password: Type.Optional(Type.String({ minLength: 1 })),
    from: Type.String({ minLength: 3 }),
    to: Type.Array(Type.String({ minLength: 3 }), { minItems: 1 }),
  },
  { additionalProperties: false },
);

export const ChannelSchema = Type.Union([
  WebhookChannelSchema,
  NtfyChannelSchema,
  DiscordChannelSchema,
  SlackChannelSchema,
  WecomChannelSchema,
  EmailChannelSchema,
]);
export type ChannelConfig = Static<typeof ChannelSchema>;
export type ChannelType = ChannelConfig['type'];

const channelVariants: Record<string, TSchema> = {
  webhook: WebhookChannelSchema,
  ntfy: NtfyChannelSchema,
  discord: DiscordChannelSchema,
  slack: SlackChannelSchema,
  wecom: WecomChannelSchema,
  email: EmailChannelSchema,
};

export const NotificationsSchema = Type.Object(
  {
    /** Shown in every message, to tell sites apart (e.g. "home lab"). */
    name: Type.String({ minLength: 1, maxLength: 64, default: 'Blackstart' }),
    /**
     * Seconds an on-battery notice (and a lost UPS or agent) is held: dropped if mains (the UPS, the
     * agent) is back within it, so blips page nobody. Anything more serious releases it at once.
     */
    quietPeriod: Type.Number({ minimum: 0, maximum: 3600, default: 30 }),
    /** Seconds one delivery attempt may take. */
    timeout: Type.Number({ minimum: 0.1, maximum: 120, default: 10 }),
    retry: Type.Object(
      {
        /** Tries per message and channel, the first included. */
        attempts: Type.Integer({ minimum: 1, maximum: 50, default: 8 }),
        /** Seconds before the first retry; doubles each time … */
        backoff: Type.Number({ minimum: 0.01, maximum: 3600, default: 5 }),
        /** … up to this. */
        maxBackoff: Type.Number({ minimum: 0.01, maximum: 86_400, default: 300 }),
      },
      { additionalProperties: false, default: {} },
    ),
    channels: Type.Array(ChannelSchema, { default: [] }),
  },
  { additionalProperties: false, default: {} },
);
export type NotificationsConfig = Static<typeof NotificationsSchema>;

/** Secret fields a channel may take from the environment, by channel type. */
const SECRET_FIELDS: Record<ChannelType, readonly string[]> = {
  webhook: ['url', 'secret'],
  ntfy: ['token', 'password'],
  discord: ['url'],
  slack: ['url'],
  wecom: ['key', 'url'],
  email: ['password'],
};

/** `BLACKSTART_NOTIFY_<ID>_<FIELD>`: the channel id upper-cased, `-` as `_`. */
export function secretEnvName(channelId: string, field: string): string {
  return `BLACKSTART_NOTIFY_${channelId.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_${field.toUpperCase()}`;
}

/**
 * Before validation: fills each channel's secrets from the environment (`secret(name)` reads
 * `NAME` or the file named by `NAME_FILE`), and its type's defaults (defaults inside a union only
 * apply to a value that already matches, so the variant is picked by `type`).
 */
export function prepareNotifications(raw: unknown, secret: (name: string) => string | undefined): unknown {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
  const section = raw as Record<string, unknown>;
  if (!Array.isArray(section.channels)) return section;
  section.channels = section.channels.map((channel: unknown) => {
    if (typeof channel !== 'object' || channel === null || Array.isArray(channel)) return channel;
    const c = channel as Record<string, unknown>;
    const fields = typeof c.type === 'string' ? SECRET_FIELDS[c.type as ChannelType] : undefined;
    if (fields && typeof c.id === 'string') {
      for (const field of fields) {
        const value = secret(secretEnvName(c.id, field));
        if (value) c[field] = value;
      }
    }
    const variant = typeof c.type === 'string' ? channelVariants[c.type] : undefined;
    return variant ? Value.Default(variant, c) : c;
  });
  return section;
}

/** Checks the schema cannot express: unique ids, secrets present, sane retry bounds. */
export function checkNotifications(n: NotificationsConfig, base = '/notifications'): PlanError[] {
  const errors: PlanError[] = [];
  if (n.retry.maxBackoff < n.retry.backoff)
    errors.push({
      path: `${base}/retry/maxBackoff`,
      message: `must be at least retry.backoff (${n.retry.backoff})`,
    });
  const seen = new Set<string>();
  n.channels.forEach((c, i) => {
    const at = `${base}/channels/${i}`;
    if (seen.has(c.id)) errors.push({ path: `${at}/id`, message: `duplicate channel id '${c.id}'` });
    seen.add(c.id);
    const need = (field: string, what: string) =>
      errors.push({
        path: `${at}/${field}`,
        message: `${what} is required (in the file or as ${secretEnvName(c.id, field)}[_FILE])`,
      });
    switch (c.type) {
      case 'webhook':
      case 'discord':
      case 'slack':
        if (!c.url) need('url', 'the webhook URL');
        break;
      case 'wecom':
        if (!c.url && !c.key) need('key', "the group robot's key (or url)");
        if (c.format !== 'text' && (c.mentionedMobileList || c.mentionedList?.includes('@all')))
          errors.push({
            path: `${at}/format`,
            message:
              "must be 'text' to @-mention by mobile number or '@all' (markdown can mention user ids only)",
          });
        break;
      case 'ntfy':
        if (c.password && !c.user)
          errors.push({ path: `${at}/user`, message: 'required when a password is given' });
        if (c.user && !c.password) need('password', 'the password');
        if (c.token && c.user)
          errors.push({
            path: `${at}/token`,
            message: 'give either a token or a user and password, not both',
          });
        break;
      case 'email':
        if (c.user && !c.password) need('password', 'the password');
        break;
    }
  });
  return errors;
}
