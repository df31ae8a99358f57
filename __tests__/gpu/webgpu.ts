/** Starting tfjs' webgpu backend for the GPU suite, with its synchronous readback turned into an error. */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgpu';
// tfjs-core alone registers no gradients in Node; tfjs-layers does, as users' programs would.
import '@tensorflow/tfjs-layers';

tf.env().set('PROD', true);
// Without this, tfjs runs small ops on its CPU kernels inside the webgpu backend, and the GPU paths never run.
tf.env().set('WEBGPU_CPU_FORWARD', false);

/** Counts the synchronous readbacks attempted on webgpu since the suite started (each one also throws). */
export const syncReads = { count: 0 };

/**
 * Makes `name` the current backend. On webgpu, the backend's `readSync` throws whatever the tensor: in Chromium it
 * returns zeros and in Node it needs an OffscreenCanvas, so ardkit must never call it there; the suite proves it.
 */
export async function useBackend(name: 'cpu' | 'webgpu'): Promise<void> {
  if (!(await tf.setBackend(name))) throw new Error(`backend ${name} failed to initialise (VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES ?? 'unset'})`);
  await tf.ready();
  if (name !== 'webgpu') return;
  const backend = tf.backend() as unknown as { readSync: (dataId: unknown) => unknown; __ardkitPatched?: boolean };
  if (backend.__ardkitPatched === true) return;
  backend.readSync = () => {
    syncReads.count += 1;
    throw new Error('synchronous readback on webgpu (dataSync, arraySync or readSync)');
  };
  backend.__ardkitPatched = true;
}
