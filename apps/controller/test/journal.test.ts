import assert from 'node:assert/strict';
import { appendFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { initialState, validatePlan } from '@blackstart/policy';
import { tempDir } from '@blackstart/tests';
import { Cursor, Journal } from '../src/runtime/journal.ts';

const plan = (() => {
  const v = validatePlan({ ups: [{ id: 'ups' }], hosts: [{ id: 'app', kind: 'agent' }] });
  if (!v.ok) throw new Error('bad plan');
  return v.plan;
})();

describe('journal', () => {
  const dirs: Array<{ remove(): void }> = [];
  const dir = () => {
    const d = tempDir();
    dirs.push(d);
    return d.path;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) d.remove();
  });

  test('numbers records, keeps them across reopening, and continues the sequence', () => {
    const path = dir();
    const j = Journal.open(path);
    const written = j.append(
      [
        { kind: 'event', event: { type: 'tick' } },
        { kind: 'note', message: 'hello' },
      ],
      1000,
    );
    assert.deepEqual(
      written.map((r) => [r.seq, r.at]),
      [
        [1, 1000],
        [2, 1000],
      ],
    );
    j.close();
    const again = Journal.open(path);
    assert.equal(again.lastSeq, 2);
    assert.equal(again.append([{ kind: 'event', event: { type: 'tick' } }], 2000)[0]?.seq, 3);
    assert.deepEqual(
      again.read(1).map((r) => r.seq),
      [2, 3],
    );
    again.close();
  });

  test('drops a torn last line left by a crash but refuses corruption in the middle', () => {
    const path = dir();
    const j = Journal.open(path);
    j.append([{ kind: 'event', event: { type: 'tick' } }], 1);
    j.close();
    const file = join(path, readdirSync(path).find((f) => f.startsWith('journal-'))!);
    appendFileSync(file, '{"seq":2,"at":2,"kind":"ev');
    const reopened = Journal.open(path);
    assert.equal(reopened.lastSeq, 1);
    reopened.close();
    appendFileSync(file, '\n{"seq":3,"at":3,"kind":"event","event":{"type":"tick"}}\n');
    assert.throws(() => Journal.open(path), /corrupt at line 2/);
  });

  test('recovery starts from the latest snapshot; compaction keeps unflushed segments', () => {
    const path = dir();
    const j = Journal.open(path);
    j.append([{ kind: 'event', event: { type: 'tick' } }], 1);
    j.compact(initialState(plan), 2, 0);
    j.append([{ kind: 'event', event: { type: 'tick' } }], 3);
    // Nothing was flushed yet, so the first segment stays.
    assert.equal(readdirSync(path).filter((f) => f.startsWith('journal-')).length, 2);
    const { snapshot, after } = j.recoveryRecords();
    assert.deepEqual(snapshot, initialState(plan));
    assert.deepEqual(
      after.map((r) => r.seq),
      [3],
    );
    j.compact(initialState(plan), 4, j.lastSeq);
    assert.deepEqual(
      readdirSync(path).filter((f) => f.startsWith('journal-')),
      ['journal-4.jsonl'],
    );
    j.close();
  });

  test('the flush cursor survives reopening', () => {
    const path = dir();
    const c = new Cursor(join(path, 'cursor'));
    assert.equal(c.get(), 0);
    c.set(42);
    assert.equal(new Cursor(join(path, 'cursor')).get(), 42);
  });
});
