import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { loadConfigFile } from '../src/config.ts';

test('the documented example configuration is valid', () => {
  const config = loadConfigFile(resolve(import.meta.dirname, '../../../deploy/blackstart.example.yaml'), {});
  assert.deepEqual(
    config.plan.hosts.map((h) => [h.id, h.dependsOn]),
    [
      ['app', ['nas']],
      ['nas', []],
    ],
  );
});
