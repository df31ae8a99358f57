import * as tf from '@tensorflow/tfjs-core';
import { checkFunction, checkPositive } from './validate.js';
import { typeError } from './errors.js';

/**
 * A classifier as ardkit sees it: a function from an input batch `[B, ...]` to logits `[B, C]`.
 * Any differentiable tfjs computation qualifies; {@link fromLayersModel} adapts a tfjs-layers model.
 */
export type Model = (x: tf.Tensor) => tf.Tensor2D;

/**
 * The part of a tfjs-layers `LayersModel` that ardkit uses. Declared structurally so that
 * `@tensorflow/tfjs-layers` stays an optional peer dependency.
 */
export interface LayersModelLike {
  /** Runs the model on `inputs`; ardkit passes `{ training }` and expects one logits tensor back. */
  apply(inputs: tf.Tensor, kwargs?: { training?: boolean }): unknown;
}

/** Options of {@link fromLayersModel}. */
export interface FromLayersModelOptions {
  /**
   * Run layers in training mode (dropout active, batch norm on batch statistics).
   * @defaultValue false
   */
  readonly training?: boolean;
}

/**
 * Adapts a tfjs-layers model (its last layer must output logits, not probabilities) to a {@link Model}.
 *
 * @param model - a `tf.LayersModel` or anything with the same `apply`.
 * @param options - see {@link FromLayersModelOptions}.
 * @returns a function `x ↦ model.apply(x, { training })`, differentiable with respect to `x`.
 * @throws TypeError when `model` has no `apply` method, or (when called) when it returns several outputs.
 * @example
 * const net = tf.sequential({ layers: [tf.layers.dense({ inputShape: [784], units: 10 })] });
 * const model = fromLayersModel(net);
 * const logits = model(x); // [B, 10]
 */
export function fromLayersModel(model: LayersModelLike, options: Readonly<FromLayersModelOptions> = {}): Model {
  if (typeof model !== 'object' || model === null || typeof model.apply !== 'function') {
    typeError('fromLayersModel', 'model', 'be a tfjs-layers model with an apply method', model);
  }
  const training = options.training ?? false;
  return (x: tf.Tensor): tf.Tensor2D => {
    const out = model.apply(x, { training });
    if (!(out instanceof tf.Tensor)) {
      // Several outputs (or anything else): release what the model made before rejecting it.
      tf.dispose(out as tf.TensorContainer);
      typeError('fromLayersModel', 'model', 'return a single tensor of logits', out);
    }
    return out as tf.Tensor2D;
  };
}

/**
 * Divides a model's logits by a temperature: `z/τ`. LTD deploys its student this way
 * (Chen & Lee, arXiv 2111.02331).
 *
 * @param model - the model whose logits are scaled.
 * @param temperature - `τ > 0`.
 * @returns the model `x ↦ model(x)/τ`.
 * @throws RangeError when `temperature` is not a finite number > 0; TypeError when `model` is not a function.
 * @example
 * const deployed = withTemperature(student, 5);
 */
export function withTemperature(model: Model, temperature: number): Model {
  checkFunction('withTemperature', 'model', model);
  checkPositive('withTemperature', 'temperature', temperature);
  return (x: tf.Tensor): tf.Tensor2D => tf.tidy(() => tf.div(model(x), temperature));
}
