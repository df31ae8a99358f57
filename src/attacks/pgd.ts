import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';
import { checkBoolean, optionKeys, checkFunction, checkInBounds, checkInput, checkKnownKeys, checkLabels, checkLogits } from '../core/validate.js';
import { rangeError } from '../core/errors.js';
import { crossEntropyPerExample } from '../losses/cross-entropy.js';
import { cwMarginPerExample, cwTargetedPerExample } from '../losses/cw-margin.js';
import { PERTURBATION_KEYS, resolvePerturbation, type PerturbationOptions, type RandomStart } from './options.js';
import { ascend } from './projected-gradient-ascent.js';
import type { AttackLoss, LossFn } from './types.js';
import { attackValue, withSeed, type AttackValue } from './attack-value.js';

/** Options of {@link pgd}. */
export interface PgdOptions extends PerturbationOptions {
  /**
   * The loss to maximise: `'ce'` (cross-entropy), `'cw'` (Carlini–Wagner margin with κ = 0), or a
   * function `(logits, labels) ↦ [B]` per-example values.
   * @defaultValue 'ce'
   */
  readonly loss?: AttackLoss;
  /**
   * When true, `y` holds the **target** classes and the attack minimises the loss toward them
   * (for `'cw'`: the targeted margin `max(max_{j≠t} z_j − z_t + κ, 0)`).
   * @defaultValue false
   */
  readonly targeted?: boolean;
}

/** The option keys of {@link pgd}. */
export const PGD_KEYS = optionKeys<PgdOptions>()(...PERTURBATION_KEYS, 'loss', 'targeted');

/**
 * Resolves the `loss` and `targeted` options to the per-example objective the ascent maximises.
 * Untargeted: the loss itself. Targeted: the negated loss toward the target, except for `'cw'`, whose
 * targeted form is the margin of the target over the best other class, `−max(max_{j≠t} z_j − z_t + κ, 0)`
 * (negating the untargeted margin would give no gradient until the target already wins).
 */
export function resolveObjective(fn: string, loss: unknown, targeted: boolean, kappa = 0): LossFn {
  if (loss === 'cw') {
    return targeted ? (z, t) => cwTargetedPerExample(z, t, kappa) : (z, y) => cwMarginPerExample(z, y, kappa);
  }
  let base: LossFn;
  if (loss === undefined || loss === 'ce') base = crossEntropyPerExample;
  else if (typeof loss === 'function') base = loss as LossFn;
  else return rangeError(fn, 'loss', 'be "ce", "cw" or a function (logits, labels) => per-example loss', loss);
  return targeted ? (z, t) => tf.neg(base(z, t)) : base;
}

/** Resolves the `targeted` option. */
export function resolveTargeted(fn: string, targeted: unknown): boolean {
  return targeted === undefined ? false : checkBoolean(fn, 'targeted', targeted);
}

/** What every model-and-labels attack validates before it makes a tensor. */
export function checkAttackInputs(
  fn: string,
  model: unknown,
  x: unknown,
  y: unknown,
  bounds: readonly [number, number]
): { x: tf.Tensor; y: tf.Tensor1D; maxLabel: number } {
  checkFunction(fn, 'model', model);
  const input = checkInput(fn, 'x', x);
  const maxLabel = checkLabels(fn, 'y', y, input.shape[0] ?? 0);
  checkInBounds(fn, 'x', input, bounds);
  return { x: input, y: y as tf.Tensor1D, maxLabel };
}

/**
 * Runs a projected-gradient attack of `model` with a loss of (logits, labels), shared by pgd, fgsm and cw.
 * Internal; the public attacks validate and resolve their options first.
 */
export function runLossAttack(
  fn: string,
  model: Model,
  x: unknown,
  y: unknown,
  options: Readonly<PgdOptions>,
  defaults: { randomStart: RandomStart; steps: number },
  objectiveOfLogits: LossFn
): tf.Tensor {
  const r = resolvePerturbation(fn, options, defaults);
  const inputs = checkAttackInputs(fn, model, x, y, r.bounds);
  const batch = inputs.x.shape[0] ?? 0;
  const objective = (xa: tf.Tensor): tf.Tensor => {
    const logits = checkLogits(fn, model(xa), batch, inputs.maxLabel);
    return objectiveOfLogits(logits, inputs.y);
  };
  return ascend(fn, objective, inputs.x, r);
}

