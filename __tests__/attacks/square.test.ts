/**
 * Square Attack (Andriushchenko et al. 2020): the p schedule, the stripe initialisation, the threat model, the
 * query budget and count, that it never computes a gradient, determinism, bad inputs and leaks.
 */
import * as tf from '@tensorflow/tfjs-core';
import { apgd, autoAttackSuite, square, squareAttack } from '../../src/attacks/index.js';
import { squareL2Pattern, squareSchedule } from '../../src/attacks/square.js';
import type { Model } from '../../src/core/index.js';
import { squareDetailed, accuracy, expectNoLeak, expectThrowsNoLeak, linearModel, maxDistance, rows, toyProblem, useBackend, type LinearModel, type ToyProblem } from '../helpers.js';

describe('squareSchedule', () => {
  it('halves p after iterations 10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000 of 10 000, rescaled to the budget', () => {
    const p = 0.8;
    const at = (i: number, q = 10000): number => squareSchedule(i, q, p);
    expect([0, 10, 11, 50, 51, 200, 201, 500, 501, 1000, 1001, 2000, 2001, 4000, 4001, 6000, 6001, 8000, 8001, 9999].map((i) => at(i))).toEqual(
      [1, 1, 2, 2, 4, 4, 8, 8, 16, 16, 32, 32, 64, 64, 128, 128, 256, 256, 512, 512].map((d) => p / d)
    );
    // 1000 queries: iteration i plays the part of iteration 10·i.
    expect([1, 2, 5, 6, 20, 21, 999].map((i) => at(i, 1000))).toEqual([1, 2, 2, 4, 4, 8, 512].map((d) => p / d));
    // Not rescaled (AutoAttack's Square, resc_schedule=False): 5000 queries end at p/128.
    expect([10, 11, 4000, 4001, 4999].map((i) => squareSchedule(i, 5000, p, false))).toEqual([1, 2, 64, 128, 128].map((d) => p / d));
  });

  it("AutoAttack's Square spends the reference's 5000 proposals plus the queries at x and at the start", async () => {
    await useBackend('cpu');
    const x = tf.tensor4d(Array.from({ length: 2 * 36 }, (_, i) => 0.3 + 0.4 * ((i * 7) % 11) / 11), [2, 6, 6, 1]);
    // Labels the model gets wrong at no point: a huge margin, so nothing is fooled and every query is spent.
    const strong: Model = (t) => tf.tidy(() => tf.mul(tf.oneHot(tf.zeros([t.shape[0] ?? 1], 'int32'), 3), 1000));
    const y = tf.tensor1d([0, 0], 'int32');
    const suite = autoAttackSuite({ eps: 0.1, queries: 7, seed: 0 });
    const out = suite.square?.detailed(strong, x, y);
    expect(Array.from((await out?.queries?.data()) ?? [])).toEqual([9, 9]);
    tf.dispose([out?.xAdv, out?.queries, out?.success].filter((t) => t !== undefined));
    tf.dispose([x, y]);
  });
});

describe.each(['cpu', 'wasm'] as const)('square on a trained toy model (%s)', (backend) => {
  let p: ToyProblem;
  beforeAll(async () => {
    await useBackend(backend);
    p = toyProblem();
  });
  afterAll(() => { p.dispose(); });

  it('stays in the ε-ball and the bounds, spends at most its budget, and fools points', () => {
    const budget = 200;
    const r = squareDetailed(p.model, p.x, p.y, { eps: 0.12, queries: budget, seed: 3 });
    expect(r.xAdv.shape).toEqual(p.x.shape);
    expect(maxDistance(r.xAdv, p.x, 'linf')).toBeLessThanOrEqual(0.12 + 1e-6);
    expect(tf.min(r.xAdv).dataSync()[0]).toBeGreaterThanOrEqual(0);
    expect(tf.max(r.xAdv).dataSync()[0]).toBeLessThanOrEqual(1);
    expect(r.queries.dtype).toBe('int32');
    expect(r.queries.shape).toEqual([p.x.shape[0]]);
    expect(r.success.dtype).toBe('bool');
    expect(r.success.shape).toEqual([p.x.shape[0]]);
    const queries = Array.from(r.queries.dataSync());
    const success = Array.from(r.success.dataSync());
    expect(Math.max(...queries)).toBeLessThanOrEqual(budget);
    expect(Math.min(...queries)).toBeGreaterThanOrEqual(1);
    // Success is the margin below 0 at x', and a point that never succeeded used the whole budget.
    const wrong = Array.from(tf.tidy(() => tf.notEqual(tf.argMax(p.model(r.xAdv), 1), p.y).dataSync()));
    expect(success).toEqual(wrong);
    queries.forEach((q, i) => { if (success[i] === 0) expect(q).toBe(budget); });
    expect(accuracy(p.model, r.xAdv, p.y)).toBeLessThan(accuracy(p.model, p.x, p.y) - 0.2);
    tf.dispose([r.xAdv, r.queries, r.success]);
  });

  it('is seeded, and leaks nothing', () => {
    const a = squareDetailed(p.model, p.x, p.y, { eps: 0.1, queries: 30, seed: 9 });
    const b = squareDetailed(p.model, p.x, p.y, { eps: 0.1, queries: 30, seed: 9 });
    expect(Array.from(a.xAdv.dataSync())).toEqual(Array.from(b.xAdv.dataSync()));
    expect(Array.from(a.queries.dataSync())).toEqual(Array.from(b.queries.dataSync()));
    tf.dispose([a.xAdv, b.xAdv, a.queries, b.queries, a.success, b.success]);
    expectNoLeak(() => { const r = squareDetailed(p.model, p.x, p.y, { eps: 0.1, queries: 20, seed: 1 }); return [r.xAdv, r.queries, r.success]; });
  });
});

