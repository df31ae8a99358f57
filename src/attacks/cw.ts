import type * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';
import { checkFinite, checkKnownKeys, optionKeys } from '../core/validate.js';
import { PERTURBATION_KEYS, resolvePerturbation, type PerturbationOptions } from './options.js';
import { attackValue, type AttackValue } from './attack-value.js';
import { resolveObjective, resolveTargeted, runLossAttack, type LossAttackConfig } from './runner.js';

/** Options of {@link cw}. */
export interface CwOptions extends PerturbationOptions {
  /** Confidence margin κ: the attack keeps pushing until `max_{j≠y} z_j − z_y ≥ κ`. @defaultValue 0 */
  readonly kappa?: number;
  /** When true, `y` holds target classes and the attack maximises `−max(max_{j≠t} z_j − z_t + κ, 0)`. @defaultValue false */
  readonly targeted?: boolean;
}

/**
 * Carlini–Wagner L∞ attack in its PGD form (Carlini & Wagner 2017, arXiv 1608.04644; as used by
 * Madry et al. and DARHT): PGD maximising the margin loss `−max(z_y − max_{j≠y} z_j + κ, 0)`.
 * DARHT evaluates with κ = 50 and 30 steps.
 *
 * @param model - a {@link Model} returning logits `[B, C]`.
 * @param x - clean inputs `[B, ...]` inside `bounds`.
 * @param y - `[B]` int32 labels (targets when `targeted`).
 * @param options - see {@link CwOptions}; defaults as {@link pgd} with κ = 0.
 * @returns `x'`, same shape as `x`; the caller disposes it.
 * @throws RangeError for invalid eps, steps, kappa, labels, bounds or model output; TypeError when model is not a function.
 * @example
 * const xAdv = cw(model, x, y, { eps: 0.3, kappa: 50, steps: 30 });
 */
export function cw(model: Model, x: tf.Tensor, y: tf.Tensor1D, options: Readonly<CwOptions>): tf.Tensor {
  const fn = 'cw';
  const config = resolveCw(fn, options);
  return runLossAttack(fn, model, x, y, config, config.seed);
}

const CW_KEYS = optionKeys<CwOptions>()(...PERTURBATION_KEYS, 'kappa', 'targeted');

/**
 * Checks {@link cw}'s options once, with errors naming `fn`, and fills in the defaults: the configuration
 * `runLossAttack` runs without checking options again. Internal.
 *
 * @throws RangeError/TypeError for invalid options, as {@link cw}.
 */
export function resolveCw(fn: string, options: Readonly<CwOptions>): LossAttackConfig {
  checkKnownKeys(fn, options, CW_KEYS);
  const kappa = options.kappa === undefined ? 0 : checkFinite(fn, 'kappa', options.kappa);
  const objective = resolveObjective(fn, 'cw', resolveTargeted(fn, options.targeted), kappa);
  return { ...resolvePerturbation(fn, options, { randomStart: 'uniform', steps: 10 }), objective };
}

/**
 * {@link cw} as an attack value (see `pgdAttack`): options checked once, when made; errors of its calls name
 * `cwAttack`; a call's seed overrides `options.seed`.
 *
 * @param options - see {@link CwOptions}; `eps` is required.
 * @returns an {@link AttackValue}.
 * @throws RangeError/TypeError for invalid options, when made; for invalid inputs, when called.
 * @example
 * const r = await evaluate(model, x, y, { attacks: { cw20: cwAttack({ eps: 0.3, steps: 20 }) } });
 */
export function cwAttack(options: Readonly<CwOptions>): AttackValue {
  const fn = 'cwAttack';
  const config = resolveCw(fn, options);
  return attackValue(fn, { eps: config.eps, norm: config.norm, bounds: config.bounds }, config.seed, (model, x, y, seed) => ({
    xAdv: runLossAttack(fn, model, x, y, config, seed)
  }));
}
