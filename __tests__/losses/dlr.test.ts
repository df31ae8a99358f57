/** dlrLoss and targetedDlrLoss against float64 computations of the METHODS.md formulas. */
import * as tf from '@tensorflow/tfjs-core';
import { dlrLoss, targetedDlrLoss } from '../../src/losses/index.js';
import { expectNoLeak, expectRelClose, expectThrowsNoLeak, gradientCheckError, randomLogits, useBackend } from '../helpers.js';

const sortedDesc = (z: number[]): number[] => [...z].sort((a, b) => b - a);
/** −(z_y − max_{j≠y} z_j)/(z_π1 − z_π3 + 1e−12), in float64. */
const dlr64 = (z: number[], y: number): number => {
  const s = sortedDesc(z);
  const others = Math.max(...z.filter((_, c) => c !== y));
  return -((z[y] ?? NaN) - others) / ((s[0] ?? NaN) - (s[2] ?? NaN) + 1e-12);
};
/** −(z_y − z_t)/(z_π1 − (z_π3 + z_π4)/2 + 1e−12), in float64. */
const targetedDlr64 = (z: number[], y: number, t: number): number => {
  const s = sortedDesc(z);
  return -((z[y] ?? NaN) - (z[t] ?? NaN)) / ((s[0] ?? NaN) - ((s[2] ?? NaN) + (s[3] ?? NaN)) / 2 + 1e-12);
};
const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;

describe.each(['cpu', 'wasm'] as const)('DLR losses (%s)', (backend) => {
  beforeAll(async () => useBackend(backend));
  const B = 6;
  const C = 5;
  const labels = [0, 4, 2, 3, 1, 4];
  const targets = [1, 0, 2, 0, 4, 3]; // the third example has t = y

  describe.each([
    ['moderate', 3],
    ['extreme', 1e4]
  ])('%s logits', (_label, scale) => {
    const zs = randomLogits(B, C, scale, 21);

    it('dlrLoss equals −(z_y − max_{j≠y} z_j)/(z_π1 − z_π3 + 1e−12) per example and in each reduction', () => {
      const z = tf.tensor2d(zs);
      const y = tf.tensor1d(labels, 'int32');
      const expected = zs.map((row, i) => dlr64(row, labels[i] ?? 0));
      const none = dlrLoss(z, y, { reduction: 'none' });
      expect(none.shape).toEqual([B]);
      Array.from(none.dataSync()).forEach((v, i) => { expectRelClose(v, expected[i] ?? NaN); });
      const m = dlrLoss(z, y);
      const s = dlrLoss(z, y, { reduction: 'sum' });
      expectRelClose(m.dataSync()[0] ?? NaN, mean(expected));
      expectRelClose(s.dataSync()[0] ?? NaN, expected.reduce((a, b) => a + b, 0));
      tf.dispose([z, y, none, m, s]);
    });

    it('targetedDlrLoss equals −(z_y − z_t)/(z_π1 − (z_π3 + z_π4)/2 + 1e−12)', () => {
      const z = tf.tensor2d(zs);
      const y = tf.tensor1d(labels, 'int32');
      const t = tf.tensor1d(targets, 'int32');
      const expected = zs.map((row, i) => targetedDlr64(row, labels[i] ?? 0, targets[i] ?? 0));
      const none = targetedDlrLoss(z, y, t, { reduction: 'none' });
      Array.from(none.dataSync()).forEach((v, i) => { expectRelClose(v, expected[i] ?? NaN, 1e-5, 1e-6); });
      expect(Math.abs(none.dataSync()[2] ?? NaN)).toBe(0); // t = y
      const m = targetedDlrLoss(z, y, t);
      expectRelClose(m.dataSync()[0] ?? NaN, mean(expected));
      tf.dispose([z, y, t, none, m]);
    });
  });

  it('is positive exactly where the example is misclassified', () => {
    const zs = randomLogits(20, 6, 4, 5);
    const ys = zs.map((_, i) => i % 6);
    const z = tf.tensor2d(zs);
    const y = tf.tensor1d(ys, 'int32');
    const values = Array.from(dlrLoss(z, y, { reduction: 'none' }).dataSync());
    values.forEach((v, i) => {
      const row = zs[i] ?? [];
      const predicted = row.indexOf(Math.max(...row));
      expect(v > 0).toBe(predicted !== ys[i]);
    });
    tf.dispose([z, y]);
  });

  it('is invariant to shifting and to positive scaling of the logits', () => {
    const zs = randomLogits(8, 6, 3, 8);
    const ys = [0, 1, 2, 3, 4, 5, 0, 1];
    const ts = [1, 2, 3, 4, 5, 0, 2, 3];
    const z = tf.tensor2d(zs);
    const y = tf.tensor1d(ys, 'int32');
    const t = tf.tensor1d(ts, 'int32');
    const base = Array.from(dlrLoss(z, y, { reduction: 'none' }).dataSync());
    const baseT = Array.from(targetedDlrLoss(z, y, t, { reduction: 'none' }).dataSync());
    for (const [shift, factor] of [[7.5, 1], [-100, 1], [0, 0.01], [0, 250], [-3, 40]] as const) {
      const moved = tf.tidy(() => tf.add<tf.Tensor2D>(tf.mul(z, factor), shift));
      const got = Array.from(dlrLoss(moved, y, { reduction: 'none' }).dataSync());
      const gotT = Array.from(targetedDlrLoss(moved, y, t, { reduction: 'none' }).dataSync());
      got.forEach((v, i) => { expectRelClose(v, base[i] ?? NaN, 1e-4, 1e-4); });
      gotT.forEach((v, i) => { expectRelClose(v, baseT[i] ?? NaN, 1e-4, 1e-4); });
      moved.dispose();
    }
    tf.dispose([z, y, t]);
  });

  it('pass a central finite-difference gradient check, and have finite gradients at extreme logits', () => {
    const z = tf.tensor2d(randomLogits(4, 5, 2, 3));
    const y = tf.tensor1d([1, 0, 4, 2], 'int32');
    const t = tf.tensor1d([3, 2, 0, 0], 'int32');
    expect(gradientCheckError((v) => dlrLoss(v as tf.Tensor2D, y), z, 1e-3)).toBeLessThan(1e-2);
    expect(gradientCheckError((v) => targetedDlrLoss(v as tf.Tensor2D, y, t), z, 1e-3)).toBeLessThan(1e-2);
    const big = tf.tensor2d(randomLogits(4, 5, 1e4, 4));
    const grads = [
      tf.grad((v: tf.Tensor) => dlrLoss(v as tf.Tensor2D, y))(big),
      tf.grad((v: tf.Tensor) => targetedDlrLoss(v as tf.Tensor2D, y, t))(big)
    ];
    for (const g of grads) expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
    tf.dispose([z, y, t, big, ...grads]);
  });

  it('leak nothing', () => {
    const z = tf.tensor2d(randomLogits(3, 4, 2, 1));
    const y = tf.tensor1d([0, 3, 1], 'int32');
    const t = tf.tensor1d([1, 2, 3], 'int32');
    expectNoLeak(() => dlrLoss(z, y));
    expectNoLeak(() => targetedDlrLoss(z, y, t, { reduction: 'none' }));
    expectNoLeak(() => tf.grad((v: tf.Tensor) => dlrLoss(v as tf.Tensor2D, y, { reduction: 'sum' }))(z));
    tf.dispose([z, y, t]);
  });
});

