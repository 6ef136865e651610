export { type BatteryModel, DEFAULT_EXPONENT, fitBatteryModel, runtimeAt } from './battery.ts';
export {
  type BudgetTable,
  budgetTable,
  type DurationHistory,
  estimateRuntime,
  expectedDuration,
  type LearnedDurations,
  learnedInPlanOrder,
  p95,
} from './budget.ts';
export { type CompiledPlan, compilePlan, indexPlan, type PlanIndex, triggersOf } from './compile.ts';
export {
  describeTrigger,
  type EngineAction,
  type EngineEvent,
  type EngineState,
  hostRun,
  hostRuns,
  initialState,
  learnedDurations,
  nextWakeAt,
  type OutageOutcome,
  type OutageState,
  prepare,
  type SourceState,
  type StepResult,
  step,
  stepMany,
  type UpsRun,
  upgradeState,
} from './engine.ts';
export {
  checkFeasibility,
  type FeasibilityOptions,
  type FeasibilityReport,
  type UpsFeasibility,
} from './feasibility.ts';
export type { HostPhase, HostRun, HostStep, HostTable } from './host-table.ts';
export { planJsonSchema } from './json-schema.ts';
export {
  type BatterySample,
  type Group,
  type HealthCheck,
  type Host,
  type HostKind,
  type Plan,
  PlanSchema,
  type PointOfNoReturn,
  type Trigger,
  TriggerSchema,
  type Ups,
  type Wake,
  type WakeMethod,
} from './plan.ts';
export { isOnBattery, isOnLine, isTesting, powerOf, readingFromNutVars, type UpsReading } from './reading.ts';
export { explainSchemaErrors, type PlanError } from './schema-errors.ts';
export {
  type HostScenario,
  type HostSummary,
  outageScenario,
  type Scenario,
  ScenarioError,
  ScenarioSchema,
  type ScenarioValidation,
  type SimulationResult,
  simulate,
  type TimelineEntry,
  type UpsScenario,
  validateScenario,
  type WorldEvent,
} from './simulate.ts';
export { type PlanValidation, validatePlan } from './validate.ts';
