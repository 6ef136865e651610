export {
  describeTrigger,
  type EngineAction,
  type EngineEvent,
  type EngineState,
  type HostPhase,
  type HostRun,
  type HostStep,
  initialState,
  nextWakeAt,
  type OutageState,
  type SourceState,
  type StepResult,
  step,
} from './engine.ts';
export {
  type Host,
  type HostKind,
  type Plan,
  PlanSchema,
  type Trigger,
  TriggerSchema,
  type Ups,
} from './plan.ts';
export { isOnBattery, isTesting, readingFromNutVars, type UpsReading } from './reading.ts';
export {
  indexPlan,
  type PlanError,
  type PlanIndex,
  type PlanValidation,
  schemaErrors,
  validatePlan,
} from './validate.ts';
