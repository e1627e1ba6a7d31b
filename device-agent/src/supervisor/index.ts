export * from './policy.js';
export {
  Supervisor,
  definitionHash,
  DEFINITION_HASH_LABEL,
  type DesiredContainer,
  type SupervisedContainer,
  type GoalResult,
  type SupervisedStatus,
  type SupervisorOptions,
} from './supervisor.js';
