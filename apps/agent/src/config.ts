import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

export type PowerActionKind = 'dry-run' | 'command';

export interface AgentConfig {
  /** http(s)://controller:port — the WebSocket URL is derived from it. */
  controllerUrl: string;
  /** This host's id in the plan. */
  host: string;
  /** Keys, the controller's pinned key and seen command ids live here. */
  stateDir: string;
  /** Single-use enrollment token; needed only until the agent has enrolled. */
  enrollToken?: string;
  /** Thumbprint (RFC 7638) of the controller's signing key, pinned at install. */
  controllerPin?: string;
  powerAction: PowerActionKind;
  /** For `powerAction: command`: the command that powers the host off. */
  powerCommand?: string;
  logLevel: string;
}

export class AgentConfigError extends Error {
  override name = 'AgentConfigError';
}

const USAGE = `usage: blackstart-agent [options]

options (each also read from the environment variable shown):
  --controller <url>      controller URL                       BLACKSTART_CONTROLLER
  --host <id>             this host's id in the plan           BLACKSTART_HOST
  --state-dir <dir>       keys and state                       BLACKSTART_STATE_DIR (default /var/lib/blackstart-agent)
  --token <token>         enrollment token (first start only)  BLACKSTART_TOKEN, BLACKSTART_TOKEN_FILE
  --pin <thumbprint>      controller key thumbprint            BLACKSTART_PIN
  --power-action <kind>   dry-run | command                    BLACKSTART_POWER_ACTION (default dry-run)
  --power-command <cmd>   for --power-action command           BLACKSTART_POWER_COMMAND
  --log-level <level>     pino level                           LOG_LEVEL (default info)`;

export { USAGE };

/** Reads options from flags, then the environment (with `_FILE` indirection for the token). */
export function loadAgentConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      controller: { type: 'string' },
      host: { type: 'string' },
      'state-dir': { type: 'string' },
      token: { type: 'string' },
      pin: { type: 'string' },
      'power-action': { type: 'string' },
      'power-command': { type: 'string' },
      'log-level': { type: 'string' },
    },
    strict: true,
  });
  const token =
    values.token ??
    env.BLACKSTART_TOKEN ??
    (env.BLACKSTART_TOKEN_FILE ? readFileSync(env.BLACKSTART_TOKEN_FILE, 'utf8').trim() : undefined);
  const controllerUrl = values.controller ?? env.BLACKSTART_CONTROLLER;
  const host = values.host ?? env.BLACKSTART_HOST;
  const powerAction = values['power-action'] ?? env.BLACKSTART_POWER_ACTION ?? 'dry-run';
  if (!controllerUrl)
    throw new AgentConfigError('controller URL missing (--controller or BLACKSTART_CONTROLLER)');
  try {
    const url = new URL(controllerUrl);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new AgentConfigError(`controller: '${controllerUrl}' is not an http(s) URL`);
  }
  if (!host || !/^[a-z0-9][a-z0-9._-]{0,62}$/.test(host))
    throw new AgentConfigError(
      `host: '${host ?? ''}' is not a valid host id (lower-case letters, digits, . _ -)`,
    );
  if (powerAction !== 'dry-run' && powerAction !== 'command')
    throw new AgentConfigError(`power-action: '${powerAction}' is not one of dry-run, command`);
  const powerCommand = values['power-command'] ?? env.BLACKSTART_POWER_COMMAND;
  if (powerAction === 'command' && !powerCommand)
    throw new AgentConfigError('power-command: required with --power-action command');
  const pin = values.pin ?? env.BLACKSTART_PIN;
  return {
    controllerUrl: controllerUrl.replace(/\/+$/, ''),
    host,
    stateDir: values['state-dir'] ?? env.BLACKSTART_STATE_DIR ?? '/var/lib/blackstart-agent',
    ...(token && { enrollToken: token }),
    ...(pin && { controllerPin: pin }),
    powerAction,
    ...(powerCommand && { powerCommand }),
    logLevel: values['log-level'] ?? env.LOG_LEVEL ?? 'info',
  };
}