/**
 * Projected gradient descent (Madry et al., arXiv 1706.06083), L∞ or L2, on any loss, untargeted or targeted.
 * `x_{k+1} = Π_{B_ε(x) ∩ [lo,hi]}(x_k + α·sign(∇ₓL(f(x_k), y)))` for L∞; the L2 step is `α·∇L/‖∇L‖₂`
 * and the projection `δ·min(1, ε/‖δ‖₂)`. Targeted mode steps against the gradient of the loss toward `y`.
 *
 * Distance: L∞ or L2. Inputs `[B, ...]` of any rank inside `bounds`; labels `[B]` int32.
 *
 * @param model - a {@link Model} returning logits `[B, C]`.
 * @param x - clean inputs `[B, ...]`, inside `bounds`.
 * @param y - `[B]` int32 true labels (target labels when `targeted`).
 * @param options - see {@link PgdOptions}; defaults: 10 steps, α = 2.5ε/steps, uniform random start, CE loss.
 * @returns adversarial inputs `x'`, same shape as `x`, with `‖x' − x‖ ≤ ε` and `x'` inside `bounds`; the caller disposes them.
 * @throws RangeError when eps is missing, negative or NaN, steps is not a positive integer, labels have the wrong
 * length or are ≥ C, x lies outside bounds, or the model returns the wrong batch size; TypeError when model is not a function.
 * @example
 * const xAdv = pgd(model, x, y, { eps: 0.3, steps: 40, stepSize: 0.01 });
 * const xAdvL2 = pgd(model, x, y, { eps: 2, norm: 'l2', steps: 20 });
 */
export function pgd(model: Model, x: tf.Tensor, y: tf.Tensor1D, options: Readonly<PgdOptions>): tf.Tensor {
  const fn = 'pgd';
  checkKnownKeys(fn, options, PGD_KEYS);
  const objective = resolveObjective(fn, options.loss, resolveTargeted(fn, options.targeted));
  return runLossAttack(fn, model, x, y, options, { randomStart: 'uniform', steps: 10 }, objective);
}

/**
 * {@link pgd} as an attack value: configured once, called anywhere an `Attack` goes (`evaluate`, `worstCase`,
 * `robustnessCurve`, `transferability`, an objective's `attack`). Options are checked here, and errors of its calls
 * name `pgdAttack`. A call's `seed` (fit gives one per batch) overrides `options.seed`.
 *
 * @param options - see {@link PgdOptions}; `eps` is required.
 * @returns an {@link AttackValue} with the threat model `{ eps, norm, bounds }`.
 * @throws RangeError/TypeError for invalid options (see {@link pgd}), when made; for invalid inputs, when called.
 * @example
 * const pgd20 = pgdAttack({ eps: 0.3, steps: 20 });
 * const r = evaluate(model, x, y, { attacks: { pgd20 } });
 * await fit(net, data, trades({ eps: 0.3, attack: pgdAttack({ eps: 0.3, loss: 'cw' }) }));
 */
export function pgdAttack(options: Readonly<PgdOptions>): AttackValue {
  const fn = 'pgdAttack';
  checkKnownKeys(fn, options, PGD_KEYS);
  const objective = resolveObjective(fn, options.loss, resolveTargeted(fn, options.targeted));
  const r = resolvePerturbation(fn, options, { randomStart: 'uniform', steps: 10 });
  return attackValue(fn, { eps: r.eps, norm: r.norm, bounds: r.bounds }, r.seed, (model, x, y, seed) => ({
    xAdv: runLossAttack(fn, model, x, y, withSeed(options, seed), { randomStart: 'uniform', steps: 10 }, objective)
  }));
}
