#!/usr/bin/env node
// Runs every benchmark (bench/*.bench.ts in the workspace) one after another, never in parallel.
// Each benchmark prints a Markdown section to stdout. With --write, the section replaces the text
// between `<!-- bench:<id> -->` and `<!-- /bench:<id> -->` in docs/benchmarks.md, where <id> is
// the file name without .bench.ts.
// Usage: node scripts/run-bench.mjs [--write] [name-or-path-filter ...]
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const write = process.argv.includes('--write');
const filters = process.argv.slice(2).filter((a) => !a.startsWith('--'));

const files = [];
for (const group of ['apps', 'packages', 'tests']) {
  const base = join(root, group);
  for (const member of existsSync(base) ? readdirSync(base) : []) {
    const dir = join(base, member, 'bench');
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) if (f.endsWith('.bench.ts')) files.push(join(dir, f));
  }
}
const rootBench = join(root, 'tests', 'bench');
if (existsSync(rootBench))
  for (const f of readdirSync(rootBench)) if (f.endsWith('.bench.ts')) files.push(join(rootBench, f));

const selected = [...new Set(files)]
  .sort()
  .filter((f) => filters.length === 0 || filters.some((p) => relative(root, f).includes(p)));
if (selected.length === 0) {
  console.error('no benchmarks match');
  process.exit(1);
}

const docPath = join(root, 'docs', 'benchmarks.md');
let failed = 0;
for (const file of selected) {
  const id = basename(file, '.bench.ts');
  console.error(`\n=== ${relative(root, file)}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--expose-gc', file], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  process.stdout.write(r.stdout);
  if (r.status !== 0) {
    failed++;
    console.error(`benchmark ${id} failed with status ${r.status}`);
    continue;
  }
  if (write) {
    const doc = readFileSync(docPath, 'utf8');
    const start = `<!-- bench:${id} -->`;
    const end = `<!-- /bench:${id} -->`;
    const section = `${start}\n${r.stdout.trim()}\n${end}`;
    const i = doc.indexOf(start);
    const j = doc.indexOf(end);
    writeFileSync(
      docPath,
      i >= 0 && j > i
        ? doc.slice(0, i) + section + doc.slice(j + end.length)
        : `${doc.trimEnd()}\n\n${section}\n`,
    );
    console.error(`updated docs/benchmarks.md (${id})`);
  }
}
process.exit(failed ? 1 : 0);
