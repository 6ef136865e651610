import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  type Ack,
  type CommandBody,
  CommandRejected,
  type CommandRejection,
  generateSigningKeys,
  MAX_COMMAND_BYTES,
  signCommand,
  verifyCommand,
} from '@blackstart/agent-protocol';
import { tempDir, waitFor } from '@blackstart/tests';
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
  hooks: [
    {
      type: 'command',
      name: 'greet',
      run: 'echo "hello from $BLACKSTART_HOST, outage $BLACKSTART_OUTAGE, on battery $BLACKSTART_ON_BATTERY at $BLACKSTART_BATTERY_CHARGE %, drill $BLACKSTART_DRILL"',
      timeout: 5,
    },
  ],
  powerOff: true,
};

const dirs: Array<{ remove(): void }> = [];
after(() => {
  for (const d of dirs) d.remove();
});

function setup(stateDir?: string) {
  const dir = tempDir();
  dirs.push(dir);
  const state = new AgentState(stateDir ?? dir.path);
  const acks: Ack[] = [];
  const executor = new CommandExecutor({
    host: 'app',
    controllerKey: controller.publicKey,
    state,
    power: new DryRunPowerAction(state),
    send: (a) => acks.push(a),
    log,
    hooks: { libvirtUri: 'test:///default', dockerHost: 'unix:///nonexistent' },
    ups: () => ({ onBattery: true, charge: 81, runtime: 900 }),
  });
  return { dir: state.dir, state, acks, executor };
}

