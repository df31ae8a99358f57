import * as tf from '@tensorflow/tfjs-core';
import { checkKnownKeys } from '../core/validate.js';
import { reduce, type Reduction } from '../core/reduce.js';
import { crossEntropyPerExample } from './cross-entropy.js';
import { checkLossInputs, checkReduction, checkTemperature, checkUnitWeight, klPerExample, requireInput } from './validate.js';

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
}

/**
 * Adversarially robust distillation (Goldblum et al. 2020, arXiv 1905.09747):
 * `α·τ²·KL(σ(T(x)/τ) ‖ σ(S(x')/τ)) + (1−α)·CE(S(x), y)`.
 *
 * @param inputs - see {@link ArdInputs}.
 * @param options - see {@link ArdOptions}.
 * @returns a scalar, or `[B]` with `reduction: 'none'`; the caller disposes it.
 * @throws RangeError for mismatched shapes, a temperature ≤ 0 or NaN, α outside [0, 1], labels out of range, or
 * `studentClean`/`labels` missing while α < 1; TypeError for wrong dtypes.
 * @example
 * const loss = ardLoss({ studentAdv: student(xAdv), teacherClean: teacher(x) }, { temperature: 30 });
 */
export function ardLoss(inputs: Readonly<ArdInputs>, options: Readonly<ArdOptions> = {}): tf.Tensor {
  const fn = 'ardLoss';
  checkKnownKeys(fn, options, ['temperature', 'alpha', 'reduction']);
  const tau = checkTemperature(fn, 'temperature', options.temperature, 30);
  const alpha = checkUnitWeight(fn, 'alpha', options.alpha, 1);
  const reduction = checkReduction(fn, options.reduction);
  const { logits, labels } = checkLossInputs(fn, inputs, { required: ['studentAdv', 'teacherClean'], optional: ['studentClean'], labels: 'optional' });
  const clean = alpha < 1 ? requireInput(fn, 'inputs.studentClean', logits.studentClean, 'when alpha < 1') : undefined;
  const y = alpha < 1 ? requireInput(fn, 'inputs.labels', labels, 'when alpha < 1') : undefined;
  return tf.tidy(() => {
    const kd = tf.mul(klPerExample(logits.teacherClean, logits.studentAdv, tau, tau), alpha * tau * tau);
    const total = clean !== undefined && y !== undefined ? tf.add(kd, tf.mul(crossEntropyPerExample(clean, y), 1 - alpha)) : kd;
    return reduce(total, reduction, fn);
  });
}
