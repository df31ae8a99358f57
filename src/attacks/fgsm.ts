import { named } from '../core/errors.js';
import type * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';
import { checkKnownKeys, optionKeys } from '../core/validate.js';
import type { Bounds } from '../core/validate.js';
import { resolveObjective } from './runner.js';
import { resolveTargeting, runTargetableLossAttack, type TargetableLossConfig, type TargetSelection } from './targets.js';
import { resolvePerturbation, type PerturbationOptions } from './options.js';
import { makeAttack } from './attack.js';
import type { Attack, AttackLoss } from './types.js';

/** Options of {@link fgsm}. */
export interface FgsmOptions {
  /** The L∞ radius ε. Required. */
  readonly eps: number;
  /** @defaultValue 'ce' */
  readonly loss?: AttackLoss;
  /** When true, `y` holds target classes and the step goes against the gradient. Leave it out with `target`. @defaultValue false */
  readonly targeted?: boolean;
  /**
   * Makes the step targeted with targets it picks itself: `y` holds the **true** labels and each point steps toward
   * the class `target` picks from the clean logits (see {@link TargetSelection}). `targeted` must be left out with it.
   * @defaultValue undefined (y is attacked as `targeted` says)
   */
  readonly target?: TargetSelection;
  /** @defaultValue [0, 1] */
  readonly bounds?: Bounds;
  /** Seed of `target: 'random'`; FGSM itself draws nothing at random. */
  readonly seed?: number;
}

/**
 * Fast gradient sign method (Goodfellow et al. 2015, arXiv 1412.6572): one L∞ step of size ε,
 * `x' = clip(x + ε·sign(∇ₓL(f(x), y)), lo, hi)` (minus the step when targeted).
 *
 * @param model - a {@link Model} returning logits `[B, C]`.
 * @param x - clean inputs `[B, ...]` inside `bounds`.
 * @param y - `[B]` int32 labels (targets when `targeted`; true labels with `target`).
 * @param options - see {@link FgsmOptions}.
 * @returns `x'`, same shape as `x`; the caller disposes it.
 * @throws RangeError when eps is missing, negative or NaN, labels are invalid, x is outside bounds, the model
 * output has the wrong shape, or `target` is invalid or comes with `targeted`; TypeError when model is not a function.
 * @example
 * const xAdv = fgsm(model, x, y, { eps: 0.1 });
 * const toward = fgsm(model, x, y, { eps: 0.1, target: 'leastLikely' }); // y: true labels
 */
export function fgsm<T extends tf.Tensor>(model: Model, x: T, y: tf.Tensor1D, options: Readonly<FgsmOptions>): T {
  return named('fgsm', () => {
    const config = resolveFgsm(options);
    return runTargetableLossAttack(model, x, y, config, config.seed) as T;
  });
}

const FGSM_KEYS = optionKeys<FgsmOptions>()('eps', 'loss', 'targeted', 'target', 'bounds', 'seed');

/** FGSM as one PGD step of size ε from `x`. */
function asPgd(options: Readonly<FgsmOptions>): PerturbationOptions {
  const { eps, bounds, seed } = options;
  return {
    eps,
    steps: 1,
    ...(typeof eps === 'number' && Number.isFinite(eps) && eps >= 0 ? { stepSize: eps } : {}),
    randomStart: 'none',
    ...(bounds === undefined ? {} : { bounds }),
    ...(seed === undefined ? {} : { seed })
  };
}

/**
 * Checks {@link fgsm}'s options once, with errors naming the function the user called: the configuration of one PGD step of size ε from `x`,
 * which `runLossAttack` runs without checking options again. Internal.
 *
 * @throws RangeError/TypeError for invalid options, as {@link fgsm}.
 */
export function resolveFgsm(options: Readonly<FgsmOptions>): TargetableLossConfig {
  checkKnownKeys(options, FGSM_KEYS);
  const { targeted, target } = resolveTargeting(options.target, options.targeted);
  const objective = resolveObjective(options.loss, targeted);
  return { ...resolvePerturbation(asPgd(options), { randomStart: 'none', steps: 1 }), objective, target };
}

/**
 * {@link fgsm} as an {@link Attack} (see `pgdAttack`): options checked once, when made; errors of its calls name
 * `fgsmAttack`. FGSM draws nothing at random, so a call's seed is checked but changes nothing, except with
 * `target: 'random'`, whose targets it seeds (overriding `options.seed`).
 *
 * @param options - see {@link FgsmOptions}; `eps` is required.
 * @returns an {@link Attack} (L∞, the given bounds).
 * @throws RangeError/TypeError for invalid options, when made; for invalid inputs, when called.
 * @example
 * const r = await evaluate(model, x, y, { attacks: { fgsm: fgsmAttack({ eps: 0.1 }) } });
 */
export function fgsmAttack(options: Readonly<FgsmOptions>): Attack {
  return named('fgsmAttack', () => {
    const config = resolveFgsm(options);
    return makeAttack('fgsmAttack', { eps: config.eps, norm: 'linf', bounds: config.bounds }, config.seed, (model, x, y, seed) => named('fgsmAttack', () => ({
      xAdv: runTargetableLossAttack(model, x, y, config, seed)
    })));
  });
}
