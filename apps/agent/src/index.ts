export {
  AGENT_VERSION,
  EnrollmentFailed,
  enroll,
  loadFailsafeHooks,
  type RunningAgent,
  runAgent,
} from './agent.ts';
export {
  type AgentConfig,
  AgentConfigError,
  type ControllerPin,
  loadAgentConfig,
  parsePin,
} from './config.ts';
export { FailSafe, type FailSafeStatus } from './failsafe.ts';
export {
  certificateFingerprint,
  fetchPinnedCertificate,
  PinMismatch,
  pinnedTlsOptions,
  postJson,
} from './tls.ts';
