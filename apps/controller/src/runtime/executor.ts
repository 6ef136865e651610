import { spawn } from 'node:child_process';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { uptime } from 'node:os';
import { dirname } from 'node:path';
import {
  type EngineAction,
  type EngineState,
  type Host,
  type HostRun,
  hostRun,
  hostRuns,
  type Plan,
} from '@blackstart/policy';
import type { ControllerHostConfig, WakeConfig } from '../config.ts';
import type { AgentHub, OutgoingCommand } from '../hub/agent-hub.ts';
import type { JobQueue } from '../jobs/queue.ts';
import type { Logger } from '../logger.ts';
import type { ControllerNutServer } from '../nut/nut-server.ts';
import type { PowerSource } from '../sources/source.ts';
import { probeTcp, sendMagicPackets, type WakeTarget } from '../wake/network.ts';
import type { ActionExecutor, JournaledAction, NoteFields, Runtime } from './runtime.ts';

/** How long commands stay valid after their deadline, so a slow agent can still acknowledge. */
const COMMAND_GRACE_SECONDS = 60;
const TCP_PROBE_TIMEOUT_MS = 2000;

type WakeAction = Extract<EngineAction, { type: 'wake-host' }>;
type ShutdownAction = Extract<EngineAction, { type: 'shutdown-host' }>;

interface WakeJob {
  outage: string;
  host: string;
  wakeId: string;
  attempt: number;
  method: 'wol' | 'relay';
  mac: string;
  broadcast?: string;
  via?: string;
  /** Tries the job has in all (the last one does not throw). */
  tries: number;
}

interface ProbeJob {
  host: string;
  wakeId: string;
  target: string;
  port: number;
  tries: number;
}

/**
 * Carries out the engine's actions: signed commands through the agent hub (batched for a
 * fan-out), FSD for nut-clients on the controller's NUT server, the controller's own power-off,
 * UPS power-off and output-on through its source, and the restore's Wake-on-LAN and health checks as
 * retried jobs (BullMQ, or in-process without Redis). Failures never throw: they become notes in
 * the outage's timeline.
 */
export class Executor implements ActionExecutor {
  private readonly hostsByPlan = new WeakMap<Plan, Map<string, Host>>();

  constructor(
    private readonly deps: {
      runtime: Runtime;
      hub: AgentHub;
      nut?: ControllerNutServer | undefined;
      sources: ReadonlyMap<string, PowerSource>;
      queue: JobQueue;
      controllerHost: ControllerHostConfig;
      wake: WakeConfig;
      log: Logger;
      clock?: () => number;
    },
  ) {
    deps.queue.register('wake', (data, { attempt }) => this.runWakeJob(data as WakeJob, attempt));
    deps.queue.register('probe', (data, { attempt }) => this.runProbeJob(data as ProbeJob, attempt));
  }

  private now(): number {
    return (this.deps.clock ?? Date.now)();
  }

  private note(message: string, fields: NoteFields = {}): void {
    this.deps.runtime.note(message, fields);
  }

  private failed(action: EngineAction, error: unknown, seq?: number): void {
    const message = (error as Error).message ?? String(error);
    this.deps.log.error({ action: action.type, err: message }, 'carrying out an action failed');
    this.note(`failed to carry out ${action.type}: ${message}`, {
      ...('outage' in action && { outage: action.outage }),
      ...('host' in action && { host: action.host }),
      ...('source' in action && { source: action.source }),
      ...(seq !== undefined && { done: seq, data: { failed: true } }),
    });
  }

