export { AgentStore, type EnrolledAgent, EnrollmentError } from './agents.ts';
export { type Database, type DatabaseLocation, type OpenDatabase, openDatabase } from './client.ts';
export { type DrillRecord, DrillStore } from './drills.ts';
export {
  type OutageSummary,
  type OutageTimeline,
  type PlanVersionSummary,
  type TelemetryPoint,
  type TimelineEntry,
  TimelineStore,
  timelineCsv,
  timelineEntry,
  timelineRows,
} from './timeline.ts';
export { type ApiToken, ApiTokenStore, hashApiToken, type Role } from './tokens.ts';
