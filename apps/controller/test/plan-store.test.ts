import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Plan, validatePlan } from '@blackstart/policy';
import { tempDir } from '@blackstart/tests';
import { PlanStore } from '../src/plan-store.ts';
import { silent } from './helpers.ts';

function plan(timeout: number): Plan {
  const v = validatePlan({
    ups: [{ id: 'ups' }],
    hosts: [{ id: 'app', kind: 'agent', shutdown: { timeout } }],
  });
  if (!v.ok) throw new Error('invalid test plan');
  return v.plan;
}

test('plan versions count per data directory, whose lineage id is kept across restarts and edits', () => {
  const dir = tempDir('blackstart-plans-');
  const first = PlanStore.open(dir.path, plan(10), silent);
  const lineage = first.current.lineage;
  assert.match(lineage, /^[0-9a-f-]{36}$/);
  assert.deepEqual([first.current.version, first.current.origin, first.changedAtStart], [1, 'file', true]);

  const again = PlanStore.open(dir.path, plan(10), silent);
  assert.deepEqual([again.current.lineage, again.current.version, again.changedAtStart], [lineage, 1, false]);
  const edited = PlanStore.open(dir.path, plan(20), silent);
  assert.deepEqual([edited.current.lineage, edited.current.version], [lineage, 2]);
  const replaced = edited.replace(plan(30), 'token:admin');
  assert.deepEqual([replaced.lineage, replaced.version, replaced.origin], [lineage, 3, 'api']);

  const other = PlanStore.open(tempDir('blackstart-plans-').path, plan(10), silent);
  assert.notEqual(other.current.lineage, lineage);
  assert.equal(other.current.version, 1);
});

test('a plan.json written before lineages keeps its numbering as the `legacy` lineage', () => {
  const dir = tempDir('blackstart-plans-');
  PlanStore.open(dir.path, plan(10), silent);
  const file = join(dir.path, 'plan.json');
  const { lineage: _, ...old } = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  writeFileSync(file, JSON.stringify({ ...old, version: 4 }));
  const reopened = PlanStore.open(dir.path, plan(10), silent);
  assert.deepEqual([reopened.current.lineage, reopened.current.version], ['legacy', 4]);
  const edited = PlanStore.open(dir.path, plan(20), silent);
  assert.deepEqual([edited.current.lineage, edited.current.version], ['legacy', 5]);
});