const dryRuns = (dir: string) =>
  existsSync(join(dir, 'dry-run.jsonl'))
    ? readFileSync(join(dir, 'dry-run.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
    : [];

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

const steps = (acks: Ack[], id?: string) =>
  acks
    .filter((a) => id === undefined || a.commandId === id)
    .map((a) => (a.hook ? `${a.step}:${a.hook}` : a.step));

describe('agent command executor: acceptance', () => {
  test('an authentic command runs its hooks with the outage in their environment, then the (dry-run) power action, acknowledging each step', async () => {
    const { dir, acks, executor } = setup();
    await executor.handle(await sign());
    assert.deepEqual(steps(acks), ['received', 'hook-started:greet', 'hook-finished:greet', 'powering-off']);
    assert.match(
      acks[2]!.detail!,
      /^ok: exit 0 in [\d.]+ s\nhello from app, outage o1, on battery 1 at 81 %, drill 0\n$/,
    );
    const recorded = dryRuns(dir);
    assert.equal(recorded.length, 1);
    assert.equal(recorded[0]!.commandId, 'cmd-1');
    assert.equal(recorded[0]!.origin, 'controller');
    assert.ok((recorded[0]!.requestedAt as number) >= (recorded[0]!.receivedAt as number));
  });

  test('a drill (powerOff false) runs the hooks but never the power action', async () => {
    const { dir, acks, executor } = setup();
    await executor.handle(await sign({ id: 'drill', body: { ...shutdown, powerOff: false } }));
    assert.deepEqual(steps(acks), ['received', 'hook-started:greet', 'hook-finished:greet', 'powering-off']);
    assert.equal(acks.at(-1)!.detail, 'drill: power action skipped');
    assert.match(acks[2]!.detail!, /drill 1/);
    assert.deepEqual(dryRuns(dir), []);
  });

  test('a hook that overruns its timeout is killed with its children, and the shutdown goes on', async () => {
    const { dir, acks, executor } = setup();
    const started = Date.now();
    await executor.handle(
      await sign({
        id: 'slow',
        body: {
          ...shutdown,
          hooks: [{ type: 'command', name: 'stuck', run: 'echo begun; sleep 30 & sleep 30', timeout: 0.5 }],
        },
      }),
    );
    assert.ok(Date.now() - started < 10_000, 'the timeout cut the hook short');
    assert.equal(acks[2]!.detail, 'failed: timed out after 0.5 s\nbegun\n');
    assert.equal(acks.at(-1)!.step, 'powering-off');
    assert.equal(dryRuns(dir).length, 1);
  });
});

describe('agent command executor: every rejection runs nothing', () => {
  const tamper = async () => {
    const parts = (await sign({ id: 'tampered' })).split('.');
    const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString());
    parts[1] = Buffer.from(JSON.stringify({ ...claims, powerOff: false })).toString('base64url');
    return parts.join('.');
  };
  const extraField = () =>
    new SignJWT({ ...shutdown, runAs: 'root' })
      .setProtectedHeader({ alg: 'Ed25519' })
      .setJti('extra')
      .setSubject('app')
      .setIssuer('ctl')
      .setAudience('blackstart-agent')
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(controller.privateKey);
  const cases: Array<[string, CommandRejection, () => Promise<string>]> = [
    ['bad signature (claims changed after signing)', 'bad-signature', tamper],
    [
      'wrong key (signed by another controller)',
      'bad-signature',
      () => sign({ id: 'forged', keys: impostor }),
    ],
    ['expired', 'expired', () => sign({ id: 'old', now: Date.now() - 120_000, ttl: 30 })],
    ['wrong target', 'wrong-target', () => sign({ id: 'elsewhere', target: 'nas' })],
    ['unknown fields', 'unknown-fields', extraField],
    ['oversized', 'oversized', async () => `${await sign({ id: 'big' })}${'A'.repeat(MAX_COMMAND_BYTES)}`],
    ['malformed', 'malformed', async () => 'not-a-jws'],
  ];
  for (const [name, code, make] of cases) {
    test(`${name} → ${code}`, async () => {
      const { dir, state, acks, executor } = setup();
      const jws = await make();
      await assert.rejects(
        verifyCommand(jws, {
          controllerKey: controller.publicKey,
          host: 'app',
          now: Date.now(),
          seen: () => false,
        }),
        (error: unknown) => error instanceof CommandRejected && error.code === code,
      );
      await executor.handle(jws);
      assert.deepEqual(acks, [], 'a rejected command is not acknowledged');
      assert.deepEqual(dryRuns(dir), [], 'and nothing was powered off');
      assert.equal(state.hasSeen('tampered') || state.hasSeen('forged'), false, 'nor remembered');
    });
  }

  test('replayed: a live duplicate gets its latest acknowledgement; after a restart the id is still refused', async () => {
    const { dir, acks, executor } = setup();
    const jws = await sign({ id: 'once', body: { ...shutdown, hooks: [] } });
    await executor.handle(jws);
    await executor.handle(jws);
    assert.deepEqual(steps(acks), ['received', 'powering-off', 'powering-off']);
    await assert.rejects(
      verifyCommand(jws, {
        controllerKey: controller.publicKey,
        host: 'app',
        now: Date.now(),
        seen: (id) => new AgentState(dir).hasSeen(id),
      }),
      (error: unknown) => error instanceof CommandRejected && error.code === 'replayed',
    );
    // A fresh process remembers the id from the state directory and answers without running it.
    const restarted = setup(dir);
    await restarted.executor.handle(jws);
    assert.deepEqual(steps(restarted.acks), ['failed']);
    assert.match(restarted.acks[0]!.detail!, /never runs twice/);
    assert.equal(dryRuns(dir).length, 1);
  });
});

describe('agent command executor: cancellation and concurrency', () => {
  test('a pending shutdown is cancelled mid-hook: the hook is killed and nothing is powered off', async () => {
    const { dir, acks, executor } = setup();
    const running = executor.handle(
      await sign({
        id: 'victim',
        body: {
          ...shutdown,
          hooks: [
            { type: 'command', name: 'long', run: 'sleep 30', timeout: 60 },
            { type: 'command', name: 'never', run: 'echo never', timeout: 5 },
          ],
        },
      }),
    );
    await waitFor(() => acks.some((a) => a.step === 'hook-started'), { what: 'the hook to start' });
    const started = Date.now();
    await executor.handle(
      await sign({ id: 'cancel-1', body: { action: 'cancel', outage: 'o1', ref: 'victim' } }),
    );
    await running;
    assert.ok(Date.now() - started < 10_000, 'the sleeping hook was killed');
    assert.deepEqual(steps(acks, 'victim'), [
      'received',
      'hook-started:long',
      'hook-finished:long',
      'cancelled',
    ]);
    assert.match(acks.find((a) => a.step === 'hook-finished')!.detail!, /^failed: cancelled after/);
    assert.deepEqual(steps(acks, 'cancel-1'), ['received', 'done']);
    assert.equal(
      acks.find((a) => a.commandId === 'cancel-1' && a.step === 'done')!.detail,
      'cancelled victim',
    );
    assert.deepEqual(dryRuns(dir), []);
  });

  test('cancelling a command that already reached the power action changes nothing', async () => {
    const { dir, acks, executor } = setup();
    await executor.handle(await sign({ id: 'gone', body: { ...shutdown, hooks: [] } }));
    await executor.handle(await sign({ id: 'late', body: { action: 'cancel', outage: 'o1', ref: 'gone' } }));
    assert.match(acks.at(-1)!.detail!, /^nothing to cancel: gone — it is already powering-off/);
    assert.equal(dryRuns(dir).length, 1);
  });

  test('two shutdowns at once run one after the other, never side by side', async () => {
    const { acks, executor } = setup();
    const body = (name: string): CommandBody => ({
      ...shutdown,
      powerOff: false,
      hooks: [{ type: 'command', name, run: 'sleep 0.3', timeout: 5 }],
    });
    await Promise.all([
      executor.handle(await sign({ id: 'first', body: body('a') })),
      executor.handle(await sign({ id: 'second', body: body('b') })),
    ]);
    const order = acks.filter((a) => a.step.startsWith('hook')).map((a) => `${a.commandId}:${a.step}`);
    assert.deepEqual(order, [
      'first:hook-started',
      'first:hook-finished',
      'second:hook-started',
      'second:hook-finished',
    ]);
  });
});
