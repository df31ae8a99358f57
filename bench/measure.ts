/**
 * One benchmark configuration in its own process (so that memory figures are its own): images/s of one PGD
 * step, of PGD-10 and of an adversarial-training step on the small MNIST CNN, ardkit's `pgd` against a
 * hand-written tfjs loop, and optionally tensors and RSS over many PGD steps; with `--compare`, the backend
 * comparison of the example networks (bench/compare.ts: a PGD step and a PGD-AT step at a small batch). Prints one
 * JSON line. Every result is read back with `await data()`, so webgpu (no `dataSync` in Node) runs it too.
 *
 *   node --loader ts-node/esm bench/measure.ts --config wasm+ardkit [--reps 1] [--leak-steps 1000] [--compare]
 *   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json node --loader ts-node/esm bench/measure.ts --config webgpu --compare-only
 */
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { registerNodeWebGpu, useBestBackend } from 'ardkit/backends';
import { flushChecks, fromLayersModel, type Model } from 'ardkit/core';
import { pgd } from 'ardkit/attacks';
import { crossEntropy } from 'ardkit/losses';
import { smallCnn } from 'ardkit/models';
import { parseOptions, positive } from '../examples/cli.js';
import { loadMnist } from '../examples/mnist.js';
import { compareNetworks, type CompareOptions } from './compare.js';
import { NETWORKS } from './networks.js';
import { CONFIGS, type Config, type ConfigResult, type Pair, type Rate } from './types.js';

const opts = parseOptions('Usage: node --loader ts-node/esm bench/measure.ts --config NAME [options]', {
  config: { type: 'string', description: `one of ${CONFIGS.join(', ')}` },
  batch: { type: 'string', description: 'batch size', default: '128' },
  reps: { type: 'string', description: 'scale of the repetition counts (1 = full run)', default: '1' },
  'leak-steps': { type: 'string', description: 'PGD steps of the tensor and RSS check (0 = skip)', default: '0' },
  profile: { type: 'boolean', description: 'add the per-kernel time of one PGD step', default: false },
  compare: { type: 'boolean', description: 'add the backend comparison of the example networks (bench/compare.ts)', default: false },
  'compare-only': { type: 'boolean', description: 'run only the backend comparison', default: false },
  'compare-batch': { type: 'string', description: 'batch size of the backend comparison', default: '16' }
});

const EPS = 0.3;
const STEP_SIZE = 0.01;

/**
 * Seconds of one call of `f`, data read back (so asynchronous backends finish), with the value checks ardkit queued on
 * a GPU backend (`flushChecks()`: nothing queued on cpu, wasm and tensorflow, so nothing read there).
 */
async function timeOnce(f: () => tf.Tensor | undefined): Promise<number> {
  const t0 = performance.now();
  const out = f();
  if (out !== undefined) {
    await out.data();
    out.dispose();
  }
  await flushChecks();
  return (performance.now() - t0) / 1000;
}

function at(list: Rate[], i: number): Rate {
  const r = list[i];
  if (r === undefined) throw new Error(`no measurement ${String(i)}`);
  return r;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}

/**
 * Images/s of each function, measured in alternation (A B, B A, A B, …) so that a change of machine load
 * affects them alike; the median of `reps` timed calls after `warmup` untimed ones.
 */
async function rates(fns: Array<() => tf.Tensor | undefined>, batch: number, reps: number, warmup: number): Promise<Rate[]> {
  for (let w = 0; w < warmup; w++) for (const f of fns) await timeOnce(f);
  const times: number[][] = fns.map(() => []);
  for (let r = 0; r < reps; r++) {
    // A B, then B A: whatever one call leaves to the next (garbage to collect, a warm cache) falls on each alike.
    const order = r % 2 === 0 ? [...fns.keys()] : [...fns.keys()].reverse();
    for (const i of order) {
      const f = fns[i];
      if (f !== undefined) times[i]?.push(await timeOnce(f));
    }
  }
  return times.map((t) => ({ imagesPerSecond: batch / median(t), medianSeconds: median(t), reps: t.length, seconds: t }));
}

/** ardkit against the hand loop from paired neighbouring calls (see {@link Pair.relativeSpeed}). */
function pair(ardkit: Rate, hand: Rate): Pair {
  const ratios = ardkit.seconds.map((s, i) => (hand.seconds[i] ?? NaN) / s);
  return { ardkit, hand, relativeSpeed: median(ratios) };
}

