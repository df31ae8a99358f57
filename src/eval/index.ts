/**
 * Robustness evaluation: clean accuracy, accuracy per attack and worst case (`evaluate`), worst-case ensembles run
 * AutoAttack-style (`worstCase`, `autoAttack`), robustness curves over ε,
 * transferability between models and teacher selection (DARHT), and sanity checks for gradient masking.
 *
 * Every function returns a promise: results are read back with `await data()`, never synchronously, so that they run
 * on every backend, webgpu included (whose synchronous readback throws in Node and returns zeros in the browser).
 * @packageDocumentation
 */
export { type EvaluationMode, type EvaluationResult } from './result.js';
export { type EvaluateOptions, type EvaluateProgress, evaluate } from './evaluate.js';
export { type WorstCaseOptions, type WorstCaseProgress, type WorstCaseResult, worstCase } from './worst-case.js';
export { type AutoAttackOptions, type AutoAttackResult, autoAttack } from './auto-attack.js';
export {
  type RobustnessCurveOptions,
  type RobustnessCurveProgress,
  type RobustnessCurve,
  robustnessCurve
} from './robustness-curve.js';
export { type TransferabilityOptions, type TransferabilityResult, transferability } from './transferability.js';
export { type SelectTeachersOptions, type TeacherSelection, selectTeachers } from './select-teachers.js';
export { type SanityCheckId, type SanityFlag, type SanityCheckOptions, sanityChecks } from './sanity-checks.js';
