// Bundles the controller into dist/blackstart.mjs. What cannot live inside a JS bundle is copied
// beside it: the SQL migrations and the agent bundle it serves to hosts.
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { build } from 'esbuild';

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
  banner: { js: "import { createRequire as __bsCreateRequire } from 'node:module'; const require = __bsCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
if (existsSync('drizzle')) cpSync('drizzle', 'dist/drizzle', { recursive: true });
