// Bundles the controller into dist/blackstart.mjs. What cannot live inside a JS bundle is copied
// beside it: the SQL migrations, PGlite's WebAssembly and data files, the agent bundle that the
// demo runs (and that the controller serves to hosts), and the web UI prebuilt in dist/ui/.
import { copyFileSync, cpSync, existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';
import { register } from 'tsx/esm/api';

register();
const { buildUi } = await import('./ui/build.ts');

mkdirSync('dist', { recursive: true });
await build({
  entryPoints: ['src/main.ts'],
  outfile: 'dist/blackstart.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20.19',
  sourcemap: false,
  legalComments: 'none',
  // node-hid is a native addon loaded from its own package; it stays in node_modules.
  external: ['node-hid'],
  banner: {
    js: "import { createRequire as __bsCreateRequire } from 'node:module'; const require = __bsCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});

cpSync('drizzle', 'dist/drizzle', { recursive: true });

// PGlite loads these with new URL('./<file>', import.meta.url): beside the bundle they are found.
const pgliteDist = dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'));
for (const file of ['pglite.wasm', 'pglite.data', 'initdb.wasm'])
  copyFileSync(join(pgliteDist, file), join('dist', file));

const agentBundle = '../agent/dist/blackstart-agent.mjs';
if (!existsSync(agentBundle)) throw new Error('build the agent first (pnpm build builds both in order)');
copyFileSync(agentBundle, 'dist/blackstart-agent.mjs');

const ui = await buildUi({ minify: true, write: 'dist/ui' });
console.log(`web UI: ${ui.firstLoad.jsGzipBytes} bytes of JavaScript gzipped on first load`);
