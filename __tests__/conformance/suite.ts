/**
 * The conformance suite: what every backend must compute as the cpu backend does. One module, two runners: the
 * browser page (`__tests__/browser/conformance-page.ts`, cpu, webgl and webgpu in headless Chromium) and the GPU suite
 * in Node (`__tests__/gpu/conformance.test.ts`, cpu and webgpu through Dawn). It runs every check on the cpu backend
 * first, then on each other backend, and compares each value with cpu's.
 *
 * What is checked, and the tolerances (the runners print them beside every measured value):
 * - attacks (every attack of `ardkit/attacks` on a small trained classifier): `‖x' − x‖ ≤ ε·(1 + 1e-5) + 1e-6` (float32
 *   rounding of `x + δ`), `x'` inside `[0, 1]` exactly, adversarial accuracy ≤ clean accuracy, no tensor leaked, and
 *   on the other backends an adversarial accuracy within 0.1 (3 of 32 points) of cpu's;
 * - losses (every loss of `ardkit/losses`): every per-example value (and every entry of `compensatedTargets`) within
 *   `1e-3·max(|cpu value|, 1e-3·max(‖cpu‖∞, 1))` of cpu's; gradients with respect to the first logits:
 *   `‖g − g_cpu‖∞ ≤ 1e-3·‖g_cpu‖∞`;
 * - `fit` with every objective (two epochs of two batches, from the same initial weights): every final weight within
 *   {@link FIT_WEIGHT_TOLERANCE} of cpu's and the last epoch's loss within {@link FIT_LOSS_REL} of cpu's (relative),
 *   no tensor leaked;
 * - `evaluate` (clean and PGD-10) and `autoAttack` (APGD-CE, APGD-T, Square, small budgets): accuracies within 0.1 of
 *   cpu's, no tensor leaked.
 *
 * Values are only ever read asynchronously (`await t.data()`): on webgpu a synchronous readback throws (Node) or
 * returns zeros (Chromium on SwiftShader).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { apgd, apgdTargeted, cwL2, cwLinf, deepFool, fab, fabTargeted, miFgsm, fgsm, pgd, pgdAttack, square, tradesAttack } from '../../src/attacks/index.js';
import { flushChecks, type Model } from '../../src/core/index.js';
import { autoAttack, evaluate } from '../../src/eval/index.js';
import * as L from '../../src/losses/index.js';
import { testRandom } from '../test-random.js';
import { studentFromLayers, studentTeacherHead } from '../../src/models/index.js';
import { adaad, ard, arrest, crdnd, darht, featuresOf, fit, iad, ltd, mart, mtard, natural, pgdAt, rslad, trades, type Objective, type Student } from '../../src/train/index.js';

/** One measured check on one backend. */
export interface CheckResult {
  readonly backend: string;
  readonly group: 'attack' | 'loss' | 'gradient' | 'memory' | 'fit' | 'eval';
  readonly name: string;
  /** What the check measured: a distance, an error, a difference. */
  readonly measured: number;
  /** The largest value of `measured` that passes. */
  readonly limit: number;
  readonly passed: boolean;
  /** What was measured, in words. */
  readonly what: string;
  /** Reported, never failed (the float16 webgl run). */
  readonly informational?: boolean;
}

/** Whether a backend ran, and why not when it did not. */
export interface BackendStatus {
  readonly name: string;
  readonly available: boolean;
  readonly detail: string;
}

