import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseSelector } from '@blackstart/hid-driver';
import { explainSchemaErrors, type Plan, type PlanError, PlanSchema, validatePlan } from '@blackstart/policy';
import Type, { type Static, type TSchema } from 'typebox';
import Value from 'typebox/value';
import { parse as parseYaml } from 'yaml';
import { checkNotifications, NotificationsSchema, prepareNotifications } from './notifications/config.ts';

const Id = Type.String({
  pattern: '^[a-z0-9][a-z0-9._-]{0,62}$',
  description: 'lower-case id: letters, digits, . _ - (at most 63 characters)',
});

/** One step of a simulator script: at `at` seconds after the source starts, change what is given. */
export const SimulatorStepSchema = Type.Object(
  {
    at: Type.Number({ minimum: 0, description: 'seconds after the source started' }),
    /** Mains present (true) or failed (false). */
    mains: Type.Optional(Type.Boolean()),
    /** New load, % of capacity. */
    load: Type.Optional(Type.Number({ minimum: 1, maximum: 100 })),
    /** Battery charge jumps to this (a worn battery, a test). */
    charge: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
    /** The UPS stops answering (true) or answers again (false): the controller sees "no data". */
    lost: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type SimulatorStep = Static<typeof SimulatorStepSchema>;

export const SimulatorSourceSchema = Type.Object(
  {
    id: Id,
    type: Type.Literal('simulator'),
    /** Seconds between readings. */
    interval: Type.Number({ minimum: 0.05, default: 1 }),
    /** Load in percent of the UPS's capacity. */
    load: Type.Number({ minimum: 1, maximum: 100, default: 30 }),
    /** Runtime on a full battery at `load`, in seconds. */
    runtimeAtLoad: Type.Number({ minimum: 10, default: 1200 }),
    /** Seconds after mains returns before a UPS whose output was switched off turns it back on. */
    returnDelay: Type.Number({ minimum: 0, default: 5 }),
    /** A scripted scenario played from the start (mains failing and returning, load changes, …). */
    script: Type.Array(SimulatorStepSchema, { default: [], maxItems: 1000 }),
  },
  { additionalProperties: false },
);
export type SimulatorSourceConfig = Static<typeof SimulatorSourceSchema>;

/** How a UPS is told to cut its output at the end of a plan. */
export const PowerOffCommandSchema = Type.Union(
  [
    Type.Literal('auto'),
    Type.Literal('shutdown.return'),
    Type.Literal('shutdown.reboot'),
    Type.Literal('load.off.delay'),
  ],
  {
    default: 'auto',
    description:
      'auto: the first the UPS offers of shutdown.return, shutdown.reboot, load.off.delay (the order NUT drivers use)',
  },
);
export type PowerOffCommand = Static<typeof PowerOffCommandSchema>;

export const NutSourceSchema = Type.Object(
  {
    id: Id,
    type: Type.Literal('nut'),
    /** The NUT server (upsd, a Synology, another Blackstart). */
    host: Type.String({ minLength: 1, maxLength: 255 }),
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 3493 }),
    /** The UPS's name on that server (`ups` on a Synology). */
    ups: Type.String({ minLength: 1, maxLength: 128, default: 'ups' }),
    username: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    /** Also BLACKSTART_NUT_PASSWORD_<ID>[_FILE], with the id upper-cased and other characters as _. */
    password: Type.Optional(Type.String({ maxLength: 256 })),
    /** Seconds between polls. */
    interval: Type.Number({ minimum: 0.1, maximum: 60, default: 1 }),
    /** Seconds to wait for an answer before the connection counts as lost. */
    timeout: Type.Number({ minimum: 0.5, maximum: 60, default: 5 }),
    tls: Type.Object(
      {
        /** off, try (STARTTLS when offered), require (STARTTLS and a verified certificate). */
        mode: Type.Union([Type.Literal('off'), Type.Literal('try'), Type.Literal('require')], {
          default: 'off',
        }),
        /** With `try`: go on in clear text when the server refuses STARTTLS. */
        allowPlaintextFallback: Type.Boolean({ default: false }),
        /** PEM file of the CA that signed the server's certificate (default: the system's CAs). */
        ca: Type.Optional(Type.String({ minLength: 1 })),
        /** Pin the server certificate's SHA-256 fingerprint instead of a CA. */
        fingerprint: Type.Optional(Type.String({ minLength: 32, maxLength: 128 })),
        /** The name checked against the certificate (default: host). */
        servername: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
      },
      { additionalProperties: false, default: {} },
    ),
    powerOff: Type.Object({ command: PowerOffCommandSchema }, { additionalProperties: false, default: {} }),
  },
  { additionalProperties: false },
);
export type NutSourceConfig = Static<typeof NutSourceSchema>;

