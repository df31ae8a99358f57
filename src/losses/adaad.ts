import * as tf from '@tensorflow/tfjs-core';
import { checkKnownKeys, optionKeys } from '../core/validate.js';
import { reduce, type Reduction, type DefaultReduction, type Reduced } from '../core/reduce.js';
import { checkKlReduction, checkLossInputs, checkReduction, checkUnitWeight, klFactor, klPerExample, requireInput } from './validate.js';

/** The logits {@link adaadLoss} needs. */
export interface AdaadInputs {
  /** `S(x')`, student logits on adversarial inputs (x' maximises `KL(σ(T(x')) ‖ σ(S(x')))`), `[B, C]`. */
  readonly studentAdv: tf.Tensor2D;
  /** `T(x')`, teacher logits on the same adversarial inputs, `[B, C]`. */
  readonly teacherAdv: tf.Tensor2D;
  /** `S(x)`; needed when `alpha < 1`. */
  readonly studentClean?: tf.Tensor2D;
  /** `T(x)`; needed when `alpha < 1`. */
  readonly teacherClean?: tf.Tensor2D;
}

/** Options of {@link adaadLoss}. */
export interface AdaadOptions {
  /** Weight α of the adversarial term, in [0, 1]. @defaultValue 1 */
  readonly alpha?: number;
  /** @defaultValue 'mean' */
  readonly reduction?: Reduction;
  /**
   * How the KL terms are scaled per example. `'batchmean'` (ardkit's convention) keeps the KL, the sum over classes:
   * with `reduction: 'mean'` this is PyTorch's `KLDivLoss(reduction='batchmean')`. `'classMean'` divides each KL term
   * by the number of classes C: with `reduction: 'mean'` this is PyTorch's default element-mean `KLDivLoss()`, what
   * the authors' code uses on CIFAR-10 (boyellow/AdaAD, `main.py`; on CIFAR-100 the same code uses the batch mean of
   * the class sums, `'batchmean'`). The paper's learning rates and weight decay carry over only with the authors'
   * reduction.
   * With `reduction: 'none'` or `'sum'` the same per-example scaling applies, so the mean of the `'none'` values is
   * the `'mean'` value under either convention.
   * @defaultValue 'batchmean'
   */
  readonly klReduction?: 'batchmean' | 'classMean';
}

/**
 * Adaptive adversarial distillation (Huang et al., CVPR 2023, "Boosting accuracy and robustness of student
 * models via adaptive adversarial distillation"): the adversarial example is where teacher and student
 * disagree most, and the student matches the teacher there,
 * `α·KL(σ(T(x')) ‖ σ(S(x'))) + (1−α)·KL(σ(T(x)) ‖ σ(S(x)))`, each KL summed over classes per example, or divided by C
 * with `klReduction: 'classMean'` (the authors' CIFAR-10 code).
 *
 * @param inputs - see {@link AdaadInputs}.
 * @param options - see {@link AdaadOptions}.
 * @returns a scalar, or `[B]` with `reduction: 'none'`; the caller disposes it.
 * @throws RangeError for mismatched shapes, α outside [0, 1], an unknown reduction or klReduction, or clean logits missing
 * while α < 1; TypeError for wrong dtypes.
 * @example
 * const loss = adaadLoss({ studentAdv: student(xAdv), teacherAdv: teacher(xAdv) });
 */
export function adaadLoss<O extends Readonly<AdaadOptions> = DefaultReduction>(inputs: Readonly<AdaadInputs>, options: O = {} as O): Reduced<O> {
  const fn = 'adaadLoss';
  checkKnownKeys(fn, options, optionKeys<AdaadOptions>()('alpha', 'reduction', 'klReduction'));
  const alpha = checkUnitWeight(fn, 'alpha', options.alpha, 1);
  const reduction = checkReduction(fn, options.reduction);
  const klReduction = checkKlReduction(fn, options.klReduction);
  const { logits } = checkLossInputs(fn, inputs, {
    required: ['studentAdv', 'teacherAdv'],
    optional: ['studentClean', 'teacherClean'],
    labels: 'none'
  });
  const studentClean = alpha < 1 ? requireInput(fn, 'inputs.studentClean', logits.studentClean, 'when alpha < 1') : undefined;
  const teacherClean = alpha < 1 ? requireInput(fn, 'inputs.teacherClean', logits.teacherClean, 'when alpha < 1') : undefined;
  const scale = klFactor(klReduction, logits.studentAdv);
  return (tf.tidy(() => {
    const adv = tf.mul(klPerExample(logits.teacherAdv, logits.studentAdv), alpha * scale);
    const total =
      studentClean !== undefined && teacherClean !== undefined ? tf.add(adv, tf.mul(klPerExample(teacherClean, studentClean), (1 - alpha) * scale)) : adv;
    return reduce(total, reduction, fn);
  })) as Reduced<O>;
}