/** What a run of the suite reports. */
export interface ConformanceReport {
  readonly userAgent: string;
  readonly backends: readonly BackendStatus[];
  readonly checks: readonly CheckResult[];
  readonly seconds: number;
  /** An error that stopped the run, if any. */
  readonly error?: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Fixed inputs: plain numbers, the same on every backend.

function numbers(n: number, scale: number, seed: number): number[] {
  const r = testRandom(seed);
  return Array.from({ length: n }, () => Math.fround((r() - 0.5) * 2 * scale));
}

const B = 8;
const C = 10;
const D = 6;

/** Logits and labels every loss case draws from. */
interface LossData {
  readonly studentAdv: number[];
  readonly studentClean: number[];
  readonly teacherClean: number[];
  readonly teacherAdv: number[];
  readonly teacher2: number[];
  readonly featureMap: number[];
  readonly embeddingsS: number[];
  readonly embeddingsT: number[];
  readonly labels: number[];
}

const lossData: LossData = {
  studentAdv: numbers(B * C, 3, 1),
  studentClean: numbers(B * C, 3, 2),
  teacherClean: numbers(B * C, 4, 3),
  teacherAdv: numbers(B * C, 4, 4),
  teacher2: numbers(B * C, 2, 5),
  featureMap: numbers(B * 2 * C, 3, 6),
  embeddingsS: numbers(B * D, 1, 7),
  embeddingsT: numbers(B * D, 1, 8),
  labels: Array.from({ length: B }, (_, i) => (i * 3) % C)
};

/** The loss inputs as tensors on the current backend. */
interface LossTensors {
  readonly studentAdv: tf.Tensor2D;
  readonly studentClean: tf.Tensor2D;
  readonly teacherClean: tf.Tensor2D;
  readonly teacherAdv: tf.Tensor2D;
  readonly teacher2: tf.Tensor2D;
  readonly featureMap: tf.Tensor2D;
  readonly embeddingsS: tf.Tensor2D;
  readonly embeddingsT: tf.Tensor2D;
  readonly labels: tf.Tensor1D;
}

type LogitsKey = Exclude<keyof LossTensors, 'labels'>;

function lossTensors(): LossTensors {
  const m = (v: number[], cols: number): tf.Tensor2D => tf.tensor2d(v, [v.length / cols, cols]);
  return {
    studentAdv: m(lossData.studentAdv, C),
    studentClean: m(lossData.studentClean, C),
    teacherClean: m(lossData.teacherClean, C),
    teacherAdv: m(lossData.teacherAdv, C),
    teacher2: m(lossData.teacher2, C),
    featureMap: m(lossData.featureMap, 2 * C),
    embeddingsS: m(lossData.embeddingsS, D),
    embeddingsT: m(lossData.embeddingsT, D),
    labels: tf.tensor1d(lossData.labels, 'int32')
  };
}

/** One loss under test: per-example values (or targets), differentiable in `wrt`. */
interface LossCase {
  readonly name: string;
  readonly wrt: LogitsKey;
  readonly run: (t: LossTensors) => tf.Tensor;
}

const none = { reduction: 'none' } as const;

/** Every loss exported by `ardkit/losses`, with options that exercise each branch. */
const lossCases: readonly LossCase[] = [
  { name: 'crossEntropy', wrt: 'studentAdv', run: (t) => L.crossEntropy(t.studentAdv, t.labels, none) },
  { name: 'klDivergence (logits)', wrt: 'studentAdv', run: (t) => L.klDivergence(t.teacherClean, t.studentAdv, none) },
  {
    name: 'klDivergence (probabilities)',
    wrt: 'studentAdv',
    run: (t) => L.klDivergence(tf.softmax(t.teacherClean), t.studentAdv, { ...none, targetType: 'probabilities' })
  },
  { name: 'cwMarginLoss κ=2', wrt: 'studentAdv', run: (t) => L.cwMarginLoss(t.studentAdv, t.labels, { ...none, kappa: 2 }) },
  { name: 'kdLoss τ=1', wrt: 'studentAdv', run: (t) => L.kdLoss(t.studentAdv, t.teacherClean, none) },
  {
    name: 'kdLoss LTD τS=5 τT=1',
    wrt: 'studentAdv',
    run: (t) => L.kdLoss(t.studentAdv, t.teacherClean, { ...none, studentTemperature: 5, teacherTemperature: 1 })
  },
  { name: 'tradesLoss β=6', wrt: 'studentAdv', run: (t) => L.tradesLoss({ clean: t.studentClean, adv: t.studentAdv, labels: t.labels }, none) },
  { name: 'martLoss β=6', wrt: 'studentAdv', run: (t) => L.martLoss({ clean: t.studentClean, adv: t.studentAdv, labels: t.labels }, none) },
  { name: 'ardLoss τ=30', wrt: 'studentAdv', run: (t) => L.ardLoss({ studentAdv: t.studentAdv, teacherClean: t.teacherClean }, none) },
  {
    name: 'ardLoss τ=4 α=0.5',
    wrt: 'studentAdv',
    run: (t) =>
      L.ardLoss(
        { studentAdv: t.studentAdv, teacherClean: t.teacherClean, studentClean: t.studentClean, labels: t.labels },
        { ...none, temperature: 4, alpha: 0.5 }
      )
  },
  {
    name: 'rsladLoss',
    wrt: 'studentAdv',
    run: (t) => L.rsladLoss({ studentAdv: t.studentAdv, studentClean: t.studentClean, teacherClean: t.teacherClean }, none)
  },
  {
    name: 'iadLoss',
    wrt: 'studentAdv',
    run: (t) =>
      L.iadLoss(
        { studentAdv: t.studentAdv, studentClean: t.studentClean, teacherClean: t.teacherClean, teacherAdv: t.teacherAdv, labels: t.labels },
        { ...none, alpha: 0.9 }
      )
  },
  {
    name: 'adaadLoss α=0.7',
    wrt: 'studentAdv',
    run: (t) =>
      L.adaadLoss(
        { studentAdv: t.studentAdv, teacherAdv: t.teacherAdv, studentClean: t.studentClean, teacherClean: t.teacherClean },
        { ...none, alpha: 0.7 }
      )
  },
  {
    name: 'mtardLoss',
    wrt: 'studentAdv',
    run: (t) =>
      L.mtardLoss(
        { studentAdv: t.studentAdv, studentClean: t.studentClean, robustTeacherAdv: t.teacherAdv, cleanTeacherClean: t.teacherClean },
        { ...none, advWeight: 0.6, natWeight: 0.4 }
      )
  },
  {
    name: 'mtardWeights (fed by mtardLoss)',
    wrt: 'studentAdv',
    run: (t) => {
      // mtardWeights is a function of numbers: feed it this backend's two terms (read by runLosses before the cases
      // run) and compare the weights it returns.
      const [nat, adv] = mtardTerms;
      const first = L.mtardWeights({ natWeight: 0.5, advWeight: 0.5, natInitial: 2 * nat, advInitial: 3 * adv }, nat, adv);
      // A differentiable stand-in keeps the gradient check meaningful: the adversarial term scaled by w_adv.
      return tf.mul(L.kdLoss(t.studentAdv, t.teacherAdv, none), first.advWeight);
    }
  },
  { name: 'representationDistance cosine', wrt: 'embeddingsS', run: (t) => L.representationDistance(t.embeddingsS, t.embeddingsT, none) },
  {
    name: 'representationDistance l2',
    wrt: 'embeddingsS',
    run: (t) => L.representationDistance(t.embeddingsS, t.embeddingsT, { ...none, metric: 'l2' })
  },
  {
    name: 'representationDistance squaredL2',
    wrt: 'embeddingsS',
    run: (t) => L.representationDistance(t.embeddingsS, t.embeddingsT, { ...none, metric: 'squaredL2' })
  },
  {
    name: 'contrastiveRelationLoss τc=0.1',
    wrt: 'embeddingsS',
    run: (t) => L.contrastiveRelationLoss(t.embeddingsS, t.embeddingsT, none)
  },
  { name: 'compensatedTargets β=1', wrt: 'teacherClean', run: (t) => L.compensatedTargets(t.teacherClean, t.labels) },
  {
    name: 'createCompensation → KL',
    wrt: 'studentAdv',
    run: (t) => {
      const comp = L.createCompensation(C, { initialConfidence: 0.8 });
      try {
        return L.klDivergence(comp.apply(t.teacherClean), t.studentAdv, { ...none, targetType: 'probabilities' });
      } finally {
        comp.dispose();
      }
    }
  },
  {
    name: 'teacherFeatureMapLoss kl',
    wrt: 'featureMap',
    run: (t) => L.teacherFeatureMapLoss(t.featureMap, [t.teacherClean, t.teacher2], t.labels, none)
  },
  {
    name: 'teacherFeatureMapLoss mse',
    wrt: 'featureMap',
    run: (t) => L.teacherFeatureMapLoss(t.featureMap, [t.teacherClean, t.teacher2], t.labels, { ...none, divergence: 'mse' })
  }
];

// ---------------------------------------------------------------------------------------------------------------
// A small trained classifier for the attacks: 4 classes, inputs [32, 4, 5, 1] around class prototypes.

const N = 32;
const K = 4;
const F = 20;
const H = 16;

interface ToyData {
  readonly x: number[];
  readonly y: number[];
}

function toyData(): ToyData {
  const r = testRandom(11);
  const prototypes = Array.from({ length: K }, () => Array.from({ length: F }, () => 0.2 + 0.6 * r()));
  const x: number[] = [];
  const y: number[] = [];
  for (let i = 0; i < N; i++) {
    const c = i % K;
    y.push(c);
    for (let j = 0; j < F; j++) x.push(Math.min(1, Math.max(0, (prototypes[c]?.[j] ?? 0) + (r() - 0.5) * 0.5)));
  }
  return { x, y };
}

/** MLP weights as plain numbers: `z = relu(x·W1 + b1)·W2 + b2`. */
interface MlpWeights {
  readonly w1: Float32Array;
  readonly b1: Float32Array;
  readonly w2: Float32Array;
  readonly b2: Float32Array;
}

/** Trains the MLP from seeded initial weights (on the cpu backend) and returns its weights. */
function trainMlp(data: ToyData, seed: number): MlpWeights {
  return tf.tidy(() => {
    const init = numbers(F * H + H * K, 0.3, seed);
    const w1 = tf.variable(tf.tensor2d(init.slice(0, F * H), [F, H]));
    const b1 = tf.variable(tf.zeros([H]));
    const w2 = tf.variable(tf.tensor2d(init.slice(F * H), [H, K]));
    const b2 = tf.variable(tf.zeros([K]));
    const x = tf.tensor2d(data.x, [N, F]);
    const y = tf.tensor1d(data.y, 'int32');
    const opt = tf.train.adam(0.05);
    for (let step = 0; step < 40; step++) {
      opt.minimize(() => L.crossEntropy(tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(x, w1), b1)), w2), b2), y));
    }
    opt.dispose();
    const out = { w1: w1.dataSync() as Float32Array, b1: b1.dataSync() as Float32Array, w2: w2.dataSync() as Float32Array, b2: b2.dataSync() as Float32Array };
    tf.dispose([w1, b1, w2, b2]);
    return out;
  });
}

