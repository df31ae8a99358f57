/**
 * What the model-and-labels attacks share: the input checks, the loss they ascend, and the runner of a
 * projected-gradient attack on a loss of the logits (pgd, fgsm, cw and their attack values).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';
import { checkBoolean, checkFunction, checkInBounds, checkInput, checkLabels, checkLogits } from '../core/validate.js';
import { rangeError } from '../core/errors.js';
import { crossEntropyPerExample } from '../losses/cross-entropy.js';
import { cwMarginPerExample, cwTargetedPerExample } from '../losses/cw-margin.js';
import { resolvePerturbation, type PerturbationOptions, type RandomStart } from './options.js';
import { ascend } from './projected-gradient-ascent.js';
import type { LossFn } from './types.js';

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
  options: Readonly<PerturbationOptions>,
  defaults: { randomStart: RandomStart; steps: number },
  objectiveOfLogits: LossFn
): tf.Tensor {
  const r = resolvePerturbation(fn, options, defaults);
  const inputs = checkAttackInputs(fn, model, x, y, r.bounds);
  const batch = inputs.x.shape[0] ?? 0;
  const objective = (xa: tf.Tensor): tf.Tensor => {
    const logits = checkLogits(fn, model(xa), batch, inputs.maxLabel, inputs.y);
    return objectiveOfLogits(logits, inputs.y);
  };
  return ascend(fn, objective, inputs.x, r);
}
