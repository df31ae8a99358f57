/**
 * Robustness evaluation: clean accuracy, accuracy per attack and worst case.
 * @packageDocumentation
 */
export { type EvaluateOptions, type EvaluateProgress, type EvaluationResult, evaluate } from './evaluate.js';
