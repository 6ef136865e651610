// Bundles the agent into one ESM file that runs on Node >= 20.19 (and Node 24) with no node_modules.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/main.ts'],
  outfile: 'dist/blackstart-agent.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20.19',
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  // CommonJS dependencies (ws) call require(); give the ESM bundle one.
  banner: {
    js: "import { createRequire as __bsCreateRequire } from 'node:module'; const require = __bsCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
