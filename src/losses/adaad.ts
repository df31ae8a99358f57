import { named } from '../core/errors.js';
import * as tf from '@tensorflow/tfjs-core';
import { parseOptions, unitWeight, type OptionFields, type Resolved } from '../core/options.js';
import { applyReduction, REDUCTION_FIELD, type Reduction, type DefaultReduction, type Reduced } from '../core/reduce.js';
import { KL_REDUCTION_FIELD, klFactor, klPerExample } from './kl.js';
import { checkLossInputs, requireInput } from './validate.js';

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
  return named('adaadLoss', () => {
    const config = resolveAdaadOptions(options);
    const { logits } = checkLossInputs(inputs, {
      required: ['studentAdv', 'teacherAdv'],
      optional: ['studentClean', 'teacherClean'],
      labels: 'none'
    });
    const studentClean = config.alpha < 1 ? requireInput('inputs.studentClean', logits.studentClean, 'when alpha < 1') : undefined;
    const teacherClean = config.alpha < 1 ? requireInput('inputs.teacherClean', logits.teacherClean, 'when alpha < 1') : undefined;
    const { studentAdv, teacherAdv } = logits;
    return adaadLossCore(
    studentClean !== undefined && teacherClean !== undefined ? { studentAdv, teacherAdv, studentClean, teacherClean } : { studentAdv, teacherAdv },
    config
    ) as Reduced<O>;
  });
}

/** {@link AdaadOptions} resolved: every default filled in, every value checked. */
export type AdaadConfig = Resolved<AdaadOptions>;

/** How each of {@link AdaadOptions} is checked and defaulted; the `adaad` objective takes α and klReduction from here. Internal. */
export const ADAAD_FIELDS: OptionFields<AdaadOptions> = {
  alpha: /* @__PURE__ */ unitWeight(1),
  reduction: REDUCTION_FIELD,
  klReduction: KL_REDUCTION_FIELD
};

/**
 * Resolves {@link adaadLoss}'s options once: unknown keys rejected, defaults filled in, values checked. Internal.
 *
 * @throws RangeError naming the function the user called for an unknown key, α outside [0, 1], an unknown reduction or klReduction.
 */
export function resolveAdaadOptions(options: Readonly<AdaadOptions>): AdaadConfig {
  return parseOptions(options, ADAAD_FIELDS);
}

/**
 * {@link adaadLoss} on logits of one shape `[B, C]` and a resolved config, unchecked; the clean term is added when
 * both clean logits are given (the caller gives them when α < 1). Internal.
 */
export function adaadLossCore(inputs: Readonly<AdaadInputs>, config: AdaadConfig): tf.Tensor {
  const { alpha } = config;
  const { studentClean, teacherClean } = inputs;
  const scale = klFactor(config.klReduction, inputs.studentAdv);
  return tf.tidy(() => {
    const adv = tf.mul(klPerExample(inputs.teacherAdv, inputs.studentAdv), alpha * scale);
    const total =
      studentClean !== undefined && teacherClean !== undefined ? tf.add(adv, tf.mul(klPerExample(teacherClean, studentClean), (1 - alpha) * scale)) : adv;
    return applyReduction(total, config.reduction);
  });
}
