import * as tf from '@tensorflow/tfjs-core';
import { checkKnownKeys, checkNonNegative, checkPositive, optionKeys } from '../core/validate.js';
import { rangeError, typeError, named } from '../core/errors.js';
import { custom, parseOptions, positive, resolveFields, unitWeight, type OptionFields, type Resolved } from '../core/options.js';
import { applyReduction, REDUCTION_FIELD, type Reduction, type DefaultReduction, type Reduced } from '../core/reduce.js';
import { KL_REDUCTION_FIELD, klFactor, klPerExample } from './kl.js';
import { checkLossInputs } from './validate.js';

/** The logits {@link mtardLoss} needs. */
export interface MtardInputs {
  /** `S(x')`, student logits on adversarial inputs, `[B, C]`. */
  readonly studentAdv: tf.Tensor2D;
  /** `S(x)`, student logits on clean inputs, `[B, C]`. */
  readonly studentClean: tf.Tensor2D;
  /** `T_adv(x')`, the robust (adversarially trained) teacher on the adversarial inputs, `[B, C]`. */
  readonly robustTeacherAdv: tf.Tensor2D;
  /** `T_nat(x)`, the clean (naturally trained) teacher on clean inputs, `[B, C]`. */
  readonly cleanTeacherClean: tf.Tensor2D;
}

/** Options of {@link mtardLoss}. */
export interface MtardLossOptions {
  /** `w_adv`. @defaultValue 0.5 */
  readonly advWeight?: number;
  /** `w_nat`. @defaultValue 0.5 */
  readonly natWeight?: number;
  /** Temperature τ of every distribution (the divergences are scaled by τ²). @defaultValue 1 */
  readonly temperature?: number;
  /** @defaultValue 'mean' */
  readonly reduction?: Reduction;
  /**
   * How the KL terms are scaled per example. `'batchmean'` (ardkit's convention) keeps the KL, the sum over classes:
   * with `reduction: 'mean'` this is PyTorch's `KLDivLoss(reduction='batchmean')`. `'classMean'` divides each KL term
   * by the number of classes C: with `reduction: 'mean'` this is PyTorch's default element-mean `KLDivLoss()`, what
   * the authors' code computes (zhaoshiji123/MTARD, `mtard/mtard_resnet18_cifar10.py`: an element-wise KL averaged
   * with `torch.mean` over all B·C entries; the CIFAR-100 script multiplies that mean by 10, dividing the KL by 10
   * rather than by C = 100). The paper's learning rates and weight decay carry over only with the authors' reduction.
   * With `reduction: 'none'` or `'sum'` the same per-example scaling applies, so the mean of the `'none'` values is
   * the `'mean'` value under either convention.
   * @defaultValue 'batchmean'
   */
  readonly klReduction?: 'batchmean' | 'classMean';
}

/**
 * Multi-teacher adversarial robustness distillation (Zhao et al., ECCV 2022, "Enhanced accuracy and robustness via multi-teacher adversarial distillation"):
 * `w_adv·τ²·KL(σ(T_adv(x')/τ) ‖ σ(S(x')/τ)) + w_nat·τ²·KL(σ(T_nat(x)/τ) ‖ σ(S(x)/τ))`, each KL summed over classes per
 * example, or divided by C with `klReduction: 'classMean'` (the authors' code). The weights adapt during training with
 * {@link mtardWeights}.
 *
 * @param inputs - see {@link MtardInputs}.
 * @param options - see {@link MtardLossOptions}.
 * @returns a scalar, or `[B]` with `reduction: 'none'`; the caller disposes it.
 * @throws RangeError for mismatched shapes, weights outside [0, 1], τ ≤ 0 or NaN, or an unknown reduction or klReduction;
 * TypeError for wrong dtypes.
 * @example
 * const loss = mtardLoss(
 *   { studentAdv: s(xAdv), studentClean: s(x), robustTeacherAdv: tAdv(xAdv), cleanTeacherClean: tNat(x) },
 *   { advWeight: state.advWeight, natWeight: state.natWeight },
 * );
 */
export function mtardLoss<O extends Readonly<MtardLossOptions> = DefaultReduction>(inputs: Readonly<MtardInputs>, options: O = {} as O): Reduced<O> {
  return named('mtardLoss', () => {
    const config = resolveMtardOptions(options);
    const { logits } = checkLossInputs(inputs, {
      required: ['studentAdv', 'studentClean', 'robustTeacherAdv', 'cleanTeacherClean'],
      labels: 'none'
    });
    return mtardLossCore(logits, config) as Reduced<O>;
  });
}

/** {@link MtardLossOptions} resolved: every default filled in, every value checked. */
export type MtardConfig = Resolved<MtardLossOptions>;

/** How each of {@link MtardLossOptions} is checked and defaulted; the `mtard` objective takes τ and klReduction from here. Internal. */
export const MTARD_FIELDS: OptionFields<MtardLossOptions> = {
  advWeight: /* @__PURE__ */ unitWeight(0.5),
  natWeight: /* @__PURE__ */ unitWeight(0.5),
  temperature: /* @__PURE__ */ positive(1),
  reduction: REDUCTION_FIELD,
  klReduction: KL_REDUCTION_FIELD
};

