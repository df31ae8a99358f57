/**
 * Model adapters, seeded randomness, reductions and the device check flush shared by every ardkit module.
 * @packageDocumentation
 */
export {
  type Model,
  type LayersModelLike,
  type FromLayersModelOptions,
  fromLayersModel,
  type GraphModelLike,
  type GraphTensorInfoLike,
  type FromGraphModelOptions,
  fromGraphModel,
  withTemperature
} from './model.js';
export { type NormalizationOptions, withNormalization } from './normalization.js';
export { type Random, createRandom } from './random.js';
export { type DefaultReduction, type Reduced, type Reduction, REDUCTIONS, reduce } from './reduce.js';
export type { Bounds } from './validate.js';
export { type Student, type StudentOutputs, asVariable } from './student.js';
export { flushChecks } from './device-checks.js';
