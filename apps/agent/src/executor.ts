import {
  type Ack,
  type AckStep,
  type Command,
  CommandRejected,
  type Hook,
  verifyCommand,
} from '@blackstart/agent-protocol';
import type { CryptoKey } from 'jose';
import type { Logger } from 'pino';
import { type HookContext, runHook } from './hooks.ts';
import { type PowerAction, preciseNow } from './power.ts';
import type { AgentState } from './state.ts';
import { sendMagicPacket } from './wol.ts';

type Shutdown = Extract<Command, { action: 'shutdown' }>;

interface Running {
  id: string;
  last: Ack;
  abort: AbortController;
  /** Settles when the command has finished (powering-off, cancelled, failed or done). */
  finished: Promise<void>;
}

/** What the agent last heard about the UPS (from the controller or its NUT fallback). */
export interface UpsSnapshot {
  onBattery: boolean;
  charge?: number;
  runtime?: number;
}

export interface ExecutorDeps {
  host: string;
  controllerKey: CryptoKey;
  state: AgentState;
  power: PowerAction;
  send: (ack: Ack) => void;
  log: Logger;
  /** libvirt URI, Docker endpoint (and optionally the virsh executable) for hooks. */
  hooks: Pick<HookContext, 'libvirtUri' | 'dockerHost' | 'virsh'>;
  ups?: () => UpsSnapshot | undefined;
  clock?: () => number;
}

/**
 * Verifies and carries out signed commands: nothing runs unless the signature verifies against the
 * pinned controller key, the command is small enough, fresh, meant for this host and never seen
 * before (ids are remembered across restarts). Every step is acknowledged: on receipt, at the start
 * and end of each hook, and just before the power action. A repeated command is answered with its
 * latest acknowledgement and never run twice; a pending shutdown can be cancelled by a signed
 * `cancel`. The fail-safe runs its own shutdown through the same path (`shutDownLocally`).
 */
export class CommandExecutor {
  private readonly running = new Map<string, Running>();
  /** The shutdown whose hooks are running now; a second one waits for it instead of running alongside. */
  private activeShutdown: Promise<void> | undefined;
  private powerRequested: { by: string } | undefined;

  constructor(private readonly deps: ExecutorDeps) {}

  private now(): number {
    return (this.deps.clock ?? Date.now)();
  }

  /** True once a real (not drill, not dry-run) power-off has been requested. */
  get poweringOff(): boolean {
    return this.powerRequested !== undefined;
  }