export const HidSourceSchema = Type.Object(
  {
    id: Id,
    type: Type.Literal('hid'),
    /** auto (the first UPS), /dev/hidrawN, VVVV:PPPP[:SERIAL], or vendor=…,product=…,serial=… */
    device: Type.String({ minLength: 1, maxLength: 256, default: 'auto' }),
    /** Read a recorded fixture (JSON, or a NUT .dev dump with a usbhid-ups -DDD log) instead of USB. */
    replay: Type.Optional(Type.String({ minLength: 1 })),
    /** Seconds between readings (the driver's quick poll; status changes arrive at once by interrupt). */
    interval: Type.Number({ minimum: 0.2, maximum: 60, default: 1 }),
    /** ups.delay.shutdown / ups.delay.start the driver uses (default: the vendor's). */
    offDelay: Type.Optional(Type.Number({ minimum: 0, maximum: 3600 })),
    onDelay: Type.Optional(Type.Number({ minimum: 0, maximum: 3600 })),
    powerOff: Type.Object({ command: PowerOffCommandSchema }, { additionalProperties: false, default: {} }),
  },
  { additionalProperties: false },
);
export type HidSourceConfig = Static<typeof HidSourceSchema>;

export const SourceSchema = Type.Union([SimulatorSourceSchema, NutSourceSchema, HidSourceSchema]);
export type SourceConfig = Static<typeof SourceSchema>;

export const NutServerSchema = Type.Object(
  {
    /** Addresses to listen on. NUT clients (a Synology, a switch) must reach one of them. */
    host: Type.Array(Type.String({ minLength: 1, maxLength: 255 }), { minItems: 1, default: ['0.0.0.0'] }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 3493 }),
    users: Type.Array(
      Type.Object(
        {
          name: Type.String({ pattern: '^[!-~]{1,64}$', description: 'printable, no spaces' }),
          /** Also BLACKSTART_NUT_USER_PASSWORD_<NAME>[_FILE]. */
          password: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
          /** A `hashPassword()` scrypt hash instead of the password. */
          passwordHash: Type.Optional(Type.String({ minLength: 1 })),
          upsmon: Type.Union([Type.Literal('secondary'), Type.Literal('primary')], { default: 'secondary' }),
        },
        { additionalProperties: false },
      ),
      { default: [] },
    ),
    /** The UPSes served and the source behind each; default: every source, named by its id. */
    ups: Type.Optional(
      Type.Array(
        Type.Object(
          { name: Type.String({ pattern: '^[!-~]{1,64}$' }), source: Id },
          { additionalProperties: false },
        ),
        { minItems: 1 },
      ),
    ),
    /** How each nut-client host of the plan is recognised: its NUT user, its address, or both. */
    clients: Type.Record(
      Type.String(),
      Type.Object(
        {
          user: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
          address: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
        },
        { additionalProperties: false },
      ),
      { default: {} },
    ),
    /** Offer STARTTLS with the controller's certificate. */
    tls: Type.Boolean({ default: false }),
  },
  { additionalProperties: false },
);
export type NutServerConfig = Static<typeof NutServerSchema>;