  perform(actions: readonly JournaledAction[]): void {
    const commands: OutgoingCommand[] = [];
    for (const { action, seq } of actions) {
      try {
        switch (action.type) {
          case 'shutdown-host':
            this.shutdown(action, seq, commands);
            break;
          case 'cancel-shutdown':
            this.cancel(action, commands);
            break;
          case 'power-off-ups':
            void this.oneShot(action, seq, () => this.source(action.source).powerOff(action.delaySeconds));
            break;
          case 'ups-output-on':
            void this.oneShot(action, seq, () => this.source(action.source).powerOn());
            break;
          case 'wake-host':
            this.wake(action);
            break;
          case 'host-down':
            // It left after FSD: its shutdown runs. When it boots again it must not see FSD.
            if (action.how === 'acknowledged') this.deps.nut?.clearFor(action.host);
            break;
          case 'mains-returned': {
            // Mains is back for good: a nut-client counted down (past its deadline) must not see FSD
            // when it boots. One still commanded keeps it: it is cancelled, or it must still go.
            const runs = hostRuns(this.deps.runtime.engineState);
            for (const host of this.deps.runtime.plan.hosts) {
              const phase = runs.get(host.id)?.phase;
              if (host.kind === 'nut-client' && (phase === 'down' || phase === 'overdue'))
                this.deps.nut?.clearFor(host.id);
            }
            break;
          }
          case 'outage-ended':
            // Nothing of the outage stays raised.
            for (const host of this.deps.runtime.plan.hosts)
              if (host.kind === 'nut-client') this.deps.nut?.clearFor(host.id);
            break;
          default:
            break;
        }
      } catch (error) {
        this.failed(action, error);
      }
    }
    if (commands.length > 0) this.send(commands);
  }

  private source(id: string): PowerSource {
    const source = this.deps.sources.get(id);
    if (!source) throw new Error(`no source '${id}'`);
    return source;
  }

  private ttlUntil(deadline: number): number {
    return Math.max(1, Math.ceil((deadline - this.now()) / 1000)) + COMMAND_GRACE_SECONDS;
  }

  private usesAgent(kind: string): boolean {
    return kind === 'agent' || (kind === 'controller' && this.deps.controllerHost.powerOff === 'agent');
  }

  /** The plan's hosts by id (a fan-out looks up thousands). */
  private host(id: string): Host | undefined {
    const plan = this.deps.runtime.plan;
    let byId = this.hostsByPlan.get(plan);
    if (!byId) {
      byId = new Map(plan.hosts.map((h) => [h.id, h]));
      this.hostsByPlan.set(plan, byId);
    }
    return byId.get(id);
  }

  private shutdownCommand(action: ShutdownAction): OutgoingCommand {
    const host = this.host(action.host);
    return {
      host: action.host,
      id: action.commandId,
      ttlSeconds: this.ttlUntil(action.deadline),
      body: {
        action: 'shutdown',
        outage: action.outage,
        reason: action.reason,
        hooks: host?.shutdown.hooks ?? [],
        powerOff: true,
      },
    };
  }

  private shutdown(action: ShutdownAction, seq: number, commands: OutgoingCommand[]): void {
    if (this.usesAgent(action.kind)) {
      commands.push(this.shutdownCommand(action));
    } else if (action.kind === 'nut-client') {
      this.raiseFsd(action.host, action.commandId, action.outage);
    } else if (action.kind === 'controller') {
      void this.powerOffControllerHost(action, seq);
    }
  }

  private raiseFsd(host: string, commandId: string, outage: string): void {
    const nut = this.deps.nut;
    if (!nut)
      throw new Error('nut-client hosts are shut down through the NUT server, which is not configured');
    const { identity, names, connected } = nut.raiseFor(host, commandId);
    const who = [identity.user && `user ${identity.user}`, identity.address && `address ${identity.address}`]
      .filter(Boolean)
      .join(', ');
    this.note(
      `FSD raised for ${who} on ${names.join(', ')}${connected ? '' : ' (not connected now: it sees FSD when it connects)'}`,
      { outage, host, data: { commandId } },
    );
  }

