/**
 * ardkit's native wasm kernels (src/backends/native/kernels.c): what the shipped binaries contain (nothing that writes
 * to tfjs' memory when instantiated), both builds (shared and plain memory) on the same inputs, Sign against the cpu
 * backend with NaN and signed zeros, MaxPoolGrad's NaN and −∞ windows against the cpu backend's rule, and the
 * JavaScript fallback. MaxPoolGrad against the cpu backend on many geometries is in wasm-kernels.test.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { registerWasmTrainingKernels } from '../../src/backends/index.js';
import { nativeKernels, type NativeKernels } from '../../src/backends/native-kernels.js';
import { PLAIN_WASM, SHARED_WASM } from '../../src/backends/native/binaries.js';
import { testRandom, useBackend } from '../helpers.js';

/** The ids of a wasm binary's sections, in order. */
function sections(bytes: Uint8Array): number[] {
  const ids: number[] = [];
  let p = 8;
  const leb = (): number => {
    let r = 0;
    let shift = 0;
    let b: number;
    do {
      b = bytes[p++] ?? 0;
      r |= (b & 0x7f) << shift;
      shift += 7;
    } while ((b & 0x80) !== 0);
    return r;
  };
  while (p < bytes.length) {
    ids.push(bytes[p++] ?? 0);
    p += leb();
  }
  return ids;
}

const binary = (base64: string): Uint8Array<ArrayBuffer> => new Uint8Array(Buffer.from(base64, 'base64'));

describe('the shipped native kernels', () => {
  it.each([['shared', SHARED_WASM], ['plain', PLAIN_WASM]])('%s build: imports only the memory, exports the kernels, has no data or start section', (_, b64) => {
    const bytes = binary(b64);
    const module = new WebAssembly.Module(bytes);
    expect(WebAssembly.Module.imports(module)).toEqual([{ module: 'env', name: 'memory', kind: 'memory' }]);
    expect(WebAssembly.Module.exports(module).map((e) => e.name).sort()).toEqual(['max_pool_grad', 'sign_f32']);
    // 11 is the data section, 8 the start section: instantiating writes nothing into tfjs' memory.
    expect(sections(bytes)).not.toContain(11);
    expect(sections(bytes)).not.toContain(8);
  });

  it('both builds compute the same MaxPoolGrad and Sign, on a shared and a plain memory', () => {
    const run = (b64: string, shared: boolean): number[] => {
      const memory = new WebAssembly.Memory({ initial: 4, maximum: 65536, ...(shared ? { shared: true } : {}) });
      const k = new WebAssembly.Instance(new WebAssembly.Module(binary(b64)), { env: { memory } }).exports as unknown as NativeKernels;
      const f = new Float32Array(memory.buffer);
      const r = testRandom(3);
      // x [1, 4, 6, 5] at 0, dy [1, 2, 3, 5] at 1024 floats, dx at 2048, sign's output at 3072.
      for (let i = 0; i < 120; i++) f[i] = Math.max(0, Math.round((r() * 2 - 1) * 3));
      for (let i = 0; i < 30; i++) f[1024 + i] = r();
      k.max_pool_grad(0, 1024 * 4, 2048 * 4, 1, 4, 6, 5, 2, 3, 2, 2, 2, 2, 0, 0);
      k.sign_f32(1024 * 4, 3072 * 4, 30);
      return [...f.slice(2048, 2048 + 120), ...f.slice(3072, 3072 + 30)];
    };
    const shared = run(SHARED_WASM, true);
    expect(run(PLAIN_WASM, false)).toEqual(shared);
    expect(shared.slice(0, 120).some((v) => v !== 0)).toBe(true);
  });
});

describe('native kernels on the wasm backend', () => {
  beforeAll(async () => {
    registerWasmTrainingKernels();
    await useBackend('wasm');
  });
  afterAll(async () => useBackend('cpu'));

  it('are instantiated on the backend, and not on anything else', () => {
    expect(nativeKernels(tf.engine().backend)).toBeDefined();
    expect(nativeKernels({})).toBeUndefined();
    expect(nativeKernels(null)).toBeUndefined();
  });

  it('Sign equals the cpu backend: NaN and both zeros give 0, lengths not a multiple of 4', async () => {
    const v = [NaN, -0, 0, 2.5, -3e-30, Infinity, -Infinity, 1e-45, 7];
    const wasm = Array.from(await tf.sign(tf.tensor1d(v)).data());
    await useBackend('cpu');
    const cpu = Array.from(await tf.sign(tf.tensor1d(v)).data());
    await useBackend('wasm');
    expect(wasm).toEqual(cpu);
    expect(wasm).toEqual([0, 0, 0, 1, -1, 1, -1, 1, 1]);
    const ints = tf.sign(tf.tensor1d([-2, 0, 3], 'int32'));
    expect(ints.dtype).toBe('int32');
    expect(Array.from(await ints.data())).toEqual([-1, 0, 1]);
  });

  it("MaxPoolGrad sends nothing from an all-NaN or all −∞ window, and skips NaN elsewhere, as the cpu backend's rule", async () => {
    // One image 2×4, 4 channels (the SIMD path), two 2×2 windows: per channel, window values [a, b; c, d].
    const wins = [
      [NaN, NaN, NaN, NaN],
      [-Infinity, -Infinity, -Infinity, -Infinity],
      [NaN, 1, 2, NaN],
      [0, 0, 0, 0]
    ];
    const x = new Float32Array(2 * 4 * 4);
    for (let ch = 0; ch < 4; ch++) {
      const [a = 0, b = 0, c = 0, d = 0] = wins[ch] ?? [];
      for (const win of [0, 1]) {
        const idx = (y: number, xx: number): number => (y * 4 + win * 2 + xx) * 4 + ch;
        x[idx(0, 0)] = a;
        x[idx(0, 1)] = b;
        x[idx(1, 0)] = c;
        x[idx(1, 1)] = d;
      }
    }
    const run = (): tf.Tensor => {
      const input = tf.tensor4d(x, [1, 2, 4, 4]);
      const dy = tf.ones([1, 1, 2, 4]);
      return tf.engine().runKernel('MaxPoolGrad', { dy, input, output: dy }, { filterSize: 2, strides: 2, pad: 'valid' });
    };
    const wasm = Array.from(await run().data());
    await useBackend('cpu');
    const cpu = Array.from(await run().data());
    await useBackend('wasm');
    expect(wasm).toEqual(cpu);
  });
});
