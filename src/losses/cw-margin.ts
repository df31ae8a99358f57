import { named } from '../core/errors.js';
import * as tf from '@tensorflow/tfjs-core';
import { finite, parseOptions, type OptionFields, type Resolved } from '../core/options.js';
import { applyReduction, REDUCTION_FIELD, type Reduction, type DefaultReduction, type Reduced } from '../core/reduce.js';
import { checkLogitsAndLabels } from './validate.js';

/** Options of {@link cwMarginLoss}. */
export interface CwMarginOptions {
  /** Confidence margin `κ`. @defaultValue 0 */
  readonly kappa?: number;
  /** @defaultValue 'mean' */
  readonly reduction?: Reduction;
}

/** The margin `z_y − max_{j≠y} z_j` per example, unchecked. */
export function marginPerExample(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const mask = tf.cast(tf.oneHot(labels, logits.shape[1]), 'bool');
    const zy = tf.sum(tf.where(mask, logits, tf.zerosLike(logits)), 1);
    const others = tf.max(tf.where(mask, tf.fill(logits.shape, -Infinity), logits), 1);
    return tf.sub(zy, others);
  });
}

/** Per-example `−max(z_y − max_{j≠y} z_j + κ, 0)`, unchecked. */
export function cwMarginPerExample(logits: tf.Tensor2D, labels: tf.Tensor1D, kappa: number): tf.Tensor1D {
  return tf.tidy(() => tf.neg(tf.relu(tf.add(marginPerExample(logits, labels), kappa))) as tf.Tensor1D);
}

/**
 * Per-example targeted CW objective to maximise, `−max(max_{j≠t} z_j − z_t + κ, 0)`: zero once the target
 * class leads every other by κ. Unchecked.
 */
export function cwTargetedPerExample(logits: tf.Tensor2D, targets: tf.Tensor1D, kappa: number): tf.Tensor1D {
  return tf.tidy(() => tf.neg(tf.relu(tf.sub(kappa, marginPerExample(logits, targets)))) as tf.Tensor1D);
}

/**
 * Carlini–Wagner margin loss (Carlini & Wagner 2017, arXiv 1608.04644), in the form PGD maximises:
 * `L = −max(z_y − max_{j≠y} z_j + κ, 0)`. It is 0 once the example is misclassified by a margin κ.
 *
 * @param logits - `[B, C]` float32 logits.
 * @param labels - `[B]` int32 class indices.
 * @param options - see {@link CwMarginOptions}.
 * @returns a scalar, or `[B]` with `reduction: 'none'`; the caller disposes it.
 * @throws RangeError for a non-finite κ, labels out of range or mismatched shapes; TypeError for wrong dtypes.
 * @example
 * const l = cwMarginLoss(model(x), y, { kappa: 50, reduction: 'none' });
 */
export function cwMarginLoss<O extends Readonly<CwMarginOptions> = DefaultReduction>(logits: tf.Tensor2D, labels: tf.Tensor1D, options: O = {} as O): Reduced<O> {
  return named('cwMarginLoss', () => {
    const config = parseOptions(options, CW_MARGIN_FIELDS);
    const [z, y] = checkLogitsAndLabels(logits, labels);
    return cwMarginLossCore(z, y, config) as Reduced<O>;
  });
}

/** How each of {@link CwMarginOptions} is checked and defaulted. Internal. */
export const CW_MARGIN_FIELDS: OptionFields<CwMarginOptions> = {
  kappa: /* @__PURE__ */ finite(0),
  reduction: REDUCTION_FIELD
};

/** {@link cwMarginLoss} on logits `[B, C]`, labels in range and a resolved config, unchecked. Internal. */
export function cwMarginLossCore(logits: tf.Tensor2D, labels: tf.Tensor1D, config: Resolved<CwMarginOptions>): tf.Tensor {
  return tf.tidy(() => applyReduction(cwMarginPerExample(logits, labels, config.kappa), config.reduction));
}
