/**
 * `blackstart hid …` run as a real process (bin/blackstart.mjs through tsx), against the shared
 * NUT DDL dump when present and against a self-written CyberPower fixture always.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { validateFixture } from '@blackstart/hid-driver';
import { CYBERPOWER_DEVICE, cyberPower, nutDdlFile } from '../../../packages/hid-driver/test/fixtures.ts';

const bin = resolve(import.meta.dirname, '../bin/blackstart.mjs');
const dir = mkdtempSync(join(tmpdir(), 'hid-cli-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const synthetic = join(dir, 'cp1500.json');
writeFileSync(synthetic, JSON.stringify(cyberPower().fixture(CYBERPOWER_DEVICE, 'synthetic CP1500PFCLCD')));

function blackstart(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [bin, ...args], { timeout: 30_000 }, (error, stdout, stderr) => {
      done({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

const bk650 = nutDdlFile('APC__Back-UPS_BK650M2-CH__usbhid-ups__2.8.0__01.dev');

describe('blackstart hid', () => {
  test('dump --replay of a NUT usbhid-ups log prints the variables like upsc', {
    skip: bk650 ? false : 'shared NUT DDL fixture not found',
  }, async () => {
    const { code, stdout } = await blackstart('hid', 'dump', '--replay', bk650!);
    assert.equal(code, 0);
    const lines = stdout.trimEnd().split('\n');
    assert.ok(lines.includes('ups.status: OL DISCHRG'));
    assert.ok(lines.includes('battery.voltage: 13.5'));
    assert.ok(lines.includes('input.voltage: 232.0'));
    const names = lines.map((l) => l.slice(0, l.indexOf(': ')));
    assert.deepEqual(names, [...names].sort(), 'sorted by name, like upsc');
    assert.ok(lines.every((l) => /^[a-z0-9.]+: .*$/.test(l)));
  });

  test('dump --replay with --commands, --paths and --json', async () => {
    const text = await blackstart('hid', 'dump', '--replay', synthetic, '--commands', '--paths');
    assert.equal(text.code, 0);
    assert.match(text.stdout, /^ups\.realpower\.nominal: 900$/m);
    assert.match(
      text.stdout,
      /^ {2}shutdown\.return {2}\(load\.on\.delay ups\.delay\.start, then load\.off\.delay ups\.delay\.shutdown\)$/m,
    );
    assert.match(text.stdout, /^ {2}UPS\.Output\.Voltage = 120 V \(logical 120; feature 0x12 @0\/16\)$/m);
    const json = await blackstart(
      'hid',
      'dump',
      '--replay',
      synthetic,
      '--json',
      '--quirk',
      'cyberPowerScaling=false',
    );
    const parsed = JSON.parse(json.stdout) as { variables: Record<string, string> };
    assert.equal(parsed.variables['battery.voltage'], '36.0');
  });

  test('record --replay writes a fixture that replays to the same dump; --redact hides the serial', async () => {
    const out = join(dir, 'recorded.json');
    const rec = await blackstart('hid', 'record', out, '--replay', synthetic, '--seconds', '0', '--redact');
    assert.equal(rec.code, 0, rec.stderr);
    assert.match(
      rec.stdout,
      /^wrote .*recorded\.json: 22 feature reports, 0 interrupt reports, \d+ variables$/m,
    );
    const fixture = validateFixture(JSON.parse(readFileSync(out, 'utf8')));
    assert.equal(fixture.device.serialNumber, 'REDACTED');
    assert.equal(fixture.expect?.variables?.['ups.serial'], 'REDACTED');
    const original = (await blackstart('hid', 'dump', '--replay', synthetic)).stdout.replaceAll(
      'CTHGS2000123',
      'REDACTED',
    );
    const replayed = await blackstart('hid', 'dump', '--replay', out);
    assert.equal(replayed.stdout, original);
  });

  test('list reports what is attached, and says so when nothing is', async () => {
    const { code, stdout } = await blackstart('hid', 'list');
    assert.equal(code, 0);
    const hidraw = existsSync('/dev') && readdirSync('/dev').some((n) => n.startsWith('hidraw'));
    if (!hidraw) assert.match(stdout, /^no USB HID UPS found/);
    const json = await blackstart('hid', 'list', '--json');
    assert.ok(Array.isArray(JSON.parse(json.stdout)));
  });

  test('a missing UPS or fixture is one clear line and exit status 1', async () => {
    const missing = await blackstart('hid', 'dump', '051d:0002');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^blackstart hid: no UPS matches vendor 051d, product 0002;/);
    const file = await blackstart('hid', 'dump', '--replay', join(dir, 'nope.json'));
    assert.equal(file.code, 1);
    assert.match(file.stderr, /^blackstart hid: cannot read .*nope\.json/);
  });

  test('usage errors exit 2 with the usage text', async () => {
    for (const args of [
      ['hid', 'frobnicate'],
      ['hid', 'dump', '--bogus'],
      ['hid', 'dump', 'not-a-selector'],
      ['hid', 'dump', '--replay', synthetic, '--quirk', 'onlineDischarge=sometimes'],
      ['hid', 'record', join(dir, 'x.json'), '--seconds', 'forever'],
    ]) {
      const { code, stderr } = await blackstart(...args);
      assert.equal(code, 2, args.join(' '));
      assert.match(stderr, /usage: blackstart hid <list\|dump\|record>/, args.join(' '));
    }
  });
});