  private cancel(
    action: Extract<EngineAction, { type: 'cancel-shutdown' }>,
    commands: OutgoingCommand[],
  ): void {
    if (this.usesAgent(action.kind)) {
      commands.push({
        host: action.host,
        id: action.commandId,
        ttlSeconds: this.ttlUntil(action.deadline),
        body: { action: 'cancel', outage: action.outage, ref: action.ref },
      });
      return;
    }
    if (action.kind === 'nut-client' && this.deps.nut?.clearFor(action.host)) {
      // It has not left yet, so its shutdown had not started: withdrawing FSD cancels it.
      this.note('FSD withdrawn', { outage: action.outage, host: action.host });
      this.deps.runtime.hostProgress(action.host, action.commandId, 'cancelled', 'FSD withdrawn');
      return;
    }
    this.note('its shutdown cannot be cancelled any more', { outage: action.outage, host: action.host });
  }

  private send(commands: OutgoingCommand[]): void {
    void this.deps.hub.sendCommands(commands).then(
      (deliveries) => {
        const queued = commands.filter((_, i) => deliveries[i] === 'queued');
        this.deps.runtime.notes(
          queued.map((c) => ({
            message: 'agent not connected; command kept until it connects',
            host: c.host,
            ...(c.body.outage && { outage: c.body.outage }),
            data: { commandId: c.id },
          })),
        );
      },
      (error: unknown) => this.deps.log.error({ err: error }, 'sending commands failed'),
    );
  }

  /**
   * A side effect carried out at most once per decision (UPS power-off, output on): its `done` note
   * is journaled after the attempt, whatever the outcome, so a restart repeats it only if it was
   * interrupted.
   */
  private async oneShot(action: EngineAction, seq: number, run: () => Promise<string>): Promise<void> {
    try {
      const what = await run();
      this.note(what, {
        ...('outage' in action && { outage: action.outage }),
        ...('source' in action && { source: action.source }),
        done: seq,
      });
      this.deps.log[action.type === 'power-off-ups' ? 'warn' : 'info'](
        { action: action.type, what },
        'UPS command sent',
      );
    } catch (error) {
      this.failed(action, error, seq);
    }
  }

  /**
   * The controller's own host, last (through its local agent it is a plain command, see `shutdown`).
   * `powering-off` is journaled first, then the `done` note, then the power request: a restart
   * after it never asks again.
   */
  private async powerOffControllerHost(action: ShutdownAction, seq: number): Promise<void> {
    await Promise.resolve();
    const { runtime, controllerHost, log } = this.deps;
    const mode = controllerHost.powerOff;
    runtime.dispatch({
      type: 'host-progress',
      host: action.host,
      commandId: action.commandId,
      step: 'powering-off',
      detail: `controller host: ${mode}`,
    });
    const where = { outage: action.outage, host: action.host, done: seq };
    try {
      if (mode === 'dry-run') {
        this.note('dry-run: the controller’s host would power off now', where);
      } else if (mode === 'systemd-path') {
        this.note(`power-off requested through ${controllerHost.requestFile}`, where);
        writeRequest(controllerHost.requestFile, {
          outage: action.outage,
          commandId: action.commandId,
          reason: action.reason,
          at: new Date(this.now()).toISOString(),
        });
      } else if (mode === 'command') {
        this.note(`running the power command: ${controllerHost.command}`, where);
        await runCommand(controllerHost.command!, {
          BLACKSTART_OUTAGE: action.outage,
          BLACKSTART_COMMAND_ID: action.commandId,
          BLACKSTART_REASON: action.reason,
        });
      }
      log.warn({ mode }, 'controller host powering off');
    } catch (error) {
      this.failed(action, error);
    }
  }

  // ---- restore ------------------------------------------------------------------------------

