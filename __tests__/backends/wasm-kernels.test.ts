/**
 * ardkit's wasm training kernels against the cpu backend (the reference), on random shapes: strides 1 and 2,
 * `same`/`valid`/explicit padding, dilations 1 and 2 (depthwise), batches 1 to 256, to 1e-4 relative.
 */
import * as tf from '@tensorflow/tfjs-core';
import { registerWasmTrainingKernels } from '../../src/backends/index.js';
import { testRandom, useBackend } from '../helpers.js';

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
type Shape4 = [number, number, number, number];

/** Plain random values in [-1, 1), the same on both backends. */
function values(shape: number[], seed: number): number[] {
  const r = testRandom(seed);
  return Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => Math.fround(r() * 2 - 1));
}

/** Runs `f` on cpu, then on wasm (with ardkit's kernels); returns both results as plain numbers. */
async function onBoth(f: () => tf.Tensor, ref: () => tf.Tensor = f): Promise<{ cpu: number[]; wasm: number[]; shapes: [number[], number[]] }> {
  await useBackend('cpu');
  const c = tf.tidy(ref);
  const cpu = Array.from(await c.data());
  const cpuShape = c.shape;
  c.dispose();
  await useBackend('wasm');
  const w = tf.tidy(f);
  const wasm = Array.from(await w.data());
  const wasmShape = w.shape;
  w.dispose();
  return { cpu, wasm, shapes: [cpuShape, wasmShape] };
}

/** max |a − b| / max |b| (b the reference), and both must be finite. */
function relError(actual: number[], expected: number[]): number {
  expect(actual.length).toBe(expected.length);
  let diff = 0;
  let scale = 0;
  actual.forEach((a, i) => {
    const e = expected[i] ?? NaN;
    diff = Math.max(diff, Number.isFinite(a) ? Math.abs(a - e) : Infinity);
    scale = Math.max(scale, Math.abs(e));
  });
  return diff / Math.max(scale, 1e-12);
}

async function expectSameAsCpu(f: () => tf.Tensor, ref?: () => tf.Tensor): Promise<void> {
  const r = await onBoth(f, ref);
  expect(r.shapes[1]).toEqual(r.shapes[0]);
  expect(relError(r.wasm, r.cpu)).toBeLessThanOrEqual(1e-4);
}

function explicitPad(r: () => number): Pad {
  const p = (): number => Math.floor(r() * 3);
  return [[0, 0], [p(), p()], [p(), p()], [0, 0]];
}

/** Random convolution geometries; `seed` makes the list reproducible. */
function geometries(count: number, seed: number, depthwise: boolean): Array<{ x: Shape4; f: Shape4; stride: number; dilation: number; pad: Pad }> {
  const r = testRandom(seed);
  const pick = <T>(options: readonly T[]): T => options[Math.floor(r() * options.length)] as T;
  const out: Array<{ x: Shape4; f: Shape4; stride: number; dilation: number; pad: Pad }> = [];
  for (let i = 0; i < count; i++) {
    const stride = i % 2 === 0 ? 1 : 2;
    const dilation = depthwise && stride === 1 && i % 4 === 0 ? 2 : 1;
    const k = pick([1, 2, 3, 3, 5]);
    const h = (k - 1) * dilation + 1 + Math.floor(r() * 8);
    const w = (k - 1) * dilation + 1 + Math.floor(r() * 8);
    const batch = pick([1, 2, 5]);
    const ci = pick([1, 2, 3, 6]);
    const co = depthwise ? pick([1, 2]) : pick([1, 4, 7]);
    const pad: Pad = [pick(['same', 'valid'] as const), explicitPad(r)][i % 3 === 2 ? 1 : 0] as Pad;
    out.push({ x: [batch, h, w, ci], f: [k, Math.min(k, pick([k, 1, 2])), ci, co], stride, dilation, pad });
  }
  // Large batches, small images: the batch becomes the channel axis of the filter-gradient convolution.
  out.push({ x: [256, 6, 5, 3], f: [3, 3, 3, depthwise ? 2 : 4], stride: 1, dilation: 1, pad: 'same' });
  out.push({ x: [64, 9, 9, 2], f: [3, 3, 2, depthwise ? 1 : 5], stride: 2, dilation: 1, pad: 'valid' });
  return out;
}

