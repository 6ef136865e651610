// Writes docs/plan.schema.json from the TypeBox plan schema: `pnpm --filter @blackstart/policy schema`.
// The file is then formatted by Biome, like every JSON file in the repository.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { planJsonSchema } from '../src/json-schema.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const target = `${root}docs/plan.schema.json`;
writeFileSync(target, `${JSON.stringify(planJsonSchema(), null, 2)}\n`);
execFileSync(`${root}node_modules/.bin/biome`, ['format', '--write', target], {
  cwd: root,
  stdio: 'inherit',
});
console.log(`wrote ${target}`);
