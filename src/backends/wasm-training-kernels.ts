import { named } from '../core/errors.js';
import * as tf from '@tensorflow/tfjs-core';
import { convGradientKernels } from './conv-gradients.js';
import { batchMatMulKernel, castKernel, gatherKernel, identityKernel, maxPoolGradKernel, signKernel } from './wasm-fast-paths.js';

const BACKEND = 'wasm';

/** The wasm kernels ardkit's training kernels are built from. */
const REQUIRED = ['Conv2D', 'DepthwiseConv2dNative', 'Transpose', 'Reverse', 'Reshape', 'PadV2', 'Slice', 'Sum', 'BatchMatMul', 'Identity', 'Cast', 'Sign', 'GatherV2'] as const;

/** The functions ardkit registered, to recognise them on a later call. */
const ours = new Map<string, tf.KernelFunc>();

/** ardkit's kernels, each given the kernel it replaces (if any). */
const KERNELS: Record<string, (previous: tf.KernelFunc | undefined) => tf.KernelFunc> = {
  ...Object.fromEntries(Object.entries(convGradientKernels(BACKEND)).map(([name, f]) => [name, () => f])),
  MaxPoolGrad: () => maxPoolGradKernel,
  BatchMatMul: (previous) => batchMatMulKernel(required(previous, 'BatchMatMul')),
  Identity: (previous) => identityKernel(required(previous, 'Identity')),
  Cast: (previous) => castKernel(required(previous, 'Cast')),
  Sign: (previous) => signKernel(required(previous, 'Sign')),
  GatherV2: (previous) => gatherKernel(required(previous, 'GatherV2'))
};

function required(f: tf.KernelFunc | undefined, name: string): tf.KernelFunc {
  if (f === undefined) throw new Error(`registerWasmTrainingKernels: the wasm backend has no '${name}' kernel`);
  return f;
}

/**
 * Registers, for tfjs' `wasm` backend, the gradient kernels that training a convolutional network needs
 * and that `@tensorflow/tfjs-backend-wasm` 4.x lacks or runs slowly: `Conv2DBackpropFilter` (missing, so
 * conv nets cannot train on wasm without it), `Conv2DBackpropInput` (replaced: the shipped one is a plain
 * loop, about 10× slower than the forward convolution), and `DepthwiseConv2dNativeBackpropInput` /
 * `DepthwiseConv2dNativeBackpropFilter` (missing); and, with the kernels' own values, `MaxPoolGrad` (in
 * ardkit's native SIMD kernel, src/backends/native/kernels.c, run on the backend's memory), float32 `Sign` (the
 * same), `BatchMatMul` with transposed operands, `GatherV2` along the first axis (one block copy per index), and
 * `Identity` and `Cast` to the same dtype without a copy.
 *
 * Each is built from the backend's fast forward kernels (XNNPACK `Conv2D` and `DepthwiseConv2dNative`) on
 * rearranged tensors: the input gradient is a stride-1 convolution of the output gradient with the flipped,
 * transposed filter (for a strided convolution, one per output phase with that phase's taps, interleaved, so that
 * it does the forward's arithmetic; the flipped filters are derived once per filter buffer and kept while it lives,
 * so an attack's steps reuse them and XNNPACK's packed weights); the filter gradient is a convolution of the input with batch and
 * channels swapped, the output gradient as the filter and the strides as dilations. Results match the cpu
 * backend to float32 rounding (tested to 1e-4 relative on strides 1 and 2, `same`/`valid`/explicit padding,
 * dilations 1 and 2 for depthwise, batches 1 to 256). NHWC only, as the wasm backend itself.
 *
 * The call is explicit (importing ardkit never registers anything) and idempotent; it may come before or
 * after `tf.setBackend('wasm')`.
 *
 * @returns the names of the kernels ardkit now provides for `wasm` (the same list on every call).
 * @throws Error when `@tensorflow/tfjs-backend-wasm` has not been imported (its kernels are not registered),
 * or was imported with another copy of `@tensorflow/tfjs-core` than ardkit's.
 * @example
 * import * as tf from '@tensorflow/tfjs-core';
 * import '@tensorflow/tfjs-backend-wasm';
 * import { registerWasmTrainingKernels } from 'ardkit/backends';
 *
 * registerWasmTrainingKernels(); // ['Conv2DBackpropFilter', 'Conv2DBackpropInput', …]
 * await tf.setBackend('wasm');
 */
export function registerWasmTrainingKernels(): string[] {
  return named('registerWasmTrainingKernels', () => {
    const missing = REQUIRED.filter((name) => tf.getKernel(name, BACKEND) === undefined);
    if (missing.length > 0) {
      throw new Error(
        'registerWasmTrainingKernels: the wasm backend is not registered (no wasm kernel ' +
        `${missing.map((m) => `'${m}'`).join(', ')}). Import '@tensorflow/tfjs-backend-wasm' first, ` +
        'with the same copy of @tensorflow/tfjs-core as ardkit.'
      );
    }
    for (const [kernelName, make] of Object.entries(KERNELS)) {
      const current = tf.getKernel(kernelName, BACKEND);
      if (current !== undefined && current.kernelFunc === ours.get(kernelName)) continue;
      const kernelFunc = make(current?.kernelFunc);
      // Unregister first: registering over a kernel makes tfjs log a warning.
      if (current !== undefined) tf.unregisterKernel(kernelName, BACKEND);
      // Keep the replaced kernel's setup: the wrappers call it, and the backend runs setups when it initialises.
      const config: tf.KernelConfig = { kernelName, backendName: BACKEND, kernelFunc };
      if (current?.setupFunc !== undefined) config.setupFunc = current.setupFunc;
      if (current?.disposeFunc !== undefined) config.disposeFunc = current.disposeFunc;
      tf.registerKernel(config);
      ours.set(kernelName, kernelFunc);
    }
    return Object.keys(KERNELS).sort();
  });
}