/** The MLP as a {@link Model} on the current backend; `dispose` releases its weights. */
function mlpModel(w: MlpWeights): { model: Model; dispose: () => void } {
  const w1 = tf.tensor2d(w.w1, [F, H]);
  const b1 = tf.tensor1d(w.b1);
  const w2 = tf.tensor2d(w.w2, [H, K]);
  const b2 = tf.tensor1d(w.b2);
  const model: Model = (x) =>
    tf.tidy(() => tf.add<tf.Tensor2D>(tf.matMul(tf.relu(tf.add(tf.matMul(tf.reshape(x, [x.shape[0] ?? 1, F]), w1), b1)), w2), b2));
  return { model, dispose: () => { tf.dispose([w1, b1, w2, b2]); } };
}

interface AttackCase {
  readonly name: string;
  readonly norm: 'linf' | 'l2';
  readonly eps: number;
  readonly run: (m: Model, x: tf.Tensor, y: tf.Tensor1D) => tf.Tensor;
}

const EPS = 0.15;
const squareXAdv = (m: Model, x: tf.Tensor, y: tf.Tensor1D): tf.Tensor => square(m, x, y, { eps: EPS, queries: 200, seed: 6 });
/**
 * Square L2 needs images of side ≥ 5: it attacks the 2× nearest upsampling of x through the model on its 2×2 average
 * pooling, and the pooled x' is compared (pooling at most halves an L2 perturbation, so x' stays in the ball).
 */
