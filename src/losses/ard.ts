import { named } from '../core/errors.js';
import * as tf from '@tensorflow/tfjs-core';
import { parseOptions, positive, unitWeight, type OptionFields, type Resolved } from '../core/options.js';
import { applyReduction, REDUCTION_FIELD, type Reduction, type DefaultReduction, type Reduced } from '../core/reduce.js';
import { crossEntropyPerExample } from './cross-entropy.js';
import { KL_REDUCTION_FIELD, klFactor, klPerExample } from './kl.js';
import { checkLossInputs, requireInput } from './validate.js';

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
  return named('ardLoss', () => {
    const config = resolveArdOptions(options);
    const { logits, labels } = checkLossInputs(inputs, { required: ['studentAdv', 'teacherClean'], optional: ['studentClean'], labels: 'optional' });
    const studentClean = config.alpha < 1 ? requireInput('inputs.studentClean', logits.studentClean, 'when alpha < 1') : undefined;
    const y = config.alpha < 1 ? requireInput('inputs.labels', labels, 'when alpha < 1') : undefined;
    return ardLossCore(
    studentClean !== undefined && y !== undefined
      ? { studentAdv: logits.studentAdv, teacherClean: logits.teacherClean, studentClean, labels: y }
      : { studentAdv: logits.studentAdv, teacherClean: logits.teacherClean },
    config
    ) as Reduced<O>;
  });
}

/** {@link ArdOptions} resolved: every default filled in, every value checked. */
export type ArdConfig = Resolved<ArdOptions>;

/** How each of {@link ArdOptions} is checked and defaulted; the `ard` objective takes its loss options from here. Internal. */
export const ARD_FIELDS: OptionFields<ArdOptions> = {
  temperature: /* @__PURE__ */ positive(30),
  alpha: /* @__PURE__ */ unitWeight(1),
  reduction: REDUCTION_FIELD,
  klReduction: KL_REDUCTION_FIELD
};

/**
 * Resolves {@link ardLoss}'s options once: unknown keys rejected, defaults filled in, values checked. Internal.
 *
 * @throws RangeError naming the function the user called for an unknown key, τ ≤ 0 or NaN, α outside [0, 1], an unknown reduction or klReduction.
 */
export function resolveArdOptions(options: Readonly<ArdOptions>): ArdConfig {
  return parseOptions(options, ARD_FIELDS);
}

/**
 * {@link ardLoss} on inputs of one shape `[B, C]` (labels in range) and a resolved config, unchecked; the clean term
 * is added when `studentClean` and `labels` are given (the caller gives them when α < 1). Internal.
 */
export function ardLossCore(inputs: Readonly<ArdInputs>, config: ArdConfig): tf.Tensor {
  const { temperature: tau, alpha } = config;
  return tf.tidy(() => {
    const kd = tf.mul(klPerExample(inputs.teacherClean, inputs.studentAdv, tau, tau), alpha * tau * tau * klFactor(config.klReduction, inputs.studentAdv));
    const { studentClean, labels } = inputs;
    const total = studentClean !== undefined && labels !== undefined ? tf.add(kd, tf.mul(crossEntropyPerExample(studentClean, labels), 1 - alpha)) : kd;
    return applyReduction(total, config.reduction);
  });
}