describe('square: queries and gradients', () => {
  let p: ToyProblem;
  beforeAll(async () => {
    await useBackend('cpu');
    p = toyProblem();
  });
  afterAll(() => { p.dispose(); });

  it('counts every row the model sees, and never asks tfjs for a gradient', () => {
    let rowsSeen = 0;
    const counted: Model = (x) => {
      rowsSeen += x.shape[0] ?? 0;
      return p.model(x);
    };
    const gradients = jest.spyOn(tf.engine(), 'gradients');
    try {
      const r = squareDetailed(counted, p.x, p.y, { eps: 0.1, queries: 100, seed: 2 });
      expect(gradients).not.toHaveBeenCalled();
      expect(rowsSeen).toBe(Array.from(r.queries.dataSync()).reduce((a, q) => a + q, 0));
      tf.dispose([r.xAdv, r.queries, r.success]);
    } finally {
      gradients.mockRestore();
    }
  });

  it('attacks a model whose gradient throws (a white-box attack on it fails)', () => {
    const forward = (...args: Array<tf.Tensor | tf.GradSaveFunc>): { value: tf.Tensor2D; gradFunc: () => never } => {
      const x = args[0] as tf.Tensor;
      (args[1] as tf.GradSaveFunc)([x]);
      return {
        value: p.model(x),
        gradFunc: () => {
          throw new Error('no gradient for you');
        }
      };
    };
    const noGradient = tf.customGrad(forward);
    expectThrowsNoLeak(() => apgd(noGradient, p.x, p.y, { eps: 0.1, steps: 2 }), /no gradient for you/, Error);
    const r = squareDetailed(noGradient, p.x, p.y, { eps: 0.15, queries: 100, seed: 2 });
    expect(accuracy(p.model, r.xAdv, p.y)).toBeLessThan(0.5);
    tf.dispose([r.xAdv, r.queries, r.success]);
  });

  it('starts from vertical stripes: one sign per column and channel, ±ε down every row (NHWC)', () => {
    const lin = linearModel(4 * 5 * 3, 4, 8);
    const x = tf.tidy(() => tf.add<tf.Tensor4D>(tf.mul(tf.randomUniform([6, 4, 5, 3], 0, 1, 'float32', 1), 0.5), 0.25));
    const y = tf.tidy(() => tf.cast(tf.argMax(lin.model(x), 1), 'int32') as tf.Tensor1D);
    const r = squareDetailed(lin.model, x, y, { eps: 0.2, queries: 2, seed: 4 }); // one query at x, one at the stripes
    expect(Array.from(r.queries.dataSync())).toEqual([2, 2, 2, 2, 2, 2]);
    const delta = rows(tf.tidy(() => tf.sub(r.xAdv, x)));
    for (const row of delta) {
      for (let w = 0; w < 5; w++) {
        for (let c = 0; c < 3; c++) {
          const column = [0, 1, 2, 3].map((h) => row[(h * 5 + w) * 3 + c] ?? NaN);
          column.forEach((v) => { expect(Math.abs(Math.abs(v) - 0.2)).toBeLessThan(1e-6); });
          expect(new Set(column.map(Math.sign)).size).toBe(1);
        }
      }
    }
    tf.dispose([x, y, r.xAdv, r.queries, r.success]);
    lin.dispose();
  });

  it('returns points misclassified at x unchanged, after one query', () => {
    const wrong = tf.tidy(() => tf.cast(tf.mod(tf.add(p.y, 1), p.numClasses), 'int32') as tf.Tensor1D);
    const r = squareDetailed(p.model, p.x, wrong, { eps: 0.1, queries: 50, seed: 1 });
    expect(Array.from(r.xAdv.dataSync())).toEqual(Array.from(p.x.dataSync()));
    expect(Array.from(r.queries.dataSync()).every((q) => q === 1)).toBe(true);
    expect(Array.from(r.success.dataSync()).every((v) => v === 1)).toBe(true);
    tf.dispose([wrong, r.xAdv, r.queries, r.success]);
  });

  it('treats [B, D] vectors as one row, with the same threat model', () => {
    const flat = tf.reshape(p.x, [p.x.shape[0], 20]);
    const r = squareDetailed(p.model, flat, p.y, { eps: 0.12, queries: 100, seed: 5 });
    expect(maxDistance(r.xAdv, flat, 'linf')).toBeLessThanOrEqual(0.12 + 1e-6);
    expect(accuracy(p.model, r.xAdv, p.y)).toBeLessThan(accuracy(p.model, flat, p.y));
    tf.dispose([flat, r.xAdv, r.queries, r.success]);
  });
});

