import * as tf from '@tensorflow/tfjs-core';
import { checkKnownKeys, optionKeys, checkOneOf } from '../core/validate.js';
import { reduce, type Reduction, type DefaultReduction, type Reduced } from '../core/reduce.js';
import { checkLogitsPair, checkProbabilities, checkReduction, klFromProbsPerExample, klPerExample } from './validate.js';

/** Options of {@link klDivergence}. */
export interface KlDivergenceOptions {
  /**
   * `'mean'` is the mean over examples of the per-example sum over classes (PyTorch's `batchmean`).
   * Some reference code divides further by `C` (PyTorch's default `KLDivLoss` mean); ardkit never does.
   * @defaultValue 'mean'
   */
  readonly reduction?: Reduction;
  /**
   * Whether the first argument holds logits (softmax is applied) or probabilities already (e.g. the compensated
   * targets of CRDND); zero probabilities contribute exactly 0.
   * @defaultValue 'logits'
   */
  readonly targetType?: 'logits' | 'probabilities';
}

/** Per-example `KL(σ(p) ‖ σ(q))` from logits, unchecked: callers validate first. */
export function klFromLogits(targetLogits: tf.Tensor2D, inputLogits: tf.Tensor2D): tf.Tensor1D {
  return klPerExample(targetLogits, inputLogits);
}

/**
 * Kullback–Leibler divergence between the softmax distributions of two logit tensors,
 * `KL(σ(p) ‖ σ(q)) = Σ_c σ(p)_c (log σ(p)_c − log σ(q)_c)`, summed over classes per example; with
 * `targetType: 'probabilities'` the target is taken as given, `KL(p ‖ σ(q))`.
 *
 * @param targetLogits - `[B, C]` logits of the target distribution `p` (e.g. the teacher, or the clean prediction), or its
 * probabilities with `targetType: 'probabilities'`.
 * @param inputLogits - `[B, C]` logits of the approximating distribution `q` (e.g. the student).
 * @param options - see {@link KlDivergenceOptions}.
 * @returns a scalar, or `[B]` per-example values with `reduction: 'none'`; the caller disposes it.
 * @throws RangeError when the shapes differ or the reduction is unknown; TypeError for non-float tensors.
 * @example
 * const kl = klDivergence(teacher(x), student(xAdv)); // mean over the batch of the per-example sum
 */
export function klDivergence<O extends Readonly<KlDivergenceOptions> = DefaultReduction>(
  targetLogits: tf.Tensor2D,
  inputLogits: tf.Tensor2D,
  options: O = {} as O): Reduced<O> {
  const fn = 'klDivergence';
  checkKnownKeys(fn, options, optionKeys<KlDivergenceOptions>()('reduction', 'targetType'));
  const reduction = checkReduction(fn, options.reduction);
  const targetType = options.targetType === undefined ? 'logits' : checkOneOf(fn, 'targetType', options.targetType, ['logits', 'probabilities'] as const);
  const [p, q] = checkLogitsPair(fn, 'targetLogits', targetLogits, 'inputLogits', inputLogits);
  if (targetType === 'probabilities') checkProbabilities(fn, 'targetLogits', p);
  return (tf.tidy(() => reduce(targetType === 'logits' ? klFromLogits(p, q) : klFromProbsPerExample(p, q), reduction, fn))) as Reduced<O>;
}