const squareL2XAdv = (m: Model, x: tf.Tensor, y: tf.Tensor1D): tf.Tensor => {
  const [n = 1, h = 1, w = 1] = x.shape;
  const pooled: Model = (xa) => m(tf.avgPool(xa as tf.Tensor4D, 2, 2, 'valid'));
  const big = tf.tidy(() => tf.image.resizeNearestNeighbor(x as tf.Tensor4D, [2 * h, 2 * w]));
  const xAdv = square(pooled, big, y, { eps: 0.8, norm: 'l2', queries: 200, seed: 6 });
  const out = tf.tidy(() => tf.reshape(tf.avgPool(xAdv, 2, 2, 'valid'), [n, h, w, 1]));
  tf.dispose([big, xAdv]);
  return out;
};
const attackCases: readonly AttackCase[] = [
  { name: 'fgsm', norm: 'linf', eps: EPS, run: (m, x, y) => fgsm(m, x, y, { eps: EPS }) },
  { name: 'pgd linf', norm: 'linf', eps: EPS, run: (m, x, y) => pgd(m, x, y, { eps: EPS, steps: 10, seed: 1 }) },
  { name: 'pgd l2', norm: 'l2', eps: 0.8, run: (m, x, y) => pgd(m, x, y, { eps: 0.8, norm: 'l2', steps: 10, seed: 2 }) },
  { name: 'cw κ=0', norm: 'linf', eps: EPS, run: (m, x, y) => cwLinf(m, x, y, { eps: EPS, steps: 10, seed: 3 }) },
  { name: 'tradesAttack', norm: 'linf', eps: EPS, run: (m, x, y) => tradesAttack(m, x, y, { eps: EPS, steps: 10, seed: 4 }) },
  { name: 'apgd ce', norm: 'linf', eps: EPS, run: (m, x, y) => apgd(m, x, y, { eps: EPS, steps: 10, seed: 5 }) },
  { name: 'apgd dlr l2', norm: 'l2', eps: 0.8, run: (m, x, y) => apgd(m, x, y, { eps: 0.8, norm: 'l2', loss: 'dlr', steps: 10, seed: 5 }) },
  { name: 'apgdTargeted', norm: 'linf', eps: EPS, run: (m, x, y) => apgdTargeted(m, x, y, { eps: EPS, steps: 10, targetClasses: 3, seed: 5 }) },
  { name: 'square', norm: 'linf', eps: EPS, run: squareXAdv },
  { name: 'square l2', norm: 'l2', eps: 0.8, run: squareL2XAdv },
  { name: 'fab linf', norm: 'linf', eps: EPS, run: (m, x, y) => fab(m, x, y, { eps: EPS, steps: 10 }) },
  { name: 'fab l2, 2 restarts', norm: 'l2', eps: 0.8, run: (m, x, y) => fab(m, x, y, { eps: 0.8, norm: 'l2', steps: 10, restarts: 2, seed: 7 }) },
  { name: 'fabTargeted', norm: 'linf', eps: EPS, run: (m, x, y) => fabTargeted(m, x, y, { eps: EPS, steps: 10, targetClasses: 3 }) },
  { name: 'miFgsm', norm: 'linf', eps: EPS, run: (m, x, y) => miFgsm(m, x, y, { eps: EPS, steps: 10 }) },
  { name: 'deepFool l2 (ε = 0.8)', norm: 'l2', eps: 0.8, run: (m, x, y) => deepFool(m, x, y, { eps: 0.8, norm: 'l2', steps: 10 }) },
  { name: 'cwL2 (ε = 0.8)', norm: 'l2', eps: 0.8, run: (m, x, y) => cwL2(m, x, y, { eps: 0.8, steps: 30, binarySearchSteps: 3 }) }
];

// ---------------------------------------------------------------------------------------------------------------
// Measurements.

const ATTACK_NORM_REL = 1e-5;
const ATTACK_NORM_ABS = 1e-6;
const ACCURACY_GAP = 0.1;
const LOSS_REL = 1e-3;
const LOSS_FLOOR = 1e-3;
const GRAD_REL = 1e-3;
/** Largest |w − w_cpu| of any weight after `fit` (weights are O(0.1–1)). */
export const FIT_WEIGHT_TOLERANCE = 1e-3;
/** Largest relative difference of the last epoch's mean loss from cpu's. */
export const FIT_LOSS_REL = 1e-3;

/**
 * Reads a tensor made by `f` asynchronously and releases it. The page reads only this way: on webgpu `dataSync` goes
 * through a canvas, which SwiftShader's headless adapter answers with zeros (`data()` maps the buffer).
 */
async function read(f: () => tf.Tensor): Promise<Float32Array> {
  const t = tf.tidy(f);
  try {
    return (await t.data()) as Float32Array;
  } finally {
    t.dispose();
  }
}

async function accuracyOf(model: Model, x: tf.Tensor, y: tf.Tensor1D): Promise<number> {
  return (await read(() => tf.mean(tf.cast(tf.equal(tf.argMax(model(x), 1), y), 'float32'))))[0] ?? NaN;
}

/** Largest per-example distance `‖a_i − b_i‖` in the given norm. */
async function maxDistance(a: tf.Tensor, b: tf.Tensor, norm: 'linf' | 'l2'): Promise<number> {
  const v = await read(() => {
    const d = tf.reshape(tf.sub(a, b), [a.shape[0] ?? 1, -1]);
    const perExample = norm === 'linf' ? tf.max(tf.abs(d), 1) : tf.sqrt(tf.sum(tf.square(d), 1));
    return tf.max(perExample);
  });
  return v[0] ?? NaN;
}

/** Largest elementwise relative error `|a − b| / max(|b|, floor)`. */
function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>, floor: number): number {
  let worst = actual.length === expected.length ? 0 : Infinity;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] ?? NaN;
    const e = expected[i] ?? NaN;
    const err = Math.abs(a - e) / Math.max(Math.abs(e), floor);
    worst = Number.isNaN(err) ? Infinity : Math.max(worst, err);
  }
  return worst;
}

function maxAbs(v: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i] ?? NaN));
  return m;
}