describe('DLR input validation', () => {
  beforeAll(async () => useBackend('cpu'));

  it('needs at least 3 classes (4 when targeted), and rejects bad labels, targets and options, leaking nothing', () => {
    const z2 = tf.tensor2d([[1, 2], [3, 4]]);
    const z3 = tf.tensor2d([[1, 2, 3], [3, 4, 5]]);
    const z4 = tf.tensor2d([[1, 2, 3, 4], [3, 4, 5, 6]]);
    const y = tf.tensor1d([0, 1], 'int32');
    const yShort = tf.tensor1d([0], 'int32');
    const tBig = tf.tensor1d([0, 4], 'int32');
    const tFloat = tf.tensor1d([0, 1]);
    expectThrowsNoLeak(() => dlrLoss(z2, y), /^dlrLoss: logits must have at least 3 classes .* \(got a float32 tensor of shape \[2, 2\]\)/);
    expectThrowsNoLeak(() => targetedDlrLoss(z3, y, y), /^targetedDlrLoss: logits must have at least 4 classes .* \(got a float32 tensor of shape \[2, 3\]\)/);
    expectThrowsNoLeak(() => dlrLoss(z3, yShort), /^dlrLoss: labels must have shape \[2\] to match the batch/);
    expectThrowsNoLeak(() => targetedDlrLoss(z4, y, tBig), /^targetedDlrLoss: targets must hold class indices < 4 \(the number of classes\) \(got "4 at index \d+"\)/);
    expectThrowsNoLeak(() => targetedDlrLoss(z4, y, tFloat), /^targetedDlrLoss: targets must be an int32 tensor/, TypeError);
    expectThrowsNoLeak(() => dlrLoss(z3, y, { reduction: 'avg' as never }), /^dlrLoss: reduction must be one of "mean", "sum", "none" \(got "avg"\)/);
    expectThrowsNoLeak(() => dlrLoss(z3, y, { reduce: 'sum' } as never), /^dlrLoss: options must only have the keys reduction \(got "reduce"\)/);
    expectThrowsNoLeak(() => dlrLoss([[1, 2, 3]] as never, y), /^dlrLoss: logits must be a tf.Tensor/, TypeError);
    tf.dispose([z2, z3, z4, y, yShort, tBig, tFloat]);
  });
});
