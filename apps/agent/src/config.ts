import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

export type PowerActionKind = 'systemd-path' | 'dry-run' | 'command';

/**
 * What the agent trusts the controller by, given at install:
 * - `tls-certificate`: the SHA-256 fingerprint of the controller's TLS certificate (a self-signed
 *   controller). The TLS peer is checked before the enrollment token is sent, and that certificate
 *   stays the only one trusted for HTTPS and WSS.
 * - `controller-key`: the RFC 7638 thumbprint of the controller's signing key (a controller behind a
 *   CA-issued certificate, verified the ordinary way). The key the controller answers with must match.
 */
export type ControllerPin =
  | { kind: 'tls-certificate'; fingerprint: string }
  | { kind: 'controller-key'; thumbprint: string };

export interface NutFallback {
  ups: string;
  host: string;
  port: number;
  username?: string;
  password?: string;
  intervalMs: number;
}

export interface AgentConfig {
  /** http(s)://controller:port — the WebSocket URL is derived from it. */
  controllerUrl: string;
  /** This host's id in the plan. */
  host: string;
  /** Keys, the controller's pinned key (and certificate) and seen command ids live here. */
  stateDir: string;
  /** Single-use enrollment token; needed only until the agent has enrolled. */
  enrollToken?: string;
  controllerPin?: ControllerPin;
  powerAction: PowerActionKind;
  /** For `powerAction: command`: the command that powers the host off. */
  powerCommand?: string;
  /** For `powerAction: systemd-path`: where the power-off request is written (the agent's RuntimeDirectory). */
  powerRequestDir: string;
  /**
   * Fail-safe: seconds after losing the controller while the UPS was last seen on battery before the
   * agent shuts its host down on its own; `undefined` turns the fail-safe off.
   */
  failsafeDeadlineSeconds: number | undefined;
  /** Seconds between the agent's pings; three without any answer mean the controller is gone. */
  heartbeatSeconds: number;
  /** JSON file with the hooks the fail-safe shutdown runs (same schema as the plan's hooks). */
  failsafeHooksFile?: string;
  /** A NUT server the agent follows directly while it cannot reach the controller. */
  nut?: NutFallback;
  /** libvirt connection URI for `libvirt-shutdown` hooks. */
  libvirtUri: string;
  /** Docker Engine API endpoint for `docker-stop` hooks (`unix:///path` or `http://host:port`). */
  dockerHost: string;
  logLevel: string;
}

export class AgentConfigError extends Error {
  override name = 'AgentConfigError';
}

export const USAGE = `usage: blackstart-agent [run|enroll] [options]

  run (default)   enroll if needed, then stay connected and carry out signed commands
  enroll          enroll with the token and exit (the install script does this before starting the service)

options (each also read from the environment variable shown):
  --controller <url>        controller URL                               BLACKSTART_CONTROLLER
  --host <id>               this host's id in the plan                   BLACKSTART_HOST
  --state-dir <dir>         keys and state                               BLACKSTART_STATE_DIR (default /var/lib/blackstart-agent)
  --token <token>           enrollment token (first start only)          BLACKSTART_TOKEN, BLACKSTART_TOKEN_FILE
  --pin <pin>               sha256:<hex> of the controller's TLS certificate,
                            or the RFC 7638 thumbprint of its signing key BLACKSTART_PIN
  --power-action <kind>     systemd-path | dry-run | command             BLACKSTART_POWER_ACTION (default dry-run)
  --power-command <cmd>     for --power-action command                   BLACKSTART_POWER_COMMAND
  --power-request-dir <dir> for --power-action systemd-path              RUNTIME_DIRECTORY (default /run/blackstart-agent)
  --failsafe-deadline <s>   seconds without the controller while on battery before shutting
                            down alone; 'off' disables                    BLACKSTART_FAILSAFE_DEADLINE (default 120)
  --heartbeat <s>           ping period; 3 unanswered = controller lost    BLACKSTART_HEARTBEAT (default 15)
  --failsafe-hooks <file>   JSON array of hooks the fail-safe shutdown runs BLACKSTART_FAILSAFE_HOOKS
  --nut <ups@host[:port]>   follow this NUT server while the controller is gone BLACKSTART_NUT
  --nut-user <name>         NUT user name                                 BLACKSTART_NUT_USER
  --nut-password <secret>   NUT password                                  BLACKSTART_NUT_PASSWORD, BLACKSTART_NUT_PASSWORD_FILE
  --nut-interval <s>        NUT poll period (default 2)                   BLACKSTART_NUT_INTERVAL
  --libvirt-uri <uri>       for libvirt-shutdown hooks                    LIBVIRT_DEFAULT_URI (default qemu:///system)
  --docker-host <url>       for docker-stop hooks                         DOCKER_HOST (default unix:///var/run/docker.sock)
  --log-level <level>       pino level                                    LOG_LEVEL (default info)`;

