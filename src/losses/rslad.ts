import * as tf from '@tensorflow/tfjs-core';
import { checkKnownKeys, checkNonNegative, optionKeys } from '../core/validate.js';
import { reduce, type Reduction, type DefaultReduction, type Reduced } from '../core/reduce.js';
import { checkKlReduction, checkLossInputs, checkReduction, klFactor, klPerExample } from './validate.js';

/** The logits {@link rsladLoss} needs. */
export interface RsladInputs {
  /** `S(x')`, student logits on adversarial inputs (x' maximises `KL(σ(T(x)) ‖ σ(S(x')))`), `[B, C]`. */
  readonly studentAdv: tf.Tensor2D;
  /** `S(x)`, student logits on clean inputs, `[B, C]`. */
  readonly studentClean: tf.Tensor2D;
  /** `T(x)`, teacher logits on clean inputs, `[B, C]`. */
  readonly teacherClean: tf.Tensor2D;
}

/** Options of {@link rsladLoss}. */
export interface RsladOptions {
  /** Weight of `KL(σ(T(x)) ‖ σ(S(x')))`. @defaultValue 5/6 */
  readonly advWeight?: number;
  /** Weight of `KL(σ(T(x)) ‖ σ(S(x)))`. @defaultValue 1/6 */
  readonly cleanWeight?: number;
  /** @defaultValue 'mean' */
  readonly reduction?: Reduction;
  /**
   * How the KL terms are scaled per example. `'batchmean'` (ardkit's convention) keeps the KL, the sum over classes:
   * with `reduction: 'mean'` this is PyTorch's `KLDivLoss(reduction='batchmean')`. `'classMean'` divides each KL term
   * by the number of classes C: with `reduction: 'mean'` this is PyTorch's default element-mean `KLDivLoss()`, what
   * the authors' code computes (zibojia/RSLAD, `resnet18_rslad_cifar10.py`: an element-wise KL averaged with
   * `torch.mean` over all B·C entries; `resnet18_rslad_cifar100.py` multiplies that mean by 10, dividing the KL by 10
   * rather than by C = 100). The paper's learning rates and weight decay carry over only with the authors' reduction.
   * With `reduction: 'none'` or `'sum'` the same per-example scaling applies, so the mean of the `'none'` values is
   * the `'mean'` value under either convention.
   * @defaultValue 'batchmean'
   */
  readonly klReduction?: 'batchmean' | 'classMean';
}

/**
 * Robust soft label adversarial distillation (Zi et al. 2021, arXiv 2108.07969): the teacher's clean soft
 * labels replace the hard labels everywhere,
 * `(5/6)·KL(σ(T(x)) ‖ σ(S(x'))) + (1/6)·KL(σ(T(x)) ‖ σ(S(x)))`, each KL summed over classes per example, or divided
 * by C with `klReduction: 'classMean'` (the authors' code).
 *
 * @param inputs - see {@link RsladInputs}.
 * @param options - see {@link RsladOptions}.
 * @returns a scalar, or `[B]` with `reduction: 'none'`; the caller disposes it.
 * @throws RangeError for mismatched shapes, negative or non-finite weights, or an unknown reduction or klReduction; TypeError for wrong dtypes.
 * @example
 * const loss = rsladLoss({ studentAdv: student(xAdv), studentClean: student(x), teacherClean: teacher(x) });
 */
export function rsladLoss<O extends Readonly<RsladOptions> = DefaultReduction>(inputs: Readonly<RsladInputs>, options: O = {} as O): Reduced<O> {
  const fn = 'rsladLoss';
  checkKnownKeys(fn, options, optionKeys<RsladOptions>()('advWeight', 'cleanWeight', 'reduction', 'klReduction'));
  const advWeight = options.advWeight === undefined ? 5 / 6 : checkNonNegative(fn, 'advWeight', options.advWeight);
  const cleanWeight = options.cleanWeight === undefined ? 1 / 6 : checkNonNegative(fn, 'cleanWeight', options.cleanWeight);
  const reduction = checkReduction(fn, options.reduction);
  const klReduction = checkKlReduction(fn, options.klReduction);
  const { logits } = checkLossInputs(fn, inputs, { required: ['studentAdv', 'studentClean', 'teacherClean'], labels: 'none' });
  const scale = klFactor(klReduction, logits.studentAdv);
  return (tf.tidy(() =>
    reduce(
      tf.add(
        tf.mul(klPerExample(logits.teacherClean, logits.studentAdv), advWeight * scale),
        tf.mul(klPerExample(logits.teacherClean, logits.studentClean), cleanWeight * scale)
      ),
      reduction,
      fn
    )
  )) as Reduced<O>;
}
