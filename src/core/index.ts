/**
 * Model adapters, validation helpers, seeded randomness and reductions shared by every ardkit module.
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
export { formatValue, rangeError, typeError } from './errors.js';
export {
  type Bounds,
  checkBoolean,
  checkBounds,
  checkFinite,
  checkFunction,
  checkGradientsRegistered,
  checkInBounds,
  checkInput,
  checkInteger,
  checkKnownKeys,
  optionKeys,
  checkLabels,
  checkLogits,
  checkNonNegative,
  checkOneOf,
  checkPositive,
  checkSameShape,
  checkTensor
} from './validate.js';
export { type Student, type StudentOutputs, asVariable } from './student.js';
export { flushChecks } from './device-checks.js';
