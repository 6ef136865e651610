import { type EngineState, hostRuns, type Plan } from '@blackstart/policy';
import type { TelemetryPoint as StoredTelemetryPoint } from '../db/timeline.ts';
import type { DrillReport } from '../drill/drill.ts';
import type { AgentHub } from '../hub/agent-hub.ts';
import type { Runtime } from '../runtime/runtime.ts';
import type { PowerSource, SourceCapabilities } from '../sources/source.ts';

/** What the views read: the runtime, the hub, the sources. */
export interface ViewDeps {
  runtime: Runtime;
  hub: AgentHub;
  sources: ReadonlyMap<string, PowerSource>;
  capabilities: ReadonlyMap<string, SourceCapabilities>;
}

/** One point of a UPS's telemetry: a timeline reading without its source (the feed keys by source). */
export type TelemetryPoint = Omit<StoredTelemetryPoint, 'source'>;

export interface AgentLink {
  connected: boolean;
  version: string | null;
  lastSeenAt: string | null;
}

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

/** Every source: its link status, latest reading, what its UPS offers, and what the plan asks of it it cannot do. */
export function sourceViews(deps: ViewDeps) {
  const state = deps.runtime.engineState;
  return [...deps.sources.values()].map((s) => {
    const caps = deps.capabilities.get(s.id);
    const ups = deps.runtime.plan.ups.find((u) => u.id === s.id);
    const warnings: string[] = [];
    if (caps?.known && ups?.powerOff.enabled !== false && caps.restore !== 'power-cycle')
      warnings.push(`the plan powers this UPS off, but it ${caps.summary}`);
    return {
      id: s.id,
      kind: s.kind,
      ...s.status(),
      reading: state.sources[s.id]?.reading ?? null,
      capabilities: caps ?? null,
      warnings,
    };
  });
}

/** A host of the plan with its agent link (agent hosts only) and its phase in the running outage. */
export function hostViews(plan: Plan, state: EngineState, links: ReadonlyMap<string, AgentLink>) {
  const runs = hostRuns(state);
  return plan.hosts.map((h) => ({
    id: h.id,
    name: h.name ?? null,
    kind: h.kind,
    dependsOn: h.dependsOn,
    agent:
      h.kind === 'agent' ? (links.get(h.id) ?? { connected: false, version: null, lastSeenAt: null }) : null,
    phase: runs.get(h.id)?.phase ?? null,
  }));
}

/** The running outage, host by host; null when none runs. */
export function outageProgress(state: EngineState) {
  const outage = state.outage;
  if (!outage) return null;
  const runs = hostRuns(state);
  return {
    id: outage.id,
    startedAt: new Date(outage.startedAt).toISOString(),
    phase: outage.phase,
    mainsReturnedAt: iso(outage.mainsReturnedAt),
    hosts: state.plan.hosts.map((h) => {
      const run = runs.get(h.id)!;
      return {
        id: h.id,
        phase: run.phase,
        trigger: run.trigger ?? null,
        commandedAt: iso(run.commandedAt),
        downAt: iso(run.downAt),
        upAt: iso(run.upAt),
        lastStep: run.lastStep ?? null,
      };
    }),
  };
}

/** Whether a host can be woken as the plan says, and why not. */
export function wakeReadiness(host: Plan['hosts'][number], connected: (host: string) => boolean) {
  const wake = host.wake;
  if (!wake) return null;
  switch (wake.method) {
    case 'wol':
      return wake.mac
        ? { method: wake.method, ready: true, detail: `Wake-on-LAN to ${wake.mac}` }
        : { method: wake.method, ready: false, detail: 'no MAC address: Wake-on-LAN cannot reach it' };
    case 'relay':
      if (!wake.mac) return { method: wake.method, ready: false, detail: 'no MAC address to wake' };
      if (!wake.via) return { method: wake.method, ready: false, detail: 'no relay agent (via) set' };
      return connected(wake.via)
        ? { method: wake.method, ready: true, detail: `relayed by ${wake.via} to ${wake.mac}` }
        : { method: wake.method, ready: false, detail: `relay agent ${wake.via} is not connected` };
    case 'power-on':
      return { method: wake.method, ready: true, detail: 'powers on by itself when power returns' };
    case 'none':
      return { method: wake.method, ready: true, detail: 'stays off after an outage' };
  }
}

/** The last drill's measurement for one host. */
export function lastDrillOf(report: DrillReport | undefined, host: string) {
  const entry = report?.hosts.find((h) => h.host === host);
  if (!report || !entry) return null;
  return {
    id: report.id,
    at: report.startedAt,
    status: report.status,
    how: entry.how ?? null,
    seconds: entry.seconds ?? null,
  };
}
