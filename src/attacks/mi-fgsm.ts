import { named } from '../core/errors.js';
import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';
import { checkGradientsRegistered, checkKnownKeys, checkLogits, optionKeys, type Bounds } from '../core/validate.js';
import { integer, nonNegative, resolveFields, type OptionField, type OptionFields } from '../core/options.js';
import { resolveThreat } from './options.js';
import { checkAttackInputs, resolveObjective } from './runner.js';
import { resolveTargeting, withTargets, type TargetSelection } from './targets.js';
import { checkPerExample } from './projected-gradient-ascent.js';
import { safeGradient } from './safe-gradient.js';
import { ballProjector } from './projections.js';
import { signStepUnchecked } from './steps.js';
import { tensorSlots } from './slots.js';
import { makeAttack } from './attack.js';
import type { Attack, AttackLoss, LossFn } from './types.js';

/** Options of {@link miFgsm}. */
export interface MiFgsmOptions {
  /** The L∞ radius ε, in input units. Required. */
  readonly eps: number;
  /** Number of iterations T, a positive integer. @defaultValue 10 */
  readonly steps?: number;
  /**
   * Step size α. The paper's `ε/T` by default, so that T sign steps can just reach the ball's surface; torchattacks'
   * MIFGSM fixes α = 2/255 for ε = 8/255 and 10 steps, which is `2.5·ε/T`: pass `stepSize: 2.5 * eps / steps` to
   * reproduce it.
   * @defaultValue eps/steps
   */
  readonly stepSize?: number;
  /** Decay factor μ ≥ 0 of the accumulated gradient (μ = 0 is I-FGSM without random start). @defaultValue 1.0 */
  readonly decay?: number;
  /**
   * The loss to maximise: `'ce'` (cross-entropy, as torchattacks), `'cw'` (Carlini–Wagner margin, κ = 0), or a function
   * `(logits, labels) ↦ [B]` per-example values.
   * @defaultValue 'ce'
   */
  readonly loss?: AttackLoss;
  /** When true, `y` holds the **target** classes and the attack minimises the loss toward them. Leave it out with `target`. @defaultValue false */
  readonly targeted?: boolean;
  /**
   * Makes the attack targeted with targets it picks itself from the clean logits: `y` holds the **true** labels
   * (see {@link TargetSelection}). `targeted` must be left out with it.
   * @defaultValue undefined (y is attacked as `targeted` says)
   */
  readonly target?: TargetSelection;
  /** The valid input box `[lo, hi]`; inputs outside it are an error. @defaultValue [0, 1] */
  readonly bounds?: Bounds;
  /** Seed of `target: 'random'`; MI-FGSM itself starts at `x` and draws nothing at random. */
  readonly seed?: number;
}

const MI_FGSM_KEYS = optionKeys<MiFgsmOptions>()('eps', 'steps', 'stepSize', 'decay', 'loss', 'targeted', 'target', 'bounds', 'seed');

/**
 * How {@link miFgsm}'s own scalar options are checked and defaulted (`stepSize` left undefined: its default is
 * ε/steps). The threat model has its resolver (`resolveThreat`), `targeted` with `target` theirs (`resolveTargeting`:
 * each rules on the other) and `loss` its own (`resolveObjective`, which needs `targeted`).
 */
const MI_FGSM_FIELDS: OptionFields<Pick<MiFgsmOptions, 'steps' | 'decay'>> & { readonly stepSize: OptionField<number | undefined> } = {
  steps: /* @__PURE__ */ integer(1, 10),
  stepSize: /* @__PURE__ */ nonNegative(),
  decay: /* @__PURE__ */ nonNegative(1)
};

/** {@link MiFgsmOptions} checked, with every default filled in. Internal. */
interface MiFgsmConfig {
  readonly eps: number;
  readonly steps: number;
  readonly stepSize: number;
  readonly decay: number;
  readonly bounds: Bounds;
  readonly seed: number | undefined;
  readonly objective: LossFn;
  readonly target: TargetSelection | undefined;
}

/**
 * Momentum iterative FGSM, MI-FGSM (Dong et al. 2018, "Boosting Adversarial Attacks with Momentum", arXiv 1710.06081),
 * as torchattacks' `MIFGSM`: from `x₀ = x` and `g₀ = 0`, T times
 * `g_{t+1} = μ·g_t + ∇ₓL(f(x_t), y) / mean(|∇ₓL(f(x_t), y)|)` (the mean per example, over all its values: the
 * paper's L1 normalisation up to a constant), then `x_{t+1} = clip(x + clip(x_t + α·sign(g_{t+1}) − x, −ε, ε), lo, hi)`.
 * Targeted mode ascends the negated loss toward the target (for `'cw'`, the targeted margin). A point whose gradient is
 * exactly zero adds nothing to its momentum (torchattacks would divide 0 by 0).
 *
 * Distance: L∞. Inputs `[B, ...]` of any rank inside `bounds`; labels `[B]` int32. It reads nothing back while it
 * iterates.
 *
 * @param model - a {@link Model} returning logits `[B, C]`.
 * @param x - clean inputs `[B, ...]`, inside `bounds`.
 * @param y - `[B]` int32 true labels (target labels when `targeted`; true labels with `target`).
 * @param options - see {@link MiFgsmOptions}; defaults: 10 steps, α = ε/steps, μ = 1, CE loss.
 * @returns adversarial inputs `x'`, same shape as `x`, with `‖x' − x‖∞ ≤ ε` and `x'` inside `bounds`; the caller disposes them.
 * @throws RangeError when eps is missing, negative or NaN, steps is not a positive integer, stepSize or decay is
 * negative or not finite, labels have the wrong length or are ≥ C, x lies outside bounds, the model returns the wrong
 * batch size, a loss function returns anything but `[B]` values, `target` is invalid or comes with `targeted`, or an
 * option is unknown; TypeError when model is not a function or options is not an object.
 * @example
 * const xAdv = miFgsm(model, x, y, { eps: 8 / 255 });
 * const like = miFgsm(model, x, y, { eps: 8 / 255, steps: 10, stepSize: 2 / 255, decay: 1 }); // torchattacks' MIFGSM
 * const toward = miFgsm(model, x, y, { eps: 8 / 255, target: 'random', seed: 0 }); // y: true labels
 */
