import * as tf from '@tensorflow/tfjs-core';
import { safeGradient } from './safe-gradient.js';

/** What one forward and backward pass of an attack yields; the caller disposes all three tensors. */
export interface LossAndGradient {
  /** `∇ₓ Σ_b loss_b`, the shape of the input. */
  readonly grad: tf.Tensor;
  /** The per-example loss `[B]` at the input. */
  readonly loss: tf.Tensor;
  /** The model's logits `[B, C]` at the input. */
  readonly logits: tf.Tensor2D;
}

/**
 * `safeGradient` that also hands back the per-example loss and the logits of the same forward pass, so an attack
 * that tracks the loss and the predictions per step (APGD) needs one model call per step, not two. It leaks nothing
 * when `f` or a gradient function throws (see `safeGradient`).
 */
export function safeLossAndGradient(
  f: (x: tf.Tensor) => { loss: tf.Tensor; logits: tf.Tensor2D }
): (x: tf.Tensor) => LossAndGradient {
  const state: { loss?: tf.Tensor | undefined; logits?: tf.Tensor2D | undefined } = {};
  const grad = safeGradient((x: tf.Tensor) => {
    const out = f(x);
    // Kept tensors survive tf.grad's scopes; the logits are cloned so that a model returning one of its
    // own tensors (or its input) never has that tensor disposed by the caller.
    state.loss = tf.keep(out.loss);
    state.logits = tf.keep(tf.clone(out.logits));
    return tf.sum(out.loss);
  });
  const release = (): void => {
    tf.dispose([state.loss, state.logits].filter((t): t is tf.Tensor => t !== undefined));
  };
  return (x: tf.Tensor): LossAndGradient => {
    state.loss = undefined;
    state.logits = undefined;
    let g: tf.Tensor;
    try {
      g = grad(x);
    } catch (error) {
      release();
      throw error;
    }
    if (state.loss === undefined || state.logits === undefined) {
      g.dispose();
      throw new Error('safeLossAndGradient: the forward pass returned no loss');
    }
    return { grad: g, loss: state.loss, logits: state.logits };
  };
}