export const ControllerHostSchema = Type.Object(
  {
    /**
     * How the controller's own host (`kind: controller` in the plan) is powered off, last:
     * `agent` — the blackstart-agent on the same machine, enrolled under that host's id, gets the
     * signed command like any other host (it runs the hooks); `systemd-path` — the controller writes
     * `requestFile` and a root-owned systemd path unit powers the machine off (deploy/controller/);
     * `command` — the controller runs `command`; `dry-run` — only recorded.
     */
    powerOff: Type.Union(
      [Type.Literal('agent'), Type.Literal('systemd-path'), Type.Literal('command'), Type.Literal('dry-run')],
      { default: 'agent' },
    ),
    requestFile: Type.String({ minLength: 1, default: '/run/blackstart/poweroff-request' }),
    command: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
  },
  { additionalProperties: false, default: {} },
);
export type ControllerHostConfig = Static<typeof ControllerHostSchema>;

export const WakeSchema = Type.Object(
  {
    /** Where the controller broadcasts Wake-on-LAN packets for hosts whose plan gives no `broadcast`. */
    networks: Type.Array(
      Type.Object(
        {
          broadcast: Type.String({ minLength: 1, maxLength: 255 }),
          port: Type.Integer({ minimum: 1, maximum: 65535, default: 9 }),
        },
        { additionalProperties: false },
      ),
      { default: [] },
    ),
    /** Seconds between repeated packets while a woken host is not healthy yet (within its wake timeout). */
    resendEvery: Type.Number({ minimum: 1, maximum: 3600, default: 30 }),
    /** Seconds between TCP health probes. */
    probeEvery: Type.Number({ minimum: 0.2, maximum: 600, default: 5 }),
  },
  { additionalProperties: false, default: {} },
);
export type WakeConfig = Static<typeof WakeSchema>;

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
        /** Key prefix of the job queue (controllers sharing one Redis need their own). */
        prefix: Type.String({ minLength: 1, maxLength: 128, default: 'blackstart' }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** Messages about outages to webhooks, ntfy, Discord, Slack, WeChat Work and e-mail (docs/notifications.md). */
    notifications: NotificationsSchema,
    sources: Type.Array(SourceSchema, { minItems: 1 }),
    /** A NUT server for NUT-only appliances (`nut-client` hosts); off unless configured. */
    nutServer: Type.Optional(NutServerSchema),
    controllerHost: ControllerHostSchema,
    wake: WakeSchema,
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
 * BLACKSTART_HOST, BLACKSTART_PORT, BLACKSTART_ADMIN_PASSWORD, BLACKSTART_VIEWER_PASSWORD,
 * BLACKSTART_NUT_PASSWORD_<SOURCE ID>, BLACKSTART_NUT_USER_PASSWORD_<USER> and the notification
 * channels' secrets BLACKSTART_NOTIFY_<CHANNEL>_<FIELD> (each secret also as
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
  const errors: PlanError[] = [];
  const seen = new Set<string>();
  config.sources.forEach((s, i) => {
    if (seen.has(s.id)) errors.push({ path: `/sources/${i}/id`, message: `duplicate source id '${s.id}'` });
    seen.add(s.id);
    if (s.type === 'nut' && s.password !== undefined && s.username === undefined)
      errors.push({ path: `/sources/${i}/username`, message: 'required with a password' });
    if (s.type === 'hid' && s.replay === undefined) {
      try {
        parseSelector(s.device);
      } catch (error) {
        errors.push({ path: `/sources/${i}/device`, message: (error as Error).message });
      }
    }
    if (s.type === 'nut' && s.tls.mode === 'off' && (s.tls.ca || s.tls.fingerprint))
      errors.push({
        path: `/sources/${i}/tls/mode`,
        message: "a CA or fingerprint needs mode 'try' or 'require'",
      });
  });
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
  const nut = config.nutServer;
  if (nut) {
    nut.users.forEach((u, i) => {
      if (u.password === undefined && u.passwordHash === undefined)
        errors.push({
          path: `/nutServer/users/${i}/password`,
          message: `required (or passwordHash, or BLACKSTART_NUT_USER_PASSWORD_${envName(u.name)})`,
        });
    });
    nut.ups?.forEach((u, i) => {
      if (!seen.has(u.source))
        errors.push({
          path: `/nutServer/ups/${i}/source`,
          message: `no source with id '${u.source}' in /sources`,
        });
    });
  }
  if (config.controllerHost.powerOff === 'command' && !config.controllerHost.command)
    errors.push({ path: '/controllerHost/command', message: "required when powerOff is 'command'" });
  errors.push(...checkPlanAgainstConfig(plan.plan, config).map((e) => ({ ...e, path: `/plan${e.path}` })));
  if (nut) {
    for (const host of Object.keys(nut.clients)) {
      if (!plan.plan.hosts.some((h) => h.id === host && h.kind === 'nut-client'))
        errors.push({
          path: `/nutServer/clients/${host}`,
          message: `'${host}' is not a nut-client host of the plan`,
        });
    }
  }
  errors.push(...checkNotifications(config.notifications));
  if (errors.length > 0) throw new ConfigError(errors, file);
  return { ...config, plan: plan.plan };
}

