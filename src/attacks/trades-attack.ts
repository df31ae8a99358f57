import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';
import { checkFunction, checkInBounds, checkInput, checkKnownKeys, checkLogits } from '../core/validate.js';
import { klFromLogits } from '../losses/kl-divergence.js';
import { PERTURBATION_KEYS, resolvePerturbation, type PerturbationOptions, type ResolvedPerturbation } from './options.js';
import { attackValue, type AttackValue } from './attack-value.js';
import { ascend } from './projected-gradient-ascent.js';

/** Options of {@link tradesAttack}: as {@link PerturbationOptions}, with `randomStart` defaulting to `'normal'`. */
export type TradesAttackOptions = PerturbationOptions;

/**
 * The TRADES inner maximisation (Zhang et al. 2019, arXiv 1901.08573): PGD maximising
 * `KL(σ(f(x)) ‖ σ(f(x')))`, the divergence of the prediction at `x'` from the clean prediction,
 * starting from `x + 0.001·N(0, 1)`. Needs no labels.
 *
 * @param model - a {@link Model} returning logits `[B, C]`.
 * @param x - clean inputs `[B, ...]` inside `bounds`.
 * @param options - see {@link PerturbationOptions}; defaults: 10 steps, α = 2.5ε/steps, `'normal'` start with σ = 0.001.
 * @returns `x'`, same shape as `x`; the caller disposes it.
 * @throws RangeError for invalid options, x outside bounds or a model output of the wrong shape; TypeError when model is not a function.
 * @example
 * const xAdv = tradesAttack(model, x, { eps: 0.3, steps: 40, stepSize: 0.01 });
 */
export function tradesAttack(model: Model, x: tf.Tensor, options: Readonly<TradesAttackOptions>): tf.Tensor {
  const fn = 'tradesAttack';
  const r = resolvePerturbation(fn, options, { randomStart: 'normal', steps: 10 });
  checkKnownKeys(fn, options, PERTURBATION_KEYS);
  return runTradesAttack(fn, model, x, r);
}

function runTradesAttack(fn: string, model: Model, x: tf.Tensor, r: ResolvedPerturbation): tf.Tensor {
  checkFunction(fn, 'model', model);
  const input = checkInput(fn, 'x', x);
  checkInBounds(fn, 'x', input, r.bounds);
  const batch = input.shape[0] ?? 0;
  const clean = tf.tidy(() => checkLogits(fn, model(input), batch));
  try {
    return ascend(fn, (xa) => klFromLogits(clean, checkLogits(fn, model(xa), batch)), input, r);
  } finally {
    clean.dispose();
  }
}

/**
 * {@link tradesAttack} as an attack value: the TRADES inner maximisation of `KL(σ(f(x)) ‖ σ(f(x')))`, which needs no
 * labels (the `y` of a call is ignored). Options are checked once; errors of its calls name `tradesKlAttack`; a
 * call's seed overrides `options.seed`.
 *
 * @param options - see {@link TradesAttackOptions}; `eps` is required.
 * @returns an {@link AttackValue}.
 * @throws RangeError/TypeError for invalid options, when made; for invalid inputs, when called.
 * @example
 * await fit(net, data, pgdAt({ attack: tradesKlAttack({ eps: 0.3 }) }));
 */
export function tradesKlAttack(options: Readonly<TradesAttackOptions>): AttackValue {
  const fn = 'tradesKlAttack';
  const r = resolvePerturbation(fn, options, { randomStart: 'normal', steps: 10 });
  checkKnownKeys(fn, options, PERTURBATION_KEYS);
  return attackValue(fn, { eps: r.eps, norm: r.norm, bounds: r.bounds }, r.seed, (model, x, _y, seed) => ({
    xAdv: runTradesAttack(fn, model, x, { ...r, seed })
  }));
}