  private wake(action: WakeAction): void {
    const { nut, queue, runtime, wake: config } = this.deps;
    if (action.kind === 'nut-client') nut?.clearFor(action.host);
    // A host that already proves it is up needs no packet (its agent is connected, its NUT client
    // logged in): report it at once.
    if (this.healthyNow(action)) {
      runtime.hostHealthy(action.host);
      return;
    }
    const tries = (everySeconds: number) =>
      Math.min(1000, Math.max(1, Math.floor((action.deadline - this.now()) / (everySeconds * 1000)) + 1));
    if (action.method === 'wol' || action.method === 'relay') {
      if (!action.mac) throw new Error(`wake method ${action.method} needs a MAC address`);
      const job: WakeJob = {
        outage: action.outage,
        host: action.host,
        wakeId: action.wakeId,
        attempt: action.attempt,
        method: action.method,
        mac: action.mac,
        ...(action.broadcast !== undefined && { broadcast: action.broadcast }),
        ...(action.via !== undefined && { via: action.via }),
        tries: tries(config.resendEvery),
      };
      void queue.add('wake', job, {
        jobId: action.wakeId,
        attempts: job.tries,
        backoff: 'fixed',
        backoffMs: config.resendEvery * 1000,
      });
    }
    if (action.health.type === 'tcp') {
      const target = action.health.host ?? this.host(action.host)?.address;
      if (!target) throw new Error(`TCP health check of '${action.host}' needs the host's address`);
      const job: ProbeJob = {
        host: action.host,
        wakeId: action.wakeId,
        target,
        port: action.health.port,
        tries: tries(config.probeEvery),
      };
      void queue.add('probe', job, {
        jobId: `${action.wakeId}:probe`,
        attempts: job.tries,
        backoff: 'fixed',
        backoffMs: config.probeEvery * 1000,
      });
    }
  }

  /** Whether the host's agent or NUT health check already holds (TCP is probed by its job). */
  private healthyNow(action: WakeAction): boolean {
    const { nut, hub } = this.deps;
    if (action.health.type === 'agent') return hub.isConnected(action.host);
    if (action.health.type === 'nut') {
      const identity = nut?.identityOf(action.host);
      return identity !== undefined && nut?.isLoggedIn(identity) === true;
    }
    return false;
  }

  /** The host's current run, if it is still being woken by this wake-up. */
  private waking(host: string, wakeId: string): HostRun | undefined {
    const run = hostRun(this.deps.runtime.engineState, host);
    return run?.phase === 'waking' && run.wakeId === wakeId ? run : undefined;
  }

  private async runWakeJob(job: WakeJob, attempt: number): Promise<void> {
    if (!this.waking(job.host, job.wakeId)) return;
    const fields = { outage: job.outage, host: job.host };
    if (job.method === 'wol') {
      const targets = this.wakeTargets(job.broadcast);
      const sent = await sendMagicPackets(job.mac, targets);
      this.note(`Wake-on-LAN packet for ${job.mac} sent to ${sent.join(', ')} (packet ${attempt})`, fields);
    } else {
      const command: OutgoingCommand = {
        host: job.via!,
        id: `${job.wakeId}:relay:${attempt}`,
        ttlSeconds: 60,
        body: {
          action: 'wake',
          outage: job.outage,
          targets: [{ host: job.host, mac: job.mac, ...(job.broadcast && { broadcast: job.broadcast }) }],
        },
      };
      const delivery = this.deps.hub.sendCommand(command);
      this.note(
        `Wake-on-LAN relay through ${job.via}: ${delivery === 'queued' ? 'agent not connected, kept until it connects' : 'command sent'} (packet ${attempt})`,
        { ...fields, data: { commandId: command.id } },
      );
    }
    // Not healthy yet: the queue sends again after `resendEvery`, until the tries run out.
    if (attempt < job.tries && this.waking(job.host, job.wakeId)) throw new Error('not healthy yet');
  }

  private wakeTargets(broadcast: string | undefined): WakeTarget[] {
    if (broadcast) return [{ broadcast, port: 9 }];
    const networks = this.deps.wake.networks;
    return networks.length > 0 ? networks : [{ broadcast: '255.255.255.255', port: 9 }];
  }

