/**
 * Run by node-webgpu.test.ts in a child process (`node --loader ts-node/esm`), so that the real npm `webgpu` (an ES
 * module, which jest cannot load) is imported, and the Vulkan loader reads the child's own VK_ICD_FILENAMES (a change
 * of process.env inside jest does not reach native code). Prints one JSON line.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { registerNodeWebGpu, useBestBackend } from '../../src/backends/index.js';

tf.env().set('PROD', true);
const out: Record<string, unknown> = { navigatorGpuBefore: typeof (globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu };
out['status'] = await registerNodeWebGpu();
try {
  out['only'] = await useBestBackend({ candidates: ['webgpu'] });
  out['cpuForwardDefault'] = tf.env().getBool('WEBGPU_CPU_FORWARD');
  tf.env().set('WEBGPU_CPU_FORWARD', false);
  const y = tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[5], [6]]));
  out['matMul'] = Array.from(await y.data());
} catch (error) {
  out['onlyError'] = error instanceof Error ? error.message : String(error);
}
out['withFallback'] = await useBestBackend({ candidates: ['webgpu', 'cpu'] });
process.stdout.write(`${JSON.stringify(out)}\n`);
// No process.exit: the test checks that Dawn lets the process end on its own.
