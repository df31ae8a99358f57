import { named } from '../core/errors.js';
import * as tf from '@tensorflow/tfjs-core';
import { checkNonNegative, checkSameShape, checkTensor } from '../core/validate.js';
import { perExampleL2 } from './norms.js';

/** Below this gradient norm an L2 step does not move the example (avoids 0/0). */
const TINY = 1e-12;

/**
 * The L∞ steepest-ascent step: `x + α·sign(g)` (Goodfellow et al. 2015; Madry et al., arXiv 1706.06083).
 * No projection: follow it with {@link projectLinf}.
 *
 * @param x - the current point `[B, ...]`.
 * @param grad - the loss gradient at `x`, same shape.
 * @param stepSize - `α >= 0`.
 * @returns `x + α·sign(g)`, same shape; the caller disposes it.
 * @throws RangeError when the shapes differ or `stepSize` is negative or not finite.
 * @example
 * const next = signStep(xAdv, grad, 0.01);
 */
export function signStep(x: tf.Tensor, grad: tf.Tensor, stepSize: number): tf.Tensor {
  return named('signStep', () => {
    checkTensor('x', x);
    checkTensor('grad', grad);
    checkSameShape('x', x, 'grad', grad);
    checkNonNegative('stepSize', stepSize);
    return signStepUnchecked(x, grad, stepSize);
  });
}

/** {@link signStep} without validation, for attack loops. */
export function signStepUnchecked(x: tf.Tensor, grad: tf.Tensor, stepSize: number): tf.Tensor {
  return tf.tidy(() => tf.add(x, tf.mul(tf.sign(grad), stepSize)));
}

/**
 * The L2 steepest-ascent step: `x + α·g/‖g‖₂`, the norm taken per example over all non-batch axes.
 * An example whose gradient is exactly zero does not move.
 *
 * @param x - the current point `[B, ...]`.
 * @param grad - the loss gradient at `x`, same shape.
 * @param stepSize - `α >= 0`.
 * @returns the moved point, same shape; the caller disposes it.
 * @throws RangeError when the shapes differ or `stepSize` is negative or not finite.
 * @example
 * const next = l2Step(xAdv, grad, 0.1);
 */
export function l2Step(x: tf.Tensor, grad: tf.Tensor, stepSize: number): tf.Tensor {
  return named('l2Step', () => {
    checkTensor('x', x, { min: 1 });
    checkTensor('grad', grad);
    checkSameShape('x', x, 'grad', grad);
    checkNonNegative('stepSize', stepSize);
    return l2StepUnchecked(x, grad, stepSize);
  });
}

/** {@link l2Step} without validation, for attack loops. */
export function l2StepUnchecked(x: tf.Tensor, grad: tf.Tensor, stepSize: number): tf.Tensor {
  return tf.tidy(() => {
    const norm = tf.maximum(perExampleL2(grad), TINY);
    return tf.add(x, tf.mul(tf.div(grad, norm), stepSize));
  });
}
