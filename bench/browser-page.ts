/**
 * The browser benchmark page (bundled by bench/browser.ts with esbuild against one ardkit build, run in headless
 * Chromium): on webgl, and on webgpu where the browser offers it, the small MNIST CNN's PGD at batch `?batch=`
 * (default 32): the time of one PGD step (`?reps=` calls, default 5) and of PGD-10 (`?pgd10reps=`, default 0), the
 * result read back, each after two untimed calls, and the host readbacks a PGD-10 call makes before its result is
 * read (on a batch of 4, counted by wrapping the engine's `readSync` and `read`). Inputs are uniform in [0, 1] (the
 * time does not depend on the pixels).
 * Publishes a {@link BrowserBenchReport} as `window.__ardkitBench`.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { pgd } from 'ardkit/attacks';
import { smallCnn } from 'ardkit/models';
import { startBackend } from '../scripts/lib/page-backends.js';
import { readbacks } from '../scripts/lib/readbacks.js';

/** One backend's figures. */
export interface BrowserBackendResult {
  readonly backend: string;
  readonly available: boolean;
  readonly detail: string;
  /** Milliseconds of each timed call of a one-step PGD, in order. */
  readonly pgdStepMs?: readonly number[];
  /** Milliseconds of each timed PGD-10 call. */
  readonly pgd10Ms?: readonly number[];
  /** Readbacks of one PGD-10 call before its result is read. */
  readonly pgd10Readbacks?: number;
}

/** What the page publishes. */
export interface BrowserBenchReport {
  readonly userAgent: string;
  readonly batch: number;
  readonly results: readonly BrowserBackendResult[];
  readonly error?: string;
}

declare global {
  interface Window {
    __ardkitBench?: Promise<BrowserBenchReport>;
  }
}

async function timed(f: () => tf.Tensor, reps: number): Promise<number[]> {
  const times: number[] = [];
  for (let r = reps > 0 ? -2 : 0; r < reps; r++) {
    const t0 = performance.now();
    const out = f();
    await out.data();
    out.dispose();
    if (r >= 0) times.push(performance.now() - t0);
  }
  return times;
}

async function run(): Promise<BrowserBenchReport> {
  const params = new URLSearchParams(location.search);
  const batch = Number(params.get('batch') ?? '32');
  const reps = Number(params.get('reps') ?? '5');
  const pgd10Reps = Number(params.get('pgd10reps') ?? '0');
  const backends = (params.get('backends') ?? 'webgl,webgpu').split(',');
  const results: BrowserBackendResult[] = [];
  for (const name of backends) {
    const why = await startBackend(name);
    if (why !== undefined) {
      results.push({ backend: name, available: false, detail: why });
      continue;
    }
    try {
      results.push(await measure(name, batch, reps, pgd10Reps));
    } catch (e) {
      // A backend that starts and then fails (webgpu on SwiftShader: dataSync reads zeros, then the instance is lost)
      // is reported, and the other backends are still measured.
      results.push({ backend: name, available: false, detail: `failed: ${e instanceof Error ? e.message : String(e)}` });
    }
  }
  return { userAgent: navigator.userAgent, batch, results };
}

async function measure(name: string, batch: number, reps: number, pgd10Reps: number): Promise<BrowserBackendResult> {
  const net = smallCnn({ seed: 0 });
  const model = (x: tf.Tensor): tf.Tensor2D => net.apply(x) as tf.Tensor2D;
  const x = tf.randomUniform([batch, 28, 28, 1], 0, 1, 'float32', 1);
  const y = tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 10), 'int32');
  const x2 = tf.slice(x, 0, Math.min(4, batch));
  const y2 = tf.slice(y, 0, Math.min(4, batch));
  try {
    return await measureWith(name, model, x, y, x2, y2, reps, pgd10Reps);
  } finally {
    tf.dispose([x, y, x2, y2]);
    net.dispose();
  }
}

async function measureWith(
  name: string,
  model: (x: tf.Tensor) => tf.Tensor2D,
  x: tf.Tensor,
  y: tf.Tensor1D,
  x2: tf.Tensor,
  y2: tf.Tensor1D,
  reps: number,
  pgd10Reps: number
): Promise<BrowserBackendResult> {
  const step = (): tf.Tensor => pgd(model, x, y, { eps: 0.3, steps: 1, stepSize: 0.01 });
  const ten = (): tf.Tensor => pgd(model, x, y, { eps: 0.3, steps: 10, stepSize: 0.01 });
  const pgdStepMs = await timed(step, reps);
  const pgd10Ms = pgd10Reps > 0 ? await timed(ten, pgd10Reps) : [];
  // x2, y2: fresh inputs, tensors no value check has seen.
  // Counted while the call runs; its result is released unread.
  const pgd10Readbacks = await readbacks(() => pgd(model, x2, y2, { eps: 0.3, steps: 10, stepSize: 0.01 }));
  const gl = name === 'webgl' ? `WebGL ${String(tf.env().getNumber('WEBGL_VERSION'))}` : 'WebGPU adapter';
  return { backend: name, available: true, detail: gl, pgdStepMs, pgd10Ms, pgd10Readbacks };
}

window.__ardkitBench = run().catch((e: unknown): BrowserBenchReport => ({
  userAgent: navigator.userAgent,
  batch: 0,
  results: [],
  error: e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e)
}));
