import type { TSchema } from 'typebox';

type Json = Record<string, unknown>;
type Fill = (value: unknown) => unknown;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
/** Deep copy of a JSON default (defaults are small: `{}`, `[]`, a trigger list). */
function copy(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) return v.map(copy);
  const out: Json = {};
  for (const key in v) out[key] = copy((v as Json)[key]);
  return out;
}
const keep: Fill = (v) => v;

/**
 * Compiles a schema's defaults into a function that fills them in place (TypeBox's
 * `Value.Default` semantics: a missing property with a default gets a copy of it, then its own
 * defaults). Walking a precompiled tree is ~20× faster than the generic walk on 10 000-host plans.
 * Handles what plans and scenarios use: objects, arrays, records, and unions of objects told apart
 * by a `type` literal.
 */
export function compileDefaults(schema: TSchema): Fill {
  return build(schema as unknown as Json);
}

function build(s: Json): Fill {
  if (Array.isArray(s.anyOf)) {
    const branches = (s.anyOf as Json[]).map(
      (b) => [((b.properties as Json | undefined)?.type as Json | undefined)?.const, build(b)] as const,
    );
    if (branches.every(([tag]) => typeof tag === 'string')) {
      const byTag = new Map(branches);
      return (v) => (isObject(v) ? (byTag.get(v.type as string) ?? keep)(v) : v);
    }
    return keep;
  }
  if (s.type === 'object' && isObject(s.properties)) {
    const fields = Object.entries(s.properties as Record<string, Json>).map(([key, sub]) => {
      const fill = build(sub);
      const hasDefault = 'default' in sub;
      return { key, fill, hasDefault, fallback: sub.default };
    });
    return (v) => {
      if (!isObject(v)) return v;
      for (const f of fields) {
        if (v[f.key] === undefined) {
          if (!f.hasDefault) continue;
          v[f.key] = copy(f.fallback);
        }
        v[f.key] = f.fill(v[f.key]);
      }
      return v;
    };
  }
  if (s.type === 'object' && isObject(s.patternProperties)) {
    const [item] = Object.values(s.patternProperties as Record<string, Json>);
    if (!item) return keep;
    const fill = build(item);
    return (v) => {
      if (!isObject(v)) return v;
      for (const key of Object.keys(v)) v[key] = fill(v[key]);
      return v;
    };
  }
  if (s.type === 'array' && isObject(s.items)) {
    const fill = build(s.items as Json);
    if (fill === keep) return keep;
    return (v) => {
      if (Array.isArray(v)) for (let i = 0; i < v.length; i++) v[i] = fill(v[i]);
      return v;
    };
  }
  return keep;
}
