/** crossEntropy, klDivergence, cwMarginLoss against float64 computations of their METHODS.md formulas. */
import * as tf from '@tensorflow/tfjs-core';
import { crossEntropy, cwMarginLoss, klDivergence } from '../../src/losses/index.js';
import {
  expectNoLeak,
  expectRelClose,
  expectThrowsNoLeak,
  gradientCheckError,
  logSoftmax64,
  randomLogits,
  useBackend
} from '../helpers.js';

const ce64 = (z: number[], y: number): number => -(logSoftmax64(z)[y] ?? NaN);
const kl64 = (p: number[], q: number[]): number => {
  const lp = logSoftmax64(p);
  const lq = logSoftmax64(q);
  // exp(log p) of a hugely negative log p underflows to exactly 0, which is the limit p·log p → 0.
  return lp.reduce((s, l, c) => s + Math.exp(l) * (l - (lq[c] ?? 0)), 0);
};
const cw64 = (z: number[], y: number, kappa: number): number => {
  const others = Math.max(...z.filter((_, c) => c !== y));
  return -Math.max((z[y] ?? 0) - others + kappa, 0);
};
const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;

describe.each(['cpu', 'wasm'] as const)('base losses (%s)', (backend) => {
  beforeAll(async () => useBackend(backend));

  describe.each([
    ['moderate', 3],
    ['extreme', 1e4]
  ])('%s logits', (_label, scale) => {
    const B = 6;
    const C = 5;
    const zs = randomLogits(B, C, scale, 17);
    const ws = randomLogits(B, C, scale, 18);
    const labels = [0, 4, 2, 3, 1, 4];

    it('crossEntropy equals −log σ(z)_y per example and in each reduction', () => {
      const z = tf.tensor2d(zs);
      const y = tf.tensor1d(labels, 'int32');
      const expected = zs.map((row, i) => ce64(row, labels[i] ?? 0));
      const none = crossEntropy(z, y, { reduction: 'none' });
      Array.from(none.dataSync()).forEach((v, i) => { expectRelClose(v, expected[i] ?? NaN); });
      expectRelClose(crossEntropy(z, y).dataSync()[0] ?? NaN, mean(expected));
      expectRelClose(crossEntropy(z, y, { reduction: 'sum' }).dataSync()[0] ?? NaN, expected.reduce((a, b) => a + b, 0));
      tf.dispose([z, y, none]);
    });

    it('klDivergence equals Σ p (log p − log q) per example', () => {
      const p = tf.tensor2d(zs);
      const q = tf.tensor2d(ws);
      const expected = zs.map((row, i) => kl64(row, ws[i] ?? []));
      const none = klDivergence(p, q, { reduction: 'none' });
      Array.from(none.dataSync()).forEach((v, i) => { expectRelClose(v, expected[i] ?? NaN, 1e-5, scale > 100 ? 1 : 1e-6); });
      expectRelClose(klDivergence(p, q).dataSync()[0] ?? NaN, mean(expected), 1e-5, scale > 100 ? 1 : 1e-6);
      tf.dispose([p, q, none]);
    });

    it('cwMarginLoss equals −max(z_y − max_{j≠y} z_j + κ, 0)', () => {
      const z = tf.tensor2d(zs);
      const y = tf.tensor1d(labels, 'int32');
      for (const kappa of [0, scale / 2]) {
        const expected = zs.map((row, i) => cw64(row, labels[i] ?? 0, kappa));
        const none = cwMarginLoss(z, y, { kappa, reduction: 'none' });
        Array.from(none.dataSync()).forEach((v, i) => { expectRelClose(v, expected[i] ?? NaN, 1e-5, 1e-3 * scale); });
        none.dispose();
      }
      tf.dispose([z, y]);
    });

    it('gradients are finite', () => {
      const z = tf.tensor2d(zs);
      const w = tf.tensor2d(ws);
      const y = tf.tensor1d(labels, 'int32');
      const grads = [
        tf.grad((t: tf.Tensor) => crossEntropy(t as tf.Tensor2D, y))(z),
        tf.grad((t: tf.Tensor) => klDivergence(t as tf.Tensor2D, w))(z),
        tf.grad((t: tf.Tensor) => klDivergence(w, t as tf.Tensor2D))(z),
        tf.grad((t: tf.Tensor) => cwMarginLoss(t as tf.Tensor2D, y, { kappa: 1 }))(z)
      ];
      for (const g of grads) expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
      tf.dispose([z, w, y, ...grads]);
    });
  });

  it('pass a central finite-difference gradient check', () => {
    const z = tf.tensor2d(randomLogits(4, 5, 2, 3));
    const w = tf.tensor2d(randomLogits(4, 5, 2, 4));
    const y = tf.tensor1d([1, 0, 4, 2], 'int32');
    expect(gradientCheckError((t) => crossEntropy(t as tf.Tensor2D, y), z)).toBeLessThan(1e-2);
    expect(gradientCheckError((t) => klDivergence(t as tf.Tensor2D, w), z)).toBeLessThan(1e-2);
    expect(gradientCheckError((t) => klDivergence(w, t as tf.Tensor2D), z)).toBeLessThan(1e-2);
    expect(gradientCheckError((t) => cwMarginLoss(t as tf.Tensor2D, y, { kappa: 0.5 }), z, 1e-3)).toBeLessThan(1e-2);
    tf.dispose([z, w, y]);
  });

  it('satisfy their identities: KL(p‖p) = 0, KL ≥ 0, CE ≥ 0, CW ≤ 0, CE of a confident right answer → 0', () => {
    const z = tf.tensor2d(randomLogits(8, 4, 5, 9));
    const w = tf.tensor2d(randomLogits(8, 4, 5, 10));
    const y = tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], 'int32');
    Array.from(klDivergence(z, z, { reduction: 'none' }).dataSync()).forEach((v) => { expect(Math.abs(v)).toBeLessThan(1e-6); });
    Array.from(klDivergence(z, w, { reduction: 'none' }).dataSync()).forEach((v) => { expect(v).toBeGreaterThanOrEqual(-1e-6); });
    Array.from(crossEntropy(z, y, { reduction: 'none' }).dataSync()).forEach((v) => { expect(v).toBeGreaterThanOrEqual(0); });
    Array.from(cwMarginLoss(z, y, { reduction: 'none' }).dataSync()).forEach((v) => { expect(v).toBeLessThanOrEqual(0); });
    const confident = tf.tensor2d([[50, 0, 0]]);
    const label0 = tf.tensor1d([0], 'int32');
    expect(crossEntropy(confident, label0).dataSync()[0]).toBeLessThan(1e-12);
    tf.dispose([z, w, y, confident, label0]);
  });

  it('leak nothing', () => {
    const z = tf.tensor2d(randomLogits(3, 4, 2, 1));
    const w = tf.tensor2d(randomLogits(3, 4, 2, 2));
    const y = tf.tensor1d([0, 3, 1], 'int32');
    expectNoLeak(() => crossEntropy(z, y));
    expectNoLeak(() => klDivergence(z, w, { reduction: 'none' }));
    expectNoLeak(() => cwMarginLoss(z, y, { kappa: 2, reduction: 'sum' }));
    tf.dispose([z, w, y]);
  });
});

