import { named } from '../core/errors.js';
import type * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';
import { optionKeys } from '../core/validate.js';
import { finite, parseOptions, type OptionFields } from '../core/options.js';
import { PERTURBATION_KEYS, resolvePerturbation, type PerturbationOptions } from './options.js';
import { makeAttack } from './attack.js';
import type { Attack } from './types.js';
import { resolveObjective } from './runner.js';
import { resolveTargeting, runTargetableLossAttack, type TargetableLossConfig, type TargetSelection } from './targets.js';

/** Options of {@link cwLinf}. */
export interface CwLinfOptions extends PerturbationOptions {
  /** Confidence margin κ: the attack keeps pushing until `max_{j≠y} z_j − z_y ≥ κ`. @defaultValue 0 */
  readonly kappa?: number;
  /** When true, `y` holds target classes and the attack maximises `−max(max_{j≠t} z_j − z_t + κ, 0)`. @defaultValue false */
  readonly targeted?: boolean;
  /**
   * Makes the attack targeted with targets it picks itself from the clean logits: `y` holds the **true** labels
   * (`'random'`, seeded by `seed`; `'leastLikely'`; or your function, see {@link TargetSelection}). `targeted` must be
   * left out with it.
   * @defaultValue undefined (y is attacked as `targeted` says)
   */
  readonly target?: TargetSelection;
}

/**
 * Options of {@link cw}.
 *
 * @deprecated Renamed {@link CwLinfOptions}; this alias will be removed in a later release.
 */
export type CwOptions = CwLinfOptions;

/**
 * Carlini–Wagner L∞ attack in its PGD form (Carlini & Wagner 2017, arXiv 1608.04644; as used by
 * Madry et al. and DARHT): PGD maximising the margin loss `−max(z_y − max_{j≠y} z_j + κ, 0)` inside the L∞ (or L2)
 * ball of radius ε. DARHT evaluates with κ = 50 and 30 steps. For the paper's minimal-perturbation L2 attack (tanh
 * space, Adam, binary search over c) see `cwL2`.
 *
 * @param model - a {@link Model} returning logits `[B, C]`.
 * @param x - clean inputs `[B, ...]` inside `bounds`.
 * @param y - `[B]` int32 labels (targets when `targeted`).
 * @param options - see {@link CwLinfOptions}; defaults as `pgd` with κ = 0.
 * @returns `x'`, same shape as `x`; the caller disposes it.
 * @throws RangeError for invalid eps, steps, kappa, labels, bounds or model output; TypeError when model is not a function.
 * @example
 * const xAdv = cwLinf(model, x, y, { eps: 0.3, kappa: 50, steps: 30 });
 */
export function cwLinf<T extends tf.Tensor>(model: Model, x: T, y: tf.Tensor1D, options: Readonly<CwLinfOptions>): T {
  return named('cwLinf', () => {
    const config = resolveCwLinf(options);
    return runTargetableLossAttack(model, x, y, config, config.seed) as T;
  });
}

/**
 * The Carlini–Wagner L∞ attack in its PGD form: {@link cwLinf} under its former name, with the same options and
 * results; its errors name `cw`.
 *
 * @deprecated Renamed {@link cwLinf} (it is PGD on the CW margin, L∞ by default); for the paper's L2 attack use
 * `cwL2`. This alias will be removed in a later release.
 * @param model - a {@link Model} returning logits `[B, C]`.
 * @param x - clean inputs `[B, ...]` inside `bounds`.
 * @param y - `[B]` int32 labels (targets when `targeted`).
 * @param options - see {@link CwLinfOptions}.
 * @returns `x'`, same shape as `x`; the caller disposes it.
 * @throws as {@link cwLinf}, naming `cw`.
 * @example
 * const xAdv = cw(model, x, y, { eps: 0.3, kappa: 50, steps: 30 }); // now: cwLinf(model, x, y, { … })
 */
export function cw<T extends tf.Tensor>(model: Model, x: T, y: tf.Tensor1D, options: Readonly<CwLinfOptions>): T {
  return named('cw', () => {
    const config = resolveCwLinf(options);
    return runTargetableLossAttack(model, x, y, config, config.seed) as T;
  });
}

const CW_LINF_KEYS = optionKeys<CwLinfOptions>()(...PERTURBATION_KEYS, 'kappa', 'targeted', 'target');

/**
 * How {@link cwLinf}'s own scalar option is checked and defaulted. The perturbation settings have their resolver
 * (`resolvePerturbation`), and `targeted` with `target` theirs (`resolveTargeting`: each rules on the other).
 */
const CW_LINF_FIELDS: OptionFields<Pick<CwLinfOptions, 'kappa'>> = { kappa: /* @__PURE__ */ finite(0) };

/**
 * Checks {@link cwLinf}'s options once, with errors naming the function the user called, and fills in the defaults: the configuration
 * `runLossAttack` runs without checking options again. Internal.
 *
 * @throws RangeError/TypeError for invalid options, as {@link cwLinf}.
 */
export function resolveCwLinf(options: Readonly<CwLinfOptions>): TargetableLossConfig {
  const { kappa } = parseOptions(options, CW_LINF_FIELDS, CW_LINF_KEYS);
  const { targeted, target } = resolveTargeting(options.target, options.targeted);
  const objective = resolveObjective('cw', targeted, kappa);
  return { ...resolvePerturbation(options, { randomStart: 'uniform', steps: 10 }), objective, target };
}

/** The attack of {@link cwLinf} whose calls name `name` (the factory the user called). */
function cwLinfValue(name: string, options: Readonly<CwLinfOptions>): Attack {
  const config = resolveCwLinf(options);
  return makeAttack(name, { eps: config.eps, norm: config.norm, bounds: config.bounds }, config.seed, (model, x, y, seed) => ({
    xAdv: runTargetableLossAttack(model, x, y, config, seed)
  }));
}

/**
 * {@link cwLinf} as an {@link Attack} (see `pgdAttack`): options checked once, when made; errors of its calls name
 * `cwLinfAttack`; a call's seed overrides `options.seed`.
 *
 * @param options - see {@link CwLinfOptions}; `eps` is required.
 * @returns an {@link Attack}.
 * @throws RangeError/TypeError for invalid options, when made; for invalid inputs, when called.
 * @example
 * const r = await evaluate(model, x, y, { attacks: { cw20: cwLinfAttack({ eps: 0.3, steps: 20 }) } });
 */
export function cwLinfAttack(options: Readonly<CwLinfOptions>): Attack {
  return named('cwLinfAttack', () => {
    return cwLinfValue('cwLinfAttack', options);
  });
}

/**
 * {@link cwLinfAttack} under its former name, with the same options and results; its errors name `cwAttack`.
 *
 * @deprecated Renamed {@link cwLinfAttack}; for the paper's L2 attack use `cwL2Attack`. This alias will be removed in
 * a later release.
 * @param options - see {@link CwLinfOptions}; `eps` is required.
 * @returns an {@link Attack}.
 * @throws as {@link cwLinfAttack}, naming `cwAttack`.
 * @example
 * const cw20 = cwAttack({ eps: 0.3, steps: 20 }); // now: cwLinfAttack({ eps: 0.3, steps: 20 })
 */
export function cwAttack(options: Readonly<CwLinfOptions>): Attack {
  return named('cwAttack', () => {
    return cwLinfValue('cwAttack', options);
  });
}
