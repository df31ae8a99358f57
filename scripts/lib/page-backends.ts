/** Starting a tfjs backend in a browser page (the conformance page, the browser benchmark's page). */
import * as tf from '@tensorflow/tfjs-core';

/** Makes `name` the current backend; returns why it could not start, or undefined when it did. */
export async function tryBackend(name: string): Promise<string | undefined> {
  try {
    if (!(await tf.setBackend(name))) return `tf.setBackend('${name}') returned false`;
    await tf.ready();
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/** Why WebGPU cannot run here, or undefined when the browser offers an adapter. */
export async function webgpuUnavailable(): Promise<string | undefined> {
  const gpu = (navigator as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (gpu === undefined) return 'navigator.gpu is undefined: this browser exposes no WebGPU';
  try {
    return (await gpu.requestAdapter()) === null ? 'navigator.gpu.requestAdapter() found no adapter (GPU disabled or unsupported)' : undefined;
  } catch (e) {
    return `navigator.gpu.requestAdapter() failed: ${e instanceof Error ? e.message : String(e)}`;
  }
}

/** Starts `name` (for webgpu, once the browser offers an adapter); returns why it could not, or undefined. */
export async function startBackend(name: string): Promise<string | undefined> {
  return (name === 'webgpu' ? await webgpuUnavailable() : undefined) ?? (await tryBackend(name));
}
