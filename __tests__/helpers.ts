import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// tfjs-core alone registers no gradients in Node; tfjs-layers does, as users' programs would.
import '@tensorflow/tfjs-layers';
import type { Model } from '../src/core/model.js';
import { squareAttack, type SquareOptions } from '../src/attacks/square.js';
import { testRandom } from './test-random.js';

// Silences tfjs' one-time 'install tfjs-node' console notice in test output.
tf.env().set('PROD', true);

/** Selects a backend and waits until it is ready. */
export async function useBackend(name: 'cpu' | 'wasm'): Promise<void> {
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`backend ${name} failed to initialise`);
  await tf.ready();
}

/**
 * Asserts that `f` leaves no tensor behind once what it returns is disposed. Runs it twice, once to
 * warm up backend constants (as tfjs-layers' expectNoLeakedTensors does).
 */
export function expectNoLeak(f: () => tf.TensorContainer): void {
  tf.dispose(f());
  const before = tf.memory().numTensors;
  tf.dispose(f());
  expect(tf.memory().numTensors).toBe(before);
}

/** Asserts that `f` throws an error matching `message`, and leaves no tensor behind doing so. */
export function expectThrowsNoLeak(f: () => unknown, message: RegExp, type: ErrorConstructor = RangeError): void {
  const before = tf.memory().numTensors;
  let caught: unknown;
  try {
    tf.dispose(f() as tf.TensorContainer);
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(type);
  expect((caught as Error).message).toMatch(message);
  expect(tf.memory().numTensors).toBe(before);
}

/**
 * Asserts that `f` returns a promise that rejects with an error matching `message` (an asynchronous function reports
 * every error through its promise, never by throwing at the call), and leaves no tensor behind once what the promise
 * resolved to, if anything, is disposed.
 */
export async function expectRejectsNoLeak(f: () => Promise<unknown>, message: RegExp, type: ErrorConstructor = RangeError): Promise<void> {
  const before = tf.memory().numTensors;
  let promise: Promise<unknown> | undefined;
  try {
    promise = f();
  } catch (e) {
    throw new Error(`expected a rejected promise, but the call threw at once: ${String(e)}`, { cause: e });
  }
  let caught: unknown;
  try {
    tf.dispose((await promise) as tf.TensorContainer);
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(type);
  expect((caught as Error).message).toMatch(message);
  expect(tf.memory().numTensors).toBe(before);
}

export { testRandom };

/** A linear model `z = x·W + b` with known weights, as plain numbers and as a {@link Model}. */
export interface LinearModel {
  readonly W: number[][]; // [D][C]
  readonly b: number[]; // [C]
  readonly model: Model;
  dispose(): void;
}

export function linearModel(d: number, c: number, seed: number): LinearModel {
  const r = testRandom(seed);
  const W = Array.from({ length: d }, () => Array.from({ length: c }, () => (r() - 0.5) * 2));
  const b = Array.from({ length: c }, () => (r() - 0.5) * 0.5);
  const w = tf.tensor2d(W);
  const bias = tf.tensor1d(b);
  const model: Model = (x) => tf.tidy(() => tf.add<tf.Tensor2D>(tf.matMul(tf.reshape(x, [x.shape[0] ?? 1, d]), w), bias));
  return { W, b, model, dispose: () => { tf.dispose([w, bias]); } };
}

/** Float64 logits of the linear model for one example. */
export function linearLogits(m: LinearModel, x: number[]): number[] {
  return m.b.map((bc, c) => bc + x.reduce((s, xi, i) => s + xi * (m.W[i]?.[c] ?? 0), 0));
}

/** Float64 softmax. */
export function softmax64(z: number[]): number[] {
  const max = Math.max(...z);
  const e = z.map((v) => Math.exp(v - max));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** Float64 log-softmax. */
export function logSoftmax64(z: number[]): number[] {
  const max = Math.max(...z);
  const lse = max + Math.log(z.reduce((a, v) => a + Math.exp(v - max), 0));
  return z.map((v) => v - lse);
}

/** Rows of a rank-2 (or flattened) tensor as plain numbers. */
export function rows(t: tf.Tensor): number[][] {
  const b = t.shape[0] ?? 0;
  const flat = Array.from(t.dataSync());
  const d = flat.length / b;
  return Array.from({ length: b }, (_, i) => flat.slice(i * d, (i + 1) * d));
}

/**
 * A small classification problem with a trained MLP: `k` classes, inputs `[n, 4, 5, 1]` in [0, 1]
 * around class prototypes. Trained for a fixed number of Adam steps with a fixed seed.
 */
export interface ToyProblem {
  readonly x: tf.Tensor4D;
  readonly y: tf.Tensor1D;
  readonly model: Model;
  readonly numClasses: number;
  dispose(): void;
}

export function toyProblem(n = 96, k = 4, seed = 7): ToyProblem {
  const r = testRandom(seed);
  const d = 20;
  const prototypes = Array.from({ length: k }, () => Array.from({ length: d }, () => 0.2 + 0.6 * r()));
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = i % k;
    ys.push(c);
    for (let j = 0; j < d; j++) xs.push(Math.min(1, Math.max(0, (prototypes[c]?.[j] ?? 0) + (r() - 0.5) * 0.3)));
  }
  const x = tf.tensor4d(xs, [n, 4, 5, 1]);
  const y = tf.tensor1d(ys, 'int32');
  const init = (shape: number[]): tf.Variable => tf.variable(tf.tensor(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (r() - 0.5) * 0.6), shape));
  const w1 = init([d, 16]);
  const b1 = tf.variable(tf.zeros([16]));
  const w2 = init([16, k]);
  const b2 = tf.variable(tf.zeros([k]));
  const model: Model = (input) =>
    tf.tidy(() => {
      const flat = tf.reshape(input, [input.shape[0] ?? 1, d]);
      return tf.add<tf.Tensor2D>(tf.matMul(tf.relu(tf.add(tf.matMul(flat, w1), b1)), w2), b2);
    });
  const opt = tf.train.adam(0.05);
  const oneHot = tf.oneHot(y, k);
  for (let step = 0; step < 60; step++) {
    opt.minimize(() => tf.losses.softmaxCrossEntropy<tf.Tensor, tf.Scalar>(oneHot, model(x)));
  }
  oneHot.dispose();
  opt.dispose();
  return { x, y, model, numClasses: k, dispose: () => { tf.dispose([x, y, w1, b1, w2, b2]); } };
}

/** Accuracy of `model` on `(x, y)`. */
export function accuracy(model: Model, x: tf.Tensor, y: tf.Tensor1D): number {
  return tf.tidy(() => tf.mean(tf.cast(tf.equal(tf.argMax(model(x), 1), y), 'float32')).dataSync()[0] ?? 0);
}

/** Maximum over examples of the per-example norm of `a − b` (L∞ or L2). */
export function maxDistance(a: tf.Tensor, b: tf.Tensor, norm: 'linf' | 'l2'): number {
  const ra = rows(a);
  const rb = rows(b);
  let worst = 0;
  ra.forEach((row, i) => {
    const other = rb[i] ?? [];
    const diffs = row.map((v, j) => v - (other[j] ?? 0));
    const d = norm === 'linf' ? Math.max(...diffs.map(Math.abs)) : Math.sqrt(diffs.reduce((s, v) => s + v * v, 0));
    worst = Math.max(worst, d);
  });
  return worst;
}

/**
 * Central finite-difference gradient check of a scalar function of one tensor: returns
 * ‖g_analytic − g_numeric‖ / max(‖g_numeric‖, 1e-8), computed with step h in float32.
 */
export function gradientCheckError(f: (t: tf.Tensor) => tf.Scalar, at: tf.Tensor, h = 1e-2): number {
  const analytic = tf.tidy(() => Array.from(tf.grad(f)(at).dataSync()));
  const base = Array.from(at.dataSync());
  const numeric = base.map((_, i) => {
    const shifted = (delta: number): number =>
      tf.tidy(() => {
        const values = base.slice();
        values[i] = (values[i] ?? 0) + delta;
        return f(tf.tensor(values, at.shape)).dataSync()[0] ?? NaN;
      });
    return (shifted(h) - shifted(-h)) / (2 * h);
  });
  const diff = Math.sqrt(analytic.reduce((s, a, i) => s + (a - (numeric[i] ?? 0)) ** 2, 0));
  const norm = Math.sqrt(numeric.reduce((s, v) => s + v * v, 0));
  return diff / Math.max(norm, 1e-8);
}

/** Random logits `[b][c]` with entries of the given scale (plain numbers, float32-representable). */
export function randomLogits(b: number, c: number, scale: number, seed: number): number[][] {
  const r = testRandom(seed);
  return Array.from({ length: b }, () => Array.from({ length: c }, () => Math.fround((r() - 0.5) * 2 * scale)));
}

/** Relative closeness |a − b| ≤ tol·max(|b|, floor). */
export function expectRelClose(actual: number, expected: number, tol = 1e-5, floor = 1e-6): void {
  expect(Number.isFinite(actual)).toBe(true);
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(tol * Math.max(Math.abs(expected), floor));
}

/**
 * Runs `f` with every synchronous readback throwing: `Tensor.dataSync`, `arraySync`, `bufferSync` and the engine's
 * `readSync` they go through (not the cpu backend's own `readSync`, which its kernels use as a GPU's never need to).
 * The attacks' device path (webgl, webgpu) must pass through it.
 */
export function withoutSyncReads<T>(f: () => T): T {
  const fail = (): never => {
    throw new Error('synchronous readback');
  };
  const spies = [
    jest.spyOn(tf.Tensor.prototype, 'dataSync').mockImplementation(fail),
    jest.spyOn(tf.Tensor.prototype, 'arraySync').mockImplementation(fail),
    jest.spyOn(tf.Tensor.prototype, 'bufferSync').mockImplementation(fail),
    jest.spyOn(tf.engine(), 'readSync').mockImplementation(fail)
  ];
  try {
    return f();
  } finally {
    spies.forEach((s) => { s.mockRestore(); });
  }
}

/** Square's `x'` with the queries spent and the success per point (`squareAttack(options).detailed`), all owned by the caller. */
export function squareDetailed(model: Model, x: tf.Tensor, y: tf.Tensor1D, options: SquareOptions): { xAdv: tf.Tensor; queries: tf.Tensor1D; success: tf.Tensor1D } {
  const { xAdv, queries, success } = squareAttack(options).detailed(model, x, y);
  if (queries === undefined || success === undefined) throw new Error('squareAttack: detailed() lacks queries or success');
  return { xAdv, queries, success };
}