/**
 * What a (valid) plan needs from the rest of the configuration: a source for each UPS, the NUT
 * server and an identity for each nut-client host, hooks only where they can run. Paths are
 * relative to the plan. Used at start and when a plan is replaced over the API.
 */
export function checkPlanAgainstConfig(
  plan: Plan,
  config: Pick<Config, 'sources' | 'nutServer' | 'controllerHost'>,
): PlanError[] {
  const errors: PlanError[] = [];
  const sourceIds = new Set(config.sources.map((s) => s.id));
  plan.ups.forEach((u, i) => {
    if (!sourceIds.has(u.id))
      errors.push({ path: `/ups/${i}/id`, message: `no source with id '${u.id}' in /sources` });
  });
  plan.hosts.forEach((h, i) => {
    if (h.kind === 'nut-client') {
      if (!config.nutServer)
        errors.push({
          path: `/hosts/${i}/kind`,
          message: 'nut-client hosts are shut down through the controller’s NUT server: configure nutServer',
        });
      else if (!config.nutServer.clients[h.id] && !h.address)
        errors.push({
          path: `/hosts/${i}`,
          message: `no NUT identity for '${h.id}': give the host an address, or set nutServer.clients.${h.id}.user`,
        });
    }
    if (h.kind === 'controller' && config.controllerHost.powerOff !== 'agent' && h.shutdown.hooks.length > 0)
      errors.push({
        path: `/hosts/${i}/shutdown/hooks`,
        message: `hooks of the controller’s host run through its local agent (controllerHost.powerOff: agent), not '${config.controllerHost.powerOff}'`,
      });
  });
  return errors;
}

const sourceVariants: Record<string, TSchema> = {
  simulator: SimulatorSourceSchema,
  nut: NutSourceSchema,
  hid: HidSourceSchema,
};

function defaultSource(source: unknown): unknown {
  const type = (source as { type?: unknown } | null)?.type;
  const variant = typeof type === 'string' ? sourceVariants[type] : undefined;
  return variant ? Value.Default(variant, source) : source;
}

/** An id or user name as it appears in an environment variable name: upper case, others as `_`. */
export function envName(id: string): string {
  return id.toUpperCase().replace(/[^A-Z0-9]/g, '_');
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
  if (Array.isArray(raw.sources)) {
    for (const source of raw.sources as Array<Record<string, unknown> | null>) {
      if (source?.type !== 'nut' || typeof source.id !== 'string') continue;
      const password = secretFromEnv(env, `BLACKSTART_NUT_PASSWORD_${envName(source.id)}`);
      if (password) source.password = password;
    }
  }
  const nut = raw.nutServer as { users?: unknown } | null | undefined;
  if (nut && Array.isArray(nut.users)) {
    for (const user of nut.users as Array<Record<string, unknown> | null>) {
      if (typeof user?.name !== 'string') continue;
      const password = secretFromEnv(env, `BLACKSTART_NUT_USER_PASSWORD_${envName(user.name)}`);
      if (password) user.password = password;
    }
  }
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
