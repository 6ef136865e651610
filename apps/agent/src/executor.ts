import {
  type Ack,
  type AckStep,
  type Command,
  CommandRejected,
  verifyCommand,
} from '@blackstart/agent-protocol';
import type { CryptoKey } from 'jose';
import type { Logger } from 'pino';
import { runHook } from './hooks.ts';
import type { PowerAction } from './power.ts';
import type { AgentState } from './state.ts';
import { sendMagicPacket } from './wol.ts';

interface Running {
  command: Command;
  last: Ack;
  cancelled: boolean;
}

/**
 * Verifies and carries out signed commands: nothing runs unless the signature verifies against the
 * pinned controller key, the command is fresh, meant for this host and never seen before.
 * Every step is acknowledged; a repeated command is answered with its latest acknowledgement.
 */
export class CommandExecutor {
  private readonly running = new Map<string, Running>();

  constructor(
    private readonly deps: {
      host: string;
      controllerKey: CryptoKey;
      state: AgentState;
      power: PowerAction;
      send: (ack: Ack) => void;
      log: Logger;
      clock?: () => number;
    },
  ) {}

  private now(): number {
    return (this.deps.clock ?? Date.now)();
  }

  async handle(jws: string): Promise<void> {
    const { state, log } = this.deps;
    let command: Command;
    try {
      command = await verifyCommand(jws, {
        controllerKey: this.deps.controllerKey,
        host: this.deps.host,
        now: this.now(),
        seen: (id) => state.hasSeen(id),
      });
    } catch (error) {
      if (!(error instanceof CommandRejected)) throw error;
      const known = error.commandId ? this.running.get(error.commandId) : undefined;
      if (error.code === 'replayed' && known) {
        this.deps.send(known.last);
        return;
      }
      log.warn({ code: error.code, commandId: error.commandId, err: error.message }, 'command rejected');
      return;
    }
    state.markSeen(command.id, command.expiresAt);
    if (command.action === 'cancel') return this.cancel(command);
    if (command.action === 'wake') return this.wake(command);
    const run: Running = { command, last: this.ack(command.id, 'received'), cancelled: false };
    this.running.set(command.id, run);
    this.report(run, 'received');
    log.warn(
      { commandId: command.id, outage: command.outage, reason: command.reason, hooks: command.hooks.length },
      'shutdown command received',
    );
    await this.execute(run);
  }

  /** Relays Wake-on-LAN for hosts on this agent's segment; one acknowledgement when all are sent. */
  private async wake(command: Extract<Command, { action: 'wake' }>): Promise<void> {
    const run: Running = { command, last: this.ack(command.id, 'received'), cancelled: false };
    this.running.set(command.id, run);
    this.report(run, 'received');
    const results = await Promise.all(
      command.targets.map(async (t) => {
        try {
          await sendMagicPacket(t.mac, {
            ...(t.broadcast !== undefined && { broadcast: t.broadcast }),
            ...(t.port !== undefined && { port: t.port }),
          });
          return `${t.host}: sent to ${t.mac}`;
        } catch (error) {
          return `${t.host}: FAILED (${(error as Error).message})`;
        }
      }),
    );
    this.report(
      run,
      results.some((r) => r.includes('FAILED')) ? 'failed' : 'done',
      undefined,
      results.join('\n'),
    );
  }

  private cancel(command: Extract<Command, { action: 'cancel' }>): void {
    const target = this.running.get(command.ref);
    if (!target || target.last.step === 'powering-off') {
      this.deps.log.info({ ref: command.ref }, 'cancel for a command that is not pending');
      return;
    }
    target.cancelled = true;
  }

  private async execute(run: Running): Promise<void> {
    const { command } = run;
    if (command.action !== 'shutdown') return;
    const env = {
      BLACKSTART_OUTAGE: command.outage,
      BLACKSTART_REASON: command.reason,
      BLACKSTART_COMMAND_ID: command.id,
      BLACKSTART_HOST: this.deps.host,
    };
    for (const [i, hook] of command.hooks.entries()) {
      if (run.cancelled) return this.report(run, 'cancelled');
      const name = hook.name ?? `hook ${i + 1}`;
      this.report(run, 'hook-started', name);
      const result = await runHook(hook, env);
      this.report(
        run,
        'hook-finished',
        name,
        `${result.ok ? 'ok' : 'failed'}: ${result.summary}${result.output ? `\n${result.output}` : ''}`,
      );
      if (!result.ok)
        this.deps.log.warn({ hook: name, summary: result.summary }, 'hook failed; continuing the shutdown');
    }
    if (run.cancelled) return this.report(run, 'cancelled');
    if (!command.powerOff) {
      this.report(run, 'powering-off', undefined, 'drill: power action skipped');
      return;
    }
    this.report(run, 'powering-off', undefined, `power action: ${this.deps.power.kind}`);
    try {
      const what = await this.deps.power.powerOff({
        commandId: command.id,
        outage: command.outage,
        reason: command.reason,
      });
      this.deps.log.warn({ commandId: command.id }, what);
    } catch (error) {
      this.report(run, 'failed', undefined, (error as Error).message);
    }
  }

  private ack(commandId: string, step: AckStep, hook?: string, detail?: string): Ack {
    return {
      type: 'ack',
      commandId,
      step,
      at: this.now(),
      ...(hook !== undefined && { hook }),
      ...(detail !== undefined && { detail: detail.slice(0, 4000) }),
    };
  }

  private report(run: Running, step: AckStep, hook?: string, detail?: string): void {
    run.last = this.ack(run.command.id, step, hook, detail);
    this.deps.send(run.last);
  }
}
