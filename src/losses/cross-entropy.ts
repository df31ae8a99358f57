import { named } from '../core/errors.js';
import * as tf from '@tensorflow/tfjs-core';
import { parseOptions, type OptionFields, type Resolved } from '../core/options.js';
import { applyReduction, REDUCTION_FIELD, type Reduction, type DefaultReduction, type Reduced } from '../core/reduce.js';
import { checkLogitsAndLabels } from './validate.js';

/** Options of {@link crossEntropy}. */
export interface CrossEntropyOptions {
  /** @defaultValue 'mean' */
  readonly reduction?: Reduction;
}

/** Per-example `−log σ(z)_y`, unchecked: callers validate first. */
export function crossEntropyPerExample(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const oneHot = tf.oneHot(labels, logits.shape[1]);
    return tf.neg(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), 1)) as tf.Tensor1D;
  });
}

/**
 * Softmax cross-entropy from logits: `CE(z, y) = −log σ(z)_y = logsumexp(z) − z_y`, computed in
 * log-softmax form so logits of magnitude 1e4 stay finite.
 *
 * @param logits - `[B, C]` float32 logits.
 * @param labels - `[B]` int32 class indices in `[0, C)`.
 * @param options - see {@link CrossEntropyOptions}.
 * @returns a scalar (`'mean'`, `'sum'`) or `[B]` per-example values (`'none'`); the caller disposes it.
 * @throws TypeError when a tensor has the wrong dtype; RangeError on mismatched shapes, labels out of range or an unknown reduction.
 * @example
 * const loss = crossEntropy(model(x), y); // scalar mean over the batch
 */
export function crossEntropy<O extends Readonly<CrossEntropyOptions> = DefaultReduction>(logits: tf.Tensor2D, labels: tf.Tensor1D, options: O = {} as O): Reduced<O> {
  return named('crossEntropy', () => {
    const config = parseOptions(options, CROSS_ENTROPY_FIELDS);
    const [z, y] = checkLogitsAndLabels(logits, labels);
    return crossEntropyCore(z, y, config) as Reduced<O>;
  });
}

/** How each of {@link CrossEntropyOptions} is checked and defaulted. Internal. */
export const CROSS_ENTROPY_FIELDS: OptionFields<CrossEntropyOptions> = { reduction: REDUCTION_FIELD };

/**
 * {@link crossEntropy} on logits `[B, C]`, labels in range and a resolved config, unchecked: the objectives' `ce`
 * terms. Internal.
 */
export function crossEntropyCore(logits: tf.Tensor2D, labels: tf.Tensor1D, config: Resolved<CrossEntropyOptions>): tf.Tensor {
  return tf.tidy(() => applyReduction(crossEntropyPerExample(logits, labels), config.reduction));
}
