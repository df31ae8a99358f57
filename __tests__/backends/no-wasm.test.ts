/**
 * Without '@tensorflow/tfjs-backend-wasm' imported, registering the wasm kernels is a clear error. This file
 * deliberately imports no wasm backend (jest gives each test file its own tfjs-core).
 */
import * as tf from '@tensorflow/tfjs-core';
import { registerWasmTrainingKernels } from '../../src/backends/index.js';

it('registerWasmTrainingKernels says to import the wasm backend first', () => {
  expect(() => registerWasmTrainingKernels()).toThrow(
    /^registerWasmTrainingKernels: the wasm backend is not registered \(no wasm kernel 'Conv2D', .*\)\. Import '@tensorflow\/tfjs-backend-wasm' first/
  );
  expect(tf.getKernelsForBackend('wasm')).toEqual([]);
});
