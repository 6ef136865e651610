// Writes docs/plan.schema.json from the TypeBox plan schema: `pnpm --filter @blackstart/policy schema`.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { planJsonSchema } from '../src/json-schema.ts';

const target = fileURLToPath(new URL('../../../docs/plan.schema.json', import.meta.url));
writeFileSync(target, `${JSON.stringify(planJsonSchema(), null, 2)}\n`);
console.log(`wrote ${target}`);
