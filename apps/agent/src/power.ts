import { spawn } from 'node:child_process';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentConfig } from './config.ts';
import type { AgentState } from './state.ts';

export interface PowerOffRequest {
  commandId: string;
  outage: string;
  reason: string;
  /** `controller` for a signed command, `failsafe` when the agent shuts down on its own. */
  origin: 'controller' | 'failsafe';
  /** When the command arrived (epoch ms, sub-millisecond precision): receipt-to-request latency. */
  receivedAt: number;
}

/** How the agent powers its host off. Tests and drills use `dry-run`, which only records. */
export interface PowerAction {
  readonly kind: string;
  /** Requests the power-off; resolves to a sentence saying what was done. */
  powerOff(request: PowerOffRequest): Promise<string>;
}

/** Epoch milliseconds with sub-millisecond precision. */
export const preciseNow = (): number => performance.timeOrigin + performance.now();

export class DryRunPowerAction implements PowerAction {
  readonly kind = 'dry-run';
  constructor(private readonly state: AgentState) {}

  async powerOff(request: PowerOffRequest): Promise<string> {
    const requestedAt = preciseNow();
    this.state.appendDryRun({
      at: new Date(requestedAt).toISOString(),
      ...request,
      requestedAt,
      wouldRun: 'power off this host',
    });
    return 'dry-run: recorded the power-off instead of performing it';
  }
}

/**
 * The default, least-privilege power action: the unprivileged agent writes a request file into its
 * RuntimeDirectory (only it can write there); the root-owned `blackstart-agent-poweroff.path` unit
 * watches for that file and starts `blackstart-agent-poweroff.service`, which powers the host off.
 * The agent itself never holds the privilege to power anything off.
 */
export class SystemdPathPowerAction implements PowerAction {
  readonly kind = 'systemd-path';
  static readonly FILE = 'poweroff-request';
  constructor(private readonly dir: string) {}

  async powerOff(request: PowerOffRequest): Promise<string> {
    const file = join(this.dir, SystemdPathPowerAction.FILE);
    const requestedAt = preciseNow();
    const body = `${JSON.stringify({ ...request, requestedAt, at: new Date(requestedAt).toISOString() })}\n`;
    // Written aside and renamed: the path unit sees the request complete or not at all.
    writeFileSync(`${file}.tmp`, body, { mode: 0o644 });
    renameSync(`${file}.tmp`, file);
    return `requested power-off through ${file} (blackstart-agent-poweroff.path powers the host off)`;
  }
}

export class CommandPowerAction implements PowerAction {
  readonly kind = 'command';
  constructor(private readonly command: string) {}

  async powerOff(request: PowerOffRequest): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      const child = spawn('/bin/sh', ['-c', this.command], {
        stdio: 'ignore',
        env: {
          ...process.env,
          BLACKSTART_OUTAGE: request.outage,
          BLACKSTART_COMMAND_ID: request.commandId,
          BLACKSTART_REASON: request.reason,
          BLACKSTART_ORIGIN: request.origin,
        },
      });
      child.on('error', reject);
      child.on('exit', (code) =>
        code === 0 ? resolve() : reject(new Error(`power command exited with status ${code}`)),
      );
    });
    return `ran power command: ${this.command}`;
  }
}

export function createPowerAction(config: AgentConfig, state: AgentState): PowerAction {
  switch (config.powerAction) {
    case 'command':
      return new CommandPowerAction(config.powerCommand!);
    case 'systemd-path':
      return new SystemdPathPowerAction(config.powerRequestDir);
    case 'dry-run':
      return new DryRunPowerAction(state);
  }
}