function outShape(g: { x: Shape4; f: Shape4; stride: number; dilation: number; pad: Pad }, depthwise: boolean): Shape4 {
  const info = tf.backend_util.computeConv2DInfo(g.x, g.f, g.stride, g.dilation, g.pad, undefined, depthwise);
  return info.outShape;
}

/**
 * A dilated filter as the equivalent dense one, zeros inserted between taps: the cpu backend's depthwise
 * gradient kernels ignore `dilations` (tfjs 4.22), so the reference runs them on this filter at dilation 1.
 */
function dilateFilter(f: tf.Tensor4D, d: number): tf.Tensor4D {
  if (d === 1) return f;
  const [kh, kw, c, m] = f.shape;
  const six = tf.reshape(f, [kh, 1, kw, 1, c, m]);
  const padded = tf.pad(six, [[0, 0], [0, d - 1], [0, 0], [0, d - 1], [0, 0], [0, 0]]);
  return tf.slice(tf.reshape<tf.Rank.R4>(padded, [kh * d, kw * d, c, m]), [0, 0, 0, 0], [(kh - 1) * d + 1, (kw - 1) * d + 1, c, m]);
}

it('importing ardkit registers nothing: the wasm backend keeps its own kernels until the call', () => {
  expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeUndefined();
  expect(tf.getKernel('Conv2DBackpropInput', 'wasm')).toBeDefined();
});