/** What one backend produced, for comparison with the cpu backend. */
interface BackendOutputs {
  /** Each loss's values and gradient, or the error it threw on this backend. */
  readonly losses: Map<string, { values: Float32Array; gradient: Float32Array; error?: string }>;
  readonly attackAccuracy: Map<string, number>;
}

/** MTARD's two terms on the current backend, `[natural, adversarial]`, for the mtardWeights case. */
let mtardTerms: readonly [number, number] = [NaN, NaN];

async function runLosses(): Promise<BackendOutputs['losses']> {
  const out: BackendOutputs['losses'] = new Map();
  const t = lossTensors();
  try {
    const term = async (adv: boolean): Promise<number> =>
      (await read(() =>
        L.mtardLoss(
          { studentAdv: t.studentAdv, studentClean: t.studentClean, robustTeacherAdv: t.teacherAdv, cleanTeacherClean: t.teacherClean },
          { advWeight: adv ? 1 : 0, natWeight: adv ? 0 : 1 }
        )
      ))[0] ?? NaN;
    mtardTerms = [await term(false), await term(true)];
    for (const c of lossCases) {
      try {
        const values = await read(() => c.run(t));
        // The gradient of a fixed weighted sum of the outputs: a plain sum can be constant (rows of compensatedTargets
        // sum to 1), which would leave only rounding noise to compare.
        const gradient = await read(() =>
          tf.grad((v: tf.Tensor) => {
            const out = c.run({ ...t, [c.wrt]: v });
            return tf.sum(tf.mul(out, tf.tensor(numbers(out.size, 0.5, 21).map((w) => 1 + w), out.shape)));
          })(t[c.wrt])
        );
        out.set(c.name, { values, gradient });
      } catch (e) {
        // One loss failing on a backend is that loss's failed check, not the end of the run.
        out.set(c.name, { values: new Float32Array(0), gradient: new Float32Array(0), error: e instanceof Error ? e.message : String(e) });
      }
    }
    // The losses' value checks of these inputs wait on a GPU backend's device until read; they pass.
    await flushChecks();
  } finally {
    tf.dispose(Object.values(t) as tf.Tensor[]);
  }
  return out;
}

async function runAttacks(weights: MlpWeights, data: ToyData, backend: string, checks: CheckResult[]): Promise<Map<string, number>> {
  const accuracy = new Map<string, number>();
  const { model, dispose } = mlpModel(weights);
  const x = tf.tensor4d(data.x, [N, 4, 5, 1]);
  const y = tf.tensor1d(data.y, 'int32');
  try {
    const clean = await accuracyOf(model, x, y);
    accuracy.set('clean', clean);
    for (const a of attackCases) {
      const before = tf.memory().numTensors;
      let xAdv: tf.Tensor;
      try {
        xAdv = a.run(model, x, y);
      } catch (e) {
        // One attack failing on a backend is that attack's failed check, not the end of the run.
        await flushChecks().catch(() => undefined);
        checks.push({ backend, group: 'attack', name: `${a.name}: runs`, measured: NaN, limit: 0, passed: false, what: `threw: ${e instanceof Error ? e.message : String(e)}` });
        continue;
      }
      const distance = await maxDistance(xAdv, x, a.norm);
      const [lo, hi] = await read(() => tf.stack([tf.min(xAdv), tf.max(xAdv)]));
      const adv = await accuracyOf(model, xAdv, y);
      xAdv.dispose();
      // On a GPU backend the attack's value checks wait on the device until read: read them (they pass) first.
      await flushChecks();
      const leaked = tf.memory().numTensors - before;
      accuracy.set(a.name, adv);
      const limit = a.eps * (1 + ATTACK_NORM_REL) + ATTACK_NORM_ABS;
      const outside = Math.max(0 - (lo ?? NaN), (hi ?? NaN) - 1, 0);
      checks.push(
        { backend, group: 'attack', name: `${a.name}: ‖δ‖ ≤ ε`, measured: distance, limit, passed: distance <= limit, what: `max ‖x'−x‖ (${a.norm}), ε = ${a.eps}` },
        { backend, group: 'attack', name: `${a.name}: in [0, 1]`, measured: outside, limit: 0, passed: outside <= 0, what: 'largest excursion outside [0, 1]' },
        {
          backend,
          group: 'attack',
          name: `${a.name}: accuracy not raised`,
          measured: adv - clean,
          limit: 0,
          passed: adv <= clean,
          what: `adversarial ${adv.toFixed(3)} − clean ${clean.toFixed(3)}`
        },
        { backend, group: 'memory', name: `${a.name}: no tensor leak`, measured: leaked, limit: 0, passed: leaked === 0, what: 'tensors left after disposing x\'' }
      );
    }
  } finally {
    tf.dispose([x, y]);
    dispose();
  }
  return accuracy;
}

