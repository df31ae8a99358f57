import * as tf from '@tensorflow/tfjs-core';
import { checkKnownKeys, optionKeys } from '../core/validate.js';
import { reduce, type Reduction, type DefaultReduction, type Reduced } from '../core/reduce.js';
import { crossEntropyPerExample } from './cross-entropy.js';
import { checkKlReduction, checkLossInputs, checkReduction, checkTemperature, checkUnitWeight, klFactor, klPerExample, requireInput } from './validate.js';

/** The logits {@link ardLoss} needs. */
export interface ArdInputs {
  /** `S(x')`, student logits on adversarial inputs (PGD on the student's CE), `[B, C]`. */
  readonly studentAdv: tf.Tensor2D;
  /** `T(x)`, teacher logits on clean inputs, `[B, C]`. */
  readonly teacherClean: tf.Tensor2D;
  /** `S(x)`, student logits on clean inputs; needed when `alpha < 1`. */
  readonly studentClean?: tf.Tensor2D;
  /** `[B]` int32 labels; needed when `alpha < 1`. */
  readonly labels?: tf.Tensor1D;
}

/** Options of {@link ardLoss}. */
export interface ArdOptions {
  /** Temperature τ of both distributions. @defaultValue 30 */
  readonly temperature?: number;
  /** Weight α of the distillation term, in [0, 1]. @defaultValue 1 */
  readonly alpha?: number;
  /** @defaultValue 'mean' */
  readonly reduction?: Reduction;
  /**
   * How the KL term is scaled per example. `'batchmean'` (ardkit's convention) keeps the KL, the sum over classes:
   * with `reduction: 'mean'` this is PyTorch's `KLDivLoss(reduction='batchmean')`. `'classMean'` divides the KL term
   * by the number of classes C (the `(1−α)·CE` term is not divided): with `reduction: 'mean'` this is PyTorch's
   * default element-mean `KLDivLoss()`, what the authors' code uses (goldblum/AdversariallyRobustDistillation,
   * `main.py`: `nn.KLDivLoss()` for the KL, `nn.CrossEntropyLoss()` for the CE). The paper's α, learning rates and
   * weight decay carry over only with the authors' reduction.
   * With `reduction: 'none'` or `'sum'` the same per-example scaling applies, so the mean of the `'none'` values is
   * the `'mean'` value under either convention.
   * @defaultValue 'batchmean'
   */
  readonly klReduction?: 'batchmean' | 'classMean';
}

/**
 * Adversarially robust distillation (Goldblum et al. 2020, arXiv 1905.09747):
 * `α·τ²·KL(σ(T(x)/τ) ‖ σ(S(x')/τ)) + (1−α)·CE(S(x), y)`, the KL summed over classes per example, or divided by C
 * with `klReduction: 'classMean'` (the authors' code).
 *
 * @param inputs - see {@link ArdInputs}.
 * @param options - see {@link ArdOptions}.
 * @returns a scalar, or `[B]` with `reduction: 'none'`; the caller disposes it.
 * @throws RangeError for mismatched shapes, a temperature ≤ 0 or NaN, α outside [0, 1], labels out of range, an unknown
 * reduction or klReduction, or `studentClean`/`labels` missing while α < 1; TypeError for wrong dtypes.
 * @example
 * const loss = ardLoss({ studentAdv: student(xAdv), teacherClean: teacher(x) }, { temperature: 30 });
 */
export function ardLoss<O extends Readonly<ArdOptions> = DefaultReduction>(inputs: Readonly<ArdInputs>, options: O = {} as O): Reduced<O> {
  const fn = 'ardLoss';
  checkKnownKeys(fn, options, optionKeys<ArdOptions>()('temperature', 'alpha', 'reduction', 'klReduction'));
  const tau = checkTemperature(fn, 'temperature', options.temperature, 30);
  const alpha = checkUnitWeight(fn, 'alpha', options.alpha, 1);
  const reduction = checkReduction(fn, options.reduction);
  const klReduction = checkKlReduction(fn, options.klReduction);
  const { logits, labels } = checkLossInputs(fn, inputs, { required: ['studentAdv', 'teacherClean'], optional: ['studentClean'], labels: 'optional' });
  const clean = alpha < 1 ? requireInput(fn, 'inputs.studentClean', logits.studentClean, 'when alpha < 1') : undefined;
  const y = alpha < 1 ? requireInput(fn, 'inputs.labels', labels, 'when alpha < 1') : undefined;
  return (tf.tidy(() => {
    const kd = tf.mul(klPerExample(logits.teacherClean, logits.studentAdv, tau, tau), alpha * tau * tau * klFactor(klReduction, logits.studentAdv));
    const total = clean !== undefined && y !== undefined ? tf.add(kd, tf.mul(crossEntropyPerExample(clean, y), 1 - alpha)) : kd;
    return reduce(total, reduction, fn);
  })) as Reduced<O>;
}
