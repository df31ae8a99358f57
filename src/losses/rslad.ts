import { named } from '../core/errors.js';
import * as tf from '@tensorflow/tfjs-core';
import { nonNegative, parseOptions, type OptionFields, type Resolved } from '../core/options.js';
import { applyReduction, REDUCTION_FIELD, type Reduction, type DefaultReduction, type Reduced } from '../core/reduce.js';
import { KL_REDUCTION_FIELD, klFactor, klPerExample } from './kl.js';
import { checkLossInputs } from './validate.js';

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
  return named('rsladLoss', () => {
    const config = resolveRsladOptions(options);
    const { logits } = checkLossInputs(inputs, { required: ['studentAdv', 'studentClean', 'teacherClean'], labels: 'none' });
    return rsladLossCore(logits, config) as Reduced<O>;
  });
}

/** {@link RsladOptions} resolved: every default filled in, every value checked. */
export type RsladConfig = Resolved<RsladOptions>;

/** How each of {@link RsladOptions} is checked and defaulted; the `rslad` objective takes its loss options from here. Internal. */
export const RSLAD_FIELDS: OptionFields<RsladOptions> = {
  advWeight: /* @__PURE__ */ nonNegative(5 / 6),
  cleanWeight: /* @__PURE__ */ nonNegative(1 / 6),
  reduction: REDUCTION_FIELD,
  klReduction: KL_REDUCTION_FIELD
};

/**
 * Resolves {@link rsladLoss}'s options once: unknown keys rejected, defaults filled in, values checked. Internal.
 *
 * @throws RangeError naming the function the user called for an unknown key, a negative or non-finite weight, an unknown reduction or klReduction.
 */
export function resolveRsladOptions(options: Readonly<RsladOptions>): RsladConfig {
  return parseOptions(options, RSLAD_FIELDS);
}

/** {@link rsladLoss} on logits of one shape `[B, C]` and a resolved config, unchecked. Internal. */
export function rsladLossCore(inputs: Readonly<RsladInputs>, config: RsladConfig): tf.Tensor {
  const scale = klFactor(config.klReduction, inputs.studentAdv);
  return tf.tidy(() =>
    applyReduction(
      tf.add(
        tf.mul(klPerExample(inputs.teacherClean, inputs.studentAdv), config.advWeight * scale),
        tf.mul(klPerExample(inputs.teacherClean, inputs.studentClean), config.cleanWeight * scale)
      ),
      config.reduction
    )
  );
}
