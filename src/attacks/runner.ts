/**
 * What the model-and-labels attacks share: the input checks, the loss they ascend, and the runner of a
 * projected-gradient attack on a loss of the logits (pgd, fgsm, cw and their attacks).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';
import { checkBoolean, checkFunction, checkInBounds, checkInput, checkLabels, checkLogits } from '../core/validate.js';
import { rangeError } from '../core/errors.js';
import { probing } from '../core/probabilities.js';
import { crossEntropyPerExample } from '../losses/cross-entropy.js';
import { cwMarginPerExample, cwTargetedPerExample } from '../losses/cw-margin.js';
import type { ResolvedPerturbation } from './options.js';
import { ascend } from './projected-gradient-ascent.js';
import type { LossFn } from './types.js';

/**
 * Resolves the `loss` and `targeted` options to the per-example objective the ascent maximises.
 * Untargeted: the loss itself. Targeted: the negated loss toward the target, except for `'cw'`, whose
 * targeted form is the margin of the target over the best other class, `−max(max_{j≠t} z_j − z_t + κ, 0)`
 * (negating the untargeted margin would give no gradient until the target already wins).
 */
export function resolveObjective(loss: unknown, targeted: boolean, kappa = 0): LossFn {
  if (loss === 'cw') {
    return targeted ? (z, t) => cwTargetedPerExample(z, t, kappa) : (z, y) => cwMarginPerExample(z, y, kappa);
  }
  let base: LossFn;
  if (loss === undefined || loss === 'ce') base = crossEntropyPerExample;
  else if (typeof loss === 'function') base = loss as LossFn;
  else return rangeError('loss', 'be "ce", "cw" or a function (logits, labels) => per-example loss', loss);
  return targeted ? (z, t) => tf.neg(base(z, t)) : base;
}

/** Resolves the `targeted` option. */
export function resolveTargeted(targeted: unknown): boolean {
  return targeted === undefined ? false : checkBoolean('targeted', targeted);
}

/**
 * What every model-and-labels attack validates before it makes a tensor. Its `model` is the one the attack calls: the
 * first time a model is attacked, it is the model wrapped by {@link probing}, which looks at its first output for
 * probabilities where logits belong (a warning; no extra model call). `probe: false` leaves the model as it is.
 */
export function checkAttackInputs(
  model: unknown,
  x: unknown,
  y: unknown,
  bounds: readonly [number, number],
  probe = true
): { x: tf.Tensor; y: tf.Tensor1D; maxLabel: number; model: Model } {
  checkFunction('model', model);
  const input = checkInput('x', x);
  const maxLabel = checkLabels('y', y, input.shape[0] ?? 0);
  checkInBounds('x', input, bounds);
  return { x: input, y: y as tf.Tensor1D, maxLabel, model: probe ? probing(model as Model) : (model as Model) };
}

/**
 * The resolved configuration of an attack on a loss of the logits (pgd, fgsm, cw): the perturbation settings with
 * every default filled in, and the per-example objective the ascent maximises. Made once by `resolvePgd`,
 * `resolveFgsm` or `resolveCwLinf` at the public boundary; {@link runLossAttack} takes it as it is. Internal.
 */
export interface LossAttackConfig extends ResolvedPerturbation {
  /** The per-example objective of the logits and labels, from {@link resolveObjective}. */
  readonly objective: LossFn;
}

/**
 * Runs a projected-gradient attack of `model` with a resolved {@link LossAttackConfig}, shared by pgd, fgsm and cw
 * and their attacks. It checks the call's inputs (model, `x` inside the bounds, labels, the model's logits) but
 * never the options: those were resolved once by the caller. `seed` is this call's seed (the function forms pass
 * `options.seed`, the attacks the call's seed or their own); it replaces `config.seed`. Internal.
 */
export function runLossAttack(model: Model, x: unknown, y: unknown, config: LossAttackConfig, seed: number | undefined): tf.Tensor {
  const inputs = checkAttackInputs(model, x, y, config.bounds);
  const batch = inputs.x.shape[0] ?? 0;
  const objective = (xa: tf.Tensor): tf.Tensor => {
    const logits = checkLogits(inputs.model(xa), batch, inputs.maxLabel, inputs.y);
    return config.objective(logits, inputs.y);
  };
  return ascend(objective, inputs.x, seed === config.seed ? config : { ...config, seed });
}
