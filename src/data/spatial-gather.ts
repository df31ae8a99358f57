import * as tf from '@tensorflow/tfjs-core';

/**
 * Picks rows of every image with per-example indices: `out[b, i] = x[b, rows[b·hOut + i]]`, for `x`
 * `[B, H, W, C]`. One gather on axis 0 of `x` seen as `[B·H, W·C]`, so the index arrays are O(B·hOut), not
 * per pixel. (tfjs' `gather` with `batchDims = 1` would say this directly, but the wasm backend of tfjs 4.22
 * returns wrong values for it.)
 *
 * @param x - images `[B, H, W, C]`.
 * @param rows - `B·hOut` row indices in `[0, H)`, example by example.
 * @param hOut - rows per output image.
 * @returns `[B, hOut, W, C]`; the caller disposes it.
 * @throws never throws on valid input; the callers validate.
 * @example
 * const flippedVertically = gatherRows(x, Int32Array.from([1, 0]), 2); // B = 1, H = 2
 */
export function gatherRows(x: tf.Tensor4D, rows: Int32Array, hOut: number): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const flat = new Int32Array(rows.length);
  for (let i = 0; i < rows.length; i++) flat[i] = Math.floor(i / hOut) * h + (rows[i] ?? 0);
  return tf.tidy(() => tf.reshape(tf.gather(tf.reshape(x, [b * h, w * c]), tf.tensor1d(flat, 'int32')), [b, hOut, w, c]));
}

/**
 * Picks columns of every image with per-example indices: `out[b, :, j] = x[b, :, cols[b·wOut + j]]`, for `x`
 * `[B, H, W, C]` (rows of the transposed images, by {@link gatherRows}).
 *
 * @param x - images `[B, H, W, C]`.
 * @param cols - `B·wOut` column indices in `[0, W)`, example by example.
 * @param wOut - columns per output image.
 * @returns `[B, H, wOut, C]`; the caller disposes it.
 * @throws never throws on valid input; the callers validate.
 * @example
 * const mirrored = gatherColumns(x, Int32Array.from([2, 1, 0]), 3); // B = 1, W = 3
 */
export function gatherColumns(x: tf.Tensor4D, cols: Int32Array, wOut: number): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(gatherRows(tf.transpose(x, [0, 2, 1, 3]), cols, wOut), [0, 2, 1, 3]));
}
