/** robustnessCurve, transferability and selectTeachers: exact answers on scripted problems, invariants on a toy model. */
import * as tf from '@tensorflow/tfjs-core';
import { apgd, pgd, type AttackFunction } from '../../src/attacks/index.js';
import type { Model } from '../../src/core/index.js';
import { robustnessCurve, selectTeachers, transferability, type TransferabilityResult } from '../../src/eval/index.js';
import { expectRejectsNoLeak, testRandom, toyProblem, useBackend, type ToyProblem } from '../helpers.js';
import { SCRIPTED_LABELS, SCRIPTED_SCORES, readsFeatures } from '../scripted.js';

/**
 * Features 0–2 and 4–6 both hold these scores, feature 3 the example's id/10. Example 5 is misclassified.
 * Models A and B read features 0–2, model C reads 4–6; the attack rewrites features 0–2 only.
 */
const scores = SCRIPTED_SCORES.map((row) => [...row]);
const labels = [...SCRIPTED_LABELS];
const readsFirst: Model = readsFeatures(0);
const readsSecond: Model = readsFeatures(4);
/** Sets features 0–2 to the one-hot of a wrong class, on every row. */
const rewriteFirst: AttackFunction = (_m, x, y) => {
  const xs = x.arraySync() as number[][];
  const ys = Array.from(y.dataSync());
  return tf.tensor2d(xs.map((row, i) => row.map((v, c) => (c < 3 ? (c === ((ys[i] ?? 0) + 1) % 3 ? 1 : 0) : v))));
};

/** A transferability result with the given matrix and accuracies. */
function measured(matrix: number[][], clean: number[], robust = clean.map(() => 0.5)): TransferabilityResult {
  return { names: matrix.map((_, i) => `m${String(i)}`), matrix, counts: matrix.map((row) => row.map(() => 10)), clean, robust };
}

describe('transferability and selectTeachers on a scripted problem', () => {
  let x: tf.Tensor2D;
  let y: tf.Tensor1D;
  beforeAll(async () => {
    await useBackend('cpu');
    x = tf.tensor2d(scores.map((row, i) => [...row, i / 10, ...row]));
    y = tf.tensor1d(labels, 'int32');
  });
  afterAll(() => { tf.dispose([x, y]); });

  it.each([1, 4, 100])('measures how often adversarial examples made on one model fool another (batch size %d)', async (batchSize) => {
    const before = tf.memory().numTensors;
    const t = await transferability({ A: readsFirst, B: readsFirst, C: readsSecond }, x, y, rewriteFirst, { batchSize });
    expect(tf.memory().numTensors).toBe(before);
    expect(t.names).toEqual(['A', 'B', 'C']);
    expect(t.matrix[0]).toEqual([1, 1, 0]);
    expect(t.matrix[1]).toEqual([1, 1, 0]);
    expect(t.matrix[2]?.every(Number.isNaN)).toBe(true); // the attack never fools C, so nothing to transfer
    expect(t.counts).toEqual([[5, 5, 5], [5, 5, 5], [0, 0, 0]]);
    expect(t.clean).toEqual([5 / 6, 5 / 6, 5 / 6]);
    expect(t.robust).toEqual([0, 0, 5 / 6]);
    const pick = await selectTeachers(t, 2);
    expect(pick.selected).toEqual(['A', 'C']); // {A, C} and {B, C} transfer 0; the tie goes to the earlier
    expect(pick.meanTransfer).toBe(0);
    expect(pick.exhaustive).toBe(true);
  });

  it('rejects bad models, attacks and inputs clearly, leaking nothing', async () => {
    await expectRejectsNoLeak(() => transferability({}, x, y, rewriteFirst), /^transferability: models must hold at least one model/);
    await expectRejectsNoLeak(() => transferability({ A: 1 as never }, x, y, rewriteFirst), /^transferability: models.A must be a function/, TypeError);
    await expectRejectsNoLeak(() => transferability([readsFirst], x, y, 'pgd' as never), /^transferability: attack must be a function/, TypeError);
    await expectRejectsNoLeak(
      () => transferability([readsFirst], x, y, (_m, xb) => tf.slice(xb, 0, 1), { batchSize: 2 }),
      /^transferability: attack must return adversarial inputs of the batch's shape \[2, 7\] \(got a float32 tensor of shape \[1, 7\]\)/
    );
    const failing: AttackFunction = () => { throw new Error('attack failed'); };
    await expectRejectsNoLeak(() => transferability([readsFirst, readsSecond], x, y, failing), /attack failed/, Error);
    await expectRejectsNoLeak(() => transferability([readsFirst], x, y, rewriteFirst, { batchSize: 0 }), /^transferability: batchSize must be an integer >= 1 \(got 0\)/);
  });
});

