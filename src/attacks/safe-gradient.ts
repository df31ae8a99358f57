import * as tf from '@tensorflow/tfjs-core';

/**
 * `tf.grad(f)` that leaks nothing when `f` or a gradient function throws. tfjs keeps the tensors each recorded op
 * saved for the backward pass and frees them only after a backward pass, so an error thrown inside the forward pass
 * (a bad model output, a failing user model) would leave them behind: here it is caught, a zero objective still
 * connected to the input lets tfjs finish and free its tape, and the error is rethrown. An error from the backward
 * pass itself (an op whose gradient throws) is rethrown after releasing the tape tfjs left behind.
 */
export function safeGradient(f: (x: tf.Tensor) => tf.Tensor): (x: tf.Tensor) => tf.Tensor {
  const caught: { failed: boolean; error: unknown } = { failed: false, error: undefined };
  const grad = tf.grad((x: tf.Tensor) => {
    try {
      return f(x);
    } catch (error) {
      caught.failed = true;
      caught.error = error;
      return tf.mul(tf.sum(x), 0);
    }
  });
  return (x: tf.Tensor): tf.Tensor => {
    caught.failed = false;
    let g: tf.Tensor;
    try {
      g = grad(x);
    } catch (error) {
      // An error from the backward pass (a gradient function that throws) leaves tfjs' tape behind.
      releaseTape();
      throw error;
    }
    if (caught.failed) {
      g.dispose();
      throw caught.error;
    }
    return g;
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
