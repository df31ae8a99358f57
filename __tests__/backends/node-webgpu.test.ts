/**
 * registerNodeWebGpu, and useBestBackend's 'webgpu' candidate: tfjs' webgpu backend in Node through Dawn (npm `webgpu`).
 *
 * In this process, with the Vulkan driver jest was started with (the loader reads VK_ICD_FILENAMES when Dawn starts;
 * a change of process.env inside jest does not reach it):
 *
 *   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json npx jest __tests__/backends/node-webgpu.test.ts
 *
 * gives a working webgpu backend (SwiftShader's adapter), checked against cpu; without the variable, on a machine with
 * no Vulkan driver, the result says what to install. Child processes then run the real ES module `webgpu` (which jest
 * cannot load, hence the mock below) with VK_ICD_FILENAMES pointing at SwiftShader's driver and at a missing file.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-layers'; // tfjs' gradients
import { registerNodeWebGpu, useBestBackend, type NodeWebGpuStatus } from '../../src/backends/index.js';

jest.mock('webgpu', () => jest.requireActual<object>('./webgpu-cjs'));

tf.env().set('PROD', true);

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const icd = process.env['VK_ICD_FILENAMES'];
const root = path.resolve(__dirname, '../..');
const nav = (): { gpu?: unknown } | undefined => (globalThis as { navigator?: { gpu?: unknown } }).navigator;

/** Deterministic values in [-1, 1) (host arrays: a tensor made on webgpu cannot move to cpu synchronously). */
function values(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 30) - 1);
}

/**
 * Conv net pieces on the current backend, made from host arrays: forward, input gradient and filter gradient (what a
 * PGD step and a training step need). Leaves no tensor behind.
 */
async function convPieces(): Promise<Float32Array[]> {
  const out = tf.tidy(() => {
    const x = tf.tensor4d(values(2 * 8 * 8 * 3, 1), [2, 8, 8, 3]);
    const w = tf.tensor4d(values(3 * 3 * 3 * 4, 2), [3, 3, 3, 4]);
    const f = (xi: tf.Tensor, wi: tf.Tensor): tf.Scalar => tf.sum(tf.square(tf.relu(tf.conv2d(xi as tf.Tensor4D, wi as tf.Tensor4D, 1, 'same'))));
    const [dx, dw] = tf.grads(f)([x, w]);
    return [tf.conv2d(x, w, 1, 'same'), dx!, dw!];
  });
  const read = await Promise.all(out.map(async (t) => (await t.data()) as Float32Array));
  tf.dispose(out);
  return read;
}

