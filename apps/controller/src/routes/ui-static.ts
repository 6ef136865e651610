import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { contentTypeOf, HASHED_NAME, type UiAsset } from '../../ui/assets.ts';

/** Paths that belong to the API, the WebSockets and the agent install, never to the web UI. */
const NOT_UI = /^\/(api|ws|agent)(\/|$)|^\/install\.sh$/;

const HTML_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

/**
 * The shipped build (dist/ui beside the bundle), read once; from a source checkout the UI is built
 * in memory with esbuild instead (once per process).
 */
function loadShipped(dir: string): UiAsset[] {
  const assets: UiAsset[] = [];
  for (const name of readdirSync(dir)) {
    if (name.endsWith('.gz') || name.endsWith('.br')) continue;
    const file = join(dir, name);
    const optional = (path: string) => (existsSync(path) ? readFileSync(path) : undefined);
    const gzip = optional(`${file}.gz`);
    const brotli = optional(`${file}.br`);
    assets.push({
      path: name === 'index.html' ? '/index.html' : `/ui/${name}`,
      contentType: contentTypeOf(name),
      body: readFileSync(file),
      ...(gzip && { gzip }),
      ...(brotli && { brotli }),
      immutable: HASHED_NAME.test(name),
    });
  }
  return assets;
}

let sourceBuild: Promise<UiAsset[]> | undefined;

export async function uiAssets(): Promise<UiAsset[]> {
  const shipped = join(dirname(fileURLToPath(import.meta.url)), 'ui');
  if (existsSync(join(shipped, 'index.html'))) return loadShipped(shipped);
  // Running from source (tsx): build with esbuild in memory. The path is not a literal, so the
  // controller bundle does not pull the UI build (and esbuild) in.
  const buildModule = ['..', '..', 'ui', 'build.ts'].join('/');
  sourceBuild ??= import(new URL(buildModule, import.meta.url).href).then(
    async (m: typeof import('../../ui/build.ts')) => (await m.buildUi({ minify: true })).assets,
  );
  return sourceBuild;
}

function send(request: FastifyRequest, reply: FastifyReply, asset: UiAsset): FastifyReply {
  const accepts = String(request.headers['accept-encoding'] ?? '');
  let body = asset.body;
  if (asset.brotli && /\bbr\b/.test(accepts)) {
    body = asset.brotli;
    reply.header('content-encoding', 'br');
  } else if (asset.gzip && /\bgzip\b/.test(accepts)) {
    body = asset.gzip;
    reply.header('content-encoding', 'gzip');
  }
  if (asset.gzip || asset.brotli) reply.header('vary', 'accept-encoding');
  reply.header('x-content-type-options', 'nosniff');
  reply.header('cache-control', asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
  return reply.type(asset.contentType).send(body);
}

/**
 * The web UI: `/` and any other GET that wants HTML (the app routes with `#/…`, but a reload of a
 * deep link still lands here) get index.html with a strict CSP; `/ui/<file>` the hashed assets,
 * precompressed. API, WebSocket and agent-install paths are never answered with the app.
 */
export async function registerUiStatic(app: FastifyInstance): Promise<void> {
  const assets = new Map((await uiAssets()).map((a) => [a.path, a]));
  const index = assets.get('/index.html');
  if (!index) throw new Error('the UI build has no index.html');

  const sendIndex = (request: FastifyRequest, reply: FastifyReply) =>
    send(request, reply.headers(HTML_HEADERS), index);

  app.get('/', { config: { public: true } }, sendIndex);

  app.get<{ Params: { file: string } }>('/ui/:file', { config: { public: true } }, (request, reply) => {
    const asset = assets.get(`/ui/${request.params.file}`);
    if (!asset) return reply.code(404).send({ error: 'not found', message: 'no such UI asset' });
    return send(request, reply, asset);
  });

  app.get('/*', { config: { public: true } }, (request, reply) => {
    const path = request.url.split('?')[0]!;
    const wantsHtml = String(request.headers.accept ?? '').includes('text/html');
    if (NOT_UI.test(path) || !wantsHtml) return reply.callNotFound();
    return sendIndex(request, reply);
  });
}
