import * as tf from '@tensorflow/tfjs-core';

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
 * Like `safeGradient` (see projected-gradient-ascent.ts), but also hands back the per-example loss and the
 * logits of the same forward pass, so an attack that tracks the loss and the predictions per step (APGD)
 * needs one model call per step, not two. Nothing leaks when `f` throws: the error is caught inside the
 * recorded function, a zero objective lets tfjs finish and free its tape, and the error is rethrown.
 */
export function safeLossAndGradient(
  f: (x: tf.Tensor) => { loss: tf.Tensor; logits: tf.Tensor2D }
): (x: tf.Tensor) => LossAndGradient {
  const state: { loss?: tf.Tensor | undefined; logits?: tf.Tensor2D | undefined; failed: boolean; error: unknown } = {
    failed: false,
    error: undefined
  };
  const grad = tf.grad((x: tf.Tensor) => {
    try {
      const out = f(x);
      // Kept tensors survive tf.grad's scopes; the logits are cloned so that a model returning one of its
      // own tensors (or its input) never has that tensor disposed by the caller.
      state.loss = tf.keep(out.loss);
      state.logits = tf.keep(tf.clone(out.logits));
      return tf.sum(out.loss);
    } catch (error) {
      state.failed = true;
      state.error = error;
      return tf.mul(tf.sum(x), 0);
    }
  });
  const release = (): void => {
    tf.dispose([state.loss, state.logits].filter((t): t is tf.Tensor => t !== undefined));
  };
  return (x: tf.Tensor): LossAndGradient => {
    state.loss = undefined;
    state.logits = undefined;
    state.failed = false;
    let g: tf.Tensor;
    try {
      g = grad(x);
    } catch (error) {
      release();
      releaseTape();
      throw error;
    }
    if (state.failed || state.loss === undefined || state.logits === undefined) {
      g.dispose();
      release();
      throw state.error;
    }
    return { grad: g, loss: state.loss, logits: state.logits };
  };
}

/**
 * After an error thrown inside tfjs' backward pass (a gradient function that throws), tfjs leaves the tape
 * of the failed call in place with the tensors its nodes saved: this frees them, as tfjs itself does after a
 * successful backward pass. Does nothing inside an enclosing gradient computation.
 */
export function releaseTape(): void {
  const state = tf.engine().state as { activeTape: Array<{ saved?: tf.Tensor[] }> | null; gradientDepth: number };
  if (state.gradientDepth !== 0 || state.activeTape === null) return;
  for (const node of state.activeTape) tf.dispose(node.saved ?? []);
  state.activeTape = null;
}
