import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { explainSchemaErrors, type Plan, type PlanError, PlanSchema, validatePlan } from '@blackstart/policy';
import Type, { type Static } from 'typebox';
import Value from 'typebox/value';
import { parse as parseYaml } from 'yaml';
import { checkNotifications, NotificationsSchema, prepareNotifications } from './notifications/config.ts';

export const SimulatorSourceSchema = Type.Object(
  {
    id: Type.String({ minLength: 1 }),
    type: Type.Literal('simulator'),
    /** Seconds between readings. */
    interval: Type.Number({ minimum: 0.05, default: 1 }),
    /** Load in percent of the UPS's capacity. */
    load: Type.Number({ minimum: 1, maximum: 100, default: 30 }),
    /** Runtime on a full battery at `load`, in seconds. */
    runtimeAtLoad: Type.Number({ minimum: 10, default: 1200 }),
    /** Seconds after mains returns before a UPS whose output was switched off turns it back on. */
    returnDelay: Type.Number({ minimum: 0, default: 5 }),
  },
  { additionalProperties: false },
);
export type SimulatorSourceConfig = Static<typeof SimulatorSourceSchema>;

export const SourceSchema = Type.Union([SimulatorSourceSchema]);
export type SourceConfig = Static<typeof SourceSchema>;

