/**
 * Setup of the GPU suite (`npm run test:gpu`): tfjs' webgpu backend in Node, on Dawn's Node bindings (npm `webgpu`)
 * over a Vulkan driver (SwiftShader's from Debian's chromium unless VK_ICD_FILENAMES says otherwise; see
 * scripts/test-gpu.ts). The globals and `navigator.gpu` must exist before `@tensorflow/tfjs-backend-webgpu` is imported.
 */
import { create, globals } from '../backends/webgpu-cjs.js';

Object.assign(globalThis, globals);
Object.defineProperty(globalThis, 'navigator', { value: { gpu: create([]) }, configurable: true, writable: true });
