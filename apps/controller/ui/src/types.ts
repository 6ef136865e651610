// What the server sends is typed where the server builds it; these are type-only imports, erased
// from the bundle.
import type { DrillReport } from '../../src/drill/drill.ts';
import type { LiveState } from '../../src/live/live-feed.ts';
import type { AgentLink } from '../../src/live/views.ts';
import type { WhatIfResult } from '../../src/live/what-if.ts';
import type { SourceCapabilities } from '../../src/sources/source.ts';

export type {
  OutageSummary,
  OutageTimeline,
  TimelineEntry as TimelineEvent,
} from '../../src/db/timeline.ts';
export type { DrillHostReport, DrillReport } from '../../src/drill/drill.ts';
export type { LiveMessage, LiveState } from '../../src/live/live-feed.ts';
export type { AgentLink, TelemetryPoint as Point } from '../../src/live/views.ts';
export type { SourceCapabilities } from '../../src/sources/source.ts';
export type WhatIf = Extract<WhatIfResult, { ok: true }>;
export type SourceEntry = LiveState['sources'][number];
export type LiveHost = LiveState['hosts'][number];
export type LiveOutage = NonNullable<LiveState['outage']>;
export type LiveOutageHost = LiveOutage['hosts'][number];
// Shapes of the controller's REST API and live feed, as the UI reads them.

export type Role = 'admin' | 'viewer';
export interface Me {
  name: string;
  role: Role;
  via: string;
}

export interface PlanError {
  path: string;
  message: string;
}

export interface Readiness {
  hosts: Array<{
    id: string;
    kind: string;
    agent: AgentLink | null;
    wake: { method: string; ready: boolean; detail: string } | null;
    lastDrill: { id: string; at: string; status: string; seconds: number | null } | null;
  }>;
  ups: Array<{ id: string; kind: string; capabilities: SourceCapabilities | null; warnings: string[] }>;
  lastDrill: DrillReport | null;
}

export interface ChannelStatus {
  id: string;
  type: string;
  events: string[] | 'all';
  pending: number;
  lastDeliveredAt?: number;
  lastFailedAt?: number;
  lastError?: string;
}

export interface DeliveryFailure {
  delivery: string;
  channel: string;
  channelType: string;
  notification: { id: string; kind: string; title: string; at: number; outage?: string };
  attempts: number;
  error: string;
  at: number;
}

export interface AgentInfo {
  host: string;
  keyId: string;
  enrolledAt: string;
  lastSeenAt: string | null;
  connected: boolean;
  version?: string;
  hostname?: string;
}
