/**
 * Kernels of tfjs' wasm backend that a training step runs often and that the backend runs slowly:
 * replacements that give the same values.
 */
import * as tf from '@tensorflow/tfjs-core';
import { derivedFilter } from './derived-cache.js';
import { withScope, type Info } from './kernel-scope.js';
import { nativeKernels, type NativeBackend } from './native-kernels.js';

type Heap = Float32Array | Int32Array | Uint8Array;

/** The wasm backend's methods these kernels use. */
interface WasmBackendLike {
  incRef(dataId: tf.DataId): void;
  makeOutput(shape: number[], dtype: tf.DataType): Info;
  typedArrayFromHeap(info: Info): Heap;
}

/**
 * `Identity` (tfjs' `clone`, used by the engine to save every tensor a gradient needs) as a reference to
 * the same data, as the cpu and webgl backends do; the wasm backend copies the whole tensor. Data is
 * immutable in tfjs, so sharing it is safe.
 */
export function identityKernel(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const x = args.inputs['x'];
    if (x === undefined || x.dtype === 'string') return original(args);
    (args.backend as WasmBackendLike).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}

/** `Cast` to the dtype the tensor already has (ReLU's gradient does it) without a copy. */
export function castKernel(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const x = args.inputs['x'];
    const dtype = (args.attrs as { dtype?: tf.DataType } | undefined)?.dtype;
    if (x === undefined || x.dtype !== dtype || x.dtype === 'string') return original(args);
    (args.backend as WasmBackendLike).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}

/**
 * `BatchMatMul` with `transposeA`/`transposeB`: the wasm kernel multiplies transposed operands 7–14× slower
 * than plain ones (measured on the dense layers' gradients), so the operands are transposed explicitly first.
 */
export function batchMatMulKernel(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const attrs = args.attrs as { transposeA?: boolean; transposeB?: boolean } | undefined;
    const { a, b } = args.inputs;
    if (a === undefined || b === undefined || (attrs?.transposeA !== true && attrs?.transposeB !== true)) return original(args);
    return withScope(args.backend, 'wasm', (s) => {
      const swapLast = (t: Info): Info => {
        const perm = [...t.shape.keys()];
        const r = perm.length;
        return s.transpose(t, [...perm.slice(0, r - 2), r - 1, r - 2]);
      };
      const a2 = attrs.transposeA === true ? swapLast(a) : a;
      // B is a dense layer's kernel in its input gradient (dy·Wᵀ): transposed once per weight buffer, so that an
      // attack's steps reuse it and XNNPACK's packed copy of it.
      const b2 = attrs.transposeB === true ? derivedFilter(s, args.backend, 'matmul-b-transposed', b, () => swapLast(b)) : b;
      const out = original({ inputs: { a: a2, b: b2 }, backend: args.backend, attrs: { ...attrs, transposeA: false, transposeB: false } });
      return out as Info;
    });
  };
}

/**
 * `MaxPoolGrad` as one pass over the input: each window's first maximum (the cpu backend's rule: strictly
 * greater, in row-major window order) receives the window's output gradient. The wasm kernel rescans
 * every window for every input pixel (about 10× slower for 2×2 pools).
 */
export const maxPoolGradKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, input } = inputs as { dy: Info; input: Info };
  const a = attrs as unknown as tf.MaxPoolGradAttrs;
  const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], a.filterSize, a.strides, 1, a.pad, a.dimRoundingMode);
  const wasm = backend as WasmBackendLike;
  const dx = wasm.makeOutput(input.shape, 'float32');
  // Views are taken after makeOutput: growing the wasm memory detaches earlier ones.
  const xv = wasm.typedArrayFromHeap(input);
  const dyv = wasm.typedArrayFromHeap(dy);
  const dxv = wasm.typedArrayFromHeap(dx);
  dxv.fill(0);
  const { batchSize, inHeight, inWidth, inChannels: c, outHeight, outWidth, strideHeight, strideWidth, filterHeight, filterWidth } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const native = nativeKernels(backend);
  if (native !== undefined) {
    const at = (t: Info): number => heapOffset(backend, t);
    native.max_pool_grad(at(input), at(dy), at(dx), batchSize, inHeight, inWidth, c, outHeight, outWidth, strideHeight, strideWidth, filterHeight, filterWidth, top, left);
    return dx;
  }
  for (let b = 0; b < batchSize; b++) {
    const xBase = b * inHeight * inWidth * c;
    for (let oy = 0; oy < outHeight; oy++) {
      const y0 = Math.max(0, oy * strideHeight - top);
      const y1 = Math.min(inHeight, oy * strideHeight - top + filterHeight);
      for (let ox = 0; ox < outWidth; ox++) {
        const x0 = Math.max(0, ox * strideWidth - left);
        const x1 = Math.min(inWidth, ox * strideWidth - left + filterWidth);
        const dyOffset = ((b * outHeight + oy) * outWidth + ox) * c;
        if (y1 - y0 === 2 && x1 - x0 === 2) {
          maxPoolGrad2x2(xv, dyv, dxv, xBase + (y0 * inWidth + x0) * c, inWidth * c, c, dyOffset);
          continue;
        }
        for (let ch = 0; ch < c; ch++) {
          let best = -Infinity;
          let where = -1;
          for (let y = y0; y < y1; y++) {
            for (let x = x0; x < x1; x++) {
              const i = xBase + (y * inWidth + x) * c + ch;
              const v = xv[i] as number;
              if (v > best) {
                best = v;
                where = i;
              }
            }
          }
          if (where >= 0) dxv[where] = (dxv[where] as number) + (dyv[dyOffset + ch] as number);
        }
      }
    }
  }
  return dx;
};