function compareWithCpu(backend: string, mine: BackendOutputs, cpu: BackendOutputs, checks: CheckResult[]): void {
  for (const [name, acc] of mine.attackAccuracy) {
    if (name === 'clean') continue;
    const reference = cpu.attackAccuracy.get(name) ?? NaN;
    const gap = Math.abs(acc - reference);
    checks.push({
      backend,
      group: 'attack',
      name: `${name}: as strong as on cpu`,
      measured: gap,
      limit: ACCURACY_GAP,
      passed: gap <= ACCURACY_GAP,
      what: `|adversarial accuracy − cpu's| (cpu ${reference.toFixed(3)})`
    });
  }
  for (const [name, { values, gradient, error }] of mine.losses) {
    const reference = cpu.losses.get(name);
    if (reference === undefined) continue;
    if (error !== undefined) {
      checks.push({ backend, group: 'loss', name, measured: NaN, limit: LOSS_REL, passed: false, what: `threw: ${error}` });
      continue;
    }
    const valueError = relativeError(values, reference.values, LOSS_FLOOR * Math.max(maxAbs(reference.values), 1));
    checks.push({
      backend,
      group: 'loss',
      name,
      measured: valueError,
      limit: LOSS_REL,
      passed: valueError <= LOSS_REL,
      what: 'max |v − v_cpu| / max(|v_cpu|, 1e-3·max(‖v_cpu‖∞, 1))'
    });
    const gradError = relativeError(gradient, reference.gradient, Math.max(maxAbs(reference.gradient), 1e-12));
    checks.push({
      backend,
      group: 'gradient',
      name,
      measured: gradError,
      limit: GRAD_REL,
      passed: gradError <= GRAD_REL,
      what: '‖g − g_cpu‖∞ / ‖g_cpu‖∞'
    });
  }
}

function cpuSelfChecks(cpu: BackendOutputs, checks: CheckResult[]): void {
  // On cpu itself only finiteness is checked: it is the reference the other backends are compared with.
  for (const [name, { values, gradient, error }] of cpu.losses) {
    const finite = error === undefined && [...values, ...gradient].every(Number.isFinite);
    checks.push({ backend: 'cpu', group: 'loss', name, measured: finite ? 0 : 1, limit: 0, passed: finite, what: error === undefined ? 'values and gradient finite (reference)' : `threw: ${error}` });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// fit with every objective, from the same initial weights on every backend.

const FIT_EPS = 0.1;
const FIT_ATTACK = { eps: FIT_EPS, steps: 3 };
let uid = 0;

/** A dense student [4, 5, 1] → 12 → 12 ('features') → K with seeded initial weights (the same on every backend). */
function studentNet(seed: number): { net: tfl.LayersModel; features: string } {
  const id = `conf${String(uid++)}`;
  const init = (s: number): ReturnType<typeof tfl.initializers.glorotUniform> => tfl.initializers.glorotUniform({ seed: seed * 10 + s });
  const net = tfl.sequential({
    layers: [
      tfl.layers.flatten({ inputShape: [4, 5, 1] }),
      tfl.layers.dense({ units: 12, activation: 'relu', kernelInitializer: init(1) }),
      tfl.layers.dense({ units: 12, activation: 'relu', kernelInitializer: init(2), name: `${id}_features` }),
      tfl.layers.dense({ units: K, kernelInitializer: init(3) })
    ]
  });
  return { net, features: `${id}_features` };
}

/** The DARHT student: a dense backbone and the student–teacher head for two teachers. */
function darhtStudent(seed: number): { net: tfl.LayersModel; student: Student } {
  const input = tfl.input({ shape: [4, 5, 1] });
  const flat = tfl.layers.flatten().apply(input) as tfl.SymbolicTensor;
  const h = tfl.layers.dense({ units: 12, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed }) }).apply(flat) as tfl.SymbolicTensor;
  const head = studentTeacherHead(2, K, { seed: seed + 1, name: `conf_sth${String(uid++)}` });
  const logits = head.logitsLayer.apply(head.featureMapLayer.apply(h)) as tfl.SymbolicTensor;
  const net = tfl.model({ inputs: input, outputs: logits });
  return { net, student: studentFromLayers(net, { featureMapLayer: head.featureMapLayer.name }) };
}

/** The models the objectives need as teachers, on the current backend. */
interface Teachers {
  readonly teacher: Model;
  readonly teacher2: Model;
  readonly standard: Student;
}

interface FitCase {
  readonly name: string;
  readonly make: (t: Teachers) => { net: tfl.LayersModel; student: Student | tfl.LayersModel; objective: Objective };
}

function plain(objective: Objective): { net: tfl.LayersModel; student: tfl.LayersModel; objective: Objective } {
  const { net } = studentNet(3);
  return { net, student: net, objective };
}

/** Every objective of `ardkit/train`, each option that changes its code path once. */
const fitCases: readonly FitCase[] = [
  { name: 'natural', make: () => plain(natural()) },
  { name: 'pgdAt', make: () => plain(pgdAt(FIT_ATTACK)) },
  { name: 'trades', make: () => plain(trades({ ...FIT_ATTACK, beta: 1 })) },
  { name: 'mart', make: () => plain(mart(FIT_ATTACK)) },
  { name: 'ard', make: ({ teacher }) => plain(ard({ ...FIT_ATTACK, teacher })) },
  { name: 'rslad', make: ({ teacher }) => plain(rslad({ ...FIT_ATTACK, teacher })) },
  { name: 'iad', make: ({ teacher }) => plain(iad({ ...FIT_ATTACK, teacher })) },
  { name: 'adaad', make: ({ teacher }) => plain(adaad({ ...FIT_ATTACK, teacher })) },
  { name: 'mtard', make: ({ teacher, teacher2 }) => plain(mtard({ ...FIT_ATTACK, cleanTeacher: teacher2, robustTeacher: teacher })) },
  { name: 'ltd (pgdAt)', make: ({ teacher }) => plain(ltd({ ...FIT_ATTACK, teacher })) },
  { name: 'ltd (trades)', make: ({ teacher }) => plain(ltd({ ...FIT_ATTACK, teacher, base: 'trades', beta: 1 })) },
  { name: 'crdnd (confidence)', make: ({ teacher }) => plain(crdnd({ ...FIT_ATTACK, teacher })) },
  { name: 'crdnd (learned)', make: ({ teacher }) => plain(crdnd({ ...FIT_ATTACK, teacher, compensation: 'learned' })) },
  {
    name: 'arrest',
    make: ({ standard }) => {
      const { net, features } = studentNet(3);
      return { net, student: studentFromLayers(net, { featuresLayer: features }), objective: arrest({ ...FIT_ATTACK, standardFeatures: featuresOf(standard) }) };
    }
  },
  {
    name: 'darht',
    make: ({ teacher, teacher2 }) => {
      const { net, student } = darhtStudent(3);
      return { net, student, objective: darht({ ...FIT_ATTACK, teachers: [teacher, teacher2] }) };
    }
  }
];