describe('registerWasmTrainingKernels', () => {
  let registered: string[] = [];
  beforeAll(async () => {
    registered = registerWasmTrainingKernels();
    await useBackend('wasm');
  });

  it('returns what it registers, the same list on every call, without tfjs warnings', () => {
    expect(registered).toEqual(expect.arrayContaining(['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput', 'MaxPoolGrad']));
    const before = registered.map((k) => tf.getKernel(k, 'wasm').kernelFunc);
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      expect(registerWasmTrainingKernels()).toEqual(registered);
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
    expect(registered.map((k) => tf.getKernel(k, 'wasm').kernelFunc)).toEqual(before);
  });

  describe.each(geometries(14, 1, false).map((g) => [JSON.stringify(g), g] as const))('Conv2D gradients %s', (_name, g) => {
    const dy = outShape(g, false);
    const attrs = { strides: g.stride, pad: g.pad, dataFormat: 'NHWC' };

    it('Conv2DBackpropInput equals the cpu backend', async () => {
      await expectSameAsCpu(() =>
        tf.engine().runKernel('Conv2DBackpropInput', { dy: tf.tensor(values(dy, 1), dy), filter: tf.tensor(values(g.f, 2), g.f) }, { ...attrs, inputShape: g.x })
      );
    });

    it('Conv2DBackpropFilter equals the cpu backend', async () => {
      await expectSameAsCpu(() =>
        tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.tensor(values(g.x, 3), g.x), dy: tf.tensor(values(dy, 1), dy) }, { ...attrs, filterShape: g.f })
      );
    });
  });

  // Strided convolutions with more than 4 input channels take the polyphase path (one stride-1 convolution per output
  // phase): every stride, filter size and padding where a phase has no tap, a partial tap set, or a crop of dy.
  it.each<[Shape4, Shape4, number | [number, number], Pad]>([
    [[2, 9, 9, 6], [3, 3, 6, 5], 2, 'same'],
    [[2, 9, 9, 6], [3, 3, 6, 5], 2, 'valid'],
    [[2, 8, 8, 6], [3, 3, 6, 5], 2, 'same'],
    [[3, 8, 7, 5], [1, 1, 5, 4], 2, 'valid'],
    [[1, 10, 11, 8], [4, 2, 8, 3], 2, 'same'],
    [[2, 11, 10, 6], [5, 5, 6, 7], 3, 'same'],
    [[2, 12, 12, 6], [3, 3, 6, 4], 3, 'valid'],
    [[2, 9, 8, 6], [3, 3, 6, 4], [2, 1], 'same'],
    [[2, 10, 9, 7], [3, 2, 7, 3], 2, [[0, 0], [2, 1], [0, 2], [0, 0]]],
    [[1, 5, 5, 6], [5, 5, 6, 2], 2, [[0, 0], [0, 0], [1, 0], [0, 0]]]
  ])('Conv2DBackpropInput, strided (polyphase): x %j, filter %j, strides %j, pad %j, equals the cpu backend', async (x, f, stride, pad) => {
    const dy = tf.backend_util.computeConv2DInfo(x, f, stride, 1, pad).outShape;
    await expectSameAsCpu(() =>
      tf.engine().runKernel('Conv2DBackpropInput', { dy: tf.tensor(values(dy, 21), dy), filter: tf.tensor(values(f, 22), f) }, { strides: stride, pad, dataFormat: 'NHWC', inputShape: x })
    );
  });

  it('a filter derived once per filter buffer: a new filter of the same shape gives its own gradient, and freed filters free theirs', async () => {
    await useBackend('wasm');
    const x: Shape4 = [2, 8, 8, 6];
    const fShape: Shape4 = [3, 3, 6, 5];
    const dyShape = tf.backend_util.computeConv2DInfo(x, fShape, 2, 1, 'same').outShape;
    const grad = (f: tf.Tensor, dy: tf.Tensor): tf.Tensor => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: f }, { strides: 2, pad: 'same', dataFormat: 'NHWC', inputShape: x });
    const dy = tf.tensor(values(dyShape, 31), dyShape);
    const buffers = tf.engine().backend.numDataIds();
    for (const seed of [32, 33, 32]) {
      const f = tf.tensor(values(fShape, seed), fShape);
      const read = async (t: tf.Tensor): Promise<number[]> => {
        const v = Array.from(await t.data());
        t.dispose();
        return v;
      };
      const wasm = await read(grad(f, dy));
      const again = await read(grad(f, dy));
      await useBackend('cpu');
      const cpu = Array.from(await tf.tidy(() => grad(tf.tensor(values(fShape, seed), fShape), tf.tensor(values(dyShape, 31), dyShape))).data());
      await useBackend('wasm');
      expect(relError(wasm, cpu)).toBeLessThanOrEqual(1e-4);
      expect(again).toEqual(wasm);
      f.dispose();
    }
    // One more call with a fresh filter frees what the freed ones derived; only this filter's phases stay.
    const f = tf.tensor(values(fShape, 34), fShape);
    tf.dispose(grad(f, dy));
    f.dispose();
    const last = tf.tensor(values(fShape, 35), fShape);
    tf.dispose(grad(last, dy));
    last.dispose();
    expect(tf.engine().backend.numDataIds() - buffers).toBeLessThanOrEqual(4);
    dy.dispose();
  });

  describe.each(geometries(14, 2, true).map((g) => [JSON.stringify(g), g] as const))('depthwise gradients %s', (_name, g) => {
    const dy = outShape(g, true);
    const attrs = { strides: g.stride, pad: g.pad, dilations: g.dilation };
    const refAttrs = { ...attrs, dilations: 1 };
    const dense: Shape4 = [(g.f[0] - 1) * g.dilation + 1, (g.f[1] - 1) * g.dilation + 1, g.f[2], g.f[3]];

    it('DepthwiseConv2dNativeBackpropInput equals the cpu backend', async () => {
      const inputs = (dilated: boolean): tf.NamedTensorMap => {
        const filter = tf.tensor4d(values(g.f, 2), g.f);
        return { dy: tf.tensor(values(dy, 1), dy), filter: dilated ? dilateFilter(filter, g.dilation) : filter };
      };
      await expectSameAsCpu(
        () => tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', inputs(false), { ...attrs, inputShape: g.x }),
        () => tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', inputs(true), { ...refAttrs, inputShape: g.x })
      );
    });

    it('DepthwiseConv2dNativeBackpropFilter equals the cpu backend', async () => {
      const inputs = (): tf.NamedTensorMap => ({ x: tf.tensor(values(g.x, 3), g.x), dy: tf.tensor(values(dy, 1), dy) });
      await expectSameAsCpu(
        () => tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', inputs(), { ...attrs, filterShape: g.f }),
        () => {
          const full = tf.engine().runKernel<tf.Tensor>('DepthwiseConv2dNativeBackpropFilter', inputs(), { ...refAttrs, filterShape: dense });
          return tf.stridedSlice(full, [0, 0, 0, 0], dense, [g.dilation, g.dilation, 1, 1]);
        }
      );
    });
  });

  it('the reference for dilations is right: a dilated conv equals the dense one with zeros between taps', async () => {
    await useBackend('cpu');
    const x = tf.tensor4d(values([2, 9, 8, 3], 4), [2, 9, 8, 3]);
    const f = tf.tensor4d(values([3, 3, 3, 2], 5), [3, 3, 3, 2]);
    const a = tf.depthwiseConv2d(x, f, 1, 'same', 'NHWC', 2);
    const b = tf.depthwiseConv2d(x, dilateFilter(f, 2), 1, 'same');
    expect(relError(Array.from(a.dataSync()), Array.from(b.dataSync()))).toBeLessThan(1e-6);
    tf.dispose([x, f, a, b]);
    await useBackend('wasm');
  });

  describe.each([
    [[3, 8, 8, 5], 2, 2, 'valid'],
    [[2, 7, 9, 4], 2, 2, 'same'],
    [[2, 9, 7, 3], 3, 1, 'same'],
    [[1, 10, 10, 2], 3, 2, 'valid'],
    [[128, 6, 6, 8], 2, 2, 'valid'],
    [[2, 8, 8, 16], 2, 1, 'valid'],
    [[3, 9, 8, 12], 2, 2, 'same'],
    [[1, 6, 6, 7], 3, 2, 'same']
  ] as const)('MaxPoolGrad x %j, pool %i, stride %i, %s', (shape, pool, stride, pad) => {
    it('equals the cpu backend, ties (ReLU zeros, repeated values) included', async () => {
      const x = (): tf.Tensor4D => tf.tensor4d(values([...shape], 6).map((v) => Math.max(0, Math.round(v * 3))), [...shape]);
      await expectSameAsCpu(() => {
        const input = x();
        const output = tf.maxPool(input, pool, stride, pad);
        const dy = tf.tensor(values(output.shape, 7), output.shape);
        return tf.engine().runKernel('MaxPoolGrad', { dy, input, output }, { filterSize: pool, strides: stride, pad });
      });
    });
  });

  it.each([
    [[4, 5], [5, 6], false, false],
    [[5, 4], [5, 6], true, false],
    [[4, 5], [6, 5], false, true],
    [[5, 4], [6, 5], true, true],
    [[3, 5, 4], [3, 6, 5], true, true],
    [[3, 4, 5], [1, 6, 5], false, true]
  ] as const)('BatchMatMul %j × %j (transposeA %s, transposeB %s) equals the cpu backend', async (a, b, ta, tb) => {
    await expectSameAsCpu(() => tf.matMul(tf.tensor(values([...a], 8), [...a]), tf.tensor(values([...b], 9), [...b]), ta, tb));
  });

  it('BatchMatMul with transposeB: each B buffer transposed once, a new B of the same shape gives its own product, freed Bs free theirs', async () => {
    await useBackend('wasm');
    const a = tf.tensor(values([6, 5], 40), [6, 5]);
    const buffers = tf.engine().backend.numDataIds();
    for (const seed of [41, 42, 41]) {
      const b = tf.tensor(values([7, 5], seed), [7, 5]);
      const first = tf.matMul(a, b, false, true);
      const again = tf.matMul(a, b, false, true);
      const wasm = Array.from(await first.data());
      expect(Array.from(await again.data())).toEqual(wasm);
      tf.dispose([first, again, b]);
      await useBackend('cpu');
      const cpu = Array.from(await tf.tidy(() => tf.matMul(tf.tensor(values([6, 5], 40), [6, 5]), tf.tensor(values([7, 5], seed), [7, 5]), false, true)).data());
      await useBackend('wasm');
      expect(relError(wasm, cpu)).toBeLessThanOrEqual(1e-5);
    }
    const last = tf.tensor(values([7, 5], 43), [7, 5]);
    tf.dispose(tf.matMul(a, last, false, true));
    last.dispose();
    // Only the last B's transpose remains, until the next call after it was freed.
    expect(tf.engine().backend.numDataIds() - buffers).toBeLessThanOrEqual(1);
    a.dispose();
  });

  it.each([
    ['float32 rows', [7, 3, 4], 'float32', [6, 0, 6, 2], 0],
    ['int32 labels', [9], 'int32', [8, 1, 1], 0],
    ['a [2, 2] index tensor', [5, 2], 'float32', [[4, 0], [3, 3]], 0],
    ['axis 1 (the backend\'s kernel)', [3, 5], 'float32', [4, 0], 1]
  ] as const)('GatherV2 of %s equals the cpu backend', async (_, shape, dtype, idx, axis) => {
    await expectSameAsCpu(() => tf.gather(tf.tensor(values([...shape], 50).map((v) => (dtype === 'int32' ? Math.round(v * 10) : v)), [...shape], dtype), tf.tensor(idx as unknown as tf.TensorLike, undefined, 'int32'), axis));
  });

  it('Identity and Cast to the same dtype share data; other casts still convert', async () => {
    await useBackend('wasm');
    const x = tf.tensor1d([1.7, -2.5, 3]);
    const c = tf.clone(x);
    const same = tf.cast(x, 'float32');
    const int = tf.cast(x, 'int32');
    x.dispose();
    expect(Array.from(c.dataSync())).toEqual([Math.fround(1.7), -2.5, 3]);
    expect(Array.from(same.dataSync())).toEqual([Math.fround(1.7), -2.5, 3]);
    expect(Array.from(int.dataSync())).toEqual([1, -2, 3]);
    expect(int.dtype).toBe('int32');
    tf.dispose([c, same, int]);
  });

  it('leaks neither tensors nor backend buffers, on every kernel', async () => {
    await useBackend('wasm');
    const run = (): void => {
      tf.tidy(() => {
        const x = tf.tensor4d(values([3, 9, 9, 2], 10), [3, 9, 9, 2]);
        const f = tf.tensor4d(values([3, 3, 2, 4], 11), [3, 3, 2, 4]);
        const df = tf.tensor4d(values([3, 3, 2, 2], 12), [3, 3, 2, 2]);
        const dy = tf.tensor4d(values([3, 5, 5, 4], 13), [3, 5, 5, 4]);
        const attrs = { strides: 2, pad: 'same', dataFormat: 'NHWC', dilations: 1 };
        tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: f }, { ...attrs, inputShape: x.shape });
        tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: f.shape });
        tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy, filter: df }, { ...attrs, inputShape: x.shape });
        tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { ...attrs, filterShape: df.shape });
        const pooled = tf.maxPool(x, 2, 2, 'valid');
        tf.engine().runKernel('MaxPoolGrad', { dy: pooled, input: x, output: pooled }, { filterSize: 2, strides: 2, pad: 'valid' });
        tf.matMul(tf.reshape(x, [27, 18]), tf.reshape(x, [27, 18]), true, false);
        tf.cast(tf.clone(x), 'float32');
        tf.sign(x);
        tf.gather(x, tf.tensor1d([2, 0], 'int32'));
      });
    };
    run();
    const tensors = tf.memory().numTensors;
    const buffers = tf.engine().backend.numDataIds();
    run();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.engine().backend.numDataIds()).toBe(buffers);
  });

  it('rejects NCHW, which the wasm backend does not support', async () => {
    await useBackend('wasm');
    const dy = tf.zeros([1, 2, 3, 3]);
    const f = tf.zeros([2, 2, 2, 2]);
    expect(() => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: f }, { strides: 1, pad: 'valid', dataFormat: 'NCHW', inputShape: [1, 2, 4, 4] })).toThrow(
      /only dataFormat 'NHWC'/
    );
    tf.dispose([dy, f]);
  });
});
