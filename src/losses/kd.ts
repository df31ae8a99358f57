import { named } from '../core/errors.js';
import * as tf from '@tensorflow/tfjs-core';
import { finite, parseOptions, positive, type OptionField, type OptionFields } from '../core/options.js';
import { applyReduction, REDUCTION_FIELD, type Reduction, type DefaultReduction, type Reduced } from '../core/reduce.js';
import { klPerExample } from './kl.js';
import { checkLogitsPair } from './validate.js';

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
  return named('kdLoss', () => {
    const config = resolveKdOptions(options);
    const [s, t] = checkLogitsPair('studentLogits', studentLogits, 'teacherLogits', teacherLogits);
    return kdLossCore(s, t, config) as Reduced<O>;
  });
}

/** {@link KdOptions} resolved: every default filled in (`scale` = τ_S² when left out), every value checked. */
export interface KdConfig {
  readonly studentTemperature: number;
  readonly teacherTemperature: number;
  readonly scale: number;
  readonly reduction: Reduction;
}

/** How each of {@link KdOptions} is checked and defaulted (`scale` left undefined: its default is τ_S²). Internal. */
export const KD_FIELDS: OptionFields<Omit<KdOptions, 'scale'>> & { readonly scale: OptionField<number | undefined> } = {
  studentTemperature: /* @__PURE__ */ positive(1),
  teacherTemperature: /* @__PURE__ */ positive(1),
  scale: /* @__PURE__ */ finite(),
  reduction: REDUCTION_FIELD
};

/**
 * Resolves {@link kdLoss}'s options once: unknown keys rejected, defaults filled in, values checked. Internal.
 *
 * @throws RangeError naming the function the user called for an unknown key, a temperature ≤ 0 or NaN, a non-finite scale or an unknown reduction.
 */
export function resolveKdOptions(options: Readonly<KdOptions>): KdConfig {
  const o = parseOptions(options, KD_FIELDS);
  return { ...o, scale: o.scale ?? o.studentTemperature * o.studentTemperature };
}

/** {@link kdLoss} on student and teacher logits of one shape `[B, C]` and a resolved config, unchecked. Internal. */
export function kdLossCore(studentLogits: tf.Tensor2D, teacherLogits: tf.Tensor2D, config: KdConfig): tf.Tensor {
  return tf.tidy(() =>
    applyReduction(tf.mul(klPerExample(teacherLogits, studentLogits, config.teacherTemperature, config.studentTemperature), config.scale), config.reduction)
  );
}
