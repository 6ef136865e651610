import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { checkFeasibility, outageScenario, planJsonSchema, simulate, validatePlan } from '../src/index.ts';

const docs = new URL('../../../docs/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, docs), 'utf8');
const examples = readdirSync(new URL('examples/', docs))
  .filter((f) => f.endsWith('.yaml'))
  .sort();

describe('docs/plan.schema.json', () => {
  test('is the schema the engine validates with (regenerate: pnpm --filter @blackstart/policy schema)', () => {
    assert.deepStrictEqual(
      JSON.parse(read('plan.schema.json')),
      planJsonSchema(),
      'docs/plan.schema.json is out of date: run `pnpm --filter @blackstart/policy schema`',
    );
  });

  test('accepts the example plans as written (defaults left out) and rejects a broken one', () => {
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    const validate = ajv.compile(JSON.parse(read('plan.schema.json')));
    for (const file of examples) {
      assert.equal(
        validate(parse(read(`examples/${file}`))),
        true,
        `${file}: ${ajv.errorsText(validate.errors)}`,
      );
    }
    assert.equal(validate({ ups: [{ id: 'ups' }], hosts: [{ id: 'a', kind: 'toaster' }] }), false);
    assert.equal(validate({ hosts: [] }), false);
  });
});

describe('docs/examples', () => {
  test('holds both reference setups', () => {
    assert.deepEqual(examples, ['home-server.yaml', 'synology-lab.yaml']);
  });

  for (const file of examples) {
    test(`${file} is valid, fits its battery, and simulates without a host losing power`, () => {
      const v = validatePlan(parse(read(`examples/${file}`)));
      assert.ok(v.ok, JSON.stringify(!v.ok && v.errors));
      const feasibility = checkFeasibility(v.plan);
      assert.deepEqual([feasibility.ok, feasibility.errors, feasibility.warnings], [true, [], []]);
      const outage = simulate(v.plan, outageScenario(v.plan));
      assert.deepEqual(outage.crashes, []);
      const back = simulate(v.plan, outageScenario(v.plan, { mainsBackAfter: 1800 }));
      assert.deepEqual(back.crashes, []);
      assert.deepEqual(
        back.outages.map((o) => o.outcome),
        ['restored'],
      );
    });
  }
});

describe('docs/plan.md', () => {
  test('documents every field of the plan', () => {
    const doc = read('plan.md');
    const names = new Set<string>();
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) {
        node.forEach(walk);
        return;
      }
      if (typeof node !== 'object' || node === null) return;
      const properties = (node as { properties?: Record<string, unknown> }).properties;
      if (properties) for (const key of Object.keys(properties)) names.add(key);
      for (const value of Object.values(node)) walk(value);
    };
    walk(planJsonSchema());
    const missing = [...names].filter((n) => !doc.includes(`\`${n}\``));
    assert.deepEqual(missing, []);
  });
});
