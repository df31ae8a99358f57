/**
 * ardkit's native kernels (src/backends/native/kernels.c, built by `npm run build:wasm`) instantiated on tfjs' wasm
 * backend's own memory, so that they read and write the buffers tfjs allocated. One instance per backend, made on the
 * first call; `undefined` where it cannot be made (no WebAssembly SIMD, a backend without the memory ardkit expects),
 * and the callers then use their JavaScript versions.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { PLAIN_WASM, SHARED_WASM } from './native/binaries.js';

/** The exports of the native module. */
export interface NativeKernels {
  max_pool_grad(
    x: number, dy: number, dx: number, batch: number, inH: number, inW: number, channels: number, outH: number, outW: number,
    strideH: number, strideW: number, filterH: number, filterW: number, padTop: number, padLeft: number
  ): void;
  sign_f32(x: number, out: number, n: number): void;
}

/** The part of tfjs' wasm backend the native kernels use. */
export interface NativeBackend {
  readonly wasm: { wasmMemory?: WebAssembly.Memory; asm?: { memory?: WebAssembly.Memory } };
  getMemoryOffset(dataId: tf.DataId): number;
}

const instances = new WeakMap<object, NativeKernels | null>();

/** Base64 to bytes with `atob`, which browsers and Node ≥ 16 (the package needs 18) provide. */
function decode(base64: string): Uint8Array<ArrayBuffer> {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/** The native kernels on `backend`'s memory, or `undefined` when they cannot run there. */
export function nativeKernels(backend: unknown): NativeKernels | undefined {
  if (typeof backend !== 'object' || backend === null) return undefined;
  const known = instances.get(backend);
  if (known !== undefined) return known ?? undefined;
  let made: NativeKernels | null = null;
  try {
    const wasm = (backend as Partial<NativeBackend>).wasm;
    const memory = wasm?.wasmMemory ?? wasm?.asm?.memory;
    if (memory instanceof WebAssembly.Memory && typeof (backend as Partial<NativeBackend>).getMemoryOffset === 'function') {
      const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
      const module = new WebAssembly.Module(decode(shared ? SHARED_WASM : PLAIN_WASM));
      made = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as NativeKernels;
    }
  } catch {
    // No SIMD128, or a memory the module cannot import: the JavaScript kernels serve.
    made = null;
  }
  instances.set(backend, made);
  return made ?? undefined;
}
