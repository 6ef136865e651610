/** NUT-named variables, as every source reports them (`ups.status`, `battery.charge`, …). */
export type NutVars = Record<string, string>;

export interface SourceListener {
  reading(vars: NutVars): void;
  /** No data: communication lost, stale driver data. Not an outage by itself. */
  lost(reason: string): void;
}

/** A UPS the controller reads and, at the end of a plan, powers off. */
export interface PowerSource {
  readonly id: string;
  readonly kind: 'simulator' | 'nut' | 'hid';
  start(listener: SourceListener): Promise<void>;
  stop(): Promise<void>;
  /**
   * Cuts the UPS output after `delaySeconds` and restores it when mains returns
   * (NUT's shutdown.return semantics), so every host restarts after the outage.
   * Resolves with a description of what the UPS was told.
   */
  powerOff(delaySeconds: number): Promise<string>;
  /** Switches the UPS output on if it is off (NUT's `load.on`). Resolves with what was done. */
  powerOn(): Promise<string>;
}