  private async runProbeJob(job: ProbeJob, attempt: number): Promise<void> {
    if (!this.waking(job.host, job.wakeId)) return;
    if (await probeTcp(job.target, job.port, TCP_PROBE_TIMEOUT_MS)) {
      this.deps.runtime.hostHealthy(job.host);
      return;
    }
    if (attempt < job.tries && this.waking(job.host, job.wakeId))
      throw new Error(`${job.target}:${job.port} does not answer yet`);
  }

  // ---- restart --------------------------------------------------------------------------------

  private resumeWake(action: WakeAction): void {
    try {
      this.wake(action);
    } catch (error) {
      this.failed(action, error);
    }
  }

  resume(state: EngineState, undone: readonly JournaledAction[]): void {
    const outage = state.outage;
    if (!outage) return;
    const runs = hostRuns(state);
    const commands: OutgoingCommand[] = [];
    const bootedAt = this.now() - uptime() * 1000;
    for (const host of state.plan.hosts) {
      const run = runs.get(host.id);
      if (!run) continue;
      if (run.phase === 'commanded' && run.commandId && run.deadline !== undefined) {
        const action: ShutdownAction = {
          type: 'shutdown-host',
          outage: outage.id,
          host: host.id,
          kind: host.kind,
          commandId: run.commandId,
          deadline: run.deadline,
          reason: run.trigger ?? 'resumed after a controller restart',
        };
        if (this.usesAgent(host.kind)) commands.push(this.shutdownCommand(action));
        else if (host.kind === 'nut-client') this.raiseFsd(host.id, run.commandId, outage.id);
      } else if (run.phase === 'cancelling' && run.cancelId && run.commandId && this.usesAgent(host.kind)) {
        commands.push({
          host: host.id,
          id: run.cancelId,
          ttlSeconds: this.ttlUntil(run.deadline ?? this.now()),
          body: { action: 'cancel', outage: outage.id, ref: run.commandId },
        });
      } else if (run.phase === 'waking' && run.wakeId && run.wakeDeadline !== undefined) {
        const w = host.wake;
        this.resumeWake({
          type: 'wake-host',
          outage: outage.id,
          host: host.id,
          kind: host.kind,
          wakeId: run.wakeId,
          attempt: run.wakeAttempt ?? 1,
          deadline: run.wakeDeadline,
          method: w?.method ?? 'power-on',
          ...(w?.mac !== undefined && { mac: w.mac }),
          ...(w?.broadcast !== undefined && { broadcast: w.broadcast }),
          ...(w?.via !== undefined && { via: w.via }),
          health: w?.health ?? defaultHealth(host.kind),
        });
      }
    }
    if (commands.length > 0) this.send(commands);
    const redo: JournaledAction[] = [];
    for (const entry of undone) {
      const { action } = entry;
      // Through its local agent, the controller's host is a command like any other (re-sent above).
      if (action.type === 'shutdown-host' && this.usesAgent(action.kind)) continue;
      if (entry.at < bootedAt) {
        // Interrupted by the power-off it asked for (or any reboot): repeating it now would cut a
        // machine that has just come back.
        this.note(`${action.type} not repeated: this machine restarted since it was decided`, {
          outage: outage.id,
          ...('host' in action && { host: action.host }),
          ...('source' in action && { source: action.source }),
          done: entry.seq,
        });
        continue;
      }
      redo.push(entry);
    }
    if (redo.length > 0) this.perform(redo);
  }
}

function defaultHealth(kind: string): { type: 'agent' } | { type: 'nut' } | { type: 'none' } {
  return kind === 'agent' ? { type: 'agent' } : kind === 'nut-client' ? { type: 'nut' } : { type: 'none' };
}

/** Writes the power request atomically (a systemd path unit watches for it). */
function writeRequest(file: string, body: Record<string, string>): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(body)}\n`, { mode: 0o644 });
  renameSync(tmp, file);
}

function runCommand(command: string, env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { stdio: 'ignore', env: { ...process.env, ...env } });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`power command exited with status ${code}`)),
    );
  });
}
