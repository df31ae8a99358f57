/** Conv nets train on (single-threaded) wasm with ardkit's kernels: see training-suite.ts. */
import { registerWasmTrainingKernels } from '../../src/backends/index.js';
import { trainingSuite } from './training-suite.js';

trainingSuite('training on wasm with ardkit kernels', async () => {
  registerWasmTrainingKernels();
  await Promise.resolve();
});
