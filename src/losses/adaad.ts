import * as tf from '@tensorflow/tfjs-core';
import { checkKnownKeys } from '../core/validate.js';
import { reduce, type Reduction } from '../core/reduce.js';
import { checkLossInputs, checkReduction, checkUnitWeight, klPerExample, requireInput } from './validate.js';

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
}

/**
 * Adaptive adversarial distillation (Huang et al., CVPR 2023, "Boosting accuracy and robustness of student
 * models via adaptive adversarial distillation"): the adversarial example is where teacher and student
 * disagree most, and the student matches the teacher there,
 * `α·KL(σ(T(x')) ‖ σ(S(x'))) + (1−α)·KL(σ(T(x)) ‖ σ(S(x)))`.
 *
 * @param inputs - see {@link AdaadInputs}.
 * @param options - see {@link AdaadOptions}.
 * @returns a scalar, or `[B]` with `reduction: 'none'`; the caller disposes it.
 * @throws RangeError for mismatched shapes, α outside [0, 1], or clean logits missing while α < 1; TypeError for wrong dtypes.
 * @example
 * const loss = adaadLoss({ studentAdv: student(xAdv), teacherAdv: teacher(xAdv) });
 */
export function adaadLoss(inputs: Readonly<AdaadInputs>, options: Readonly<AdaadOptions> = {}): tf.Tensor {
  const fn = 'adaadLoss';
  checkKnownKeys(fn, options, ['alpha', 'reduction']);
  const alpha = checkUnitWeight(fn, 'alpha', options.alpha, 1);
  const reduction = checkReduction(fn, options.reduction);
  const { logits } = checkLossInputs(fn, inputs, {
    required: ['studentAdv', 'teacherAdv'],
    optional: ['studentClean', 'teacherClean'],
    labels: 'none'
  });
  const studentClean = alpha < 1 ? requireInput(fn, 'inputs.studentClean', logits.studentClean, 'when alpha < 1') : undefined;
  const teacherClean = alpha < 1 ? requireInput(fn, 'inputs.teacherClean', logits.teacherClean, 'when alpha < 1') : undefined;
  return tf.tidy(() => {
    const adv = tf.mul(klPerExample(logits.teacherAdv, logits.studentAdv), alpha);
    const total =
      studentClean !== undefined && teacherClean !== undefined ? tf.add(adv, tf.mul(klPerExample(teacherClean, studentClean), 1 - alpha)) : adv;
    return reduce(total, reduction, fn);
  });
}
