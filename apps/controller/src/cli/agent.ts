import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fetchPinnedCertificate, pinnedTlsOptions, postJson } from '@blackstart/agent';
import { type Config, ConfigError, loadConfigFile, secretFromEnv, tlsMode } from '../config.ts';
import { certificateFingerprint } from '../security/tls.ts';
import { type CliCommand, UsageError } from './command.ts';

const USAGE = `usage: blackstart agent install-command [options]

Mints a single-use enrollment token on a running controller and prints the one-liner that installs
and enrolls the agent on a host:

  curl -fsSL <controller>/install.sh | sudo sh -s -- --token <token> --pin <pin>

(with a self-signed controller certificate, curl pins its public key: -k --pinnedpubkey sha256//…).

options:
  --controller <url>       the controller as hosts reach it (default: server.publicUrl, else
                           server.host and port from the configuration)
  --config <file>          configuration file (default $BLACKSTART_CONFIG, then ./blackstart.yaml if
                           present): its URL and its TLS certificate, which is then trusted by pin
  --tls-fingerprint <fp>   trust the controller's certificate with this sha256:<hex> fingerprint
  --api-token <token>      an admin API token (default $BLACKSTART_API_TOKEN[_FILE]); or
                           $BLACKSTART_ADMIN_PASSWORD[_FILE] to log in as admin
  --host <id>              the token only enrolls this host id
  --ttl <seconds>          how long the token is valid (default 3600, at most 604800)`;

interface Options {
  controller?: string | undefined;
  config?: string | undefined;
  'tls-fingerprint'?: string | undefined;
  'api-token'?: string | undefined;
  host?: string | undefined;
  ttl?: string | undefined;
}

function loadConfig(file: string | undefined): Config | undefined {
  const path =
    file ?? process.env.BLACKSTART_CONFIG ?? (existsSync('blackstart.yaml') ? 'blackstart.yaml' : undefined);
  if (!path) return undefined;
  return loadConfigFile(path);
}

function defaultUrl(config: Config): string {
  if (config.server.publicUrl) return config.server.publicUrl;
  const scheme = tlsMode(config) === 'off' ? 'http' : 'https';
  const host = ['0.0.0.0', '::'].includes(config.server.host) ? hostname() : config.server.host;
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${config.server.port}`;
}

/** The certificate the configured controller serves, when this machine can read it. */
function configuredFingerprint(config: Config): string | undefined {
  const mode = tlsMode(config);
  const file =
    mode === 'self-signed'
      ? join(resolve(config.dataDir), 'tls-cert.pem')
      : mode === 'files'
        ? config.server.tls?.cert
        : undefined;
  if (!file || !existsSync(file)) return undefined;
  try {
    return certificateFingerprint(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

async function installCommandRun(args: string[]): Promise<number> {
  let values: Options;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        controller: { type: 'string' },
        config: { type: 'string', short: 'c' },
        'tls-fingerprint': { type: 'string' },
        'api-token': { type: 'string' },
        host: { type: 'string' },
        ttl: { type: 'string' },
      },
      strict: true,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  let config: Config | undefined;
  try {
    config = loadConfig(values.config);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`blackstart: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
  const base = (values.controller ?? (config && defaultUrl(config)))?.replace(/\/+$/, '');
  if (!base) throw new UsageError('no controller URL: pass --controller <url> or --config <file>');
  let url: URL;
  try {
    url = new URL(base);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new UsageError(`--controller: '${base}' is not an http(s) URL`);
  }
  const ttl = Number(values.ttl ?? 3600);
  if (!Number.isInteger(ttl) || ttl < 60 || ttl > 604_800)
    throw new UsageError(`--ttl: '${values.ttl}' is not a whole number of seconds between 60 and 604800`);
  if (values.host !== undefined && !/^[a-z0-9][a-z0-9._-]{0,62}$/.test(values.host))
    throw new UsageError(
      `--host: '${values.host}' is not a valid host id (lower-case letters, digits, . _ -)`,
    );
  const fingerprint = values['tls-fingerprint'] ?? (config && configuredFingerprint(config));
  if (fingerprint !== undefined && !/^sha256:[0-9a-f]{64}$/.test(fingerprint))
    throw new UsageError(`--tls-fingerprint: '${fingerprint}' is not sha256:<64 lower-case hex digits>`);

  let tls: ReturnType<typeof pinnedTlsOptions> | undefined;
  if (url.protocol === 'https:' && fingerprint) {
    try {
      tls = pinnedTlsOptions(await fetchPinnedCertificate(base, fingerprint));
    } catch (error) {
      process.stderr.write(`blackstart: ${(error as Error).message}\n`);
      return 1;
    }
  }
  let credential = values['api-token'] ?? secretFromEnv(process.env, 'BLACKSTART_API_TOKEN');
  if (!credential) {
    const password = secretFromEnv(process.env, 'BLACKSTART_ADMIN_PASSWORD');
    if (!password)
      throw new UsageError(
        'no credentials: pass --api-token, or set BLACKSTART_API_TOKEN or BLACKSTART_ADMIN_PASSWORD',
      );
    const login = await request(`${base}/api/v1/auth/login`, { username: 'admin', password }, tls);
    if (!login) return 1;
    credential = (login as { token: string }).token;
  }
  const minted = await request(
    `${base}/api/v1/enrollment-tokens`,
    { ttlSeconds: ttl, ...(values.host && { host: values.host }) },
    tls,
    credential,
  );
  if (!minted) return 1;
  const { installCommand, expiresAt, host } = minted as {
    installCommand?: string;
    expiresAt: string;
    host: string | null;
  };
  if (!installCommand) {
    process.stderr.write('blackstart: the controller did not return an install command (too old?)\n');
    return 1;
  }
  process.stdout.write(`${installCommand}\n`);
  process.stderr.write(
    `\nRun it as root on the host${host ? ` '${host}'` : ''}. The token works once, until ${expiresAt}.\n`,
  );
  return 0;
}

async function request(
  url: string,
  body: unknown,
  tls: ReturnType<typeof pinnedTlsOptions> | undefined,
  bearer?: string,
): Promise<unknown> {
  try {
    const response = await postJson(url, body, {
      ...(tls && { tls }),
      ...(bearer && { headers: { authorization: `Bearer ${bearer}` } }),
    });
    if (response.status >= 200 && response.status < 300) return response.body;
    const { error, message } = response.body as { error?: string; message?: string };
    process.stderr.write(`blackstart: ${url}: ${response.status} ${message ?? error ?? ''}\n`);
  } catch (error) {
    process.stderr.write(`blackstart: cannot reach ${url}: ${(error as Error).message}\n`);
  }
  return undefined;
}

export const agentCommand: CliCommand = {
  name: 'agent',
  summary: 'agent installation: print the one-liner that installs and enrolls an agent',
  usage: USAGE,
  async run(args) {
    const [sub, ...rest] = args;
    if (sub === 'install-command') return await installCommandRun(rest);
    throw new UsageError(sub ? `unknown agent command '${sub}'` : 'which agent command? (install-command)');
  },
};
