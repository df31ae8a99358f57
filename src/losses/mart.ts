import * as tf from '@tensorflow/tfjs-core';
import { checkKnownKeys, checkNonNegative } from '../core/validate.js';
import { reduce, type Reduction } from '../core/reduce.js';
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
  /** @defaultValue 'mean' */
  readonly reduction?: Reduction;
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
 * The boosted term is evaluated exactly in log-sum-exp form; the reference code approximates it with
 * `log(1.0001 − p_k + 1e−12)`.
 *
 * @param inputs - see {@link MartInputs}.
 * @param options - see {@link MartOptions}.
 * @returns a scalar, or `[B]` with `reduction: 'none'`; the caller disposes it.
 * @throws RangeError for mismatched shapes, labels out of range, a negative or non-finite β; TypeError for wrong dtypes.
 * @example
 * const xAdv = pgd(model, x, y, { eps: 8 / 255 });
 * const loss = martLoss({ clean: model(x), adv: model(xAdv), labels: y });
 */
export function martLoss(inputs: Readonly<MartInputs>, options: Readonly<MartOptions> = {}): tf.Tensor {
  const fn = 'martLoss';
  checkKnownKeys(fn, options, ['beta', 'reduction']);
  const beta = options.beta === undefined ? 6 : checkNonNegative(fn, 'beta', options.beta);
  const reduction = checkReduction(fn, options.reduction);
  const { logits, labels } = checkLossInputs(fn, inputs, { required: ['clean', 'adv'], labels: 'required' });
  const y = requireInput(fn, 'inputs.labels', labels, 'for the cross-entropy term');
  return tf.tidy(() => {
    const boosted = tf.add(crossEntropyPerExample(logits.adv, y), marginBoostPerExample(logits.adv, y));
    const weight = tf.sub(1, trueClassProb(logits.clean, y));
    const kl = tf.mul(tf.mul(klPerExample(logits.clean, logits.adv), weight), beta);
    return reduce(tf.add(boosted, kl), reduction, fn);
  });
}
