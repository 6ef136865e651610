export { AGENT_VERSION, EnrollmentFailed, enroll, type RunningAgent, runAgent } from './agent.ts';
export { type AgentConfig, AgentConfigError, loadAgentConfig } from './config.ts';