describe('square input validation', () => {
  let lin: LinearModel;
  let x: tf.Tensor2D;
  let y: tf.Tensor1D;
  beforeAll(async () => {
    await useBackend('cpu');
    lin = linearModel(4, 3, 1);
    x = tf.tensor2d([[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8]]);
    y = tf.tensor1d([0, 2], 'int32');
  });
  afterAll(() => {
    lin.dispose();
    tf.dispose([x, y]);
  });

  it.each([
    [{}, /eps must be given/],
    [{ eps: -0.1 }, /eps must be a finite number >= 0 \(got -0.1\)/],
    [{ eps: 0.1, queries: 0 }, /queries must be an integer >= 1 \(got 0\)/],
    [{ eps: 0.1, queries: 2.5 }, /queries must be an integer >= 1 \(got 2.5\)/],
    [{ eps: 0.1, pInit: 0 }, /pInit must be a number in \(0, 1\] \(got 0\)/],
    [{ eps: 0.1, pInit: 1.5 }, /pInit must be a number in \(0, 1\] \(got 1.5\)/],
    [{ eps: 0.1, bounds: [0, 0] }, /bounds must be a pair \[lo, hi\]/],
    [{ eps: 0.1, seed: NaN }, /seed must be a finite number \(got NaN\)/],
    [{ eps: 0.1, norm: 'l1' }, /norm must be one of "linf", "l2" \(got "l1"\)/],
    [{ eps: 0.1, steps: 3 }, /options must only have the keys eps, norm, queries, pInit, bounds, seed \(got "steps"\)/]
  ])('rejects options %p', (options, message) => {
    expectThrowsNoLeak(() => square(lin.model, x, y, options as never), new RegExp(`^square: ${message.source}`));
  });

  it('rejects bad labels, inputs and models, and leaks nothing when the model throws', () => {
    const short = tf.tensor1d([0], 'int32');
    expectThrowsNoLeak(() => square(lin.model, x, short, { eps: 0.1 }), /^square: y must have shape \[2\] to match the batch/);
    expectThrowsNoLeak(() => square(3 as never, x, y, { eps: 0.1 }), /^square: model must be a function/, TypeError);
    const wrong: Model = (t) => tf.tidy(() => tf.concat([lin.model(t), lin.model(t)]));
    expectThrowsNoLeak(() => square(wrong, x, y, { eps: 0.1 }), /^square: model must return logits of shape \[2, C\]/);
    let calls = 0;
    const flaky: Model = (t) => {
      calls += 1;
      if (calls === 3) throw new Error('model failed');
      return lin.model(t);
    };
    const yPred = tf.tidy(() => tf.cast(tf.argMax(lin.model(x), 1), 'int32') as tf.Tensor1D);
    expectThrowsNoLeak(() => square(flaky, x, yPred, { eps: 0.01, queries: 10 }), /model failed/, Error);
    tf.dispose([short, yPred]);
  });
});

