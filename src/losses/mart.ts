import { named } from '../core/errors.js';
import * as tf from '@tensorflow/tfjs-core';
import { nonNegative, oneOf, parseOptions, type OptionFields, type Resolved } from '../core/options.js';
import { applyReduction, REDUCTION_FIELD, type Reduction, type DefaultReduction, type Reduced } from '../core/reduce.js';
import { crossEntropyPerExample } from './cross-entropy.js';
import { klPerExample, trueClassProb } from './kl.js';
import { checkLossInputs, requireInput } from './validate.js';

/** The logits {@link martLoss} needs. */
export interface MartInputs {
  /** `f(x)`, logits on clean inputs `[B, C]`. */
  readonly clean: tf.Tensor2D;
  /** `f(x')`, logits on adversarial inputs (PGD on CE), `[B, C]`. */
  readonly adv: tf.Tensor2D;
  /** `[B]` int32 labels. */
  readonly labels: tf.Tensor1D;
}

/** Options of {@link martLoss}. */
export interface MartOptions {
  /** Weight β of the misclassification-aware KL term. @defaultValue 6 */
  readonly beta?: number;
  /**
   * How the misclassification boost `−log(1 − max_{k≠y} p_k(x'))` is computed. `'reference'`: as the authors' code
   * (YisenWang/MART, `mart.py`) does, `−log(1.0001 − p_k + 1e−12)`, bounded by ≈ 9.2; `'exact'`: the paper's formula
   * in log-sum-exp form, unbounded as `p_k → 1`.
   * @defaultValue 'reference'
   */
  readonly boost?: 'reference' | 'exact';
  /** @defaultValue 'mean' */
  readonly reduction?: Reduction;
}

/** Per-example `−log(1.0001 − max_{k≠y} σ(z)_k + 1e−12)`, the authors' bounded form of the boost. */
export function boundedMarginBoostPerExample(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy((): tf.Tensor1D => {
    const classes = logits.shape[1];
    const p = tf.softmax(logits);
    const isLabel = tf.cast(tf.oneHot(labels, classes), 'bool');
    const best = tf.argMax<tf.Tensor1D>(tf.where(isLabel, tf.fill(logits.shape, -Infinity), logits), 1);
    const pBest = tf.sum<tf.Tensor1D>(tf.mul(p, tf.oneHot(best, classes)), 1);
    return tf.neg(tf.log(tf.add(tf.sub(1.0001, pBest), 1e-12))) as tf.Tensor1D;
  });
}

/** Per-example `−log(1 − max_{k≠y} σ(z)_k)`, computed as `LSE(z) − LSE_{j≠k*}(z)` so it never takes log 0. */
export function marginBoostPerExample(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const classes = logits.shape[1];
    const minusInf = tf.fill(logits.shape, -Infinity);
    const isLabel = tf.cast(tf.oneHot(labels, classes), 'bool');
    const best = tf.argMax(tf.where(isLabel, minusInf, logits), 1);
    const isBest = tf.cast(tf.oneHot(best, classes), 'bool');
    return tf.sub<tf.Tensor1D>(tf.logSumExp(logits, 1), tf.logSumExp(tf.where(isBest, minusInf, logits), 1));
  });
}

/**
 * MART, misclassification-aware adversarial training (Wang et al., ICLR 2020):
 * `CE(f(x'), y) − log(1 − max_{k≠y} p_k(x')) + β·KL(σ(f(x)) ‖ σ(f(x')))·(1 − p_y(x))`.
 * By default the boosted term is the authors' bounded `−log(1.0001 − p_k + 1e−12)` (`boost: 'reference'`);
 * `boost: 'exact'` evaluates the paper's formula in log-sum-exp form. Gradients flow through both `f(x)` and
 * `f(x')`, the weight `1 − p_y(x)` included, as in the authors' code.
 *
 * @param inputs - see {@link MartInputs}.
 * @param options - see {@link MartOptions}.
 * @returns a scalar, or `[B]` with `reduction: 'none'`; the caller disposes it.
 * @throws RangeError for mismatched shapes, labels out of range, a negative or non-finite β, an unknown `boost`; TypeError for wrong dtypes.
 * @example
 * const xAdv = pgd(model, x, y, { eps: 8 / 255 });
 * const loss = martLoss({ clean: model(x), adv: model(xAdv), labels: y });
 */
export function martLoss<O extends Readonly<MartOptions> = DefaultReduction>(inputs: Readonly<MartInputs>, options: O = {} as O): Reduced<O> {
  return named('martLoss', () => {
    const config = resolveMartOptions(options);
    const { logits, labels } = checkLossInputs(inputs, { required: ['clean', 'adv'], labels: 'required' });
    const y = requireInput('inputs.labels', labels, 'for the cross-entropy term');
    return martLossCore({ clean: logits.clean, adv: logits.adv, labels: y }, config) as Reduced<O>;
  });
}

/** {@link MartOptions} resolved: every default filled in, every value checked. */
export type MartConfig = Resolved<MartOptions>;

/** How each of {@link MartOptions} is checked and defaulted; the `mart` objective takes β and the boost from here. Internal. */
export const MART_FIELDS: OptionFields<MartOptions> = {
  beta: /* @__PURE__ */ nonNegative(6),
  boost: /* @__PURE__ */ oneOf(['reference', 'exact'], 'reference'),
  reduction: REDUCTION_FIELD
};

/**
 * Resolves {@link martLoss}'s options once: unknown keys rejected, defaults filled in, values checked. Internal.
 *
 * @throws RangeError naming the function the user called for an unknown key, a negative or non-finite β, an unknown boost or reduction.
 */
export function resolveMartOptions(options: Readonly<MartOptions>): MartConfig {
  return parseOptions(options, MART_FIELDS);
}

/** {@link martLoss} on logits of one shape `[B, C]`, labels in range, and a resolved config, unchecked. Internal. */
export function martLossCore(inputs: Readonly<MartInputs>, config: MartConfig): tf.Tensor {
  const { clean, adv, labels: y } = inputs;
  return tf.tidy(() => {
    const margin = config.boost === 'exact' ? marginBoostPerExample(adv, y) : boundedMarginBoostPerExample(adv, y);
    const boosted = tf.add(crossEntropyPerExample(adv, y), margin);
    const weight = tf.sub(1, trueClassProb(clean, y));
    const kl = tf.mul(tf.mul(klPerExample(clean, adv), weight), config.beta);
    return applyReduction(tf.add(boosted, kl), config.reduction);
  });
}
