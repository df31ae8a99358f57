import * as tf from '@tensorflow/tfjs-core';
import { checkBoolean, checkKnownKeys, checkNonNegative, optionKeys } from '../core/validate.js';
import { reduce, type Reduction, type DefaultReduction, type Reduced } from '../core/reduce.js';
import { crossEntropyPerExample } from './cross-entropy.js';
import { checkLossInputs, checkReduction, checkTemperature, checkUnitWeight, klPerExample, requireInput, trueClassLogProb } from './validate.js';

/** The logits {@link iadLoss} needs. */
export interface IadInputs {
  /** `S(x')`, student logits on adversarial inputs, `[B, C]`. */
  readonly studentAdv: tf.Tensor2D;
  /** `S(x)`, student logits on clean inputs, `[B, C]`. */
  readonly studentClean: tf.Tensor2D;
  /** `T(x)`, teacher logits on clean inputs, `[B, C]`. */
  readonly teacherClean: tf.Tensor2D;
  /** `T(x')`, teacher logits on the adversarial inputs; needed for introspection. */
  readonly teacherAdv?: tf.Tensor2D;
  /** `[B]` int32 labels; needed for introspection and when `alpha < 1`. */
  readonly labels?: tf.Tensor1D;
}

/** Options of {@link iadLoss}. */
export interface IadOptions {
  /** Temperature τ of the teacher term. @defaultValue 1 */
  readonly temperature?: number;
  /** Weight α of the distillation terms, in [0, 1]. @defaultValue 1 */
  readonly alpha?: number;
  /** Exponent β of the teacher's reliability `a = p_T(y|x')^β`. @defaultValue 0.1 */
  readonly beta?: number;
  /**
   * Whether the student introspects (the `(1 − a)·KL(S(x) ‖ S(x'))` term is on). The method turns it on
   * after 30 % of training; `fit`'s objective does that, here it is a switch.
   * @defaultValue true
   */
  readonly introspection?: boolean;
  /** @defaultValue 'mean' */
  readonly reduction?: Reduction;
}

/**
 * Introspective adversarial distillation (Zhu et al., ICLR 2022, "Reliable adversarial distillation with
 * unreliable teachers"): the student trusts the teacher on `x'` only as much as the teacher is right there,
 * `α·τ²·KL(σ(T(x)/τ) ‖ σ(S(x')/τ)) + α·(1 − a)·KL(σ(S(x)) ‖ σ(S(x'))) + (1−α)·CE(S(x), y)`,
 * with `a = p_T(y|x')^β` per example.
 *
 * @param inputs - see {@link IadInputs}.
 * @param options - see {@link IadOptions}.
 * @returns a scalar, or `[B]` with `reduction: 'none'`; the caller disposes it.
 * @throws RangeError for mismatched shapes, τ ≤ 0 or NaN, α outside [0, 1], β negative, labels out of range, or inputs
 * missing that the options need; TypeError for wrong dtypes.
 * @example
 * const loss = iadLoss({ studentAdv: student(xAdv), studentClean: student(x), teacherClean: teacher(x), teacherAdv: teacher(xAdv), labels: y });
 */
export function iadLoss<O extends Readonly<IadOptions> = DefaultReduction>(inputs: Readonly<IadInputs>, options: O = {} as O): Reduced<O> {
  const fn = 'iadLoss';
  checkKnownKeys(fn, options, optionKeys<IadOptions>()('temperature', 'alpha', 'beta', 'introspection', 'reduction'));
  const tau = checkTemperature(fn, 'temperature', options.temperature, 1);
  const alpha = checkUnitWeight(fn, 'alpha', options.alpha, 1);
  const beta = options.beta === undefined ? 0.1 : checkNonNegative(fn, 'beta', options.beta);
  const introspection = options.introspection === undefined ? true : checkBoolean(fn, 'introspection', options.introspection);
  const reduction = checkReduction(fn, options.reduction);
  const { logits, labels } = checkLossInputs(fn, inputs, {
    required: ['studentAdv', 'studentClean', 'teacherClean'],
    optional: ['teacherAdv'],
    labels: 'optional'
  });
  const teacherAdv = introspection ? requireInput(fn, 'inputs.teacherAdv', logits.teacherAdv, 'when introspection is on') : undefined;
  const y = introspection || alpha < 1 ? requireInput(fn, 'inputs.labels', labels, 'when introspection is on or alpha < 1') : undefined;
  return (tf.tidy(() => {
    let total: tf.Tensor = tf.mul(klPerExample(logits.teacherClean, logits.studentAdv, tau, tau), alpha * tau * tau);
    if (teacherAdv !== undefined && y !== undefined) {
      // a = p^β as exp(β·log p): finite gradient even where p underflows to 0.
      const reliability = tf.exp(tf.mul(trueClassLogProb(teacherAdv, y), beta));
      const introspect = tf.mul(tf.mul(klPerExample(logits.studentClean, logits.studentAdv), tf.sub(1, reliability)), alpha);
      total = tf.add(total, introspect);
    }
    if (alpha < 1 && y !== undefined) total = tf.add(total, tf.mul(crossEntropyPerExample(logits.studentClean, y), 1 - alpha));
    return reduce(total, reduction, fn);
  })) as Reduced<O>;
}
