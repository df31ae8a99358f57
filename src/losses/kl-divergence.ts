import { named } from '../core/errors.js';
import * as tf from '@tensorflow/tfjs-core';
import { oneOf, parseOptions, type OptionFields, type Resolved } from '../core/options.js';
import { applyReduction, REDUCTION_FIELD, type Reduction, type DefaultReduction, type Reduced } from '../core/reduce.js';
import { klFromProbsPerExample, klPerExample } from './kl.js';
import { checkLogitsPair, checkProbabilities } from './validate.js';

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
  return named('klDivergence', () => {
    const config = parseOptions(options, KL_DIVERGENCE_FIELDS);
    const [p, q] = checkLogitsPair('targetLogits', targetLogits, 'inputLogits', inputLogits, config.targetType !== 'probabilities');
    if (config.targetType === 'probabilities') checkProbabilities('targetLogits', p);
    return klDivergenceCore(p, q, config) as Reduced<O>;
  });
}

/** {@link KlDivergenceOptions} resolved: every default filled in, every value checked. */
export type KlDivergenceConfig = Resolved<KlDivergenceOptions>;

/** How each of {@link KlDivergenceOptions} is checked and defaulted. Internal. */
export const KL_DIVERGENCE_FIELDS: OptionFields<KlDivergenceOptions> = {
  reduction: REDUCTION_FIELD,
  targetType: /* @__PURE__ */ oneOf(['logits', 'probabilities'], 'logits')
};

/**
 * {@link klDivergence} on two tensors of one shape `[B, C]` (target probabilities already checked with
 * `targetType: 'probabilities'`) and a resolved config, unchecked: the objectives' KL terms. Internal.
 */
export function klDivergenceCore(targetLogits: tf.Tensor2D, inputLogits: tf.Tensor2D, config: KlDivergenceConfig): tf.Tensor {
  return tf.tidy(() =>
    applyReduction(config.targetType === 'logits' ? klFromLogits(targetLogits, inputLogits) : klFromProbsPerExample(targetLogits, inputLogits), config.reduction)
  );
}
