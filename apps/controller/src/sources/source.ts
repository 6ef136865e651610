import type { PowerOffCommand } from '../config.ts';

/** NUT-named variables, as every source reports them (`ups.status`, `battery.charge`, …). */
export type NutVars = Record<string, string>;

export interface SourceListener {
  reading(vars: NutVars): void;
  /** No data: communication lost, stale driver data. Not an outage by itself. */
  lost(reason: string): void;
}

/**
 * What the UPS can do at the end of a plan, found out before any outage: which of the commands
 * that cut the output it offers, and so whether mains returning will restart everything.
 */
export interface SourceCapabilities {
  /** Whether the answer comes from the UPS (`known`) or it could not be asked yet. */
  known: boolean;
  /** Instant commands the UPS offers. */
  commands: string[];
  shutdownReturn: boolean;
  loadOffDelay: boolean;
  shutdownReboot: boolean;
  loadOn: boolean;
  /** The command `powerOff` will send, if any. */
  powerOffCommand?: string;
  /**
   * `power-cycle`: output off after the delay, back on when mains returns (shutdown.return);
   * `reboot`: output off, then back on after the UPS's start delay even if still on battery;
   * `manual`: output off and it stays off until switched on (load.off.delay) — nothing restarts by itself;
   * `none`: the UPS cannot be powered off by Blackstart; `unknown`: not asked yet.
   */
  restore: 'power-cycle' | 'reboot' | 'manual' | 'none' | 'unknown';
  /** One sentence for the log and the API. */
  summary: string;
}

export interface SourceStatus {
  state: 'starting' | 'data' | 'no-data';
  /** Why there is no data. */
  reason?: string;
  /** Epoch ms of the last reading. */
  lastReadingAt?: number;
  /** e.g. `ups@nas:3493`, `051d:0002 APC Back-UPS`, `simulated`. */
  description: string;
}

/** A UPS the controller reads and, at the end of a plan, powers off. */
export interface PowerSource {
  readonly id: string;
  readonly kind: 'simulator' | 'nut' | 'hid';
  start(listener: SourceListener): Promise<void>;
  stop(): Promise<void>;
  status(): SourceStatus;
  /** Asks the UPS which power commands it offers (cached once known). */
  capabilities(): Promise<SourceCapabilities>;
  /**
   * Cuts the UPS output after `delaySeconds` and restores it when mains returns
   * (NUT's shutdown.return semantics), so every host restarts after the outage.
   * Resolves with a description of what the UPS was told; rejects when it refused.
   */
  powerOff(delaySeconds: number): Promise<string>;
  /** Switches the UPS output on if it is off (NUT's `load.on`). Resolves with what was done. */
  powerOn(): Promise<string>;
}

/** The order NUT drivers try when killing power: return on mains, else reboot, else plain off. */
export const POWER_OFF_ORDER = ['shutdown.return', 'shutdown.reboot', 'load.off.delay'] as const;

/** Reads a UPS's command list as capabilities, choosing the power-off command as `preference` says. */
export function capabilitiesFrom(
  commands: readonly string[],
  preference: PowerOffCommand,
): SourceCapabilities {
  const has = (c: string) => commands.includes(c);
  const chosen = preference === 'auto' ? POWER_OFF_ORDER.find(has) : has(preference) ? preference : undefined;
  const restore =
    chosen === 'shutdown.return'
      ? 'power-cycle'
      : chosen === 'shutdown.reboot'
        ? 'reboot'
        : chosen === 'load.off.delay'
          ? 'manual'
          : 'none';
  const summary =
    restore === 'power-cycle'
      ? 'offers shutdown.return: hosts restart when mains returns after the UPS is powered off'
      : restore === 'reboot'
        ? 'offers shutdown.reboot but not shutdown.return: the output comes back after its start delay even if mains is still out'
        : restore === 'manual'
          ? 'offers only load.off.delay: after a power-off the output stays off until someone switches it on'
          : preference !== 'auto' && !has(preference)
            ? `does not offer the configured ${preference}: it cannot be powered off by Blackstart`
            : 'offers none of shutdown.return, shutdown.reboot, load.off.delay: it cannot be powered off by Blackstart';
  return {
    known: true,
    commands: [...commands].sort(),
    shutdownReturn: has('shutdown.return'),
    loadOffDelay: has('load.off.delay'),
    shutdownReboot: has('shutdown.reboot'),
    loadOn: has('load.on'),
    ...(chosen !== undefined && { powerOffCommand: chosen }),
    restore,
    summary,
  };
}

export const UNKNOWN_CAPABILITIES: SourceCapabilities = {
  known: false,
  commands: [],
  shutdownReturn: false,
  loadOffDelay: false,
  shutdownReboot: false,
  loadOn: false,
  restore: 'unknown',
  summary: 'not known yet: the UPS has not answered',
};
