// Bundles the agent into one ESM file that runs on Node >= 20.19 (and Node 24) with no node_modules.
import { build } from 'esbuild';

/**
 * Loads Node's builtins with require() instead of ESM imports. An ESM import of a builtin makes
 * Node build the module's ESM facade, which reads every export, lazy getters included: on Node 24
 * `import … from 'node:http'` alone loads undici, http2, zlib, worker_threads and perf_hooks
 * (about 14 MB of RSS an idle agent never uses). require() leaves the getters alone; esbuild reads
 * the named imports as properties at the call sites.
 */
const builtinsByRequire = {
  name: 'builtins-by-require',
  setup(build) {
    build.onResolve({ filter: /^node:/ }, (args) =>
      args.namespace === 'node-builtin'
        ? { path: args.path, external: true }
        : { path: args.path, namespace: 'node-builtin' },
    );
    build.onLoad({ filter: /.*/, namespace: 'node-builtin' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

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
  plugins: [builtinsByRequire],
  // The bundle's require() (for the builtins, and for CommonJS dependencies such as ws).
  banner: {
    js: "import { createRequire as __bsCreateRequire } from 'node:module'; const require = __bsCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
