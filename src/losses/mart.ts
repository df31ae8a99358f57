import * as tf from '@tensorflow/tfjs-core';
import { checkKnownKeys, checkNonNegative, checkOneOf, optionKeys } from '../core/validate.js';
import { reduce, type Reduction, type DefaultReduction, type Reduced } from '../core/reduce.js';
import { crossEntropyPerExample } from './cross-entropy.js';
import { checkLossInputs, checkReduction, klPerExample, requireInput, trueClassProb } from './validate.js';

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
  const fn = 'martLoss';
  checkKnownKeys(fn, options, optionKeys<MartOptions>()('beta', 'boost', 'reduction'));
  const beta = options.beta === undefined ? 6 : checkNonNegative(fn, 'beta', options.beta);
  const boost = options.boost === undefined ? 'reference' : checkOneOf(fn, 'boost', options.boost, ['reference', 'exact'] as const);
  const reduction = checkReduction(fn, options.reduction);
  const { logits, labels } = checkLossInputs(fn, inputs, { required: ['clean', 'adv'], labels: 'required' });
  const y = requireInput(fn, 'inputs.labels', labels, 'for the cross-entropy term');
  return (tf.tidy(() => {
    const margin = boost === 'exact' ? marginBoostPerExample(logits.adv, y) : boundedMarginBoostPerExample(logits.adv, y);
    const boosted = tf.add(crossEntropyPerExample(logits.adv, y), margin);
    const weight = tf.sub(1, trueClassProb(logits.clean, y));
    const kl = tf.mul(tf.mul(klPerExample(logits.clean, logits.adv), weight), beta);
    return reduce(tf.add(boosted, kl), reduction, fn);
  })) as Reduced<O>;
}
