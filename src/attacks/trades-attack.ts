import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';
import { probing } from '../core/probabilities.js';
import { checkFunction, checkInBounds, checkInput, checkKnownKeys, checkLogits } from '../core/validate.js';
import { isTensor, named } from '../core/errors.js';
import { klFromLogits } from '../losses/kl-divergence.js';
import { PERTURBATION_KEYS, resolvePerturbation, type PerturbationOptions, type ResolvedPerturbation } from './options.js';
import { makeAttack } from './attack.js';
import type { Attack } from './types.js';
import { ascend } from './projected-gradient-ascent.js';

/** Options of {@link tradesAttack}: as {@link PerturbationOptions}, with `randomStart` defaulting to `'normal'`. */
export type TradesAttackOptions = PerturbationOptions;

/**
 * The TRADES inner maximisation (Zhang et al. 2019, arXiv 1901.08573): PGD maximising
 * `KL(σ(f(x)) ‖ σ(f(x')))`, the divergence of the prediction at `x'` from the clean prediction,
 * starting from `x + 0.001·N(0, 1)`. It needs no labels: it takes `y` as every attack does (so that it is called
 * the same way) and ignores it.
 *
 * @param model - a {@link Model} returning logits `[B, C]`.
 * @param x - clean inputs `[B, ...]` inside `bounds`.
 * @param y - `[B]` int32 labels, ignored (the attack pushes away from the clean prediction).
 * @param options - see {@link PerturbationOptions}; defaults: 10 steps, α = 2.5ε/steps, `'normal'` start with σ = 0.001.
 * @returns `x'`, same shape and type as `x`; the caller disposes it.
 * @throws RangeError for invalid options, x outside bounds or a model output of the wrong shape; TypeError when model is not a function.
 * @example
 * const xAdv = tradesAttack(model, x, y, { eps: 0.3, steps: 40, stepSize: 0.01 });
 */
export function tradesAttack<T extends tf.Tensor>(model: Model, x: T, y: tf.Tensor1D, options: Readonly<TradesAttackOptions>): T;
/**
 * {@link tradesAttack} without labels, its former signature.
 *
 * @param model - a {@link Model} returning logits `[B, C]`.
 * @param x - clean inputs `[B, ...]` inside `bounds`.
 * @param options - see {@link PerturbationOptions}.
 * @returns `x'`, same shape and type as `x`; the caller disposes it.
 * @throws as {@link tradesAttack}.
 * @example
 * const xAdv = tradesAttack(model, x, { eps: 0.3 });
 * @deprecated Pass the labels, `tradesAttack(model, x, y, options)`, as to every attack; they are ignored. Removed in
 * the next minor release.
 */
export function tradesAttack<T extends tf.Tensor>(model: Model, x: T, options: Readonly<TradesAttackOptions>): T;
/**
 * The implementation of both forms above: `y` is optional and ignored.
 *
 * @throws as {@link tradesAttack}.
 * @example
 * const xAdv = tradesAttack(model, x, y, { eps: 0.3 });
 */
export function tradesAttack<T extends tf.Tensor>(
  model: Model,
  x: T,
  yOrOptions: tf.Tensor1D | Readonly<TradesAttackOptions>,
  maybeOptions?: Readonly<TradesAttackOptions>
): T {
  return named('tradesAttack', () => {
    const options = isTensor(yOrOptions) ? maybeOptions : yOrOptions;
    const config = resolveTradesAttack(options as Readonly<TradesAttackOptions>);
    return runTradesAttack(model, x, config, config.seed) as T;
  });
}

/**
 * Checks {@link tradesAttack}'s options once, with errors naming the function the user called, and fills in the defaults (10 steps,
 * α = 2.5ε/steps, `'normal'` start): the configuration {@link runTradesAttack} runs without checking options again.
 * Internal.
 *
 * @throws RangeError/TypeError for invalid options, as {@link tradesAttack}.
 */
export function resolveTradesAttack(options: Readonly<TradesAttackOptions>): ResolvedPerturbation {
  const config = resolvePerturbation(options, { randomStart: 'normal', steps: 10 });
  checkKnownKeys(options, PERTURBATION_KEYS);
  return config;
}

/**
 * The TRADES-KL attack with a resolved configuration: checks the call's inputs (model, `x` inside the bounds, the
 * model's logits), never the options. `seed` is this call's seed; it replaces `config.seed`. Internal.
 */
export function runTradesAttack(model: Model, x: tf.Tensor, config: ResolvedPerturbation, seed: number | undefined): tf.Tensor {
  checkFunction('model', model);
  const input = checkInput('x', x);
  checkInBounds('x', input, config.bounds);
  const batch = input.shape[0] ?? 0;
  const clean = tf.tidy(() => checkLogits(probing(model)(input), batch));
  try {
    return ascend((xa) => klFromLogits(clean, checkLogits(model(xa), batch)), input, seed === config.seed ? config : { ...config, seed });
  } finally {
    clean.dispose();
  }
}

/**
 * {@link tradesAttack} as an {@link Attack}: the TRADES inner maximisation of `KL(σ(f(x)) ‖ σ(f(x')))`, which needs no
 * labels (the `y` of a call is ignored). Options are checked once, when made; errors of its calls name `tradesKlAttack`; a
 * call's seed overrides `options.seed`.
 *
 * @param options - see {@link TradesAttackOptions}; `eps` is required.
 * @returns an {@link Attack}.
 * @throws RangeError/TypeError for invalid options, when made; for invalid inputs, when called.
 * @example
 * await fit(net, data, pgdAt({ attack: tradesKlAttack({ eps: 0.3 }) }));
 */
export function tradesKlAttack(options: Readonly<TradesAttackOptions>): Attack {
  return named('tradesKlAttack', () => {
    const config = resolveTradesAttack(options);
    return makeAttack('tradesKlAttack', { eps: config.eps, norm: config.norm, bounds: config.bounds }, config.seed, (model, x, _y, seed) => named('tradesKlAttack', () => ({
      xAdv: runTradesAttack(model, x, config, seed)
    })));
  });
}
