/** The network type every training part shares: what `fit` trains and what `ardkit/models` builds. */
import * as tf from '@tensorflow/tfjs-core';
import { typeError, named } from './errors.js';

/** What a student's forward pass returns: its logits, and the internal outputs some objectives need. */
export interface StudentOutputs {
  /** Logits `[B, C]`. */
  readonly logits: tf.Tensor2D;
  /** The penultimate representation `[B, d]` (ARREST's RGKD, CRDND with feature embeddings). */
  readonly features?: tf.Tensor2D;
  /** DARHT's student–teacher feature map `[B, M·C]`. */
  readonly featureMap?: tf.Tensor2D;
}

/**
 * A network `fit` can train: a forward pass and its variables. `studentFromLayers` (in `ardkit/models`) builds one
 * from a tfjs-layers model, exposing named internal layers as `features` or `featureMap`; a tfjs-layers model
 * passed to `fit` directly is adapted with its logits only.
 */
export interface Student {
  /** Runs the network; `training` switches dropout and batch-norm statistics. */
  forward(x: tf.Tensor, training: boolean): StudentOutputs;
  /** The variables the optimizer updates. */
  readonly trainableVariables: readonly tf.Variable[];
  /** Every variable whose value defines the network (trainable ones, batch-norm statistics…): what checkpoints save. */
  readonly variables: readonly tf.Variable[];
}

function isVariable(t: tf.Tensor): t is tf.Variable {
  return t instanceof tf.Variable;
}

/**
 * A tfjs-layers weight's tensor as the `tf.Variable` it is (tfjs-layers types `read()` as a tensor).
 *
 * @param t - the weight's tensor.
 * @returns the variable.
 * @throws TypeError when it is not a variable.
 * @example
 * const v = asVariable('fit', layer.trainableWeights[0].read());
 */
export function asVariable(t: tf.Tensor): tf.Variable {
  return named('asVariable', () => {
    if (!isVariable(t)) typeError('student', 'hold tf.Variable weights', t);
    return t;
  });
}