/**
 * The PGD loop as a tfjs user writes it by hand: the same loss (cross-entropy summed over the batch, in
 * log-softmax form), random start in the ε-box, sign step, projection on the ε-ball ∩ [0, 1].
 */
function handPgd(model: Model, x: tf.Tensor, y: tf.Tensor1D, steps: number): tf.Tensor {
  const oneHot = tf.oneHot(y, 10);
  const grad = tf.grad((xa: tf.Tensor) => tf.neg(tf.sum(tf.mul(oneHot, tf.logSoftmax(model(xa))))));
  const lower = tf.maximum(tf.sub(x, EPS), 0);
  const upper = tf.minimum(tf.add(x, EPS), 1);
  let xAdv = tf.tidy(() => tf.minimum(tf.maximum(tf.add(x, tf.randomUniform(x.shape, -EPS, EPS)), lower), upper));
  for (let k = 0; k < steps; k++) {
    const next = tf.tidy(() => tf.minimum(tf.maximum(tf.add(xAdv, tf.mul(tf.sign(grad(xAdv)), STEP_SIZE)), lower), upper));
    xAdv.dispose();
    xAdv = next;
  }
  tf.dispose([oneHot, lower, upper]);
  return xAdv;
}

async function setup(config: Config, result: Partial<ConfigResult>): Promise<void> {
  if (config === 'webgpu') {
    const gpu = await registerNodeWebGpu();
    if (!gpu.found) throw new Error(gpu.reason);
    result.adapter = gpu.adapter;
    await useBestBackend({ candidates: ['webgpu'] });
    // Every op on the device, small ones included (tfjs' default runs them on its CPU kernels).
    tf.env().set('WEBGPU_CPU_FORWARD', false);
    result.flags = { WEBGPU_CPU_FORWARD: false };
  } else if (config === 'cpu') await useBestBackend({ candidates: ['cpu'] });
  else if (config === 'wasm') await useBestBackend({ candidates: ['wasm'], wasmTrainingKernels: false, threads: 1 });
  else if (config === 'wasm+ardkit-1thread') await useBestBackend({ candidates: ['wasm'], threads: 1 });
  else if (config === 'wasm+ardkit') await useBestBackend({ candidates: ['wasm'] });
  else {
    await useBestBackend({ candidates: ['tensorflow'] });
    const cache = createRequire(import.meta.url).cache;
    const loaded = (pkg: string): boolean => Object.keys(cache).some((k) => k.includes(`/node_modules/${pkg}/`));
    result.package = loaded('@tensorflow/tfjs-node-gpu') ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
  }
}

/** The comparison's repetitions on each configuration: few where a call takes seconds (cpu, webgpu on SwiftShader). */
function comparisonSettings(config: Config, scale: number): Pick<CompareOptions, 'reps' | 'warmup' | 'bothImpls' | 'skipTrain'> {
  const r = (n: number): number => Math.max(1, Math.round(n * scale));
  // The cpu backend: one call each, no warm-up (its smallCnn training step takes about 20 s at batch 16).
  if (config === 'cpu') return { reps: 1, warmup: 0 };
  if (config === 'webgpu') return { reps: r(2), warmup: 1 };
  // wasm+ardkit is the reference: its hand-written loop is timed too, for backends where ardkit's functions fail.
  return { reps: r(5), warmup: 1, bothImpls: config === 'wasm+ardkit' };
}

/** The wasm backend's XNNPACK thread count, or undefined on another backend. */
async function wasmThreads(): Promise<number | undefined> {
  if (tf.getBackend() !== 'wasm') return undefined;
  const wasm = (await import('@tensorflow/tfjs-backend-wasm')) as { getThreadsCount(): number };
  return wasm.getThreadsCount();
}

/** How many timed calls each measurement gets on this configuration (a cpu PGD-10 takes over a minute). */
function repetitions(config: Config, scale: number): { step: number; ten: number; train: number; handTen: boolean } {
  const r = (n: number): number => Math.max(1, Math.round(n * scale));
  if (config === 'cpu') return { step: r(4), ten: 1, train: 1, handTen: false };
  if (config === 'wasm') return { step: r(5), ten: r(2), train: r(2), handTen: true };
  return { step: r(30), ten: r(10), train: r(6), handTen: true };
}

