import * as tf from '@tensorflow/tfjs-core';
import { inheritChecks } from '../core/validate.js';

/** A per-example boolean mask `[B, 1, …, 1]` that broadcasts against a tensor of the given rank. */
export function rowMask(mask: ArrayLike<number>, rank: number): tf.Tensor {
  return tf.tensor(Uint8Array.from(mask), [mask.length, ...new Array<number>(rank - 1).fill(1)], 'bool');
}

/** The indices `i` with `mask[i]` truthy. */
export function indicesWhere(mask: ArrayLike<number>): number[] {
  const out: number[] = [];
  for (let i = 0; i < mask.length; i++) if (mask[i]) out.push(i);
  return out;
}

/**
 * `[B]` bool, true where the logits' argmax equals the label (ties go to the lowest class index, as tf.argMax does);
 * it stays on the device. The caller disposes it.
 */
export function correctOnDevice(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => tf.equal(tf.argMax(logits, 1), labels));
}

/** Copies row `k` of `source` into row `indices[k]` of `target` (rows of `rowSize` values) where `take(k)`. */
export function scatterRows(
  target: Float32Array,
  source: ArrayLike<number>,
  rowSize: number,
  indices: readonly number[],
  take: (k: number) => boolean
): void {
  indices.forEach((row, k) => {
    if (!take(k)) return;
    for (let j = 0; j < rowSize; j++) target[row * rowSize + j] = source[k * rowSize + j] ?? 0;
  });
}

/** `tf.gather` of the rows `indices` of `t` (an int32 index tensor is made and released). */
export function gatherRows<T extends tf.Tensor>(t: T, indices: readonly number[]): T {
  const rows = tf.tidy(() => tf.gather(t, tf.tensor1d(indices as number[], 'int32')));
  inheritChecks(rows, t);
  return rows;
}
