import * as tf from '@tensorflow/tfjs-core';
import { checkLabels } from '../core/validate.js';
import { parseOptions, type OptionFields, type Resolved } from '../core/options.js';
import { applyReduction, REDUCTION_FIELD, type Reduction, type DefaultReduction, type Reduced } from '../core/reduce.js';
import { rangeError, named } from '../core/errors.js';
import { marginPerExample } from './cw-margin.js';
import { checkLogitsAndLabels } from './validate.js';

/** Options of {@link dlrLoss} and {@link targetedDlrLoss}. */
export interface DlrOptions {
  /** @defaultValue 'mean' */
  readonly reduction?: Reduction;
}

/** How each of {@link DlrOptions} is checked and defaulted. Internal. */
export const DLR_FIELDS: OptionFields<DlrOptions> = { reduction: REDUCTION_FIELD };

/** {@link DlrOptions} resolved. */
export type DlrConfig = Resolved<DlrOptions>;

/** Keeps the DLR denominator away from zero when the top logits tie (Croce & Hein's constant). */
const DLR_EPSILON = 1e-12;

/**
 * The `k` largest logits of each row, largest first, as `k` tensors of shape `[B]`. Differentiable with
 * respect to the logits: each value is picked by an argmax mask (tfjs registers no gradient for `topk`).
 */
export function largestLogits(logits: tf.Tensor2D, k: number): tf.Tensor1D[] {
  return tf.tidy(() => {
    const classes = logits.shape[1];
    const out: tf.Tensor1D[] = [];
    let rest: tf.Tensor2D = logits;
    for (let i = 0; i < k; i++) {
      out.push(tf.max(rest, 1));
      if (i < k - 1) {
        const taken = tf.cast(tf.oneHot(tf.argMax(rest, 1), classes), 'bool');
        rest = tf.where(taken, tf.fill(logits.shape, -Infinity), rest);
      }
    }
    return out;
  });
}

/** Per-example untargeted DLR, `−(z_y − max_{j≠y} z_j)/(z_π1 − z_π3 + 1e−12)`, unchecked (needs C ≥ 3). */
export function dlrPerExample(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const [first, , third] = largestLogits(logits, 3) as [tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
    const spread = tf.add(tf.sub(first, third), DLR_EPSILON);
    return tf.neg(tf.div(marginPerExample(logits, labels), spread)) as tf.Tensor1D;
  });
}

/**
 * Per-example targeted DLR, `−(z_y − z_t)/(z_π1 − (z_π3 + z_π4)/2 + 1e−12)`, unchecked (needs C ≥ 4).
 * Maximising it pushes the target logit `z_t` above the true logit `z_y`.
 */
export function targetedDlrPerExample(logits: tf.Tensor2D, labels: tf.Tensor1D, targets: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const classes = logits.shape[1];
    const [first, , third, fourth] = largestLogits(logits, 4) as [tf.Tensor1D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
    const pick = (idx: tf.Tensor1D): tf.Tensor => tf.sum(tf.mul(logits, tf.oneHot(idx, classes)), 1);
    const spread = tf.add(tf.sub(first, tf.mul(tf.add(third, fourth), 0.5)), DLR_EPSILON);
    return tf.neg(tf.div(tf.sub(pick(labels), pick(targets)), spread)) as tf.Tensor1D;
  });
}

/** Checks that the logits have at least `min` classes, which the DLR denominators need. */
function checkDlrClasses(logits: tf.Tensor2D, min: number): void {
  if (logits.shape[1] < min) {
    rangeError('logits', `have at least ${String(min)} classes (the DLR denominator uses the ${min === 3 ? 'third' : 'fourth'} largest logit)`, logits);
  }
}

/**
 * Difference of Logits Ratio loss (Croce & Hein 2020, arXiv 2003.01690), the loss APGD-DLR maximises:
 * `DLR(z, y) = −(z_y − max_{j≠y} z_j) / (z_π1 − z_π3 + 1e−12)`, with `z_π1 ≥ z_π2 ≥ …` the sorted logits.
 * It is invariant to shifting the logits and (up to the 1e−12) to scaling them by a positive factor, so a
 * model cannot hide from it by rescaling its outputs; it is positive exactly when the example is misclassified.
 *
 * @param logits - `[B, C]` float32 logits, `C >= 3`.
 * @param labels - `[B]` int32 class indices in `[0, C)`.
 * @param options - see {@link DlrOptions}.
 * @returns a scalar (`'mean'`, `'sum'`) or `[B]` per-example values (`'none'`); the caller disposes it.
 * @throws RangeError for fewer than 3 classes, mismatched shapes, labels out of range or an unknown reduction;
 * TypeError for wrong dtypes.
 * @example
 * const perExample = dlrLoss(model(x), y, { reduction: 'none' }); // > 0 where misclassified
 */
export function dlrLoss<O extends Readonly<DlrOptions> = DefaultReduction>(logits: tf.Tensor2D, labels: tf.Tensor1D, options: O = {} as O): Reduced<O> {
  return named('dlrLoss', () => {
    const config = parseOptions(options, DLR_FIELDS);
    const [z, y] = checkLogitsAndLabels(logits, labels);
    checkDlrClasses(z, 3);
    return dlrLossCore(z, y, config) as Reduced<O>;
  });
}

/** {@link dlrLoss} on logits `[B, C]` (C ≥ 3), labels in range and a resolved config, unchecked. Internal. */
export function dlrLossCore(logits: tf.Tensor2D, labels: tf.Tensor1D, config: DlrConfig): tf.Tensor {
  return tf.tidy(() => applyReduction(dlrPerExample(logits, labels), config.reduction));
}

/**
 * Targeted DLR loss (Croce & Hein 2020, arXiv 2003.01690), the loss APGD-T maximises:
 * `DLR_t(z, y, t) = −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2 + 1e−12)`. Shift- and scale-invariant like
 * {@link dlrLoss}; it is 0 when `t = y`.
 *
 * @param logits - `[B, C]` float32 logits, `C >= 4`.
 * @param labels - `[B]` int32 true classes.
 * @param targets - `[B]` int32 target classes.
 * @param options - see {@link DlrOptions}.
 * @returns a scalar (`'mean'`, `'sum'`) or `[B]` per-example values (`'none'`); the caller disposes it.
 * @throws RangeError for fewer than 4 classes, mismatched shapes, labels or targets out of range or an unknown
 * reduction; TypeError for wrong dtypes.
 * @example
 * const loss = targetedDlrLoss(model(x), y, targets); // mean over the batch
 */
export function targetedDlrLoss<O extends Readonly<DlrOptions> = DefaultReduction>(
  logits: tf.Tensor2D,
  labels: tf.Tensor1D,
  targets: tf.Tensor1D,
  options: O = {} as O): Reduced<O> {
  return named('targetedDlrLoss', () => {
    const config = parseOptions(options, DLR_FIELDS);
    const [z, y] = checkLogitsAndLabels(logits, labels);
    checkLabels('targets', targets, z.shape[0], z.shape[1]);
    checkDlrClasses(z, 4);
    return targetedDlrLossCore(z, y, targets, config) as Reduced<O>;
  });
}

/** {@link targetedDlrLoss} on logits `[B, C]` (C ≥ 4), labels and targets in range and a resolved config, unchecked. Internal. */
export function targetedDlrLossCore(logits: tf.Tensor2D, labels: tf.Tensor1D, targets: tf.Tensor1D, config: DlrConfig): tf.Tensor {
  return tf.tidy(() => applyReduction(targetedDlrPerExample(logits, labels, targets), config.reduction));
}
