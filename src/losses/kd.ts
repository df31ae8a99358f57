import * as tf from '@tensorflow/tfjs-core';
import { checkFinite, checkKnownKeys, optionKeys } from '../core/validate.js';
import { reduce, type Reduction, type DefaultReduction, type Reduced } from '../core/reduce.js';
import { checkLogitsPair, checkReduction, checkTemperature, klPerExample } from './validate.js';

/** Options of {@link kdLoss}. */
export interface KdOptions {
  /** Student temperature `τ_S`. @defaultValue 1 */
  readonly studentTemperature?: number;
  /** Teacher temperature `τ_T`. @defaultValue 1 */
  readonly teacherTemperature?: number;
  /** Multiplier of the divergence. @defaultValue studentTemperature² (Hinton's τ² gradient scaling) */
  readonly scale?: number;
  /** @defaultValue 'mean' */
  readonly reduction?: Reduction;
}

/**
 * Knowledge distillation with separate teacher and student temperatures (LTD, Chen & Lee, arXiv 2111.02331;
 * classic KD, Hinton et al., arXiv 1503.02531, when the temperatures are equal):
 * `scale · KL(σ(z_T/τ_T) ‖ σ(z_S/τ_S))`, `scale = τ_S²` by default.
 *
 * LTD trains the student at a fixed `τ_S` and **keeps it at inference** (deploy `withTemperature(student, τ_S)`),
 * which is what avoids the gradient masking of defensive distillation.
 *
 * @param studentLogits - `[B, C]` student logits `z_S` (e.g. on adversarial inputs).
 * @param teacherLogits - `[B, C]` teacher logits `z_T`.
 * @param options - see {@link KdOptions}.
 * @returns a scalar, or `[B]` with `reduction: 'none'`; the caller disposes it.
 * @throws RangeError for mismatched shapes, a temperature ≤ 0 or NaN, a non-finite scale, or an unknown reduction.
 * @example
 * const loss = kdLoss(student(xAdv), teacher(x), { studentTemperature: 5, teacherTemperature: 1 });
 */
export function kdLoss<O extends Readonly<KdOptions> = DefaultReduction>(studentLogits: tf.Tensor2D, teacherLogits: tf.Tensor2D, options: O = {} as O): Reduced<O> {
  const fn = 'kdLoss';
  checkKnownKeys(fn, options, optionKeys<KdOptions>()('studentTemperature', 'teacherTemperature', 'scale', 'reduction'));
  const tauS = checkTemperature(fn, 'studentTemperature', options.studentTemperature, 1);
  const tauT = checkTemperature(fn, 'teacherTemperature', options.teacherTemperature, 1);
  const scale = options.scale === undefined ? tauS * tauS : checkFinite(fn, 'scale', options.scale);
  const reduction = checkReduction(fn, options.reduction);
  const [s, t] = checkLogitsPair(fn, 'studentLogits', studentLogits, 'teacherLogits', teacherLogits);
  return (tf.tidy(() => reduce(tf.mul(klPerExample(t, s, tauT, tauS), scale), reduction, fn))) as Reduced<O>;
}