const OPTIONS = {
  controller: { type: 'string' },
  host: { type: 'string' },
  'state-dir': { type: 'string' },
  token: { type: 'string' },
  pin: { type: 'string' },
  'power-action': { type: 'string' },
  'power-command': { type: 'string' },
  'power-request-dir': { type: 'string' },
  'failsafe-deadline': { type: 'string' },
  'failsafe-hooks': { type: 'string' },
  heartbeat: { type: 'string' },
  nut: { type: 'string' },
  'nut-user': { type: 'string' },
  'nut-password': { type: 'string' },
  'nut-interval': { type: 'string' },
  'libvirt-uri': { type: 'string' },
  'docker-host': { type: 'string' },
  'log-level': { type: 'string' },
} as const;

/** Parses a `--pin`: `sha256:<64 hex digits>` (colons allowed) or a 43-character base64url thumbprint. */
export function parsePin(raw: string): ControllerPin {
  const value = raw.trim();
  const sha = /^sha256:([0-9a-fA-F:]+)$/.exec(value);
  if (sha) {
    const hex = sha[1]!.replace(/:/g, '').toLowerCase();
    if (/^[0-9a-f]{64}$/.test(hex)) return { kind: 'tls-certificate', fingerprint: `sha256:${hex}` };
  } else if (/^[A-Za-z0-9_-]{43}$/.test(value)) {
    return { kind: 'controller-key', thumbprint: value };
  }
  throw new AgentConfigError(
    `pin: '${raw}' is neither sha256:<64 hex digits> (TLS certificate) nor a 43-character key thumbprint`,
  );
}

function readSecret(env: NodeJS.ProcessEnv, name: string, field: string): string | undefined {
  const file = env[`${name}_FILE`];
  if (!file) return env[name];
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (error) {
    throw new AgentConfigError(`${field}: cannot read ${name}_FILE ${file}: ${(error as Error).message}`);
  }
}

function parseNut(spec: string): { ups: string; host: string; port: number } {
  const m = /^([A-Za-z0-9._-]+)@(\[[0-9a-fA-F:]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?$/.exec(spec);
  const port = Number(m?.[3] ?? 3493);
  if (!m || port < 1 || port > 65535) throw new AgentConfigError(`nut: '${spec}' is not ups@host[:port]`);
  return { ups: m[1]!, host: m[2]!.replace(/^\[|\]$/g, ''), port };
}

function seconds(raw: string, field: string, { min = 0, max = 86_400 } = {}): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < min || n > max)
    throw new AgentConfigError(`${field}: '${raw}' is not a number of seconds between ${min} and ${max}`);
  return n;
}

/** The subcommand (`run` unless the first argument names another) and the remaining arguments. */
export function splitCommand(argv: string[]): { command: 'run' | 'enroll'; args: string[] } {
  const [first, ...rest] = argv;
  if (first === 'run' || first === 'enroll') return { command: first, args: rest };
  return { command: 'run', args: argv };
}

