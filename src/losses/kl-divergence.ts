import * as tf from '@tensorflow/tfjs-core';
import { checkKnownKeys } from '../core/validate.js';
import { reduce, type Reduction } from '../core/reduce.js';
import { checkLogitsPair, checkReduction } from './validate.js';

/** Options of {@link klDivergence}. */
export interface KlDivergenceOptions {
  /**
   * `'mean'` is the mean over examples of the per-example sum over classes (PyTorch's `batchmean`).
   * Some reference code divides further by `C` (PyTorch's default `KLDivLoss` mean); ardkit never does.
   * @defaultValue 'mean'
   */
  readonly reduction?: Reduction;
}

/** Per-example `KL(σ(p) ‖ σ(q))` from logits, unchecked: callers validate first. */
export function klFromLogits(targetLogits: tf.Tensor2D, inputLogits: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const logP = tf.logSoftmax(targetLogits);
    const logQ = tf.logSoftmax(inputLogits);
    // p·(log p − log q) with p = exp(log p): a zero probability contributes exactly 0, never NaN.
    return tf.sum(tf.mul(tf.exp(logP), tf.sub(logP, logQ)), 1);
  });
}

/**
 * Kullback–Leibler divergence between the softmax distributions of two logit tensors,
 * `KL(σ(p) ‖ σ(q)) = Σ_c σ(p)_c (log σ(p)_c − log σ(q)_c)`, summed over classes per example.
 *
 * @param targetLogits - `[B, C]` logits of the target distribution `p` (e.g. the teacher, or the clean prediction).
 * @param inputLogits - `[B, C]` logits of the approximating distribution `q` (e.g. the student).
 * @param options - see {@link KlDivergenceOptions}.
 * @returns a scalar, or `[B]` per-example values with `reduction: 'none'`; the caller disposes it.
 * @throws RangeError when the shapes differ or the reduction is unknown; TypeError for non-float tensors.
 * @example
 * const kl = klDivergence(teacher(x), student(xAdv)); // mean over the batch of the per-example sum
 */
export function klDivergence(
  targetLogits: tf.Tensor2D,
  inputLogits: tf.Tensor2D,
  options: Readonly<KlDivergenceOptions> = {}
): tf.Tensor {
  const fn = 'klDivergence';
  checkKnownKeys(fn, options, ['reduction']);
  const reduction = checkReduction(fn, options.reduction);
  const [p, q] = checkLogitsPair(fn, 'targetLogits', targetLogits, 'inputLogits', inputLogits);
  return tf.tidy(() => reduce(klFromLogits(p, q), reduction, fn));
}
