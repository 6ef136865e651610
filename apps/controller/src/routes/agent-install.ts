import { createHash, X509Certificate } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { publicKeyThumbprint } from '@blackstart/agent-protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TlsMaterial } from '../security/tls.ts';

/**
 * Where the agent artifacts (tarballs, .deb, SHA256SUMS and the install.sh template, as written by
 * `node deploy/agent/build.mjs`) are: $BLACKSTART_AGENT_ARTIFACTS, else `agent/` beside the
 * controller bundle, else deploy/agent/dist in a source checkout.
 */
export function agentArtifactsDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [
    env.BLACKSTART_AGENT_ARTIFACTS,
    join(here, 'agent'),
    join(here, '..', '..', '..', '..', 'deploy', 'agent', 'dist'),
  ];
  return candidates.find((d): d is string => !!d && existsSync(join(d, 'SHA256SUMS')));
}

interface Artifacts {
  dir: string;
  /** file name → sha256 hex */
  sums: Map<string, string>;
  version: string | undefined;
  template: string;
}

function readArtifacts(dir: string): Artifacts {
  const sums = new Map<string, string>();
  for (const line of readFileSync(join(dir, 'SHA256SUMS'), 'utf8').split('\n')) {
    const m = /^([0-9a-f]{64}) [ *]([A-Za-z0-9._+-]+)$/.exec(line.trim());
    if (m) sums.set(m[2]!, m[1]!);
  }
  const versions = [...sums.keys()]
    .map((f) => /^blackstart-agent-(\d+\.\d+\.\d+)-linux-[a-z0-9]+\.tar\.gz$/.exec(f)?.[1])
    .filter((v): v is string => v !== undefined)
    .sort((a, b) => {
      const [x, y] = [a.split('.').map(Number), b.split('.').map(Number)];
      return x[0]! - y[0]! || x[1]! - y[1]! || x[2]! - y[2]!;
    });
  return { dir, sums, version: versions.at(-1), template: readFileSync(join(dir, 'install.sh'), 'utf8') };
}

/** What an agent pins, and how curl pins the controller, for this controller's TLS setup. */
export interface ControllerPins {
  /** `--pin` for the agent: the certificate fingerprint (self-signed) or the key thumbprint. */
  agentPin: string;
  /** `sha256//<base64>` of the certificate's public key, for curl, when the certificate is self-signed. */
  curlPin: string | undefined;
}

export async function controllerPins(
  tls: TlsMaterial | undefined,
  controllerKey: { kty: string; crv: string; x: string },
): Promise<ControllerPins> {
  const keyThumbprint = await publicKeyThumbprint(controllerKey);
  if (!tls) return { agentPin: keyThumbprint, curlPin: undefined };
  const cert = new X509Certificate(tls.cert);
  // (checkIssued would insist on keyCertSign, which a leaf certificate rightly lacks.)
  const selfSigned = cert.subject === cert.issuer && cert.verify(cert.publicKey);
  // A CA-issued certificate is renewed now and then: agents pin the controller key instead.
  if (!selfSigned) return { agentPin: keyThumbprint, curlPin: undefined };
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  return {
    agentPin: tls.fingerprint,
    curlPin: `sha256//${createHash('sha256').update(spki).digest('base64')}`,
  };
}

/** The one-liner that installs and enrolls an agent from this controller. */
export function installCommand(
  baseUrl: string,
  token: string,
  pins: ControllerPins,
  host?: string | null,
): string {
  const curl = pins.curlPin ? `curl -fsSL -k --pinnedpubkey '${pins.curlPin}'` : 'curl -fsSL';
  return `${curl} ${baseUrl}/install.sh | sudo sh -s -- --token ${token} --pin ${pins.agentPin}${host ? ` --host ${host}` : ''}`;
}

/** The install one-liner for a freshly minted enrollment token (REST `POST /api/v1/enrollment-tokens`). */
export async function enrollmentInstallCommand(
  request: FastifyRequest,
  deps: { tls?: TlsMaterial | undefined; controllerKey: { kty: string; crv: string; x: string } },
  token: string,
  host?: string,
): Promise<string> {
  return installCommand(
    requestBaseUrl(request),
    token,
    await controllerPins(deps.tls, deps.controllerKey),
    host,
  );
}

/** The URL the client reached this controller by (what a host will be told to download from). */
export function requestBaseUrl(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`;
}

const shellQuote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;

/** Fills the rendered-values block of the install.sh template. */
export function renderInstallScript(
  template: string,
  values: { controllerUrl: string; curlPin: string | undefined; version: string; sums: Map<string, string> },
): string {
  const sum = (arch: string) =>
    values.sums.get(`blackstart-agent-${values.version}-linux-${arch}.tar.gz`) ?? '';
  const rendered = [
    `CONTROLLER_URL=${shellQuote(values.controllerUrl)}`,
    `CURL_PINNED_KEY=${shellQuote(values.curlPin ?? '')}`,
    `AGENT_VERSION=${shellQuote(values.version)}`,
    `SHA256_X64=${shellQuote(sum('x64'))}`,
    `SHA256_ARM64=${shellQuote(sum('arm64'))}`,
  ].join('\n');
  return template.replace(
    /(# --- rendered by the controller -+\n)[\s\S]*?(\n# --- end of rendered values -+)/,
    (_m, start: string, end: string) => `${start}${rendered}${end}`,
  );
}

/**
 * Public routes hosts install the agent from: `/install.sh` rendered for this controller (its URL,
 * its TLS public-key pin for curl, the artifacts' checksums), the artifacts themselves under
 * `/agent/<file>` and `/agent/SHA256SUMS`. Only files named in SHA256SUMS are served.
 */
export function registerAgentInstall(
  app: FastifyInstance,
  deps: { tls?: TlsMaterial | undefined; controllerKey: { kty: string; crv: string; x: string } },
): void {
  const noArtifacts = {
    error: 'no agent artifacts',
    message:
      'this controller has no agent build to serve: run `node deploy/agent/build.mjs` and point BLACKSTART_AGENT_ARTIFACTS at its output (docs/agent.md)',
  };
  const pins = controllerPins(deps.tls, deps.controllerKey);

  app.get('/install.sh', { config: { public: true } }, async (request, reply) => {
    const dir = agentArtifactsDir();
    if (!dir) return reply.code(503).send(noArtifacts);
    const artifacts = readArtifacts(dir);
    if (!artifacts.version) return reply.code(503).send(noArtifacts);
    const script = renderInstallScript(artifacts.template, {
      controllerUrl: requestBaseUrl(request),
      curlPin: (await pins).curlPin,
      version: artifacts.version,
      sums: artifacts.sums,
    });
    return reply.type('text/x-shellscript; charset=utf-8').header('cache-control', 'no-store').send(script);
  });

  app.get<{ Params: { file: string } }>(
    '/agent/:file',
    { config: { public: true } },
    async (request, reply) => {
      const dir = agentArtifactsDir();
      if (!dir) return reply.code(503).send(noArtifacts);
      const { file } = request.params;
      if (file === 'SHA256SUMS')
        return reply.type('text/plain; charset=utf-8').send(readFileSync(join(dir, 'SHA256SUMS')));
      const sums = readArtifacts(dir).sums;
      const sha = sums.get(file);
      if (!sha || !existsSync(join(dir, file)))
        return reply.code(404).send({ error: 'not found', message: `no agent artifact '${file}'` });
      return reply
        .type(file.endsWith('.deb') ? 'application/vnd.debian.binary-package' : 'application/gzip')
        .header('x-checksum-sha256', sha)
        .send(createReadStream(join(dir, file)));
    },
  );
}
