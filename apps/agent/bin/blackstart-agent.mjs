#!/usr/bin/env node
// In the workspace the TypeScript sources run through tsx; an installed copy runs the bundle.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const source = fileURLToPath(new URL('../src/main.ts', import.meta.url));
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source);
} else {
  await import('../dist/blackstart-agent.mjs');
}