/** One 2×2 window of {@link maxPoolGradKernel}, unrolled (the common 2×2 pool runs twice as fast). */
function maxPoolGrad2x2(xv: Heap, dyv: Heap, dxv: Heap, base: number, rowStride: number, c: number, dyOffset: number): void {
  for (let ch = 0; ch < c; ch++) {
    const i0 = base + ch;
    const i1 = i0 + c;
    const i2 = i0 + rowStride;
    const i3 = i2 + c;
    let best = -Infinity;
    let where = -1;
    const v0 = xv[i0] as number;
    const v1 = xv[i1] as number;
    const v2 = xv[i2] as number;
    const v3 = xv[i3] as number;
    if (v0 > best) {
      best = v0;
      where = i0;
    }
    if (v1 > best) {
      best = v1;
      where = i1;
    }
    if (v2 > best) {
      best = v2;
      where = i2;
    }
    if (v3 > best) where = i3;
    if (where >= 0) dxv[where] = (dxv[where] as number) + (dyv[dyOffset + ch] as number);
  }
}

/**
 * `Sign` of float32 values through ardkit's native SIMD kernel (the wasm backend's own runs element by element, about
 * 7× slower); NaN gives 0, as the backend's kernel. Other dtypes, or no native kernels, go to the backend's kernel.
 */
export function signKernel(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const x = args.inputs['x'];
    const native = nativeKernels(args.backend);
    if (x === undefined || x.dtype !== 'float32' || native === undefined) return original(args);
    const out = (args.backend as WasmBackendLike).makeOutput([...x.shape], 'float32');
    native.sign_f32(heapOffset(args.backend, x), heapOffset(args.backend, out), tf.util.sizeFromShape(x.shape));
    return out;
  };
}

/**
 * `GatherV2` along axis 0 (`fit` takes its shuffled batches this way) as one block copy per index: the wasm kernel
 * computes every element's source index (2.4 ms for 128 rows of 784 values, against about 0.05). Other axes, batch
 * dimensions, dtypes or an index out of range (the backend's kernel then reports it as it does) go to the backend's
 * kernel.
 */
export function gatherKernel(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x, indices } = args.inputs;
    const attrs = args.attrs as { axis?: number; batchDims?: number } | undefined;
    if (x === undefined || indices === undefined || (attrs?.axis ?? 0) !== 0 || (attrs?.batchDims ?? 0) !== 0) return original(args);
    if ((x.dtype !== 'float32' && x.dtype !== 'int32') || indices.dtype !== 'int32' || x.shape.length === 0) return original(args);
    const wasm = args.backend as WasmBackendLike;
    const rows = x.shape[0] ?? 0;
    const idx = wasm.typedArrayFromHeap(indices);
    for (let i = 0; i < idx.length; i++) {
      const k = idx[i] as number;
      if (k < 0 || k >= rows) return original(args);
    }
    const row = tf.util.sizeFromShape(x.shape.slice(1));
    const out = wasm.makeOutput([...indices.shape, ...x.shape.slice(1)], x.dtype);
    // Views are taken after makeOutput: growing the wasm memory detaches earlier ones.
    const src = wasm.typedArrayFromHeap(x);
    const dst = wasm.typedArrayFromHeap(out);
    const at = wasm.typedArrayFromHeap(indices);
    for (let i = 0; i < at.length; i++) {
      const k = at[i] as number;
      dst.set(src.subarray(k * row, (k + 1) * row), i * row);
    }
    return out;
  };
}

/** Where a tensor's data starts in the wasm backend's memory, in bytes (what the native kernels take). */
function heapOffset(backend: unknown, t: Info): number {
  return (backend as NativeBackend).getMemoryOffset(t.dataId);
}
