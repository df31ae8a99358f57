import { named } from '../core/errors.js';
import type * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';
import { checkKnownKeys, optionKeys } from '../core/validate.js';
import { PERTURBATION_KEYS, resolvePerturbation, type PerturbationOptions } from './options.js';
import { makeAttack } from './attack.js';
import type { Attack, AttackLoss } from './types.js';
import { resolveObjective } from './runner.js';
import { resolveTargeting, runTargetableLossAttack, type TargetableLossConfig, type TargetSelection } from './targets.js';

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
   * Leave it out with `target`.
   * @defaultValue false
   */
  readonly targeted?: boolean;
  /**
   * Makes the attack targeted with targets it picks itself: `y` holds the **true** labels, the clean logits are
   * computed once, and each point is attacked toward the class `target` picks (`'random'`: uniform over the other
   * classes, seeded by `seed`; `'leastLikely'`: the smallest clean logit; or your function, see {@link TargetSelection}).
   * `targeted` must be left out with it.
   * @defaultValue undefined (y is attacked as `targeted` says)
   */
  readonly target?: TargetSelection;
}

/** The option keys of {@link pgd}. */
export const PGD_KEYS = optionKeys<PgdOptions>()(...PERTURBATION_KEYS, 'loss', 'targeted', 'target');

/**
 * Projected gradient descent (Madry et al., arXiv 1706.06083), L∞ or L2, on any loss, untargeted or targeted.
 * `x_{k+1} = Π_{B_ε(x) ∩ [lo,hi]}(x_k + α·sign(∇ₓL(f(x_k), y)))` for L∞; the L2 step is `α·∇L/‖∇L‖₂`
 * and the projection `δ·min(1, ε/‖δ‖₂)`. Targeted mode steps against the gradient of the loss toward `y`.
 *
 * Distance: L∞ or L2. Inputs `[B, ...]` of any rank inside `bounds`; labels `[B]` int32.
 *
 * @param model - a {@link Model} returning logits `[B, C]`.
 * @param x - clean inputs `[B, ...]`, inside `bounds`.
 * @param y - `[B]` int32 true labels (target labels when `targeted`; true labels again with `target`).
 * @param options - see {@link PgdOptions}; defaults: 10 steps, α = 2.5ε/steps, uniform random start, CE loss.
 * @returns adversarial inputs `x'`, same shape as `x`, with `‖x' − x‖ ≤ ε` and `x'` inside `bounds`; the caller disposes them.
 * @throws RangeError when eps is missing, negative or NaN, steps is not a positive integer, labels have the wrong
 * length or are ≥ C, x lies outside bounds, the model returns the wrong batch size, `target` is not a selection or comes
 * with `targeted`, or a `target` function returns anything but `[B]` classes in `[0, C)`; TypeError when model is not a
 * function.
 * @example
 * const xAdv = pgd(model, x, y, { eps: 0.3, steps: 40, stepSize: 0.01 });
 * const xAdvL2 = pgd(model, x, y, { eps: 2, norm: 'l2', steps: 20 });
 * const xToward = pgd(model, x, y, { eps: 0.3, target: 'random', seed: 1 }); // y: true labels
 */
export function pgd<T extends tf.Tensor>(model: Model, x: T, y: tf.Tensor1D, options: Readonly<PgdOptions>): T {
  return named('pgd', () => {
    const config = resolvePgd(options);
    return runTargetableLossAttack(model, x, y, config, config.seed) as T;
  });
}

/**
 * Checks {@link pgd}'s options once, with errors naming the function the user called, and fills in the defaults
 * (10 steps, α = 2.5ε/steps, uniform start, CE loss): the configuration `runLossAttack` runs, call after call, without
 * checking options again. Internal.
 *
 * @throws RangeError/TypeError for invalid options, as {@link pgd}.
 */
export function resolvePgd(options: Readonly<PgdOptions>): TargetableLossConfig {
  checkKnownKeys(options, PGD_KEYS);
  const { targeted, target } = resolveTargeting(options.target, options.targeted);
  const objective = resolveObjective(options.loss, targeted);
  return { ...resolvePerturbation(options, { randomStart: 'uniform', steps: 10 }), objective, target };
}

/**
 * {@link pgd} as an {@link Attack}: configured once, called anywhere an `Attack` goes (`evaluate`, `worstCase`,
 * `robustnessCurve`, `transferability`, an objective's `attack`). Options are checked here, once (its calls check only
 * their inputs), and errors of its calls name `pgdAttack`. A call's `seed` (fit gives one per batch) overrides
 * `options.seed`.
 *
 * @param options - see {@link PgdOptions}; `eps` is required.
 * @returns an {@link Attack} with the threat model `{ eps, norm, bounds }`.
 * @throws RangeError/TypeError for invalid options (see {@link pgd}), when made; for invalid inputs, when called.
 * @example
 * const pgd20 = pgdAttack({ eps: 0.3, steps: 20 });
 * const r = await evaluate(model, x, y, { attacks: { pgd20 } });
 * await fit(net, data, trades({ eps: 0.3, attack: pgdAttack({ eps: 0.3, loss: 'cw' }) }));
 */
export function pgdAttack(options: Readonly<PgdOptions>): Attack {
  return named('pgdAttack', () => {
    const config = resolvePgd(options);
    return makeAttack('pgdAttack', { eps: config.eps, norm: config.norm, bounds: config.bounds }, config.seed, (model, x, y, seed) => named('pgdAttack', () => ({
      xAdv: runTargetableLossAttack(model, x, y, config, seed)
    })));
  });
}