async function main(): Promise<void> {
  const config = opts.config as Config;
  if (!CONFIGS.includes(config)) throw new Error(`--config must be one of ${CONFIGS.join(', ')} (got ${JSON.stringify(opts.config)})`);
  const batch = positive('batch', opts.batch, true);
  const scale = positive('reps', opts.reps);
  const leakSteps = Number(opts['leak-steps']);
  const result: ConfigResult = { config, backend: '', batch };
  await setup(config, result);
  result.backend = tf.getBackend();
  const threads = await wasmThreads();
  if (threads !== undefined) result.threads = threads;
  tf.env().set('PROD', true);
  const progress = (what: string): void => {
    console.error(`bench: ${config}: ${what} …`);
  };
  if (opts.compare || opts['compare-only']) {
    result.comparison = await compareNetworks({
      networks: NETWORKS,
      batch: positive('compare-batch', opts['compare-batch'], true),
      pgdSteps: 1,
      trainAttackSteps: 1,
      ...comparisonSettings(config, scale),
      log: (what) => {
        progress(`comparison: ${what}`);
      }
    });
  }
  if (opts['compare-only']) {
    result.comparisonOnly = true;
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }

  const test = await loadMnist('test', batch);
  const { x, y } = test;
  const net = smallCnn({ seed: 0 });
  const model = fromLayersModel(net);
  const optimizer = tf.train.sgd(0.01);
  const ardkitPgd = (steps: number) => (): tf.Tensor => pgd(model, x, y, { eps: EPS, steps, stepSize: STEP_SIZE, seed: 1 });
  const hand = (steps: number) => (): tf.Tensor => handPgd(model, x, y, steps);
  // The loss is returned and read back asynchronously by timeOnce (webgpu has no dataSync in Node).
  const advTrain = (): tf.Tensor | undefined => {
    const xAdv = pgd(model, x, y, { eps: EPS, steps: 10, stepSize: STEP_SIZE, seed: 2 });
    const loss = optimizer.minimize(() => crossEntropy(model(xAdv), y), true);
    xAdv.dispose();
    return loss ?? undefined;
  };

  const n = repetitions(config, scale);
  progress('forward pass');
  result.forward = at(await rates([() => model(x)], batch, n.step, 2), 0);
  progress('one PGD step');
  const step = await rates([ardkitPgd(1), hand(1)], batch, n.step, 2);
  result.pgdStep = pair(at(step, 0), at(step, 1));
  progress('PGD-10');
  const ten = await rates(n.handTen ? [ardkitPgd(10), hand(10)] : [ardkitPgd(10)], batch, n.ten, config === 'cpu' ? 0 : 1);
  result.pgd10 = n.handTen ? pair(at(ten, 0), at(ten, 1)) : { ardkit: at(ten, 0) };
  progress('adversarial-training step');
  try {
    result.advTrainStep = at(await rates([advTrain], batch, n.train, config === 'cpu' ? 0 : 1), 0);
  } catch (error) {
    result.advTrainError = error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
  }

  if (opts.profile) {
    progress('profile of one PGD step');
    const profile = await tf.profile(async () => {
      const out = ardkitPgd(1)();
      await out.data();
      return out;
    });
    const byKernel = new Map<string, number>();
    for (const k of profile.kernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + (typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0));
    result.profileMs = Object.fromEntries([...byKernel.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([k, v]) => [k, Math.round(v * 10) / 10]));
  }

  if (leakSteps > 0) {
    progress(`tensors and RSS over ${String(leakSteps)} PGD steps`);
    // Warm-up: the wasm heap and V8 reach their working size in the first calls.
    for (let i = 0; i < 10; i++) tf.dispose(ardkitPgd(10)());
    await flushChecks();
    const before = { tensors: tf.memory().numTensors, rss: process.memoryUsage().rss };
    const trace: number[] = [];
    for (let i = 0; i < leakSteps / 10; i++) {
      const out = ardkitPgd(10)();
      await out.data();
      out.dispose();
      await flushChecks();
      if (i % 10 === 9) trace.push(Math.round(process.memoryUsage().rss / 2 ** 20));
    }
    const after = { tensors: tf.memory().numTensors, rss: process.memoryUsage().rss };
    result.memory = {
      pgdSteps: leakSteps,
      numTensorsBefore: before.tensors,
      numTensorsAfter: after.tensors,
      rssBeforeMiB: before.rss / 2 ** 20,
      rssAfterMiB: after.rss / 2 ** 20,
      rssGrowth: (after.rss - before.rss) / before.rss,
      rssEvery100StepsMiB: trace
    };
  }
  tf.dispose([x, y]);
  optimizer.dispose();
  net.dispose();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
