import * as tf from '@tensorflow/tfjs-core';
import { checkKnownKeys, checkNonNegative } from '../core/validate.js';
import { reduce, type Reduction } from '../core/reduce.js';
import { checkLossInputs, checkReduction, klPerExample } from './validate.js';

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
}

/**
 * Robust soft label adversarial distillation (Zi et al. 2021, arXiv 2108.07969): the teacher's clean soft
 * labels replace the hard labels everywhere,
 * `(5/6)·KL(σ(T(x)) ‖ σ(S(x'))) + (1/6)·KL(σ(T(x)) ‖ σ(S(x)))`.
 *
 * @param inputs - see {@link RsladInputs}.
 * @param options - see {@link RsladOptions}.
 * @returns a scalar, or `[B]` with `reduction: 'none'`; the caller disposes it.
 * @throws RangeError for mismatched shapes, negative or non-finite weights, or an unknown reduction; TypeError for wrong dtypes.
 * @example
 * const loss = rsladLoss({ studentAdv: student(xAdv), studentClean: student(x), teacherClean: teacher(x) });
 */
export function rsladLoss(inputs: Readonly<RsladInputs>, options: Readonly<RsladOptions> = {}): tf.Tensor {
  const fn = 'rsladLoss';
  checkKnownKeys(fn, options, ['advWeight', 'cleanWeight', 'reduction']);
  const advWeight = options.advWeight === undefined ? 5 / 6 : checkNonNegative(fn, 'advWeight', options.advWeight);
  const cleanWeight = options.cleanWeight === undefined ? 1 / 6 : checkNonNegative(fn, 'cleanWeight', options.cleanWeight);
  const reduction = checkReduction(fn, options.reduction);
  const { logits } = checkLossInputs(fn, inputs, { required: ['studentAdv', 'studentClean', 'teacherClean'], labels: 'none' });
  return tf.tidy(() =>
    reduce(
      tf.add(
        tf.mul(klPerExample(logits.teacherClean, logits.studentAdv), advWeight),
        tf.mul(klPerExample(logits.teacherClean, logits.studentClean), cleanWeight)
      ),
      reduction,
      fn
    )
  );
}
