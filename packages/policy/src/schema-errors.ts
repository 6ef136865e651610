import type { TSchema } from 'typebox';
import Value from 'typebox/value';

/** A validation error addressed by JSON pointer into the document, e.g. `/hosts/2/dependsOn/0`. */
export interface PlanError {
  path: string;
  message: string;
}

type Json = Record<string, unknown>;
const matches = (schema: TSchema, value: unknown): boolean => Value.Check(schema, value);
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const schemaOf = (s: TSchema): Json => s as unknown as Json;
const describe = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : typeof v;
const pointer = (path: string, key: string | number): string =>
  `${path}/${String(key).replaceAll('~', '~0').replaceAll('/', '~1')}`;

/**
 * Explains why `value` does not match `schema`, one error per problem, each at the deepest path that
 * names it. TypeBox reports every branch of a union; for the discriminated unions plans use (objects
 * told apart by `type`) this follows the branch the value chose, so a trigger missing `after` says
 * exactly that instead of "must be equal to constant" for every other trigger type.
 */
export function explainSchemaErrors(schema: TSchema, value: unknown, path = ''): PlanError[] {
  if (matches(schema, value)) return [];
  const s = schemaOf(schema);
  const at = path || '/';

  if (Array.isArray(s.anyOf)) {
    const branches = s.anyOf as TSchema[];
    const literals = branches.map((b) => schemaOf(b).const);
    if (literals.every((l) => l !== undefined)) {
      return [{ path: at, message: `must be one of ${literals.map((l) => JSON.stringify(l)).join(', ')}` }];
    }
    const tags = branches.map((b) => (schemaOf(b).properties as Json | undefined)?.type);
    const tagValues = tags.map((t) => (isObject(t) ? t.const : undefined));
    if (tagValues.every((t) => typeof t === 'string')) {
      if (!isObject(value)) return [{ path: at, message: `must be an object, not ${describe(value)}` }];
      const chosen = tagValues.indexOf(value.type as string);
      if (chosen < 0) {
        return [
          {
            path: pointer(path, 'type'),
            message:
              value.type === undefined
                ? `missing property 'type' (one of ${tagValues.join(', ')})`
                : `unknown type ${JSON.stringify(value.type)} (expected one of ${tagValues.join(', ')})`,
          },
        ];
      }
      return explainSchemaErrors(branches[chosen]!, value, path);
    }
    return [{ path: at, message: 'does not match any allowed form' }];
  }

  if (s.type === 'object' && isObject(s.properties)) {
    if (!isObject(value)) return [{ path: at, message: `must be an object, not ${describe(value)}` }];
    const properties = s.properties as Record<string, TSchema>;
    const required = new Set((s.required as string[] | undefined) ?? []);
    const errors: PlanError[] = [];
    for (const key of Object.keys(value)) {
      if (!(key in properties) && s.additionalProperties === false) {
        errors.push({
          path: pointer(path, key),
          message: `unknown property '${key}' (allowed: ${Object.keys(properties).join(', ')})`,
        });
      }
    }
    for (const [key, sub] of Object.entries(properties)) {
      if (!(key in value) || value[key] === undefined) {
        if (required.has(key))
          errors.push({ path: pointer(path, key), message: `missing property '${key}'` });
        continue;
      }
      errors.push(...explainSchemaErrors(sub, value[key], pointer(path, key)));
    }
    return errors.length > 0 ? errors : leafErrors(schema, value, at);
  }

  if (s.type === 'object' && isObject(s.patternProperties)) {
    if (!isObject(value)) return [{ path: at, message: `must be an object, not ${describe(value)}` }];
    const [item] = Object.values(s.patternProperties) as TSchema[];
    if (!item) return leafErrors(schema, value, at);
    return Object.entries(value).flatMap(([key, v]) => explainSchemaErrors(item, v, pointer(path, key)));
  }

  if (s.type === 'array' && s.items !== undefined) {
    if (!Array.isArray(value)) return [{ path: at, message: `must be an array, not ${describe(value)}` }];
    const errors: PlanError[] = [];
    if (typeof s.minItems === 'number' && value.length < s.minItems)
      errors.push({
        path: at,
        message: `must have at least ${s.minItems} item${s.minItems === 1 ? '' : 's'}`,
      });
    if (typeof s.maxItems === 'number' && value.length > s.maxItems)
      errors.push({ path: at, message: `must have at most ${s.maxItems} items` });
    value.forEach((item, i) => {
      errors.push(...explainSchemaErrors(s.items as TSchema, item, pointer(path, i)));
    });
    return errors;
  }

  return leafErrors(schema, value, at);
}

function leafErrors(schema: TSchema, value: unknown, at: string): PlanError[] {
  const s = schemaOf(schema);
  const first = Value.Errors(schema, value)[0];
  if (!first) return [];
  switch (first.keyword) {
    case 'type':
      return [{ path: at, message: `must be ${article(String(s.type))}, not ${describe(value)}` }];
    case 'pattern':
      return [{ path: at, message: `must be ${s.description ?? `a string matching ${String(s.pattern)}`}` }];
    case 'minimum':
      return [{ path: at, message: `must be at least ${String(s.minimum)}` }];
    case 'maximum':
      return [{ path: at, message: `must be at most ${String(s.maximum)}` }];
    case 'exclusiveMinimum':
      return [{ path: at, message: `must be greater than ${String(s.exclusiveMinimum)}` }];
    case 'const':
      return [{ path: at, message: `must be ${JSON.stringify(s.const)}` }];
    default:
      return [{ path: at, message: first.message }];
  }
}

function article(type: string): string {
  return type === 'integer'
    ? 'an integer'
    : type === 'object' || type === 'array'
      ? `an ${type}`
      : `a ${type}`;
}
