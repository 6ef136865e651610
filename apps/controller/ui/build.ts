// Builds the web UI (Preact + TSX, plain CSS) with esbuild into memory: content-hashed assets under
// /ui/ and an index.html that loads them. The controller calls this at start when it runs from source;
// apps/controller/build.mjs calls it with `write` to ship the result in dist/ui/.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, gzipSync, constants as zlib } from 'node:zlib';
import { build } from 'esbuild';
import { contentTypeOf, type UiAsset } from './assets.ts';

export type { UiAsset } from './assets.ts';

const uiDir = dirname(fileURLToPath(import.meta.url));

export interface UiBuild {
  assets: UiAsset[];
  /** The JavaScript (and CSS) index.html loads, gzipped: what a first visit downloads. */
  firstLoad: { jsBytes: number; jsGzipBytes: number; cssGzipBytes: number };
}

function compressed(path: string, body: Buffer, immutable: boolean): UiAsset {
  const asset: UiAsset = { path, contentType: contentTypeOf(path), body, immutable };
  if (body.length < 512) return asset;
  const gz = gzipSync(body, { level: 9 });
  const br = brotliCompressSync(body, {
    params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_SIZE_HINT]: body.length },
  });
  if (gz.length < body.length) asset.gzip = gz;
  if (br.length < body.length) asset.brotli = br;
  return asset;
}

/**
 * Bundles ui/src/main.tsx and ui/styles.css. With `write`, also writes every asset (and its .gz/.br
 * siblings) below that directory, replacing what was there.
 */
export async function buildUi(options: { minify: boolean; write?: string }): Promise<UiBuild> {
  const result = await build({
    entryPoints: { app: join(uiDir, 'src', 'main.tsx'), styles: join(uiDir, 'styles.css') },
    outdir: join(uiDir, 'out'),
    entryNames: '[name]-[hash]',
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify: options.minify,
    sourcemap: false,
    legalComments: 'none',
    write: false,
    metafile: false,
    logLevel: 'silent',
    define: { 'process.env.NODE_ENV': options.minify ? '"production"' : '"development"' },
  });
  const assets: UiAsset[] = [];
  let script = '';
  let stylesheet = '';
  let jsBytes = 0;
  let jsGzipBytes = 0;
  let cssGzipBytes = 0;
  for (const file of result.outputFiles) {
    const name = basename(file.path);
    const asset = compressed(`/ui/${name}`, Buffer.from(file.contents), true);
    assets.push(asset);
    const gzipped = asset.gzip?.length ?? asset.body.length;
    if (name.endsWith('.js')) {
      script = asset.path;
      jsBytes += asset.body.length;
      jsGzipBytes += gzipped;
    } else if (name.endsWith('.css')) {
      stylesheet = asset.path;
      cssGzipBytes += gzipped;
    }
  }
  if (!script || !stylesheet) throw new Error('UI build produced no script or stylesheet');
  const html = readFileSync(join(uiDir, 'index.html'), 'utf8')
    .replace('%SCRIPT%', script)
    .replace('%STYLESHEET%', stylesheet);
  assets.push(compressed('/index.html', Buffer.from(html), false));

  if (options.write) {
    rmSync(options.write, { recursive: true, force: true });
    for (const asset of assets) {
      const file = join(options.write, asset.path.replace(/^\/ui\//, '/'));
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, asset.body);
      if (asset.gzip) writeFileSync(`${file}.gz`, asset.gzip);
      if (asset.brotli) writeFileSync(`${file}.br`, asset.brotli);
    }
  }
  return { assets, firstLoad: { jsBytes, jsGzipBytes, cssGzipBytes } };
}
