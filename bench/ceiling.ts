/**
 * The compute ceiling of ardkit's CPU path, measured: how close tfjs' wasm kernels (XNNPACK, SIMD128) come to the
 * machine's SIMD128 throughput, and what fraction of PyTorch's speed that throughput allows at all.
 *
 * - The SIMD128 peak: bench/simd-peak.c (independent f32x4 multiply and add chains), built here with Debian's clang-14
 *   and run on one and on `threads` worker threads at once. A matrix product's multiply-accumulate costs one multiply
 *   and one add, so the peak in GFLOP/s (2 FLOPs per multiply-accumulate) is the measured operation rate.
 * - Per network (smallCnn at batch 128, the MLP 784-256-256-10 at batch 128, the CIFAR ResNet-18 at batch 32): the
 *   multiply-accumulates of a forward pass (every Conv2D, DepthwiseConv2D and Dense layer: output size times kernel
 *   size, as bench/torch_bench.py `--ceiling` counts PyTorch's), the median time of the forward pass and of one PGD
 *   step (forward and input gradient: twice the forward's arithmetic) on ardkit (wasm, ardkit's kernels,
 *   `useBestBackend()`) and on PyTorch (oneDNN, dense layers as 1×1 convolutions), and so each side's GFLOP/s.
 * - The bound: ardkit at 100 % of the SIMD128 peak would run at `peak / PyTorch's GFLOP/s` of PyTorch's speed.
 *
 * Writes bench/ceiling.json (bench/run.ts renders it into docs/performance.md) and prints the table.
 *
 *   npm run -s build && node --disable-warning=ExperimentalWarning --loader ts-node/esm bench/ceiling.ts [--python /usr/bin/python3]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { useBestBackend } from 'ardkit/backends';
import { fromLayersModel } from 'ardkit/core';
import { pgd } from 'ardkit/attacks';
import { resNet18, smallCnn } from 'ardkit/models';
import { parseOptions } from '../examples/cli.js';
import { mlp } from '../examples/common.js';
import { median } from './compare.js';
import { ceilingMarkdown, type CeilingResult, type NetworkCeiling } from './ceiling-report.js';

const opts = parseOptions('Usage: node --loader ts-node/esm bench/ceiling.ts [options]', {
  python: { type: 'string', description: 'a Python with torch (Debian: /usr/bin/python3)', default: '/usr/bin/python3' },
  reps: { type: 'string', description: 'timed calls per measurement', default: '10' },
  json: { type: 'string', description: 'results file', default: 'bench/ceiling.json' }
});

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The peak's wasm, built from bench/simd-peak.c; undefined (with the reason) when clang-14 is missing. */
function buildPeak(): { wasm?: Buffer; reason?: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'ardkit-peak-'));
  try {
    const out = path.join(dir, 'peak.wasm');
    const r = spawnSync('clang-14', ['--target=wasm32', '-O3', '-msimd128', '-nostdlib', '-ffreestanding', '-Wl,--no-entry', '-Wl,--strip-all', '-o', out, path.join(root, 'bench/simd-peak.c')], { encoding: 'utf8' });
    if (r.error !== undefined || r.status !== 0) return { reason: `clang-14 did not build bench/simd-peak.c (${r.error?.message ?? r.stderr.trim()}); Debian: apt-get install clang-14 lld-14` };
    return { wasm: readFileSync(out) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** GFLOP/s of the peak loop on `threads` workers at once (each its own instance), summed; the median of 3 runs. */
async function peakRate(wasm: Buffer, threads: number): Promise<number> {
  const iterations = 3e8;
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    WebAssembly.instantiate(workerData.wasm).then(({ instance }) => {
      const f = instance.exports.peak;
      f(1e6);
      parentPort.once('message', () => {
        const t = performance.now();
        f(workerData.iterations);
        parentPort.postMessage((workerData.iterations * 48) / ((performance.now() - t) / 1e3) / 1e9);
      });
      parentPort.postMessage('ready');
    });`;
  const runs: number[] = [];
  for (let run = 0; run < 3; run++) {
    const workers = Array.from({ length: threads }, () => new Worker(code, { eval: true, workerData: { wasm, iterations } }));
    await Promise.all(workers.map((w) => new Promise((resolve) => { w.once('message', resolve); })));
    const rates = await Promise.all(workers.map((w) => new Promise<number>((resolve) => { w.once('message', resolve); w.postMessage('go'); })));
    await Promise.all(workers.map((w) => w.terminate()));
    runs.push(rates.reduce((a, b) => a + b, 0));
  }
  return median(runs);
}

/** Multiply-accumulates of one forward pass of one example: every Conv2D, DepthwiseConv2D and Dense layer. */
function macs(net: tfl.LayersModel): number {
  let total = 0;
  for (const layer of net.layers) {
    const kind = layer.getClassName();
    if (kind !== 'Conv2D' && kind !== 'DepthwiseConv2D' && kind !== 'Dense') continue;
    const out = layer.outputShape as number[];
    const outputs = out.slice(1).reduce((a, b) => a * b, 1);
    const kernel = layer.getWeights()[0]?.shape ?? [];
    // Conv2D [kh, kw, in, out]: kh·kw·in per output; DepthwiseConv2D [kh, kw, in, m]: kh·kw; Dense [in, out]: in.
    const perOutput = kind === 'Conv2D' ? (kernel[0] ?? 1) * (kernel[1] ?? 1) * (kernel[2] ?? 1) : kind === 'DepthwiseConv2D' ? (kernel[0] ?? 1) * (kernel[1] ?? 1) : (kernel[0] ?? 1);
    total += outputs * perOutput;
  }
  return total;
}

async function timeMs(f: () => tf.Tensor, reps: number): Promise<number> {
  for (let i = 0; i < 2; i++) {
    const t = f();
    await t.data();
    t.dispose();
  }
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    const t = f();
    await t.data();
    times.push(performance.now() - t0);
    t.dispose();
  }
  return median(times);
}

async function main(): Promise<void> {
  const reps = Number(opts.reps);
  const startedAt = new Date().toISOString();
  const loadAverageBefore = loadavg();
  // PyTorch first, before tfjs starts its wasm worker threads (idle, they still spin for a while and slow PyTorch down).
  const threadsWanted = cpus().length;
  let torchNetworks: Array<{ name: string; macsPerImage: number; forward: { medianSeconds: number }; pgdStep: { medianSeconds: number } }> = [];
  let torch: string | undefined;
  let torchSkipped: string | undefined;
  console.error('bench/ceiling: PyTorch …');
  const r = spawnSync(opts.python, [path.join(root, 'bench/torch_bench.py'), '--ceiling', '--threads', String(threadsWanted), '--reps', String(reps / 10)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.error !== undefined || r.status !== 0) torchSkipped = `bench/torch_bench.py --ceiling failed with ${opts.python} (Debian: apt-get install python3-torch)`;
  else {
    const t = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { torch: string; networks: Array<{ name: string; macsPerImage: number; forward: { medianSeconds: number }; pgdStep: { medianSeconds: number } }> };
    torch = t.torch;
    torchNetworks = t.networks;
  }
  await useBestBackend({ candidates: ['wasm'] });
  tf.env().set('PROD', true);
  const wasm = (await import('@tensorflow/tfjs-backend-wasm')) as { getThreadsCount(): number };
  const threads = wasm.getThreadsCount();

  const built = buildPeak();
  const peak = built.wasm === undefined ? undefined : { oneThread: await peakRate(built.wasm, 1), allThreads: await peakRate(built.wasm, threads) };

  const networks: NetworkCeiling[] = [];
  const specs: Array<{ name: string; net: () => tfl.LayersModel; shape: number[]; batch: number; eps: number }> = [
    { name: 'smallCnn', net: () => smallCnn({ seed: 0 }), shape: [28, 28, 1], batch: 128, eps: 0.3 },
    { name: 'mlp 784-256-256-10', net: () => mlp([256, 256], 2, 'mlp256'), shape: [28, 28, 1], batch: 128, eps: 0.3 },
    { name: 'ResNet-18 (CIFAR)', net: () => resNet18({ inputShape: [32, 32, 3], classes: 10, seed: 0 }), shape: [32, 32, 3], batch: 32, eps: 8 / 255 }
  ];
  for (const spec of specs) {
    console.error(`bench/ceiling: ${spec.name}, ardkit …`);
    const net = spec.net();
    const model = fromLayersModel(net);
    const x = tf.randomUniform([spec.batch, ...spec.shape], 0, 1, 'float32', 1);
    const y = tf.tensor1d(Array.from({ length: spec.batch }, (_, i) => i % 10), 'int32');
    const forwardMs = await timeMs(() => model(x), reps);
    const pgdStepMs = await timeMs(() => pgd(model, x, y, { eps: spec.eps, steps: 1, stepSize: spec.eps / 4, seed: 0 }), reps);
    networks.push({ name: spec.name, batch: spec.batch, macsPerImage: macs(net), ardkit: { forwardMs, pgdStepMs } });
    tf.dispose([x, y]);
    net.dispose();
  }

  for (const [i, n] of networks.entries()) {
    const theirs = torchNetworks.find((m) => m.name === n.name);
    if (theirs === undefined) continue;
    networks[i] = { ...n, torchMacsPerImage: theirs.macsPerImage, pytorch: { forwardMs: theirs.forward.medianSeconds * 1000, pgdStepMs: theirs.pgdStep.medianSeconds * 1000 } };
  }
  const result: CeilingResult = {
    startedAt,
    loadAverageBefore,
    loadAverageAfter: loadavg(),
    cpu: cpus()[0]?.model ?? 'unknown',
    threads,
    ...(peak === undefined ? { peakSkipped: built.reason ?? 'not built' } : { peak }),
    ...(torch === undefined ? { torchSkipped: torchSkipped ?? 'not run' } : { torch }),
    networks
  };
  writeFileSync(path.resolve(root, opts.json), `${JSON.stringify(result, null, 2)}\n`);
  console.log(ceilingMarkdown(result).join('\n'));
}

await main();