describe('square, L2', () => {
  // The reference's update patterns (fra31/auto-attack square.py, `eta` without its random transpose), computed with it
  // in PyTorch: nested rectangles, positive upper half, negative lower half, unit L2 norm.
  const REFERENCE: Record<number, number[]> = {
    3: [0.136083, 0.680414, 0.136083, -0.129099, -0.129099, -0.129099, -0.129099, -0.645497, -0.129099],
    4: [0.049402, 0.160555, 0.160555, 0.160555, 0.049402, 0.160555, 0.605169, 0.160555, -0.049402, -0.160555, -0.160555, -0.160555, -0.049402, -0.160555, -0.605169, -0.160555],
    5: [
      0.049162, 0.159777, 0.159777, 0.159777, 0.049162, 0.049162, 0.159777, 0.602237, 0.159777, 0.049162, -0.04559, -0.148168, -0.148168, -0.148168, -0.04559,
      -0.04559, -0.148168, -0.558479, -0.148168, -0.04559, -0.04559, -0.148168, -0.148168, -0.148168, -0.04559
    ]
  };

  it.each([3, 4, 5])('the update pattern of side %i is the reference\'s, and its transpose', (side) => {
    const expected = REFERENCE[side] ?? [];
    const pattern = Array.from(squareL2Pattern(side, false));
    pattern.forEach((v, k) => { expect(v).toBeCloseTo(expected[k] ?? NaN, 5); });
    const transposed = Array.from(squareL2Pattern(side, true));
    for (let i = 0; i < side; i++) for (let j = 0; j < side; j++) expect(transposed[i * side + j]).toBeCloseTo(pattern[j * side + i] ?? NaN, 12);
  });

  let p: ToyProblem;
  let big: tf.Tensor4D;
  let model: Model;
  beforeAll(async () => {
    await useBackend('cpu');
    p = toyProblem();
    // The toy images are 4 × 5: attack their 2× nearest upsampling (8 × 10) through the model on 2 × 2 average pooling.
    big = tf.tidy(() => tf.image.resizeNearestNeighbor(p.x, [8, 10]));
    model = (x) => p.model(tf.avgPool(x as tf.Tensor4D, 2, 2, 'valid'));
  });
  afterAll(() => {
    big.dispose();
    p.dispose();
  });

  it('stays in the L2 ball and the box, fools points, spends at most its budget, and is seeded', async () => {
    const a = squareDetailed(model, big, p.y, { eps: 1, norm: 'l2', queries: 150, seed: 3 });
    expect(maxDistance(a.xAdv, big, 'l2')).toBeLessThanOrEqual(1 + 1e-5);
    expect(tf.tidy(() => tf.min(a.xAdv).dataSync()[0])).toBeGreaterThanOrEqual(0);
    expect(tf.tidy(() => tf.max(a.xAdv).dataSync()[0])).toBeLessThanOrEqual(1);
    expect(accuracy(model, a.xAdv, p.y)).toBeLessThan(accuracy(model, big, p.y));
    expect(Math.max(...Array.from(await a.queries.data()))).toBeLessThanOrEqual(150);
    const fooled = Array.from(await a.success.data());
    const predicted = Array.from(tf.tidy(() => tf.argMax(model(a.xAdv), 1)).dataSync());
    const labels = Array.from(p.y.dataSync());
    fooled.forEach((f, i) => { if (f === 1) expect(predicted[i]).not.toBe(labels[i]); });
    const b = squareDetailed(model, big, p.y, { eps: 1, norm: 'l2', queries: 150, seed: 3 });
    expect(Array.from(b.xAdv.dataSync())).toEqual(Array.from(a.xAdv.dataSync()));
    tf.dispose([a.xAdv, a.queries, a.success, b.xAdv, b.queries, b.success]);
  });

  it('a larger budget never fools fewer points; squareAttack carries the L2 threat model; nothing leaks', () => {
    const fooled = (queries: number): number => {
      const r = squareDetailed(model, big, p.y, { eps: 0.6, norm: 'l2', queries, seed: 1 });
      const n = Array.from(r.success.dataSync()).reduce((s, v) => s + v, 0);
      tf.dispose([r.xAdv, r.queries, r.success]);
      return n;
    };
    expect(fooled(120)).toBeGreaterThanOrEqual(fooled(30));
    const attack = squareAttack({ eps: 0.6, norm: 'l2', queries: 20, seed: 1 });
    expect(attack.threat).toEqual({ eps: 0.6, norm: 'l2', bounds: [0, 1] });
    expectNoLeak(() => attack(model, big, p.y));
    expectNoLeak(() => { const r = squareDetailed(model, big, p.y, { eps: 0.6, norm: 'l2', queries: 20, seed: 1 }); return [r.xAdv, r.queries, r.success]; });
  });

  it('rejects inputs that are not images of side >= 5, naming the function called', () => {
    expectThrowsNoLeak(() => square(p.model, p.x, p.y, { eps: 0.5, norm: 'l2' }), /^square: x must be images \[B, H, W\] or \[B, H, W, C\] with H, W >= 5 for the L2 Square Attack/);
    const flat = tf.reshape(p.x, [p.x.shape[0], 20]);
    expectThrowsNoLeak(() => squareAttack({ eps: 0.5, norm: 'l2' })(p.model, flat, p.y), /^squareAttack: x must be images/);
    flat.dispose();
  });
});