describe('selectTeachers', () => {
  // m0 and m1 transfer a lot to each other; m2 and m3 transfer little to anyone; m3 is the least accurate.
  const matrix = [
    [1, 0.9, 0.3, 0.2],
    [0.8, 1, 0.4, 0.3],
    [0.2, 0.3, 1, 0.1],
    [0.1, 0.2, 0.1, 1]
  ];

  it('picks the k candidates with the lowest mean mutual transfer above the accuracy floor', async () => {
    const t = measured(matrix, [0.9, 0.95, 0.85, 0.6]);
    expect((await selectTeachers(t, 2)).selected).toEqual(['m2', 'm3']);
    expect((await selectTeachers(t, 2)).meanTransfer).toBeCloseTo(0.1, 12);
    const floored = await selectTeachers(t, 2, { minAccuracy: 0.8 });
    expect(floored.eligible).toEqual(['m0', 'm1', 'm2']);
    expect(floored.selected).toEqual(['m0', 'm2']); // (0.3 + 0.2)/2 = 0.25 < m1–m2's 0.35 < m0–m1's 0.85
    expect((await selectTeachers(t, 3, { minAccuracy: 0.8 })).selected).toEqual(['m0', 'm1', 'm2']);
    // k = 1: no pairs, so the most accurate eligible candidate.
    expect((await selectTeachers(t, 1)).selected).toEqual(['m1']);
    // The floor on robust accuracy instead.
    const robust = measured(matrix, [0.9, 0.95, 0.85, 0.6], [0.5, 0.1, 0.5, 0.5]);
    expect((await selectTeachers(robust, 2, { minAccuracy: 0.4, accuracy: 'robust' })).eligible).toEqual(['m0', 'm2', 'm3']);
  });

  it('falls back to a greedy choice when there are too many subsets, and still finds a planted low-transfer set', async () => {
    const n = 40;
    const r = testRandom(3);
    const planted = [5, 17, 23, 31, 38];
    const big = Array.from({ length: n }, (_, i) =>
      Array.from({ length: n }, (_, j) => (i === j ? 1 : planted.includes(i) && planted.includes(j) ? 0.01 * r() : 0.3 + 0.6 * r()))
    );
    const pick = await selectTeachers(measured(big, big.map(() => 0.9)), 5);
    expect(pick.exhaustive).toBe(false);
    expect(pick.indices).toEqual(planted);
  });

  it('rejects bad arguments', async () => {
    const t = measured(matrix, [0.9, 0.95, 0.85, 0.6]);
    await expect(selectTeachers(t, 0)).rejects.toThrow(/^selectTeachers: k must be an integer >= 1 \(got 0\)/);
    await expect(selectTeachers(t, 4, { minAccuracy: 0.8 })).rejects.toThrow(/^selectTeachers: k must be at most the number of candidates with clean accuracy >= 0.8 \(3\) \(got 4\)/);
    await expect(selectTeachers(t, 2, { minAccuracy: 80 })).rejects.toThrow(/^selectTeachers: minAccuracy must be a number in \[0, 1\] \(got 80\)/);
    await expect(selectTeachers(t, 2, { accuracy: 'pgd' as never })).rejects.toThrow(/^selectTeachers: accuracy must be one of "clean", "robust"/);
    await expect(selectTeachers({ names: ['a'], matrix: [[1, 2]] } as never, 1)).rejects.toThrow(/^selectTeachers: candidates must be the result of transferability/);
    await expect(selectTeachers(t, 2, { floor: 1 } as never)).rejects.toThrow(/^selectTeachers: options must only have the keys minAccuracy, accuracy/);
  });
});

