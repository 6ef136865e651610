/** The controller's systemd units pass systemd-analyze verify, and the path unit watches the file the controller writes. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { needs, tempDir } from '@blackstart/tests';
import { parseConfig } from '../src/config.ts';

const deploy = resolve(import.meta.dirname, '../../../deploy/controller');
const units = ['blackstart.service', 'blackstart-poweroff.path', 'blackstart-poweroff.service'];

test(
  'the controller units verify, and watch the request file the controller writes by default',
  needs('systemd-analyze'),
  () => {
    const dir = tempDir();
    try {
      for (const unit of units) copyFileSync(join(deploy, unit), join(dir.path, unit));
      // verify insists that ExecStart exists: point it at a binary this machine has.
      const service = join(dir.path, 'blackstart.service');
      writeFileSync(service, readFileSync(service, 'utf8').replace('/usr/bin/blackstart', process.execPath));
      execFileSync('systemd-analyze', ['verify', ...units.map((u) => join(dir.path, u))], { stdio: 'pipe' });
    } finally {
      dir.remove();
    }
    const config = parseConfig(
      { sources: [{ id: 'ups', type: 'simulator' }], plan: { ups: [{ id: 'ups' }] } },
      {},
    );
    const path = readFileSync(join(deploy, 'blackstart-poweroff.path'), 'utf8');
    assert.ok(path.includes(`PathExists=${config.controllerHost.requestFile}`));
    assert.match(readFileSync(join(deploy, 'blackstart.service'), 'utf8'), /^RuntimeDirectory=blackstart$/m);
  },
);
