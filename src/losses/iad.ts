import { named } from '../core/errors.js';
import * as tf from '@tensorflow/tfjs-core';
import { flag, nonNegative, parseOptions, positive, unitWeight, type OptionFields, type Resolved } from '../core/options.js';
import { applyReduction, REDUCTION_FIELD, type Reduction, type DefaultReduction, type Reduced } from '../core/reduce.js';
import { crossEntropyPerExample } from './cross-entropy.js';
import { klPerExample, trueClassLogProb } from './kl.js';
import { checkLossInputs, requireInput } from './validate.js';

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
  return named('iadLoss', () => {
    const config = resolveIadOptions(options);
    const { logits, labels } = checkLossInputs(inputs, {
      required: ['studentAdv', 'studentClean', 'teacherClean'],
      optional: ['teacherAdv'],
      labels: 'optional'
    });
    const teacherAdv = config.introspection ? requireInput('inputs.teacherAdv', logits.teacherAdv, 'when introspection is on') : undefined;
    const y = config.introspection || config.alpha < 1 ? requireInput('inputs.labels', labels, 'when introspection is on or alpha < 1') : undefined;
    const { studentAdv, studentClean, teacherClean } = logits;
    return iadLossCore(
      { studentAdv, studentClean, teacherClean, ...(teacherAdv === undefined ? {} : { teacherAdv }), ...(y === undefined ? {} : { labels: y }) },
      config
    ) as Reduced<O>;
  });
}

/** {@link IadOptions} resolved: every default filled in, every value checked. */
export type IadConfig = Resolved<IadOptions>;

/** How each of {@link IadOptions} is checked and defaulted; the `iad` objective takes τ, α and β from here. Internal. */
export const IAD_FIELDS: OptionFields<IadOptions> = {
  temperature: /* @__PURE__ */ positive(1),
  alpha: /* @__PURE__ */ unitWeight(1),
  beta: /* @__PURE__ */ nonNegative(0.1),
  introspection: /* @__PURE__ */ flag(true),
  reduction: REDUCTION_FIELD
};

/**
 * Resolves {@link iadLoss}'s options once: unknown keys rejected, defaults filled in, values checked. Internal.
 *
 * @throws RangeError naming the function the user called for an unknown key, τ ≤ 0 or NaN, α outside [0, 1], β negative or an unknown
 * reduction; TypeError for an introspection that is not a boolean.
 */
export function resolveIadOptions(options: Readonly<IadOptions>): IadConfig {
  return parseOptions(options, IAD_FIELDS);
}

/**
 * {@link iadLoss} on logits of one shape `[B, C]` (labels in range) and a resolved config, unchecked. The introspection
 * term is added when `config.introspection` and `teacherAdv` and `labels` are given, the clean CE when α < 1 and
 * `labels` are given: the caller gives what the config needs. Internal.
 */
export function iadLossCore(inputs: Readonly<IadInputs>, config: IadConfig): tf.Tensor {
  const { temperature: tau, alpha, beta } = config;
  const teacherAdv = config.introspection ? inputs.teacherAdv : undefined;
  const y = inputs.labels;
  return tf.tidy(() => {
    let total: tf.Tensor = tf.mul(klPerExample(inputs.teacherClean, inputs.studentAdv, tau, tau), alpha * tau * tau);
    if (teacherAdv !== undefined && y !== undefined) {
      // a = p^β as exp(β·log p): finite gradient even where p underflows to 0.
      const reliability = tf.exp(tf.mul(trueClassLogProb(teacherAdv, y), beta));
      const introspect = tf.mul(tf.mul(klPerExample(inputs.studentClean, inputs.studentAdv), tf.sub(1, reliability)), alpha);
      total = tf.add(total, introspect);
    }
    if (alpha < 1 && y !== undefined) total = tf.add(total, tf.mul(crossEntropyPerExample(inputs.studentClean, y), 1 - alpha));
    return applyReduction(total, config.reduction);
  });
}
