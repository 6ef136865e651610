import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { type Ack, type CommandBody, generateSigningKeys, signCommand } from '@blackstart/agent-protocol';
import { tempDir } from '@blackstart/tests';
import { SignJWT } from 'jose';
import pino from 'pino';
import { CommandExecutor } from '../src/executor.ts';
import { DryRunPowerAction } from '../src/power.ts';
import { AgentState } from '../src/state.ts';

const controller = await generateSigningKeys();
const impostor = await generateSigningKeys();
const log = pino({ level: 'silent' });
const shutdown: CommandBody = {
  action: 'shutdown',
  outage: 'o1',
  reason: 'test',
  hooks: [{ type: 'command', name: 'greet', run: 'echo hello from $BLACKSTART_HOST', timeout: 5 }],
  powerOff: true,
};

function setup() {
  const dir = tempDir();
  const state = new AgentState(dir.path);
  const acks: Ack[] = [];
  const executor = new CommandExecutor({
    host: 'app',
    controllerKey: controller.publicKey,
    state,
    power: new DryRunPowerAction(state),
    send: (a) => acks.push(a),
    log,
  });
  return { dir, state, acks, executor };
}

const sign = (
  options: {
    id?: string;
    target?: string;
    ttl?: number;
    now?: number;
    keys?: typeof controller;
    body?: CommandBody;
  } = {},
) =>
  signCommand(options.keys ?? controller, {
    id: options.id ?? 'cmd-1',
    target: options.target ?? 'app',
    issuer: 'ctl',
    ttlSeconds: options.ttl ?? 60,
    now: options.now ?? Date.now(),
    body: options.body ?? shutdown,
  });

describe('agent command executor', () => {
  const dirs: Array<{ remove(): void }> = [];
  after(() => {
    for (const d of dirs) d.remove();
  });

  test('runs an authentic command: hooks with output, then the (dry-run) power action, acknowledging each step', async () => {
    const { dir, acks, executor } = setup();
    dirs.push(dir);
    await executor.handle(await sign());
    assert.deepEqual(
      acks.map((a) => [a.step, a.hook]),
      [
        ['received', undefined],
        ['hook-started', 'greet'],
        ['hook-finished', 'greet'],
        ['powering-off', undefined],
      ],
    );
    assert.match(acks[2]!.detail!, /^ok: exit 0 in [\d.]+ s\nhello from app\n$/);
    const recorded = readFileSync(join(dir.path, 'dry-run.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(recorded.length, 1);
    assert.equal(recorded[0].commandId, 'cmd-1');
  });

  test('rejects every command that is not authentic, fresh, for this host and new — and runs nothing', async () => {
    const { dir, acks, executor } = setup();
    dirs.push(dir);
    const forged = await sign({ keys: impostor, id: 'forged' });
    const tampered = (await sign({ id: 'tampered' })).split('.');
    tampered[1] = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(tampered[1]!, 'base64url').toString()), powerOff: false }),
    ).toString('base64url');
    const extraField = await new SignJWT({ ...shutdown, runAs: 'root' })
      .setProtectedHeader({ alg: 'Ed25519' })
      .setJti('extra')
      .setSubject('app')
      .setIssuer('ctl')
      .setAudience('blackstart-agent')
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(controller.privateKey);
    for (const jws of [
      forged,
      tampered.join('.'),
      await sign({ id: 'old', now: Date.now() - 120_000, ttl: 30 }),
      await sign({ id: 'elsewhere', target: 'nas' }),
      extraField,
      'not-a-jws',
    ]) {
      await executor.handle(jws);
    }
    assert.deepEqual(acks, []);
    assert.throws(() => readFileSync(join(dir.path, 'dry-run.jsonl')));
  });

  test('a replayed command is not run again, even after a restart; a live duplicate gets its latest acknowledgement', async () => {
    const { dir, state, acks, executor } = setup();
    dirs.push(dir);
    const jws = await sign({ id: 'once', body: { ...shutdown, hooks: [] } });
    await executor.handle(jws);
    await executor.handle(jws);
    assert.deepEqual(
      acks.map((a) => a.step),
      ['received', 'powering-off', 'powering-off'],
    );
    // A fresh process remembers the id from the state directory.
    const restarted: Ack[] = [];
    const again = new CommandExecutor({
      host: 'app',
      controllerKey: controller.publicKey,
      state: new AgentState(state.dir),
      power: new DryRunPowerAction(state),
      send: (a) => restarted.push(a),
      log,
    });
    await again.handle(jws);
    assert.deepEqual(restarted, []);
    assert.equal(readFileSync(join(dir.path, 'dry-run.jsonl'), 'utf8').trim().split('\n').length, 1);
  });
});
