import { spawn } from 'node:child_process';
import type { AgentConfig } from './config.ts';
import type { AgentState } from './state.ts';

export interface PowerOffRequest {
  commandId: string;
  outage: string;
  reason: string;
}

/** How the agent powers its host off. Tests and drills use `dry-run`, which only records. */
export interface PowerAction {
  readonly kind: string;
  powerOff(request: PowerOffRequest): Promise<string>;
}

export class DryRunPowerAction implements PowerAction {
  readonly kind = 'dry-run';
  constructor(private readonly state: AgentState) {}

  async powerOff(request: PowerOffRequest): Promise<string> {
    const entry = { at: new Date().toISOString(), ...request, wouldRun: 'power off this host' };
    this.state.appendDryRun(entry);
    return 'dry-run: recorded the power-off instead of performing it';
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
  return config.powerAction === 'command'
    ? new CommandPowerAction(config.powerCommand!)
    : new DryRunPowerAction(state);
}
