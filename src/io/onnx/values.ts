import * as tf from '@tensorflow/tfjs-core';

/**
 * A value the executor carries between nodes.
 *
 * - `host`: a small array known on the host (shapes, indices, constants): the `Shape → Gather → Unsqueeze → Concat →
 *   Reshape` chains that PyTorch's `view(x.size(0), -1)` exports are computed here, so no shape is ever read back from
 *   a device.
 * - `tensor`: a tfjs tensor. A rank-4 tensor may be stored channels-last (`nhwc: true`): the stored tensor is then the
 *   ONNX (logical, NCHW) tensor transposed by `[0, 2, 3, 1]`, which is what tfjs' convolutions and pools take.
 */
export type Value = HostValue | TensorValue;

/** A host array in row-major order. */
export interface HostValue {
  readonly kind: 'host';
  readonly dtype: 'float32' | 'int32' | 'bool';
  readonly shape: readonly number[];
  readonly data: readonly number[];
}

/** A tensor, stored in ONNX's order or channels-last. */
export interface TensorValue {
  readonly kind: 'tensor';
  readonly t: tf.Tensor;
  readonly nhwc: boolean;
}

/** Channels-last storage of a logical NCHW tensor. */
export const TO_NHWC = [0, 2, 3, 1] as const;
/** Back to ONNX's NCHW order. */
export const TO_NCHW = [0, 3, 1, 2] as const;

/** Number of elements of a shape. */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The ONNX (logical) shape of a value. */
export function logicalShape(v: Value): number[] {
  if (v.kind === 'host') return [...v.shape];
  const s = v.t.shape;
  return v.nhwc ? [s[0] ?? 0, s[3] ?? 0, s[1] ?? 0, s[2] ?? 0] : [...s];
}

/** A host value from numbers. */
export function host(dtype: HostValue['dtype'], shape: readonly number[], data: readonly number[]): HostValue {
  return { kind: 'host', dtype, shape, data };
}

/** A tensor value in ONNX's order. */
export function logical(t: tf.Tensor): TensorValue {
  return { kind: 'tensor', t, nhwc: false };
}

/** A tensor in ONNX's order (a host value is uploaded; a channels-last one transposed back). */
export function toLogicalTensor(v: Value): tf.Tensor {
  if (v.kind === 'host') return tf.tensor(v.data, [...v.shape], v.dtype);
  return v.nhwc ? tf.transpose(v.t, [...TO_NCHW]) : v.t;
}

/** A rank-4 value as a channels-last tensor. */
export function toNhwcTensor(v: Value): tf.Tensor4D {
  if (v.kind === 'tensor' && v.nhwc) return v.t as tf.Tensor4D;
  return tf.transpose(toLogicalTensor(v), [...TO_NHWC]) as tf.Tensor4D;
}

/**
 * A value broadcast against a channels-last rank-4 tensor: the operand, in ONNX's order, is left-padded to rank 4
 * (numpy broadcasting) and permuted like the tensor, so that an elementwise op on the stored tensors is the op on the
 * logical ones.
 */
export function alignedToNhwc(v: Value): tf.Tensor {
  if (v.kind === 'tensor' && v.nhwc) return v.t;
  const shape = logicalShape(v);
  if (shape.length > 4) throw new Error(`cannot broadcast a rank-${String(shape.length)} operand against a rank-4 tensor`);
  const padded = [...Array<number>(4 - shape.length).fill(1), ...shape];
  const t = tf.reshape(toLogicalTensor(v), padded);
  // Moving the channel axis last is a reshape when it or the spatial axes are 1, else a transpose.
  const [, c, h, w] = padded as [number, number, number, number];
  if (c === 1 || h * w === 1) return tf.reshape(t, [padded[0] ?? 1, h, w, c]);
  return tf.transpose(t, [...TO_NHWC]);
}

/** Reads a host value's data as integers, or throws. */
export function hostInts(v: Value | undefined, what: string): number[] {
  if (v === undefined) throw new Error(`${what} is missing`);
  if (v.kind !== 'host') throw new Error(`${what} must be a constant known when the graph is loaded or computed from shapes (it is computed from tensor values)`);
  return v.data.map((d) => Math.trunc(d));
}

/** Reads a host value's data as numbers, or throws. */
export function hostNumbers(v: Value | undefined, what: string): number[] {
  if (v === undefined) throw new Error(`${what} is missing`);
  if (v.kind !== 'host') throw new Error(`${what} must be a constant known when the graph is loaded (it is computed from tensor values)`);
  return [...v.data];
}

/** Row-major strides of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) strides[i] = (strides[i + 1] ?? 1) * (shape[i + 1] ?? 1);
  return strides;
}

/** Numpy broadcasting of two shapes, or throws. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error(`shapes [${a.join(', ')}] and [${b.join(', ')}] do not broadcast`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Elementwise op of two host values with numpy broadcasting. */
export function hostBinary(a: HostValue, b: HostValue, op: (x: number, y: number) => number, dtype: HostValue['dtype']): HostValue {
  const shape = broadcastShapes(a.shape, b.shape);
  const n = sizeOf(shape);
  const outStrides = stridesOf(shape);
  const index = (v: HostValue, flat: number): number => {
    let offset = 0;
    const vs = stridesOf(v.shape);
    const shift = shape.length - v.shape.length;
    for (let d = 0; d < v.shape.length; d++) {
      const coord = Math.floor(flat / (outStrides[d + shift] ?? 1)) % (shape[d + shift] ?? 1);
      offset += (v.shape[d] === 1 ? 0 : coord) * (vs[d] ?? 0);
    }
    return offset;
  };
  const data: number[] = [];
  for (let i = 0; i < n; i++) data.push(op(a.data[index(a, i)] ?? 0, b.data[index(b, i)] ?? 0));
  return host(dtype, shape, data);
}

/** Transposes a host value. */
export function hostTranspose(v: HostValue, perm: readonly number[]): HostValue {
  const shape = perm.map((p) => v.shape[p] ?? 1);
  const inStrides = stridesOf(v.shape);
  const outStrides = stridesOf(shape);
  const data: number[] = [];
  for (let i = 0; i < v.data.length; i++) {
    let offset = 0;
    for (let d = 0; d < shape.length; d++) {
      const coord = Math.floor(i / (outStrides[d] ?? 1)) % (shape[d] ?? 1);
      offset += coord * (inStrides[perm[d] ?? 0] ?? 0);
    }
    data.push(v.data[offset] ?? 0);
  }
  return host(v.dtype, shape, data);
}
