import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';
import { checkFunction, checkInteger, checkLogits } from '../core/validate.js';
import { formatValue, named, argumentError } from '../core/errors.js';

/**
 * Expectation over Transformation (Athalye et al. 2018, arXiv 1707.07397) for stochastic models (random
 * input transforms, dropout at test time, noise): a model whose logits are the mean of `samples` calls,
 * `z̄(x) = (1/S)·Σ_s z_s(x)`. Its input gradient is the mean of the sampled gradients of the logits, so an attack
 * run on it follows the expected gradient instead of one noisy draw.
 *
 * Note: the loss is taken of the mean logits, not the mean of per-sample losses (AutoAttack's EoT averages loss
 * gradients); the two agree to first order and coincide for losses linear in the logits.
 *
 * @param model - a (possibly stochastic) {@link Model}.
 * @param samples - calls to average, a positive integer.
 * @returns a {@link Model} computing the mean logits; each call costs `samples` calls of `model`.
 * @throws TypeError when model is not a function; RangeError when samples is not a positive integer, or (when called)
 * when the samples disagree in shape.
 * @example
 * const averaged = eot(noisyModel, 16);
 * const xAdv = apgd(averaged, x, y, { eps: 0.03 });
 */
export function eot(model: Model, samples: number): Model {
  return named('eot', () => {
    checkFunction('model', model);
    checkInteger('samples', samples, 1);
    return (x: tf.Tensor): tf.Tensor2D =>
      named('eot', () => tf.tidy(() => {
        const batch = x.shape[0] ?? 0;
        const first = checkLogits(model(x), batch);
        let sum: tf.Tensor2D = first;
        for (let s = 1; s < samples; s++) {
          const z = checkLogits(model(x), batch);
          if (z.shape[1] !== first.shape[1]) {
            throw argumentError(RangeError, `model must return the same shape on every sample (got ${formatValue(first.shape)} and ${formatValue(z.shape)})`);
          }
          sum = tf.add(sum, z);
        }
        return tf.div(sum, samples);
      }));
  });
}
