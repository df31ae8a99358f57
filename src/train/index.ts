/**
 * Training: `fit`, every method as an objective, learning-rate schedules and checkpoints.
 * @packageDocumentation
 */
export {
  type FitBatch,
  type BatchInfo,
  type CheckpointOptions,
  type BatchIterator,
  type DatasetLike,
  type Examples,
  type TfDataBatch,
  type ValidationResult,
  type EpochInfo,
  type FitCallback,
  type FitData,
  type FitHistory,
  type FitOptions,
  type ValidationOptions,
  fit
} from './fit.js';
export { type BatchContext, type LossTerms, type Objective, type ObjectiveSetup, type ObjectiveState } from './objective.js';
export { type LayersStudentLike, type LayersTeacherLike, type LayersWeightLike, type Student, type StudentOutputs, type TeacherLike, asStudent, asTeacher, asVariable, featuresOf } from './student.js';
export { type Schedule, type ScheduleContext, cosine, linearWarmup, multiStep } from './schedules.js';
export { type Checkpoint, type CheckpointRecovery, type LoadCheckpointOptions, type NamedTensor, type SaveHooks, type SkippedCheckpoint, loadLatestCheckpoint, saveCheckpoint } from '../io/checkpoint-store.js';
export { type AttackSettings } from './objectives/common.js';
export { natural } from './objectives/natural.js';
export { type PgdAtOptions, pgdAt } from './objectives/pgd-at.js';
export { type TradesObjectiveOptions, trades } from './objectives/trades.js';
export { type MartObjectiveOptions, mart } from './objectives/mart.js';
export { type ArdObjectiveOptions, ard } from './objectives/ard.js';
export { type RsladObjectiveOptions, rslad } from './objectives/rslad.js';
export { type IadObjectiveOptions, iad } from './objectives/iad.js';
export { type AdaadObjectiveOptions, adaad } from './objectives/adaad.js';
export { type MtardObjective, type MtardObjectiveOptions, mtard } from './objectives/mtard.js';
export { type LtdObjective, type LtdObjectiveOptions, ltd } from './objectives/ltd.js';
export { type ArrestObjectiveOptions, arrest } from './objectives/arrest.js';
export { type CrdndObjectiveOptions, crdnd } from './objectives/crdnd.js';
export { type DarhtObjectiveOptions, darht } from './objectives/darht.js';

import { installFileUrlHint } from '../io/file-url-hint.js';

// What importing ardkit does: a `file://` URL that no tfjs handler takes then fails saying to call registerFileSystem().
installFileUrlHint();
