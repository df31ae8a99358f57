import { named } from './errors.js';
import * as tf from '@tensorflow/tfjs-core';
import { checkOneOf } from './validate.js';
import { oneOf, type OptionField } from './options.js';

/** How per-example values are combined: `'mean'` over examples, `'sum'`, or `'none'` (per example). */
export type Reduction = 'mean' | 'sum' | 'none';

/** The allowed {@link Reduction} values. */
export const REDUCTIONS: readonly Reduction[] = ['mean', 'sum', 'none'];

/**
 * Applies a reduction to per-example values `[B]`.
 *
 * @param perExample - `[B]` values.
 * @param reduction - `'mean'`, `'sum'` or `'none'`.
 * @returns a scalar for `'mean'`/`'sum'`, the `[B]` tensor for `'none'`.
 * @throws RangeError when `reduction` is not one of the three.
 * @example
 * const loss = reduce(perExample, 'mean');
 */
export function reduce(perExample: tf.Tensor, reduction: Reduction): tf.Tensor {
  return named('reduce', () => {
    return applyReduction(perExample, checkOneOf('reduction', reduction, REDUCTIONS));
  });
}

/** {@link reduce} of a reduction already checked (a resolved config's): the losses' cores use it. Internal. */
export function applyReduction(perExample: tf.Tensor, reduction: Reduction): tf.Tensor {
  if (reduction === 'none') return perExample;
  return reduction === 'mean' ? tf.mean(perExample) : tf.sum(perExample);
}

/** The `reduction` option of every loss: one of {@link REDUCTIONS}, `'mean'` when left out. Internal. */
export const REDUCTION_FIELD: OptionField<Reduction> = /* @__PURE__ */ oneOf(REDUCTIONS, 'mean');

/**
 * What a loss returns for its options: a `[B]` tensor for `reduction: 'none'`, a scalar for `'mean'`, `'sum'` or no
 * reduction given (the mean), and a tensor of either rank when the reduction is only known at run time.
 */
export type Reduced<O> = 'reduction' extends keyof O
  ? [O['reduction' & keyof O]] extends ['none']
    ? tf.Tensor1D
    : [O['reduction' & keyof O]] extends ['mean' | 'sum' | undefined]
      ? tf.Scalar
      : tf.Tensor
  : tf.Scalar;

/** The options type of a loss called without options: the default reduction, the mean. */
export interface DefaultReduction {
  /** The mean over the batch. */
  readonly reduction?: 'mean';
}
