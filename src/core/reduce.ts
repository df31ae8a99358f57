import * as tf from '@tensorflow/tfjs-core';
import { checkOneOf } from './validate.js';

/** How per-example values are combined: `'mean'` over examples, `'sum'`, or `'none'` (per example). */
export type Reduction = 'mean' | 'sum' | 'none';

/** The allowed {@link Reduction} values. */
export const REDUCTIONS: readonly Reduction[] = ['mean', 'sum', 'none'];

/**
 * Applies a reduction to per-example values `[B]`.
 *
 * @param perExample - `[B]` values.
 * @param reduction - `'mean'`, `'sum'` or `'none'`.
 * @param fn - the calling function's name, used in the error message.
 * @returns a scalar for `'mean'`/`'sum'`, the `[B]` tensor for `'none'`.
 * @throws RangeError when `reduction` is not one of the three.
 * @example
 * const loss = reduce(perExample, 'mean');
 */
export function reduce(perExample: tf.Tensor, reduction: Reduction, fn = 'reduce'): tf.Tensor {
  checkOneOf(fn, 'reduction', reduction, REDUCTIONS);
  if (reduction === 'none') return perExample;
  return reduction === 'mean' ? tf.mean(perExample) : tf.sum(perExample);
}
