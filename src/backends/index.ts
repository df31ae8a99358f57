/**
 * Backend selection for Node and the training kernels that tfjs' wasm backend lacks or runs slowly.
 * Nothing here runs on import: registering kernels, installing WebGPU and choosing a backend are explicit calls.
 * @packageDocumentation
 */
export { registerWasmTrainingKernels } from './wasm-training-kernels.js';
export { MAX_WASM_THREADS, registerWasmThreads, type WasmThreadsOptions } from './wasm-threads.js';
export { type NodeWebGpuOptions, type NodeWebGpuStatus, registerNodeWebGpu, type WebGpuAdapterDescription } from './node-webgpu.js';
export { DEFAULT_NODE_BACKENDS, type NodeBackendName, NODE_BACKENDS, type UseBestBackendOptions, useBestBackend } from './use-best-backend.js';
