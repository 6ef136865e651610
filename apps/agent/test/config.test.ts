import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '@blackstart/tests';
import { AgentConfigError, loadAgentConfig, parsePin, splitCommand } from '../src/config.ts';

const base = { BLACKSTART_CONTROLLER: 'https://ctl.lan:7393/', BLACKSTART_HOST: 'web1' };

test('pins: a certificate fingerprint (colons and case tolerated) or a key thumbprint; anything else names the field', () => {
  const hex = `${'AB:'.repeat(31)}AB`;
  assert.deepEqual(parsePin(`sha256:${hex}`), {
    kind: 'tls-certificate',
    fingerprint: `sha256:${'ab'.repeat(32)}`,
  });
  assert.deepEqual(parsePin('U-cWtpHB40JDkCwKNThV0tZpIelfByBkKRl7V0-jn58'), {
    kind: 'controller-key',
    thumbprint: 'U-cWtpHB40JDkCwKNThV0tZpIelfByBkKRl7V0-jn58',
  });
  for (const bad of ['sha256:abc', 'md5:00', 'short', `sha256:${'zz'.repeat(32)}`])
    assert.throws(
      () => parsePin(bad),
      (e: unknown) => e instanceof AgentConfigError && /^pin: /.test(e.message),
    );
});

test('defaults: dry-run, 120 s fail-safe, 15 s heartbeat, qemu:///system, the Docker socket', () => {
  const config = loadAgentConfig([], base);
  assert.equal(config.controllerUrl, 'https://ctl.lan:7393');
  assert.equal(config.powerAction, 'dry-run');
  assert.equal(config.failsafeDeadlineSeconds, 120);
  assert.equal(config.heartbeatSeconds, 15);
  assert.equal(config.libvirtUri, 'qemu:///system');
  assert.equal(config.dockerHost, 'unix:///var/run/docker.sock');
  assert.equal(config.powerRequestDir, '/run/blackstart-agent');
  assert.equal(
    loadAgentConfig([], { ...base, RUNTIME_DIRECTORY: '/run/x:/run/y' }).powerRequestDir,
    '/run/x',
  );
  assert.equal(loadAgentConfig(['--failsafe-deadline', 'off'], base).failsafeDeadlineSeconds, undefined);
});

test('flags win over the environment; secrets come from _FILE', () => {
  const dir = tempDir();
  try {
    writeFileSync(join(dir.path, 'token'), 'bst_from_file\n');
    writeFileSync(join(dir.path, 'nutpw'), 'secret\n');
    const config = loadAgentConfig(
      ['--host', 'db', '--nut', 'ups@nas.lan', '--power-action', 'systemd-path'],
      {
        ...base,
        BLACKSTART_TOKEN_FILE: join(dir.path, 'token'),
        BLACKSTART_NUT_USER: 'monuser',
        BLACKSTART_NUT_PASSWORD_FILE: join(dir.path, 'nutpw'),
      },
    );
    assert.equal(config.host, 'db');
    assert.equal(config.enrollToken, 'bst_from_file');
    assert.equal(config.powerAction, 'systemd-path');
    assert.deepEqual(config.nut, {
      ups: 'ups',
      host: 'nas.lan',
      port: 3493,
      username: 'monuser',
      password: 'secret',
      intervalMs: 2000,
    });
  } finally {
    dir.remove();
  }
});

test('invalid input is refused with the field named', () => {
  const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
    [[], { BLACKSTART_HOST: 'web1' }, /^controller: URL missing/],
    [[], { ...base, BLACKSTART_CONTROLLER: 'ftp://x' }, /^controller: 'ftp:\/\/x' is not an http\(s\) URL/],
    [[], { ...base, BLACKSTART_HOST: 'Web 1' }, /^host: 'Web 1' is not a valid host id/],
    [['--power-action', 'reboot'], base, /^power-action: 'reboot' is not one of/],
    [['--power-action', 'command'], base, /^power-command: required/],
    [['--failsafe-deadline', '0'], base, /^failsafe-deadline: '0' is not a number of seconds/],
    [['--heartbeat', 'soon'], base, /^heartbeat: 'soon'/],
    [['--nut', 'nas.lan'], base, /^nut: 'nas.lan' is not ups@host\[:port\]/],
    [
      [],
      { ...base, BLACKSTART_TOKEN_FILE: '/nonexistent/token' },
      /^token: cannot read BLACKSTART_TOKEN_FILE/,
    ],
    [['--bogus'], base, /Unknown option '--bogus'/],
  ];
  for (const [argv, env, message] of cases)
    assert.throws(
      () => loadAgentConfig(argv, env),
      (e: unknown) => e instanceof AgentConfigError && message.test(e.message),
      String(message),
    );
});

test('subcommands: run by default, enroll on request', () => {
  assert.deepEqual(splitCommand(['--host', 'x']), { command: 'run', args: ['--host', 'x'] });
  assert.deepEqual(splitCommand(['enroll', '--token', 't']), { command: 'enroll', args: ['--token', 't'] });
});
