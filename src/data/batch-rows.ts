/** The one batching of examples held in memory, shared by `batches` and `fit`. */
import * as tf from '@tensorflow/tfjs-core';

/**
 * One pass over `x` and `y` in batches of `batchSize` rows: in their stored order (slices), or in `order`, a
 * permutation of the row indices (gathers). Yields `batchCount` batches (the last may be smaller); every yielded
 * tensor is new and owned by the caller, and nothing else is left behind.
 *
 * @param x - inputs `[N, ...]`.
 * @param y - targets `[N, ...]`, rows matching `x`.
 * @param batchSize - rows per batch.
 * @param order - the visiting order, or undefined for the stored one.
 * @param batchCount - batches to yield, `ceil(N / batchSize)` for all rows.
 */
export function* batchRows<X extends tf.Tensor, Y extends tf.Tensor>(
  x: X,
  y: Y,
  batchSize: number,
  order: Int32Array | undefined,
  batchCount: number
): Generator<{ x: X; y: Y }, void, undefined> {
  const n = x.shape[0] ?? 0;
  for (let b = 0; b < batchCount; b++) {
    const start = b * batchSize;
    const size = Math.min(batchSize, n - start);
    yield tf.tidy(() => {
      if (order === undefined) return { x: tf.slice(x, start, size), y: tf.slice(y, start, size) };
      const rows = tf.tensor1d(order.subarray(start, start + size), 'int32');
      return { x: tf.gather(x, rows), y: tf.gather(y, rows) };
    });
  }
}