describe('transferability and robustnessCurve on trained toy models', () => {
  let p: ToyProblem;
  let other: Model;
  let weights: tf.Variable[];
  beforeAll(async () => {
    await useBackend('cpu');
    p = toyProblem();
    // A second MLP on the same data, from another initialisation.
    const r = testRandom(99);
    const init = (shape: number[]): tf.Variable => tf.variable(tf.tensor(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (r() - 0.5) * 0.6), shape));
    weights = [init([20, 12]), init([12]), init([12, 4]), init([4])];
    const [w1, b1, w2, b2] = weights as [tf.Variable, tf.Variable, tf.Variable, tf.Variable];
    other = (x) => tf.tidy(() => tf.add<tf.Tensor2D>(tf.matMul(tf.relu(tf.add(tf.matMul(tf.reshape(x, [x.shape[0] ?? 1, 20]), w1), b1)), w2), b2));
    const opt = tf.train.adam(0.05);
    const oneHot = tf.oneHot(p.y, 4);
    for (let step = 0; step < 60; step++) opt.minimize(() => tf.losses.softmaxCrossEntropy<tf.Tensor, tf.Scalar>(oneHot, other(p.x)));
    tf.dispose([oneHot]);
    opt.dispose();
  });
  afterAll(() => {
    p.dispose();
    tf.dispose(weights);
  });

  it('gives rates in [0, 1], a unit diagonal, and robust ≤ clean accuracy', async () => {
    const before = tf.memory().numTensors;
    const t = await transferability([p.model, other], p.x, p.y, (m, xb, yb) => pgd(m, xb, yb, { eps: 0.12, steps: 5, seed: 1 }), { batchSize: 50 });
    expect(tf.memory().numTensors).toBe(before);
    expect(t.names).toEqual(['0', '1']);
    expect(t.matrix[0]?.[0]).toBe(1);
    expect(t.matrix[1]?.[1]).toBe(1);
    for (const row of t.matrix) for (const v of row) expect(v >= 0 && v <= 1).toBe(true);
    t.robust.forEach((r, i) => { expect(r).toBeLessThan(t.clean[i] ?? 0); });
    expect(t.counts[0]?.[1]).toBeGreaterThan(0);
  });

  it('robustnessCurve falls with ε from clean accuracy to about 0, and reports progress', async () => {
    const progress: number[] = [];
    const before = tf.memory().numTensors;
    const curve = await robustnessCurve(p.model, p.x, p.y, (eps) => (m, xb, yb) => apgd(m, xb, yb, { eps, steps: 5, seed: 0 }), [0, 0.05, 0.1, 0.2, 1], {
      batchSize: 64,
      onProgress: ({ index, count }) => progress.push(index / count)
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(curve.epsilons).toEqual([0, 0.05, 0.1, 0.2, 1]);
    expect(curve.accuracy[0]).toBeCloseTo(curve.clean, 12);
    for (let i = 1; i < curve.accuracy.length; i++) expect(curve.accuracy[i]).toBeLessThanOrEqual(curve.accuracy[i - 1] ?? 1);
    expect(curve.accuracy[4]).toBe(0);
    expect(curve.perPoint).toHaveLength(5);
    expect(curve.seconds).toHaveLength(5);
    expect(progress).toEqual([0, 0.2, 0.4, 0.6, 0.8]);
  });

  it('robustnessCurve rejects bad arguments', async () => {
    const attack = (eps: number): AttackFunction => (m, xb, yb) => pgd(m, xb, yb, { eps, steps: 1 });
    await expect(robustnessCurve(p.model, p.x, p.y, attack, [])).rejects.toThrow(/^robustnessCurve: epsilons must be a non-empty array of radii/);
    await expect(robustnessCurve(p.model, p.x, p.y, attack, [0.1, -1])).rejects.toThrow(/^robustnessCurve: epsilons\[1\] must be a finite number >= 0 \(got -1\)/);
    await expect(robustnessCurve(p.model, p.x, p.y, 3 as never, [0.1])).rejects.toThrow(/^robustnessCurve: attack must be a function/);
    await expect(robustnessCurve(p.model, p.x, p.y, () => 3 as never, [0.1])).rejects.toThrow(/^robustnessCurve: attack must return an attack function for eps = 0.1 \(got 3\)/);
    await expect(robustnessCurve(p.model, p.x, p.y, attack, [0.1], { batch: 2 } as never)).rejects.toThrow(/^robustnessCurve: options must only have the keys batchSize, onProgress/);
  });
});