/**
 * Resolves {@link mtardLoss}'s options once: unknown keys rejected, defaults filled in, values checked. Internal.
 *
 * @throws RangeError naming the function the user called for an unknown key, weights outside [0, 1], τ ≤ 0 or NaN, an unknown reduction or
 * klReduction.
 */
export function resolveMtardOptions(options: Readonly<MtardLossOptions>): MtardConfig {
  return parseOptions(options, MTARD_FIELDS);
}

/**
 * {@link mtardLoss} on logits of one shape `[B, C]` and a resolved config (the objective's weights change per batch
 * in a copy of it), unchecked. Internal.
 */
export function mtardLossCore(inputs: Readonly<MtardInputs>, config: MtardConfig): tf.Tensor {
  const tau = config.temperature;
  const scale = tau * tau * klFactor(config.klReduction, inputs.studentAdv);
  return tf.tidy(() =>
    applyReduction(
      tf.add(
        tf.mul(klPerExample(inputs.robustTeacherAdv, inputs.studentAdv, tau, tau), config.advWeight * scale),
        tf.mul(klPerExample(inputs.cleanTeacherClean, inputs.studentClean, tau, tau), config.natWeight * scale)
      ),
      config.reduction
    )
  );
}

/** The adaptive weights of MTARD and the reference losses they are measured against. */
export interface MtardState {
  /** `w_nat`, the weight of the clean teacher's term. */
  readonly natWeight: number;
  /** `w_adv = 1 − w_nat`. */
  readonly advWeight: number;
  /** `L_first` of the clean term: the first loss seen (unset until the first update). */
  readonly natInitial?: number;
  /** `L_first` of the adversarial term. */
  readonly advInitial?: number;
}

/** Options of {@link mtardWeights}. */
export interface MtardWeightsOptions {
  /** Learning rate η of the weights. @defaultValue 0.025 */
  readonly eta?: number;
}

/** How each of {@link MtardWeightsOptions} is checked and defaulted: η in (0, 1]. */
const MTARD_WEIGHTS_FIELDS: OptionFields<MtardWeightsOptions> = {
  eta: /* @__PURE__ */ custom((arg, value) => {
    const eta = checkNonNegative(arg, value);
    if (eta === 0 || eta > 1) rangeError(arg, 'be a number in (0, 1]', eta);
    return eta;
  }, 0.025)
};

/**
 * One MTARD weight update (Zhao et al., ECCV 2022), a pure function of numbers:
 * `r = L_now / L_first` per term, `w_nat ← w_nat − η·(w_nat − r_nat/(r_nat + r_adv))`, `w_adv = 1 − w_nat`.
 * The term whose loss has fallen least, relative to where it started, gains weight. The first call
 * records `L_first`.
 *
 * @param state - the current state; start from `{ natWeight: 0.5, advWeight: 0.5 }`.
 * @param natLoss - this batch's clean-teacher loss (a finite number > 0).
 * @param advLoss - this batch's robust-teacher loss (a finite number > 0).
 * @param options - see {@link MtardWeightsOptions}.
 * @returns the next state (a new object; `state` is not modified).
 * @throws RangeError when a loss is not a finite number > 0, a weight lies outside [0, 1], or η is outside (0, 1].
 * @example
 * let state: MtardState = { natWeight: 0.5, advWeight: 0.5 };
 * state = mtardWeights(state, natLoss, advLoss);
 */
export function mtardWeights(state: Readonly<MtardState>, natLoss: number, advLoss: number, options: Readonly<MtardWeightsOptions> = {}): MtardState {
  return named('mtardWeights', () => {
    if (typeof state !== 'object' || state === null) typeError('state', 'be an object { natWeight, advWeight }', state);
    // The keys first and the values after the other arguments, the order in which their errors have always come.
    checkKnownKeys(options, optionKeys<MtardWeightsOptions>()('eta'));
    const natWeight = MTARD_FIELDS.natWeight.parse('state.natWeight', state.natWeight);
    MTARD_FIELDS.advWeight.parse('state.advWeight', state.advWeight);
    checkPositive('natLoss', natLoss);
    checkPositive('advLoss', advLoss);
    const { eta } = resolveFields(options, MTARD_WEIGHTS_FIELDS);
    const natInitial = state.natInitial === undefined ? natLoss : checkPositive('state.natInitial', state.natInitial);
    const advInitial = state.advInitial === undefined ? advLoss : checkPositive('state.advInitial', state.advInitial);
    return mtardWeightsCore({ natWeight, advWeight: 1 - natWeight, natInitial, advInitial }, natLoss, advLoss, eta);
  });
}

/**
 * {@link mtardWeights} on a state, losses and η already checked (losses > 0, η in (0, 1]), unchecked: for a training
 * loop that updates the weights every batch. The first call records `L_first`. Internal.
 */
export function mtardWeightsCore(state: Readonly<MtardState>, natLoss: number, advLoss: number, eta: number): MtardState {
  const natInitial = state.natInitial ?? natLoss;
  const advInitial = state.advInitial ?? advLoss;
  const rNat = natLoss / natInitial;
  const rAdv = advLoss / advInitial;
  const next = state.natWeight - eta * (state.natWeight - rNat / (rNat + rAdv));
  return { natWeight: next, advWeight: 1 - next, natInitial, advInitial };
}
