import { PlanSchema } from './plan.ts';

type Json = Record<string, unknown>;

/**
 * The plan's JSON Schema (draft 2020-12) as published in docs/plan.schema.json, for editors and
 * other tools. It is the TypeBox schema the engine validates with, except that properties with a
 * default are optional: a plan may leave them out.
 */
export function planJsonSchema(): Json {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'plan.schema.json',
    title: 'Blackstart plan',
    description: 'Staged shutdown and ordered restore of hosts on UPS power. Reference: docs/plan.md.',
    ...(inputSchema(JSON.parse(JSON.stringify(PlanSchema))) as Json),
  };
}

function inputSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(inputSchema);
  if (typeof node !== 'object' || node === null) return node;
  const out: Json = {};
  for (const [key, value] of Object.entries(node)) out[key] = inputSchema(value);
  const properties = out.properties as Record<string, Json> | undefined;
  if (Array.isArray(out.required) && properties) {
    const required = (out.required as string[]).filter((k) => properties[k]?.default === undefined);
    if (required.length > 0) out.required = required;
    else delete out.required;
  }
  return out;
}
