/**
 * On a linear model z = x·W + b the input gradients are known in closed form, so one attack step can be
 * computed by hand in float64 and compared with ardkit's result.
 */
import * as tf from '@tensorflow/tfjs-core';
import { fgsm, pgd, cwLinf, signStep, l2Step, projectLinf, projectL2 } from '../../src/attacks/index.js';
import { createRandom } from '../../src/core/index.js';
import { linearModel, linearLogits, softmax64, rows, testRandom, useBackend, type LinearModel } from '../helpers.js';

const D = 6;
const C = 3;
const B = 5;

function inputs(lo: number, hi: number, seed: number): number[][] {
  const r = testRandom(seed);
  return Array.from({ length: B }, () => Array.from({ length: D }, () => lo + (hi - lo) * r()));
}

/** ∇ₓ CE(x·W + b, y) = W (σ(z) − e_y), in float64. */
function ceGrad(m: LinearModel, x: number[], y: number): number[] {
  const p = softmax64(linearLogits(m, x));
  return x.map((_, i) => p.reduce((s, pc, c) => s + (m.W[i]?.[c] ?? 0) * (pc - (c === y ? 1 : 0)), 0));
}

/** ∇ₓ of −max(z_y − max_{j≠y} z_j + κ, 0), in float64. */
function cwGrad(m: LinearModel, x: number[], y: number, kappa: number): number[] {
  const z = linearLogits(m, x);
  let j = -1;
  z.forEach((v, c) => {
    if (c !== y && (j < 0 || v > (z[j] ?? -Infinity))) j = c;
  });
  const margin = (z[y] ?? 0) - (z[j] ?? 0) + kappa;
  return x.map((_, i) => (margin > 0 ? -((m.W[i]?.[y] ?? 0) - (m.W[i]?.[j] ?? 0)) : 0));
}

const clip = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));
const l2 = (v: number[]): number => Math.sqrt(v.reduce((s, a) => s + a * a, 0));

function expectClose(actual: tf.Tensor, expected: number[][], tol = 1e-6): void {
  const got = rows(actual);
  expected.forEach((row, i) => { row.forEach((v, j) => { expect(Math.abs((got[i]?.[j] ?? NaN) - v)).toBeLessThanOrEqual(tol); }); });
}

