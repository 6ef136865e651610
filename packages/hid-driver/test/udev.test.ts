/**
 * deploy/udev/70-blackstart-ups.rules: well-formed udev syntax, and exactly the USB IDs the vendor
 * profiles claim (so a UPS the driver supports is never left root-only). Debian 12's udevadm (252)
 * has no `verify` verb, so the syntax is checked here.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { UPS_USB_IDS } from '../src/index.ts';

const rulesPath = resolve(import.meta.dirname, '../../../deploy/udev/70-blackstart-ups.rules');
const MATCH_KEYS = new Set(['SUBSYSTEM', 'ATTRS{idVendor}', 'ATTRS{idProduct}']);
const ASSIGN_KEYS = new Set(['GROUP', 'MODE']);

interface Rule {
  line: number;
  match: Map<string, string>;
  assign: Map<string, string>;
}

function parseRules(text: string): Rule[] {
  const rules: Rule[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const rule: Rule = { line: i + 1, match: new Map(), assign: new Map() };
    for (const part of line.split(/,\s*/)) {
      const m = /^([A-Z]+(?:\{[A-Za-z]+\})?)(==|=)"([^"]*)"$/.exec(part);
      assert.ok(m, `line ${i + 1}: '${part}' is not KEY=="value" or KEY="value"`);
      const [, key, op, value] = m;
      if (op === '==') {
        assert.ok(MATCH_KEYS.has(key!), `line ${i + 1}: unexpected match key ${key}`);
        rule.match.set(key!, value!);
      } else {
        assert.ok(ASSIGN_KEYS.has(key!), `line ${i + 1}: unexpected assignment ${key}`);
        rule.assign.set(key!, value!);
      }
    }
    rules.push(rule);
  });
  return rules;
}

test('the udev rule is well-formed and grants every hidraw node it matches to group blackstart, 0660', () => {
  const rules = parseRules(readFileSync(rulesPath, 'utf8'));
  assert.ok(rules.length > 0);
  for (const rule of rules) {
    assert.equal(rule.match.get('SUBSYSTEM'), 'hidraw', `line ${rule.line}`);
    assert.match(
      rule.match.get('ATTRS{idVendor}') ?? '',
      /^[0-9a-f]{4}$/,
      `line ${rule.line}: lower-case hex vendor`,
    );
    const product = rule.match.get('ATTRS{idProduct}');
    if (product !== undefined) assert.match(product, /^[0-9a-f]{4}$/, `line ${rule.line}`);
    assert.equal(rule.assign.get('GROUP'), 'blackstart', `line ${rule.line}`);
    assert.equal(rule.assign.get('MODE'), '0660', `line ${rule.line}`);
  }
});

test('the udev rule covers exactly the USB IDs the vendor profiles claim', () => {
  const hex = (n: number) => n.toString(16).padStart(4, '0');
  const fromRule = parseRules(readFileSync(rulesPath, 'utf8'))
    .map((r) => `${r.match.get('ATTRS{idVendor}')}:${r.match.get('ATTRS{idProduct}') ?? '*'}`)
    .sort();
  const fromProfiles = UPS_USB_IDS.map(
    (id) => `${hex(id.vendorId)}:${id.productId === undefined ? '*' : hex(id.productId)}`,
  ).sort();
  assert.deepEqual(fromRule, fromProfiles);
});