export function miFgsm<T extends tf.Tensor>(model: Model, x: T, y: tf.Tensor1D, options: Readonly<MiFgsmOptions>): T {
  return named('miFgsm', () => {
    const config = resolveMiFgsm(options);
    return runMiFgsm(model, x, y, config, config.seed) as T;
  });
}

/**
 * {@link miFgsm} as an {@link Attack} (see `pgdAttack`): configured once, called anywhere an `Attack` goes. Options are
 * checked here, once; errors of its calls name `miFgsmAttack`. A call's seed (which only `target: 'random'` uses)
 * overrides `options.seed`.
 *
 * @param options - see {@link MiFgsmOptions}; `eps` is required.
 * @returns an {@link Attack} with the threat model `{ eps, norm: 'linf', bounds }`.
 * @throws RangeError/TypeError for invalid options (see {@link miFgsm}), when made; for invalid inputs, when called.
 * @example
 * const mi = miFgsmAttack({ eps: 8 / 255 });
 * const r = await evaluate(model, x, y, { attacks: { mi } });
 */
export function miFgsmAttack(options: Readonly<MiFgsmOptions>): Attack {
  return named('miFgsmAttack', () => {
    const config = resolveMiFgsm(options);
    return makeAttack('miFgsmAttack', { eps: config.eps, norm: 'linf', bounds: config.bounds }, config.seed, (model, x, y, seed) => named('miFgsmAttack', () => ({
      xAdv: runMiFgsm(model, x, y, config, seed)
    })));
  });
}

/** Checks {@link miFgsm}'s options once, with errors naming the function the user called, and fills in the defaults. */
function resolveMiFgsm(options: Readonly<MiFgsmOptions>): MiFgsmConfig {
  checkKnownKeys(options, MI_FGSM_KEYS);
  const { eps, bounds, seed } = resolveThreat(options);
  const { steps, decay, ...given } = resolveFields(options, MI_FGSM_FIELDS);
  const stepSize = given.stepSize ?? eps / steps;
  const { targeted, target } = resolveTargeting(options.target, options.targeted);
  const objective = resolveObjective(options.loss, targeted);
  return { eps, steps, stepSize, decay, bounds, seed, objective, target };
}

/** `g / mean(|g|)` per example (its mean over every non-batch value); zero where that mean is zero. */
function normalizeByMeanAbs(g: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const batch = g.shape[0] ?? 1;
    const mean = tf.reshape(tf.mean(tf.abs(tf.reshape(g, [batch, -1])), 1), [batch, ...g.shape.slice(1).map(() => 1)]);
    return tf.where(tf.greater(mean, 0), tf.div(g, mean), tf.zerosLike(g));
  });
}

/**
 * Runs a resolved MI-FGSM: checks the call's inputs (never the options); with `config.target`, first picks the targets
 * from the true labels `y`. `seed` is the call's seed (only `target: 'random'` draws). Internal.
 */
function runMiFgsm(model: Model, x: unknown, y: unknown, config: MiFgsmConfig, seed: number | undefined): tf.Tensor {
  const target = config.target;
  if (target !== undefined) {
    return withTargets(model, x, y, config.bounds, target, seed, (targets) => runMiFgsm(model, x, targets, { ...config, target: undefined }, seed));
  }
  const inputs = checkAttackInputs(model, x, y, config.bounds);
  // The model as the attack calls it (the first call looks for probability outputs).
  model = inputs.model;
  checkGradientsRegistered();
  const batch = inputs.x.shape[0] ?? 0;
  const gradient = safeGradient((xa: tf.Tensor) => {
    const logits = checkLogits(model(xa), batch, inputs.maxLabel, inputs.y);
    const values = config.objective(logits, inputs.y);
    checkPerExample('loss', values, batch);
    return tf.sum(values);
  });
  const projector = ballProjector(inputs.x, config.eps, 'linf', config.bounds);
  const slots = tensorSlots<'xAdv' | 'momentum'>();
  try {
    slots.set('xAdv', tf.clone(inputs.x));
    slots.set('momentum', tf.zerosLike(inputs.x));
    for (let t = 0; t < config.steps; t++) {
      tf.tidy(() => {
        const current = slots.get('xAdv');
        const momentum = slots.set('momentum', tf.add(tf.mul(slots.get('momentum'), config.decay), normalizeByMeanAbs(gradient(current))));
        slots.set('xAdv', projector.project(signStepUnchecked(current, momentum, config.stepSize)));
      });
    }
    return slots.take('xAdv');
  } finally {
    slots.dispose();
    projector.dispose();
  }
}
