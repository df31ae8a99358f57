import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { DEFAULT_NODE_BACKENDS, NODE_BACKENDS, useBestBackend } from '../../src/backends/index.js';

// Nothing imports a backend package here: useBestBackend loads them itself.
tf.env().set('PROD', true);

describe('useBestBackend', () => {
  it('loads no backend on import of ardkit: none is registered before the call', () => {
    expect(tf.findBackendFactory('wasm')).toBeNull();
    expect(tf.findBackendFactory('cpu')).toBeNull();
  });

  it('chooses wasm with the training kernels and one thread per core when tfjs-node is not installed', async () => {
    expect(DEFAULT_NODE_BACKENDS).toEqual(['tensorflow', 'wasm', 'cpu']);
    expect(NODE_BACKENDS).toEqual(['tensorflow', 'webgpu', 'wasm', 'cpu']);
    expect(await useBestBackend()).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    // One XNNPACK thread per core, at most 8 (registerWasmThreads).
    const { getThreadsCount } = await import('@tensorflow/tfjs-backend-wasm');
    expect(getThreadsCount()).toBe(Math.min(8, os.availableParallelism()));
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
    expect(tf.findBackendFactory('tensorflow')).toBeNull();
    // webgpu is tried only when asked for: nothing of it was loaded.
    expect(tf.findBackendFactory('webgpu')).toBeNull();
    expect((globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu).toBeUndefined();
  });

  it('chooses cpu when wasm is skipped, and a single candidate forces that backend', async () => {
    expect(await useBestBackend({ candidates: ['tensorflow', 'cpu'] })).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(await useBestBackend({ candidates: ['wasm'] })).toBe('wasm');
    expect(await useBestBackend({ candidates: ['cpu'] })).toBe('cpu');
  });

  it('says which packages to install when no candidate can be loaded', async () => {
    // Neither tfjs-node-gpu nor tfjs-node is installed here: not installed is no failure to report.
    await expect(useBestBackend({ candidates: ['tensorflow'] })).rejects.toThrow(
      /^useBestBackend: none of the backends tensorflow could be loaded; install one of @tensorflow\/tfjs-node-gpu, @tensorflow\/tfjs-node \(with the same version as @tensorflow\/tfjs-core\)$/
    );
  });

  it('validates its options before loading anything', async () => {
    await expect(useBestBackend({ candidates: [] })).rejects.toThrow(/^useBestBackend: candidates must be a non-empty array of "tensorflow", "webgpu", "wasm", "cpu" \(got \[\]\)$/);
    await expect(useBestBackend({ candidates: ['gpu' as 'cpu'] })).rejects.toThrow(/^useBestBackend: candidates must hold only .* \(got "gpu"\)$/);
    await expect(useBestBackend({ wasmTrainingKernels: 1 as unknown as boolean })).rejects.toThrow(TypeError);
    await expect(useBestBackend({ backend: 'cpu' } as object)).rejects.toThrow(/^useBestBackend: options must only have the keys candidates, wasmTrainingKernels, threads \(got "backend"\)$/);
  });
});