describe('base loss input validation', () => {
  beforeAll(async () => useBackend('cpu'));

  it('rejects mismatched shapes, wrong dtypes, bad labels and options, leaking nothing', () => {
    const z = tf.tensor2d(randomLogits(3, 4, 2, 1));
    const z5 = tf.tensor2d(randomLogits(3, 5, 2, 1));
    const z2 = tf.tensor2d(randomLogits(2, 4, 2, 1));
    const y = tf.tensor1d([0, 3, 1], 'int32');
    const yFloat = tf.tensor1d([0, 3, 1]);
    const yBig = tf.tensor1d([0, 4, 1], 'int32');
    const yShort = tf.tensor1d([0, 1], 'int32');
    expectThrowsNoLeak(() => klDivergence(z, z5), /^klDivergence: targetLogits and inputLogits must have the same number of classes \(got \[3, 4\] and \[3, 5\]\)/);
    expectThrowsNoLeak(() => klDivergence(z, z2), /^klDivergence: targetLogits and inputLogits must have the same batch size \(got \[3, 4\] and \[2, 4\]\)/);
    expectThrowsNoLeak(() => crossEntropy(z, yFloat), /^crossEntropy: labels must be an int32 tensor/, TypeError);
    expectThrowsNoLeak(() => crossEntropy(z, yBig), /^crossEntropy: labels must hold class indices < 4 \(the number of classes\) \(got "4 at index \d+"\)/);
    expectThrowsNoLeak(() => cwMarginLoss(z, yShort), /^cwMarginLoss: labels must have shape \[3\] to match the batch/);
    expectThrowsNoLeak(() => cwMarginLoss(z, y, { kappa: Infinity }), /^cwMarginLoss: kappa must be a finite number \(got Infinity\)/);
    expectThrowsNoLeak(() => crossEntropy(z, y, { reduction: 'avg' as never }), /^crossEntropy: reduction must be one of "mean", "sum", "none" \(got "avg"\)/);
    const rank1 = tf.tensor1d([1, 2]);
    expectThrowsNoLeak(() => crossEntropy(rank1 as never, y), /^crossEntropy: logits must have rank 2/);
    tf.dispose([z, z5, z2, y, yFloat, yBig, yShort, rank1]);
  });
});