describe.each(['cpu', 'wasm'] as const)('attack formulas on a linear model (%s)', (backend) => {
  let m: LinearModel;
  const labels = [0, 1, 2, 1, 0];
  beforeAll(async () => {
    await useBackend(backend);
    m = linearModel(D, C, 11);
  });
  afterAll(() => { m.dispose(); });

  it('FGSM equals clip(x + ε·sign(∇CE)) computed by hand', () => {
    for (const [eps, lo, hi] of [[0.1, 0.2, 0.8], [0.3, 0.0, 1.0]] as const) {
      const xs = inputs(lo, hi, 3);
      const x = tf.tensor2d(xs);
      const y = tf.tensor1d(labels, 'int32');
      const out = fgsm(m.model, x, y, { eps });
      const expected = xs.map((row, i) => {
        const g = ceGrad(m, row, labels[i] ?? 0);
        return row.map((v, j) => clip(v + eps * Math.sign(g[j] ?? 0), 0, 1));
      });
      expectClose(out, expected);
      tf.dispose([x, y, out]);
    }
  });

  it('targeted FGSM steps against the gradient of CE toward the target', () => {
    const xs = inputs(0.2, 0.8, 4);
    const targets = [2, 2, 0, 0, 1];
    const x = tf.tensor2d(xs);
    const t = tf.tensor1d(targets, 'int32');
    const out = fgsm(m.model, x, t, { eps: 0.05, targeted: true });
    const expected = xs.map((row, i) => {
      const g = ceGrad(m, row, targets[i] ?? 0);
      return row.map((v, j) => clip(v - 0.05 * Math.sign(g[j] ?? 0), 0, 1));
    });
    expectClose(out, expected);
    tf.dispose([x, t, out]);
  });

  it('one L∞ PGD step equals Π(x + α·sign(∇CE)), with and without the projection biting', () => {
    for (const [eps, alpha] of [[0.1, 0.04], [0.1, 0.25]] as const) {
      const xs = inputs(0.05, 0.95, 5);
      const x = tf.tensor2d(xs);
      const y = tf.tensor1d(labels, 'int32');
      const out = pgd(m.model, x, y, { eps, steps: 1, stepSize: alpha, randomStart: 'none' });
      const expected = xs.map((row, i) => {
        const g = ceGrad(m, row, labels[i] ?? 0);
        return row.map((v, j) => clip(clip(v + alpha * Math.sign(g[j] ?? 0), v - eps, v + eps), 0, 1));
      });
      expectClose(out, expected);
      tf.dispose([x, y, out]);
    }
  });

  it('one L∞ PGD step from the seeded uniform start equals the hand computation from that start', () => {
    const xs = inputs(0.2, 0.8, 6);
    const eps = 0.1;
    const alpha = 0.03;
    const start = createRandom(99).uniform([B, D], -eps, eps);
    const deltas = rows(start);
    start.dispose();
    const x = tf.tensor2d(xs);
    const y = tf.tensor1d(labels, 'int32');
    const out = pgd(m.model, x, y, { eps, steps: 1, stepSize: alpha, seed: 99 });
    const expected = xs.map((row, i) => {
      const x0 = row.map((v, j) => clip(v + (deltas[i]?.[j] ?? 0), 0, 1));
      const g = ceGrad(m, x0, labels[i] ?? 0);
      return x0.map((v, j) => clip(clip(v + alpha * Math.sign(g[j] ?? 0), (row[j] ?? 0) - eps, (row[j] ?? 0) + eps), 0, 1));
    });
    expectClose(out, expected, 2e-6);
    tf.dispose([x, y, out]);
  });

  it('one L2 PGD step equals x + α·g/‖g‖ projected on the ε-ball', () => {
    for (const [eps, alpha] of [[0.5, 0.2], [0.1, 0.4]] as const) {
      const xs = inputs(0.3, 0.7, 8);
      const x = tf.tensor2d(xs);
      const y = tf.tensor1d(labels, 'int32');
      const out = pgd(m.model, x, y, { eps, norm: 'l2', steps: 1, stepSize: alpha, randomStart: 'none' });
      const expected = xs.map((row, i) => {
        const g = ceGrad(m, row, labels[i] ?? 0);
        const n = l2(g);
        const delta = g.map((v) => (alpha * v) / n);
        const dn = l2(delta);
        const f = dn > eps ? eps / dn : 1;
        return row.map((v, j) => clip(v + (delta[j] ?? 0) * f, 0, 1));
      });
      expectClose(out, expected);
      tf.dispose([x, y, out]);
    }
  });

  it('one CW step moves along −sign(∇(z_y − z_j*)) only where the margin is above −κ', () => {
    const xs = inputs(0.2, 0.8, 9);
    const x = tf.tensor2d(xs);
    const y = tf.tensor1d(labels, 'int32');
    for (const kappa of [0, 5]) {
      const out = cwLinf(m.model, x, y, { eps: 0.1, steps: 1, stepSize: 0.05, randomStart: 'none', kappa });
      const expected = xs.map((row, i) => {
        const g = cwGrad(m, row, labels[i] ?? 0, kappa);
        return row.map((v, j) => clip(v + 0.05 * Math.sign(g[j] ?? 0), 0, 1));
      });
      expectClose(out, expected);
      out.dispose();
    }
    tf.dispose([x, y]);
  });

  it('the primitives compute their formulas', () => {
    const xs = [[0.5, 0.5, 0.5], [0.1, 0.9, 0.5]];
    const gs = [[1, -2, 0], [3, 4, 0]];
    const x = tf.tensor2d(xs);
    const g = tf.tensor2d(gs);
    const s = signStep(x, g, 0.1);
    expectClose(s, [[0.6, 0.4, 0.5], [0.2, 1.0, 0.5]]);
    const l = l2Step(x, g, 1);
    expectClose(l, [[0.5 + 1 / Math.sqrt(5), 0.5 - 2 / Math.sqrt(5), 0.5], [0.1 + 0.6, 0.9 + 0.8, 0.5]]);
    const far = tf.tensor2d([[1.5, -1, 0.5], [0.1, 0.9, 0.5]]);
    const pl = projectLinf(far, x, 0.2);
    expectClose(pl, [[0.7, 0.3, 0.5], [0.1, 0.9, 0.5]]);
    const p2 = projectL2(tf.tensor2d([[0.8, 0.9, 0.5], [0.1, 0.9, 0.5]]), x, 0.25);
    // δ = (0.3, 0.4, 0) has norm 0.5 → scaled by 0.5.
    expectClose(p2, [[0.65, 0.7, 0.5], [0.1, 0.9, 0.5]]);
    tf.dispose([x, g, s, l, far, pl, p2]);
  });
});
