export { AgentStore, type EnrolledAgent, EnrollmentError } from './agents.ts';
export { type Database, type DatabaseLocation, type OpenDatabase, openDatabase } from './client.ts';
export {
  type OutageSummary,
  type OutageTimeline,
  type TelemetryPoint,
  type TimelineEntry,
  TimelineStore,
} from './timeline.ts';
export { type ApiToken, ApiTokenStore, hashApiToken, type Role } from './tokens.ts';