  /** Handles one signed command; resolves when it has been carried out (or rejected). */
  async handle(jws: string, receivedAt = preciseNow()): Promise<void> {
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
      if (error.code === 'replayed' && error.commandId) {
        const known = this.running.get(error.commandId);
        // The controller re-sends what it has not seen acknowledged: answer with where it stands.
        if (known) this.deps.send(known.last);
        else
          this.deps.send(
            this.ack(
              error.commandId,
              'failed',
              undefined,
              'already received before the agent restarted; a command never runs twice',
            ),
          );
        return;
      }
      log.warn({ code: error.code, commandId: error.commandId, err: error.message }, 'command rejected');
      return;
    }
    state.markSeen(command.id, command.expiresAt);
    switch (command.action) {
      case 'cancel':
        return this.cancel(command);
      case 'wake':
        return await this.wake(command);
      case 'shutdown':
        log.warn(
          {
            commandId: command.id,
            outage: command.outage,
            reason: command.reason,
            hooks: command.hooks.length,
            drill: !command.powerOff,
          },
          'shutdown command received',
        );
        return await this.shutdown(command.id, command, 'controller', receivedAt);
    }
  }

  /**
   * The fail-safe's own shutdown: the same hooks-then-power path as a command, without a controller.
   * Acknowledgements go out if a connection happens to exist.
   */
  async shutDownLocally(options: { reason: string; hooks: Hook[] }): Promise<void> {
    const id = `failsafe-${new Date(this.now()).toISOString()}`;
    await this.shutdown(
      id,
      { outage: 'failsafe', reason: options.reason, hooks: options.hooks, powerOff: true },
      'failsafe',
      preciseNow(),
    );
  }

  private start(id: string): Running & { done: () => void } {
    let done = () => {};
    const finished = new Promise<void>((resolve) => {
      done = resolve;
    });
    const run = { id, last: this.ack(id, 'received'), abort: new AbortController(), finished, done };
    this.running.set(id, run);
    return run;
  }

  private async shutdown(
    id: string,
    command: Pick<Shutdown, 'outage' | 'reason' | 'hooks' | 'powerOff'>,
    origin: 'controller' | 'failsafe',
    receivedAt: number,
  ): Promise<void> {
    const run = this.start(id);
    this.report(run, 'received');
    // One shutdown at a time: a second one (another outage, the fail-safe) waits for the first.
    while (this.activeShutdown) await this.activeShutdown;
    const body = this.execute(run, command, origin, receivedAt).finally(run.done);
    this.activeShutdown = body.finally(() => {
      this.activeShutdown = undefined;
    });
    await body;
  }

  private async execute(
    run: Running,
    command: Pick<Shutdown, 'outage' | 'reason' | 'hooks' | 'powerOff'>,
    origin: 'controller' | 'failsafe',
    receivedAt: number,
  ): Promise<void> {
    if (this.powerRequested && command.powerOff) {
      this.report(run, 'powering-off', undefined, `power-off already requested by ${this.powerRequested.by}`);
      return;
    }
    const ups = this.deps.ups?.();
    const env: Record<string, string> = {
      BLACKSTART_OUTAGE: command.outage,
      BLACKSTART_REASON: command.reason,
      BLACKSTART_COMMAND_ID: run.id,
      BLACKSTART_HOST: this.deps.host,
      BLACKSTART_ORIGIN: origin,
      BLACKSTART_DRILL: command.powerOff ? '0' : '1',
      BLACKSTART_POWER_ACTION: this.deps.power.kind,
      ...(ups && { BLACKSTART_ON_BATTERY: ups.onBattery ? '1' : '0' }),
      ...(ups?.charge !== undefined && { BLACKSTART_BATTERY_CHARGE: String(ups.charge) }),
      ...(ups?.runtime !== undefined && { BLACKSTART_BATTERY_RUNTIME: String(ups.runtime) }),
    };
    for (const [i, hook] of command.hooks.entries()) {
      if (run.abort.signal.aborted) return this.report(run, 'cancelled');
      const name = hook.name ?? `hook ${i + 1}`;
      this.report(run, 'hook-started', name);
      const result = await runHook(hook, {
        ...this.deps.hooks,
        env: { ...env, BLACKSTART_HOOK_NAME: name, BLACKSTART_HOOK_INDEX: String(i + 1) },
        signal: run.abort.signal,
      });
      this.report(
        run,
        'hook-finished',
        name,
        `${result.ok ? 'ok' : 'failed'}: ${result.summary}${result.output ? `\n${result.output}` : ''}`,
      );
      if (!result.ok && !run.abort.signal.aborted)
        this.deps.log.warn({ hook: name, summary: result.summary }, 'hook failed; continuing the shutdown');
    }
    if (run.abort.signal.aborted) return this.report(run, 'cancelled');
    if (!command.powerOff) {
      this.report(run, 'powering-off', undefined, 'drill: power action skipped');
      return;
    }
    this.report(run, 'powering-off', undefined, `power action: ${this.deps.power.kind}`);
    try {
      const what = await this.deps.power.powerOff({
        commandId: run.id,
        outage: command.outage,
        reason: command.reason,
        origin,
        receivedAt,
      });
      if (this.deps.power.kind !== 'dry-run') this.powerRequested = { by: run.id };
      this.deps.log.warn({ commandId: run.id, origin }, what);
    } catch (error) {
      this.report(run, 'failed', undefined, (error as Error).message);
    }
  }

  /** Relays Wake-on-LAN for hosts on this agent's segment; one acknowledgement when all are sent. */
  private async wake(command: Extract<Command, { action: 'wake' }>): Promise<void> {
    const run = this.start(command.id);
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
    run.done();
  }

  /** Cancels a pending shutdown: the running hook is stopped and the power action never happens. */
  private cancel(command: Extract<Command, { action: 'cancel' }>): void {
    const run = this.start(command.id);
    this.report(run, 'received');
    const target = this.running.get(command.ref);
    const step = target?.last.step;
    if (!target || step === 'powering-off' || step === 'cancelled' || step === 'failed' || step === 'done') {
      const why = target ? `it is already ${step}` : 'it was never received';
      this.deps.log.info({ ref: command.ref, why }, 'cancel for a command that is not pending');
      this.report(run, 'done', undefined, `nothing to cancel: ${command.ref} — ${why}`);
    } else {
      target.abort.abort();
      this.deps.log.warn({ ref: command.ref }, 'shutdown cancelled');
      this.report(run, 'done', undefined, `cancelled ${command.ref}`);
    }
    run.done();
  }

  private ack(commandId: string, step: AckStep, hook?: string, detail?: string): Ack {
    return {
      type: 'ack',
      commandId,
      step,
      at: this.now(),
      ...(hook !== undefined && { hook: hook.slice(0, 64) }),
      ...(detail !== undefined && { detail: detail.slice(0, 4000) }),
    };
  }

  private report(run: Running, step: AckStep, hook?: string, detail?: string): void {
    run.last = this.ack(run.id, step, hook, detail);
    this.deps.send(run.last);
  }
}