/** What `fit` produced on one backend: the final weights, the last epoch's loss, and tensors left behind. */
interface FitOutput {
  readonly weights: Float32Array;
  readonly loss: number;
  readonly leaked: number;
  readonly error?: string;
}

async function runFits(weights: MlpWeights, weights2: MlpWeights, data: ToyData): Promise<Map<string, FitOutput>> {
  const out = new Map<string, FitOutput>();
  const t1 = mlpModel(weights);
  const t2 = mlpModel(weights2);
  const std = studentNet(9);
  const teachers: Teachers = { teacher: t1.model, teacher2: t2.model, standard: studentFromLayers(std.net, { featuresLayer: std.features }) };
  const x = tf.tensor4d(data.x, [N, 4, 5, 1]);
  const y = tf.tensor1d(data.y, 'int32');
  try {
    for (const c of fitCases) {
      const before = tf.memory().numTensors;
      let made: ReturnType<FitCase['make']> | undefined;
      try {
        made = c.make(teachers);
        const history = await fit(made.student, { x, y }, made.objective, { epochs: 2, batchSize: 16, seed: 1, learningRate: 0.05 });
        const w = made.net.getWeights();
        const values = await Promise.all(w.map(async (t) => Array.from(await t.data())));
        made.net.dispose();
        made = undefined;
        out.set(c.name, { weights: Float32Array.from(values.flat()), loss: history.epochs.at(-1)?.loss ?? NaN, leaked: tf.memory().numTensors - before });
      } catch (e) {
        made?.net.dispose();
        out.set(c.name, { weights: new Float32Array(0), loss: NaN, leaked: 0, error: e instanceof Error ? e.message : String(e) });
      }
    }
  } finally {
    tf.dispose([x, y]);
    std.net.dispose();
    t1.dispose();
    t2.dispose();
  }
  return out;
}

function compareFits(backend: string, mine: Map<string, FitOutput>, cpu: Map<string, FitOutput>, checks: CheckResult[]): void {
  for (const [name, r] of mine) {
    const reference = cpu.get(name);
    if (r.error !== undefined || reference === undefined || reference.error !== undefined) {
      checks.push({ backend, group: 'fit', name: `fit ${name}`, measured: NaN, limit: 0, passed: false, what: `threw: ${r.error ?? reference?.error ?? 'no cpu reference'}` });
      continue;
    }
    let worst = r.weights.length === reference.weights.length ? 0 : Infinity;
    reference.weights.forEach((w, i) => { worst = Math.max(worst, Math.abs((r.weights[i] ?? NaN) - w) || (Number.isNaN(r.weights[i]) ? Infinity : 0)); });
    const lossError = Math.abs(r.loss - reference.loss) / Math.max(Math.abs(reference.loss), 1e-6);
    checks.push(
      { backend, group: 'fit', name: `fit ${name}: weights`, measured: worst, limit: FIT_WEIGHT_TOLERANCE, passed: worst <= FIT_WEIGHT_TOLERANCE, what: 'max |w − w_cpu| after 2 epochs' },
      { backend, group: 'fit', name: `fit ${name}: loss`, measured: lossError, limit: FIT_LOSS_REL, passed: lossError <= FIT_LOSS_REL, what: `|loss − cpu's| / |cpu's| (cpu ${reference.loss.toFixed(5)})` }
    );
  }
}

function fitSelfChecks(backend: string, mine: Map<string, FitOutput>, checks: CheckResult[]): void {
  for (const [name, r] of mine) {
    const finite = r.error === undefined && Number.isFinite(r.loss) && r.weights.every(Number.isFinite);
    checks.push(
      { backend, group: 'fit', name: `fit ${name}: runs`, measured: finite ? 0 : 1, limit: 0, passed: finite, what: r.error === undefined ? 'loss and weights finite' : `threw: ${r.error}` },
      { backend, group: 'memory', name: `fit ${name}: no tensor leak`, measured: r.leaked, limit: 0, passed: r.leaked === 0, what: 'tensors left after fit and disposing the student' }
    );
  }
}

// ---------------------------------------------------------------------------------------------------------------
// evaluate and autoAttack.

async function runEvaluations(weights: MlpWeights, data: ToyData, backend: string, checks: CheckResult[]): Promise<Map<string, number>> {
  const accuracy = new Map<string, number>();
  const { model, dispose } = mlpModel(weights);
  const x = tf.tensor4d(data.x, [N, 4, 5, 1]);
  const y = tf.tensor1d(data.y, 'int32');
  try {
    const before = tf.memory().numTensors;
    try {
      const r = await evaluate(model, x, y, { attacks: { pgd: pgdAttack({ eps: EPS, steps: 10, seed: 1 }) }, batchSize: 16 });
      accuracy.set('evaluate clean', r.clean);
      accuracy.set('evaluate pgd', r.attacks.pgd ?? NaN);
      const aa = await autoAttack(model, x, y, { eps: EPS, steps: 10, targetClasses: 3, queries: 100, seed: 0 });
      aa.xAdv.dispose();
      accuracy.set('autoAttack clean', aa.clean);
      accuracy.set('autoAttack', aa.worstCase);
      await flushChecks();
    } catch (e) {
      checks.push({ backend, group: 'eval', name: 'evaluate and autoAttack run', measured: NaN, limit: 0, passed: false, what: `threw: ${e instanceof Error ? e.message : String(e)}` });
    }
    const leaked = tf.memory().numTensors - before;
    checks.push({ backend, group: 'memory', name: 'evaluate, autoAttack: no tensor leak', measured: leaked, limit: 0, passed: leaked === 0, what: 'tensors left after disposing the results' });
  } finally {
    tf.dispose([x, y]);
    dispose();
  }
  return accuracy;
}

