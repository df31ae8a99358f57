/**
 * The browser conformance page (bundled by `scripts/test-browser.ts` with esbuild, run in headless Chromium).
 *
 * It runs the conformance suite (`__tests__/conformance/suite.ts`: every attack, every loss with its gradient, `fit`
 * with every objective, `evaluate` and `autoAttack`) on cpu, then on webgl and on webgpu where the browser offers an
 * adapter, and compares each value with the cpu backend's in the same page; the suite's header lists the tolerances.
 * Small ops run on the GPU too (`WEBGL_CPU_FORWARD` and `WEBGPU_CPU_FORWARD` are off). The page publishes a
 * {@link ConformanceReport} as `window.__ardkitConformance` (a promise); the runner prints it and decides pass or fail.
 *
 * With `?float16=1` the page also runs webgl with float16 textures and reports those rows as informational.
 */
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone registers no gradients; in a browser bundle this import does.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
// The module itself, not ardkit/backends' index, which also holds Node-only code.
import { registerWasmTrainingKernels } from '../../src/backends/wasm-training-kernels.js';
import { nativeKernels } from '../../src/backends/native-kernels.js';
import { runConformance, type CheckResult, type ConformanceReport } from '../conformance/suite.js';
import { startBackend, tryBackend } from '../../scripts/lib/page-backends.js';

export type { BackendStatus, CheckResult, ConformanceReport } from '../conformance/suite.js';

declare global {
  interface Window {
    __ardkitConformance?: Promise<ConformanceReport>;
  }
}

// tfjs' wasm binaries, served by scripts/test-browser.ts; the page is not cross-origin isolated, so tfjs runs its
// single-threaded SIMD build, and ardkit's native kernels their plain-memory module.
setWasmPaths('/wasm/');
registerWasmTrainingKernels();

// Tiny tensors would otherwise run on tfjs' CPU kernels inside the GPU backends, and the GPU paths never run.
tf.env().set('WEBGL_CPU_FORWARD', false);
tf.env().set('WEBGPU_CPU_FORWARD', false);

function backendDetail(name: string): string {
  if (name === 'webgl') {
    const env = tf.env();
    return `WebGL ${String(env.getNumber('WEBGL_VERSION'))}, float32 textures ${env.getBool('WEBGL_RENDER_FLOAT32_ENABLED') ? 'yes' : 'no (float16)'}`;
  }
  if (name === 'webgpu') return 'navigator.gpu adapter found';
  if (name === 'wasm') {
    const native = tf.getBackend() === 'wasm' && nativeKernels(tf.engine().backend) !== undefined;
    return `tfjs' wasm with ardkit's training kernels (registerWasmTrainingKernels), native kernels ${native ? 'running' : 'NOT running'}`;
  }
  return 'pure JavaScript reference';
}

/**
 * Informational: webgl again with float16 textures, as on GPUs without renderable float32 textures (many phones).
 * Its rows are marked `informational` and never fail the run; they measure what precision such devices give.
 */
async function runFloat16(rerun: (backend: string) => Promise<CheckResult[]>, backends: { name: string; available: boolean; detail: string }[], checks: CheckResult[]): Promise<void> {
  const factory = tf.findBackendFactory('webgl');
  if (factory === null) return;
  // A fresh backend instance reads the texture flags again (the first one cached them).
  tf.removeBackend('webgl');
  tf.env().set('WEBGL_FORCE_F16_TEXTURES', true);
  tf.env().set('WEBGL_RENDER_FLOAT32_ENABLED', false);
  tf.registerBackend('webgl', factory);
  const error = await tryBackend('webgl');
  backends.push({ name: 'webgl-f16', available: error === undefined, detail: error ?? `${backendDetail('webgl')}, informational` });
  if (error !== undefined) return;
  checks.push(...(await rerun('webgl-f16')).map((c) => ({ ...c, informational: true })));
}

async function run(): Promise<ConformanceReport> {
  const float16 = new URLSearchParams(location.search).get('float16') === '1';
  const extraBackends: { name: string; available: boolean; detail: string }[] = [];
  const extraChecks: CheckResult[] = [];
  const report = await runConformance({
    backends: ['webgl', 'webgpu', 'wasm'],
    start: (name) => (name === 'cpu' ? tryBackend(name) : startBackend(name)),
    describe: backendDetail,
    log: (line) => { console.info(line); },
    ...(float16 ? { extra: (rerun: (backend: string) => Promise<CheckResult[]>) => runFloat16(rerun, extraBackends, extraChecks) } : {})
  });
  return { ...report, userAgent: navigator.userAgent, backends: [...report.backends, ...extraBackends], checks: [...report.checks, ...extraChecks] };
}

window.__ardkitConformance = run().catch(
  (e: unknown): ConformanceReport => ({
    userAgent: navigator.userAgent,
    backends: [],
    checks: [],
    seconds: 0,
    error: e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e)
  })
);