describe('registerNodeWebGpu in this process', () => {
  it('validates its options before loading anything', async () => {
    await expect(registerNodeWebGpu({ dawnOptions: 'backend=vulkan' as unknown as string[] })).rejects.toThrow(
      /^registerNodeWebGpu: dawnOptions must be an array of strings \(got "backend=vulkan"\)$/
    );
    await expect(registerNodeWebGpu({ dawnOptions: [1 as unknown as string] })).rejects.toThrow(TypeError);
    await expect(registerNodeWebGpu({ adapter: 'x' } as object)).rejects.toThrow(/^registerNodeWebGpu: options must only have the keys dawnOptions \(got "adapter"\)$/);
    expect(nav()?.gpu).toBeUndefined();
    expect(tf.findBackendFactory('webgpu')).toBeNull();
  });

  it(`gives a working webgpu backend on the driver VK_ICD_FILENAMES names (${icd ?? 'unset here'}), or says what to install`, async () => {
    const status: NodeWebGpuStatus = await registerNodeWebGpu();
    if (!status.found) {
      // Only acceptable without a driver: on this project's machines, VK_ICD_FILENAMES unset (see the file's comment).
      expect(icd).toBeUndefined();
      expect(status.reason).toMatch(/^registerNodeWebGpu: WebGPU found no adapter: .*VK_ICD_FILENAMES.*install the GPU's Vulkan driver/);
      await expect(useBestBackend({ candidates: ['webgpu'] })).rejects.toThrow(status.reason);
      return;
    }
    expect(status.gpu).toBe('dawn');
    expect(status.adapter.description).not.toBe('');
    if (icd === SWIFTSHADER_ICD) expect(status.adapter).toMatchObject({ vendor: 'google', architecture: 'swiftshader' });
    // The WebGPU globals tfjs-backend-webgpu uses, and navigator.gpu, are installed; the backend is registered.
    expect((globalThis as { GPUBufferUsage?: unknown }).GPUBufferUsage).toBeDefined();
    expect(tf.findBackendFactory('webgpu')).not.toBeNull();
    // A second call reuses the same navigator.gpu.
    const gpu = nav()?.gpu;
    expect(await registerNodeWebGpu()).toEqual(status);
    expect(nav()?.gpu).toBe(gpu);

    expect(await useBestBackend({ candidates: ['webgpu', 'cpu'] })).toBe('webgpu');
    expect(tf.getBackend()).toBe('webgpu');
    // No flag was changed: WEBGPU_CPU_FORWARD keeps tfjs' default until the program sets it.
    expect(tf.env().getBool('WEBGPU_CPU_FORWARD')).toBe(true);
    tf.env().set('WEBGPU_CPU_FORWARD', false);

    const before = tf.memory().numTensors;
    const onGpu = await convPieces();
    expect(tf.memory().numTensors).toBe(before);
    await tf.setBackend('cpu');
    const onCpu = await convPieces();
    onGpu.forEach((g, i) => {
      const c = onCpu[i]!;
      const scale = Math.max(...c.map(Math.abs));
      expect(g.length).toBe(c.length);
      expect(Math.max(...g.map((v, j) => Math.abs(v - c[j]!)))).toBeLessThanOrEqual(1e-5 * scale);
    });
  });
});

/** Runs __tests__/backends/node-webgpu-child.ts with `env` added to this process's environment. */
function child(env: Record<string, string>): Record<string, unknown> {
  const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', '--loader', 'ts-node/esm', '__tests__/backends/node-webgpu-child.ts'], {
    cwd: root,
    env: { ...process.env, XDG_RUNTIME_DIR: process.env['XDG_RUNTIME_DIR'] ?? '/tmp', ...env },
    encoding: 'utf8',
    timeout: 100_000
  });
  if (r.status !== 0) throw new Error(`child exited with ${String(r.status)} (${String(r.signal)}):\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as Record<string, unknown>;
}

describe('registerNodeWebGpu with the npm package webgpu, in a child process', () => {
  const swiftShader = fs.existsSync(SWIFTSHADER_ICD) ? it : it.skip;

  swiftShader('works on SwiftShader\'s Vulkan driver, changes no flag, and lets the process end', () => {
    const out = child({ VK_ICD_FILENAMES: SWIFTSHADER_ICD });
    const status = out['status'] as { adapter?: { device?: unknown; description?: unknown } };
    expect(status.adapter?.description).toMatch(/^SwiftShader/);
    expect(typeof status.adapter?.device).toBe('string');
    expect(out).toEqual({
      navigatorGpuBefore: 'undefined',
      status: { found: true, gpu: 'dawn', adapter: { vendor: 'google', architecture: 'swiftshader', device: status.adapter?.device, description: status.adapter?.description } },
      only: 'webgpu',
      cpuForwardDefault: true,
      matMul: [17, 39],
      withFallback: 'webgpu'
    });
  });

  it('fails cleanly, saying to set VK_ICD_FILENAMES or install a Vulkan driver, when VK_ICD_FILENAMES names a missing file', () => {
    const missing = '/nonexistent/vk_icd.json';
    const out = child({ VK_ICD_FILENAMES: missing });
    const reason = (out['status'] as { reason: string }).reason;
    expect(out['status']).toEqual({ found: false, reason });
    expect(reason).toContain(`registerNodeWebGpu: WebGPU found no adapter: VK_ICD_FILENAMES=${missing} names a file that does not exist: ${missing}.`);
    expect(reason).toContain("install the GPU's Vulkan driver");
    expect(reason).toMatch(/set VK_ICD_FILENAMES=|set VK_ICD_FILENAMES to SwiftShader/);
    expect(out['onlyError']).toBe(
      `useBestBackend: none of the backends webgpu could be loaded; install one of webgpu with @tensorflow/tfjs-backend-webgpu (with the same version as @tensorflow/tfjs-core). ${reason}`
    );
    // With a fallback, useBestBackend moves on.
    expect(out['withFallback']).toBe('cpu');
  });
});