function compareAccuracies(backend: string, mine: Map<string, number>, cpu: Map<string, number>, checks: CheckResult[]): void {
  for (const [name, acc] of mine) {
    const reference = cpu.get(name) ?? NaN;
    const gap = Math.abs(acc - reference);
    checks.push({ backend, group: 'eval', name, measured: gap, limit: ACCURACY_GAP, passed: gap <= ACCURACY_GAP, what: `|accuracy − cpu's| (cpu ${reference.toFixed(3)}, here ${acc.toFixed(3)})` });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The run.

/** What one backend produced, for comparison with the cpu backend. */
interface Outputs {
  readonly losses: BackendOutputs['losses'];
  readonly attackAccuracy: Map<string, number>;
  readonly fits: Map<string, FitOutput>;
  readonly evaluations: Map<string, number>;
}

/** How a runner starts a backend: undefined when it started, else why not. */
export type StartBackend = (name: string) => Promise<string | undefined>;

/** Options of {@link runConformance}. */
export interface ConformanceOptions {
  /** The backends to compare with cpu, in order. */
  readonly backends: readonly string[];
  /** Starts a backend (cpu included). */
  readonly start: StartBackend;
  /** Describes a backend that started, for the report. */
  readonly describe?: (name: string) => string;
  /** Also run `fit` with every objective, `evaluate` and `autoAttack`. @defaultValue true */
  readonly training?: boolean;
  /** Progress lines. */
  readonly log?: (line: string) => void;
  /** Runs after the listed backends, given the cpu outputs (the page's float16 webgl run). */
  readonly extra?: (rerun: (backend: string) => Promise<CheckResult[]>) => Promise<void>;
}

async function runAll(weights: MlpWeights, weights2: MlpWeights, data: ToyData, backend: string, training: boolean, checks: CheckResult[], log: (line: string) => void): Promise<Outputs> {
  log(`${backend}: losses`);
  const losses = await runLosses();
  log(`${backend}: attacks`);
  const attackAccuracy = await runAttacks(weights, data, backend, checks);
  log(`${backend}: fit`);
  const fits = training ? await runFits(weights, weights2, data) : new Map<string, FitOutput>();
  log(`${backend}: evaluate, autoAttack`);
  const evaluations = training ? await runEvaluations(weights, data, backend, checks) : new Map<string, number>();
  fitSelfChecks(backend, fits, checks);
  return { losses, attackAccuracy, fits, evaluations };
}

function compareAll(backend: string, mine: Outputs, cpu: Outputs, checks: CheckResult[]): void {
  compareWithCpu(backend, { losses: mine.losses, attackAccuracy: mine.attackAccuracy }, { losses: cpu.losses, attackAccuracy: cpu.attackAccuracy }, checks);
  compareFits(backend, mine.fits, cpu.fits, checks);
  compareAccuracies(backend, mine.evaluations, cpu.evaluations, checks);
}

/**
 * Runs the suite on cpu, then on each of `options.backends`, and compares each with cpu. A backend that cannot start
 * is reported as unavailable; one that fails mid-run gets a failed check and the others still run.
 */
export async function runConformance(options: ConformanceOptions): Promise<Omit<ConformanceReport, 'userAgent'>> {
  const t0 = performance.now();
  const checks: CheckResult[] = [];
  const backends: BackendStatus[] = [];
  const data = toyData();
  const training = options.training ?? true;
  const log = options.log ?? ((): void => undefined);
  const describe = options.describe ?? ((name: string): string => name);

  const cpuError = await options.start('cpu');
  if (cpuError !== undefined) throw new Error(`the cpu backend failed: ${cpuError}`);
  const weights = trainMlp(data, 12);
  const weights2 = trainMlp(data, 13);
  const cpu = await runAll(weights, weights2, data, 'cpu', training, checks, log);
  cpuSelfChecks(cpu, checks);
  backends.push({ name: 'cpu', available: true, detail: describe('cpu') });

  const rerun = async (name: string): Promise<CheckResult[]> => {
    const mine: CheckResult[] = [];
    compareAll(name, await runAll(weights, weights2, data, name, training, mine, log), cpu, mine);
    return mine;
  };
  for (const name of options.backends) {
    const unavailable = await options.start(name);
    if (unavailable !== undefined) {
      backends.push({ name, available: false, detail: unavailable });
      continue;
    }
    try {
      checks.push(...(await rerun(name)));
      backends.push({ name, available: true, detail: describe(name) });
    } catch (e) {
      // The backend started and then failed: its failed check, and the other backends still run.
      const message = e instanceof Error ? e.message : String(e);
      backends.push({ name, available: true, detail: `${describe(name)}; the run failed: ${message}` });
      checks.push({ backend: name, group: 'attack', name: 'the backend runs the suite', measured: NaN, limit: 0, passed: false, what: `threw: ${message}` });
    }
  }
  await options.extra?.(rerun);
  return { backends, checks, seconds: (performance.now() - t0) / 1000 };
}
