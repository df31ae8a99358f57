import * as tf from '@tensorflow/tfjs-core';
import { checkSameShape, checkTensor } from '../core/validate.js';
import { rangeError, typeError, named } from '../core/errors.js';
import { oneOf, parseOptions, type OptionFields, type Resolved } from '../core/options.js';
import { applyReduction, REDUCTION_FIELD, type Reduction, type DefaultReduction, type Reduced } from '../core/reduce.js';

/** How {@link representationDistance} compares two representations. */
export type RepresentationMetric = 'cosine' | 'l2' | 'squaredL2';

/** Options of {@link representationDistance}. */
export interface RepresentationDistanceOptions {
  /** `'cosine'`: `1 − cos(a, b)`; `'l2'`: `‖a − b‖₂`; `'squaredL2'`: `‖a − b‖₂²`. @defaultValue 'cosine' */
  readonly metric?: RepresentationMetric;
  /** @defaultValue 'mean' */
  readonly reduction?: Reduction;
}

/** Added under square roots so that distances of identical or zero vectors have finite gradients. */
const SQRT_EPS = 1e-12;

/** Per-example distance over the flattened features, unchecked. */
export function representationDistancePerExample(a: tf.Tensor, b: tf.Tensor, metric: RepresentationMetric): tf.Tensor1D {
  return tf.tidy(() => {
    const batch = a.shape[0] ?? 0;
    const fa = tf.reshape(a, [batch, -1]);
    const fb = tf.reshape(b, [batch, -1]);
    if (metric === 'cosine') {
      const dot = tf.sum(tf.mul(fa, fb), 1);
      const na = tf.sqrt(tf.add(tf.sum(tf.square(fa), 1), SQRT_EPS));
      const nb = tf.sqrt(tf.add(tf.sum(tf.square(fb), 1), SQRT_EPS));
      return tf.sub<tf.Tensor1D>(1, tf.div(dot, tf.mul(na, nb)));
    }
    const squared = tf.sum(tf.square(tf.sub(fa, fb)), 1);
    return (metric === 'squaredL2' ? squared : tf.sqrt(tf.add(squared, SQRT_EPS))) as tf.Tensor1D;
  });
}

/**
 * Distance between two batches of representations (e.g. penultimate-layer features), per example over all
 * non-batch axes: ARREST's representation-guided distillation term RGKD, `d(h_θ(x), h_std(x))`
 * (Suzuki et al., ICCV 2023, arXiv 2308.16454). Cosine distance is `1 − a·b/(‖a‖‖b‖)`; norms carry a 1e-12
 * stabiliser under the square root so identical or zero vectors have finite gradients.
 *
 * @param a - `[B, ...]` representations (the model being trained).
 * @param b - `[B, ...]` representations of the same shape (e.g. the frozen standard model).
 * @param options - see {@link RepresentationDistanceOptions}.
 * @returns a scalar, or `[B]` per-example distances with `reduction: 'none'` (what noisy replay thresholds).
 * @throws RangeError when the shapes differ, the batch is empty or the metric is unknown; TypeError for non-float tensors.
 * @example
 * // ARREST's RGKD: the fine-tuned model's clean representation against the frozen standard model's.
 * const rgkd = representationDistance(features(x), standardFeatures(x), { metric: 'cosine' });
 */
export function representationDistance<O extends Readonly<RepresentationDistanceOptions> = DefaultReduction>(a: tf.Tensor, b: tf.Tensor, options: O = {} as O): Reduced<O> {
  return named('representationDistance', () => {
    const config = parseOptions(options, REPRESENTATION_FIELDS);
    const ta = checkTensor('a', a, { min: 1 });
    const tb = checkTensor('b', b, { min: 1 });
    checkSameShape('a', ta, 'b', tb);
    if (ta.dtype !== 'float32' || tb.dtype !== 'float32') typeError(ta.dtype !== 'float32' ? 'a' : 'b', 'be a float32 tensor', ta.dtype !== 'float32' ? ta : tb);
    if (ta.shape[0] === 0) rangeError('a', 'hold at least one example', ta);
    return representationDistanceCore(ta, tb, config) as Reduced<O>;
  });
}

/** {@link RepresentationDistanceOptions} resolved: every default filled in, every value checked. */
export type RepresentationDistanceConfig = Resolved<RepresentationDistanceOptions>;

/** How each of {@link RepresentationDistanceOptions} is checked and defaulted; `arrest` takes its metric from here. Internal. */
export const REPRESENTATION_FIELDS: OptionFields<RepresentationDistanceOptions> = {
  metric: /* @__PURE__ */ oneOf(['cosine', 'l2', 'squaredL2'], 'cosine'),
  reduction: REDUCTION_FIELD
};

/** {@link representationDistance} on float tensors of one shape `[B, ...]` and a resolved config, unchecked. Internal. */
export function representationDistanceCore(a: tf.Tensor, b: tf.Tensor, config: RepresentationDistanceConfig): tf.Tensor {
  return tf.tidy(() => applyReduction(representationDistancePerExample(a, b, config.metric), config.reduction));
}