/** Reads options from flags, then the environment (with `_FILE` indirection for secrets). */
export function loadAgentConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): AgentConfig {
  let values: Partial<Record<keyof typeof OPTIONS, string>>;
  try {
    ({ values } = parseArgs({ args: argv, options: OPTIONS, strict: true }));
  } catch (error) {
    throw new AgentConfigError((error as Error).message);
  }
  const token = values.token ?? readSecret(env, 'BLACKSTART_TOKEN', 'token');
  const controllerUrl = values.controller ?? env.BLACKSTART_CONTROLLER;
  const host = values.host ?? env.BLACKSTART_HOST;
  const powerAction = values['power-action'] ?? env.BLACKSTART_POWER_ACTION ?? 'dry-run';
  if (!controllerUrl)
    throw new AgentConfigError('controller: URL missing (--controller or BLACKSTART_CONTROLLER)');
  let url: URL;
  try {
    url = new URL(controllerUrl);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new AgentConfigError(`controller: '${controllerUrl}' is not an http(s) URL`);
  }
  if (!host || !/^[a-z0-9][a-z0-9._-]{0,62}$/.test(host))
    throw new AgentConfigError(
      `host: '${host ?? ''}' is not a valid host id (lower-case letters, digits, . _ -)`,
    );
  if (powerAction !== 'dry-run' && powerAction !== 'command' && powerAction !== 'systemd-path')
    throw new AgentConfigError(`power-action: '${powerAction}' is not one of systemd-path, dry-run, command`);
  const powerCommand = values['power-command'] ?? env.BLACKSTART_POWER_COMMAND;
  if (powerAction === 'command' && !powerCommand)
    throw new AgentConfigError('power-command: required with --power-action command');
  const pinText = values.pin ?? env.BLACKSTART_PIN;
  const pin = pinText ? parsePin(pinText) : undefined;
  if (pin?.kind === 'tls-certificate' && url.protocol !== 'https:')
    throw new AgentConfigError(
      `pin: a TLS certificate fingerprint needs an https:// controller URL, not '${controllerUrl}'`,
    );
  const deadlineText = values['failsafe-deadline'] ?? env.BLACKSTART_FAILSAFE_DEADLINE ?? '120';
  const failsafeDeadlineSeconds =
    deadlineText === 'off' ? undefined : seconds(deadlineText, 'failsafe-deadline', { min: 1 });
  const nutSpec = values.nut ?? env.BLACKSTART_NUT;
  let nut: NutFallback | undefined;
  if (nutSpec) {
    const username = values['nut-user'] ?? env.BLACKSTART_NUT_USER;
    const password = values['nut-password'] ?? readSecret(env, 'BLACKSTART_NUT_PASSWORD', 'nut-password');
    const interval = seconds(values['nut-interval'] ?? env.BLACKSTART_NUT_INTERVAL ?? '2', 'nut-interval', {
      min: 0.1,
      max: 300,
    });
    nut = {
      ...parseNut(nutSpec),
      ...(username && { username }),
      ...(password && { password }),
      intervalMs: Math.round(interval * 1000),
    };
  }
  const failsafeHooksFile = values['failsafe-hooks'] ?? env.BLACKSTART_FAILSAFE_HOOKS;
  const heartbeatSeconds = seconds(values.heartbeat ?? env.BLACKSTART_HEARTBEAT ?? '15', 'heartbeat', {
    min: 0.2,
    max: 300,
  });
  return {
    controllerUrl: controllerUrl.replace(/\/+$/, ''),
    host,
    stateDir: values['state-dir'] ?? env.BLACKSTART_STATE_DIR ?? '/var/lib/blackstart-agent',
    ...(token && { enrollToken: token }),
    ...(pin && { controllerPin: pin }),
    powerAction,
    ...(powerCommand && { powerCommand }),
    powerRequestDir:
      values['power-request-dir'] ??
      env.BLACKSTART_POWER_REQUEST_DIR ??
      // systemd sets RUNTIME_DIRECTORY (possibly several, colon-separated) for RuntimeDirectory=.
      env.RUNTIME_DIRECTORY?.split(':')[0] ??
      '/run/blackstart-agent',
    failsafeDeadlineSeconds,
    heartbeatSeconds,
    ...(failsafeHooksFile && { failsafeHooksFile }),
    ...(nut && { nut }),
    libvirtUri: values['libvirt-uri'] ?? env.LIBVIRT_DEFAULT_URI ?? 'qemu:///system',
    dockerHost: values['docker-host'] ?? env.DOCKER_HOST ?? 'unix:///var/run/docker.sock',
    logLevel: values['log-level'] ?? env.LOG_LEVEL ?? 'info',
  };
}
