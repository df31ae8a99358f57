import * as tf from '@tensorflow/tfjs-core';

/** The distance an attack is bounded in. */
export type Norm = 'linf' | 'l2';

/** The allowed {@link Norm} values. */
export const NORMS: readonly Norm[] = ['linf', 'l2'];

/** Per-example L2 norm over every non-batch axis, shaped `[B, 1, …, 1]` to broadcast against `t`. */
export function perExampleL2(t: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const batch = t.shape[0] ?? 1;
    const norms = tf.norm(tf.reshape(t, [batch, -1]), 'euclidean', 1);
    return tf.reshape(norms, [batch, ...t.shape.slice(1).map(() => 1)]);
  });
}
