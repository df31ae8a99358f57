import { named } from '../core/errors.js';
import * as tf from '@tensorflow/tfjs-core';
import { checkBounds, checkNonNegative, checkSameShape, checkTensor, type Bounds } from '../core/validate.js';
import { perExampleL2 } from './norms.js';

const DEFAULT_BOUNDS: Bounds = [0, 1];

/**
 * Projection on the L∞ ball of radius ε around `x`, intersected with the box `[lo, hi]`:
 * `clip(clip(x', x − ε, x + ε), lo, hi)`.
 *
 * @param xAdv - the point to project `[B, ...]`.
 * @param x - the centre of the ball (the clean input), same shape.
 * @param eps - the radius `ε >= 0`.
 * @param bounds - the input box. @defaultValue [0, 1]
 * @returns the projected point, same shape; the caller disposes it.
 * @throws RangeError when shapes differ, `eps` is negative or not finite, or `bounds` is not `lo < hi`.
 * @example
 * const inside = projectLinf(xAdv, x, 0.3);
 */
export function projectLinf(xAdv: tf.Tensor, x: tf.Tensor, eps: number, bounds: Bounds = DEFAULT_BOUNDS): tf.Tensor {
  return named('projectLinf', () => {
    checkTensor('xAdv', xAdv);
    checkTensor('x', x);
    checkSameShape('xAdv', xAdv, 'x', x);
    checkNonNegative('eps', eps);
    const [lo, hi] = checkBounds(bounds);
    return tf.tidy(() => tf.clipByValue(tf.minimum(tf.maximum(xAdv, tf.sub(x, eps)), tf.add(x, eps)), lo, hi));
  });
}

/**
 * Projection on the L2 ball of radius ε around `x` (per example), then on the box `[lo, hi]`:
 * `δ ← δ·min(1, ε/‖δ‖₂)`, `x' = clip(x + δ, lo, hi)`. Clipping to the box only shrinks each
 * coordinate of `δ` (x lies in the box), so the result stays inside the ball.
 *
 * @param xAdv - the point to project `[B, ...]`.
 * @param x - the centre of the ball, same shape.
 * @param eps - the radius `ε >= 0`.
 * @param bounds - the input box. @defaultValue [0, 1]
 * @returns the projected point, same shape; the caller disposes it.
 * @throws RangeError when shapes differ, `eps` is negative or not finite, or `bounds` is not `lo < hi`.
 * @example
 * const inside = projectL2(xAdv, x, 2.0);
 */
export function projectL2(xAdv: tf.Tensor, x: tf.Tensor, eps: number, bounds: Bounds = DEFAULT_BOUNDS): tf.Tensor {
  return named('projectL2', () => {
    checkTensor('xAdv', xAdv, { min: 1 });
    checkTensor('x', x);
    checkSameShape('xAdv', xAdv, 'x', x);
    checkNonNegative('eps', eps);
    return projectL2Unchecked(xAdv, x, eps, checkBounds(bounds));
  });
}

/** {@link projectL2} without validation, for attack loops. */
export function projectL2Unchecked(xAdv: tf.Tensor, x: tf.Tensor, eps: number, bounds: Bounds): tf.Tensor {
  return tf.tidy(() => {
    const delta = tf.sub(xAdv, x);
    const norm = perExampleL2(delta);
    // Only shrink: examples already inside the ball keep a factor of exactly 1 (and 0/0 never happens).
    const factor = tf.where(tf.greater(norm, eps), tf.div(eps, tf.maximum(norm, 1e-30)), tf.onesLike(norm));
    return tf.clipByValue(tf.add(x, tf.mul(delta, factor)), bounds[0], bounds[1]);
  });
}

/**
 * The projection on the ε-ball around `x` intersected with `bounds`, for the iterative attacks (PGD's ascent and
 * APGD). For L∞, `clip(x + clip(v − x, −ε, ε), lo, hi)`: four element-wise ops with scalar bounds, which every
 * backend runs as fast kernels (on wasm, `Maximum` and `Minimum` of two tensors run element by element about 20×
 * slower than XNNPACK's clamp; torchattacks projects the same way). For L2, {@link projectL2Unchecked}. Internal: `x`
 * is validated by the caller, which disposes the projector.
 */
export function ballProjector(x: tf.Tensor, eps: number, norm: 'linf' | 'l2', bounds: Bounds): { project: (v: tf.Tensor) => tf.Tensor; dispose: () => void } {
  if (norm === 'l2') return { project: (v) => projectL2Unchecked(v, x, eps, bounds), dispose: () => {} };
  return {
    project: (v) => tf.tidy(() => tf.clipByValue(tf.add(x, tf.clipByValue(tf.sub(v, x), -eps, eps)), bounds[0], bounds[1])),
    dispose: () => {}
  };
}
