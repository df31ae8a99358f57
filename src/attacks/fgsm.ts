import type * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';
import { checkKnownKeys } from '../core/validate.js';
import type { Bounds } from '../core/validate.js';
import { resolveObjective, resolveTargeted, runLossAttack } from './pgd.js';
import type { AttackLoss } from './types.js';

/** Options of {@link fgsm}. */
export interface FgsmOptions {
  /** The L∞ radius ε. Required. */
  readonly eps: number;
  /** @defaultValue 'ce' */
  readonly loss?: AttackLoss;
  /** When true, `y` holds target classes and the step goes against the gradient. @defaultValue false */
  readonly targeted?: boolean;
  /** @defaultValue [0, 1] */
  readonly bounds?: Bounds;
}

/**
 * Fast gradient sign method (Goodfellow et al. 2015, arXiv 1412.6572): one L∞ step of size ε,
 * `x' = clip(x + ε·sign(∇ₓL(f(x), y)), lo, hi)` (minus the step when targeted).
 *
 * @param model - a {@link Model} returning logits `[B, C]`.
 * @param x - clean inputs `[B, ...]` inside `bounds`.
 * @param y - `[B]` int32 labels (targets when `targeted`).
 * @param options - see {@link FgsmOptions}.
 * @returns `x'`, same shape as `x`; the caller disposes it.
 * @throws RangeError when eps is missing, negative or NaN, labels are invalid, x is outside bounds or the model
 * output has the wrong shape; TypeError when model is not a function.
 * @example
 * const xAdv = fgsm(model, x, y, { eps: 0.1 });
 */
export function fgsm(model: Model, x: tf.Tensor, y: tf.Tensor1D, options: Readonly<FgsmOptions>): tf.Tensor {
  const fn = 'fgsm';
  checkKnownKeys(fn, options, ['eps', 'loss', 'targeted', 'bounds']);
  const objective = resolveObjective(fn, options.loss, resolveTargeted(fn, options.targeted));
  const { eps, bounds } = options;
  return runLossAttack(
    fn,
    model,
    x,
    y,
    {
      eps,
      steps: 1,
      ...(typeof eps === 'number' && Number.isFinite(eps) && eps >= 0 ? { stepSize: eps } : {}),
      randomStart: 'none',
      ...(bounds === undefined ? {} : { bounds })
    },
    { randomStart: 'none', steps: 1 },
    objective
  );
}