export const ConfigSchema = Type.Object(
  {
    server: Type.Object(
      {
        host: Type.String({ default: '127.0.0.1' }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 7393 }),
        /** The URL agents and browsers use to reach this controller (printed in install commands). */
        publicUrl: Type.Optional(Type.String()),
        /**
         * HTTPS: `self-signed` (a certificate created at first start in dataDir, pinned by agents),
         * `files` (cert + key paths), or `off`. Default: off on a loopback address, self-signed otherwise.
         */
        tls: Type.Optional(
          Type.Object(
            {
              mode: Type.Union([Type.Literal('self-signed'), Type.Literal('files'), Type.Literal('off')]),
              cert: Type.Optional(Type.String()),
              key: Type.Optional(Type.String()),
            },
            { additionalProperties: false },
          ),
        ),
        /** Plain HTTP on a non-loopback address is allowed only behind a TLS-terminating proxy. */
        behindProxy: Type.Boolean({ default: false }),
      },
      { additionalProperties: false, default: {} },
    ),
    auth: Type.Object(
      {
        /** The admin password (BLACKSTART_ADMIN_PASSWORD[_FILE]); when absent one is generated at first start and printed once. */
        adminPassword: Type.Optional(Type.String({ minLength: 8 })),
        /** A password for the read-only `viewer` login (BLACKSTART_VIEWER_PASSWORD[_FILE]); no viewer login without it. */
        viewerPassword: Type.Optional(Type.String({ minLength: 8 })),
        /** Hours a login session lasts. */
        sessionHours: Type.Number({ minimum: 0.1, maximum: 24 * 30, default: 12 }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** Keys, journal and the embedded database live here. */
    dataDir: Type.String({ default: './blackstart-data' }),
    database: Type.Object(
      {
        /** postgres:// URL; when absent the embedded PGlite in `dataDir/db` is used. */
        url: Type.Optional(Type.String()),
      },
      { additionalProperties: false, default: {} },
    ),
    redis: Type.Object(
      {
        /** redis:// URL for side-effect jobs; when absent jobs run in-process. */
        url: Type.Optional(Type.String()),
      },
      { additionalProperties: false, default: {} },
    ),
    /** Messages about outages to webhooks, ntfy, Discord, Slack, WeChat Work and e-mail (docs/notifications.md). */
    notifications: NotificationsSchema,
    sources: Type.Array(SourceSchema, { minItems: 1 }),
    plan: PlanSchema,
  },
  { additionalProperties: false },
);
export type Config = Omit<Static<typeof ConfigSchema>, 'plan'> & { plan: Plan };

export class ConfigError extends Error {
  constructor(
    readonly errors: PlanError[],
    readonly file?: string,
  ) {
    super(
      `invalid configuration${file ? ` in ${file}` : ''}:\n${errors.map((e) => `  ${e.path}: ${e.message}`).join('\n')}`,
    );
    this.name = 'ConfigError';
  }
}

/**
 * Validates a configuration object: schema errors name the field (`/sources/0/interval: …`),
 * then the plan's own checks (cycles, unknown references) and cross-field rules.
 * Environment variables override the file: DATABASE_URL, REDIS_URL, BLACKSTART_DATA_DIR,
 * BLACKSTART_HOST, BLACKSTART_PORT, BLACKSTART_ADMIN_PASSWORD, BLACKSTART_VIEWER_PASSWORD and the
 * notification channels' secrets BLACKSTART_NOTIFY_<CHANNEL>_<FIELD> (each secret also as
 * `<NAME>_FILE`, naming a file that holds it).
 */
export function parseConfig(input: unknown, env: NodeJS.ProcessEnv = process.env, file?: string): Config {
  const raw = (typeof input === 'object' && input !== null ? structuredClone(input) : input) as Record<
    string,
    unknown
  >;
  if (typeof raw === 'object' && raw !== null) {
    // A YAML section left empty (`database:` with only comments under it) means "defaults".
    for (const [key, value] of Object.entries(raw)) if (value === null) delete raw[key];
    applyEnv(raw, env);
    // Defaults inside a union only apply to a value that already matches a variant; pick the
    // variant by `type` so an invalid source still gets its defaults and one precise error.
    if (Array.isArray(raw.sources)) raw.sources = raw.sources.map(defaultSource);
    if (raw.notifications !== undefined)
      raw.notifications = prepareNotifications(raw.notifications, (name) => secretFromEnv(env, name));
  }
  const value = Value.Default(ConfigSchema, raw);
  if (!Value.Check(ConfigSchema, value)) {
    throw new ConfigError(explainSchemaErrors(ConfigSchema, value), file);
  }
  const config = value as Static<typeof ConfigSchema>;
  const plan = validatePlan(config.plan);
  if (!plan.ok)
    throw new ConfigError(
      plan.errors.map((e) => ({ path: `/plan${e.path}`, message: e.message })),
      file,
    );
  const sourceIds = new Set(config.sources.map((s) => s.id));
  const errors: PlanError[] = [];
  const tls = config.server.tls;
  if (tls?.mode === 'files') {
    if (!tls.cert) errors.push({ path: '/server/tls/cert', message: "required when mode is 'files'" });
    if (!tls.key) errors.push({ path: '/server/tls/key', message: "required when mode is 'files'" });
  }
  if (tls?.mode === 'off' && !isLoopback(config.server.host) && !config.server.behindProxy) {
    errors.push({
      path: '/server/tls/mode',
      message: `plain HTTP on ${config.server.host} is allowed only behind a TLS-terminating proxy (set server.behindProxy: true)`,
    });
  }
  plan.plan.ups.forEach((u, i) => {
    if (!sourceIds.has(u.id))
      errors.push({ path: `/plan/ups/${i}/id`, message: `no source with id '${u.id}' in /sources` });
  });
  errors.push(...checkNotifications(config.notifications));
  if (errors.length > 0) throw new ConfigError(errors, file);
  return { ...config, plan: plan.plan };
}

const sourceVariants: Record<string, typeof SimulatorSourceSchema> = { simulator: SimulatorSourceSchema };

function defaultSource(source: unknown): unknown {
  const type = (source as { type?: unknown } | null)?.type;
  const variant = typeof type === 'string' ? sourceVariants[type] : undefined;
  return variant ? Value.Default(variant, source) : source;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** The effective TLS mode: the configured one, or off on loopback and self-signed elsewhere. */
export function tlsMode(config: Config): 'self-signed' | 'files' | 'off' {
  return config.server.tls?.mode ?? (isLoopback(config.server.host) ? 'off' : 'self-signed');
}

/** `NAME` or, when set, the contents of the file named by `NAME_FILE` (for secrets). */
export function secretFromEnv(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const file = env[`${name}_FILE`];
  if (file) {
    try {
      return readFileSync(file, 'utf8').trim();
    } catch (error) {
      throw new ConfigError([
        { path: '/', message: `${name}_FILE: cannot read ${file}: ${(error as Error).message}` },
      ]);
    }
  }
  return env[name];
}

function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  const section = (key: string) => {
    const current = raw[key];
    const obj = typeof current === 'object' && current !== null ? (current as Record<string, unknown>) : {};
    raw[key] = obj;
    return obj;
  };
  if (env.DATABASE_URL) section('database').url = env.DATABASE_URL;
  if (env.REDIS_URL) section('redis').url = env.REDIS_URL;
  if (env.BLACKSTART_DATA_DIR) raw.dataDir = env.BLACKSTART_DATA_DIR;
  if (env.BLACKSTART_HOST) section('server').host = env.BLACKSTART_HOST;
  if (env.BLACKSTART_PORT) {
    const port = Number(env.BLACKSTART_PORT);
    // A non-number stays a string so the error says what was given.
    section('server').port = Number.isInteger(port) ? port : env.BLACKSTART_PORT;
  }
  const admin = secretFromEnv(env, 'BLACKSTART_ADMIN_PASSWORD');
  if (admin) section('auth').adminPassword = admin;
  const viewer = secretFromEnv(env, 'BLACKSTART_VIEWER_PASSWORD');
  if (viewer) section('auth').viewerPassword = viewer;
}

export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): Config {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError([{ path: '/', message: `cannot read: ${(error as Error).message}` }], file);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (error) {
    throw new ConfigError([{ path: '/', message: `not valid YAML: ${(error as Error).message}` }], file);
  }
  return parseConfig(parsed, env, file);
}
