/**
 * APGD (Croce & Hein 2020): the checkpoint schedule, one step by hand on a linear model, the threat-model
 * invariants, per-point strength against PGD with the same budget, the DLR variant's scale invariance,
 * APGD-T, determinism, bad inputs and leaks.
 */
import * as tf from '@tensorflow/tfjs-core';
import { apgd, apgdTargeted, pgd } from '../../src/attacks/index.js';
import { apgdCheckpoints } from '../../src/attacks/apgd.js';
import { createRandom, type Model } from '../../src/core/index.js';
import {
  accuracy,
  expectNoLeak,
  expectThrowsNoLeak,
  linearLogits,
  linearModel,
  logSoftmax64,
  maxDistance,
  rows,
  softmax64,
  testRandom,
  toyProblem,
  useBackend,
  type LinearModel,
  type ToyProblem
} from '../helpers.js';

/** 1 where the model misclassifies the row. */
function fooled(model: Model, x: tf.Tensor, y: tf.Tensor1D): number[] {
  return Array.from(tf.tidy(() => tf.cast(tf.notEqual(tf.argMax(model(x), 1), y), 'int32').dataSync()));
}

describe('apgdCheckpoints', () => {
  it('follows p₀ = 0, p₁ = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06), w_j = ⌈p_j·N⌉', () => {
    expect(apgdCheckpoints(100)).toEqual([22, 41, 57, 70, 80, 87, 93, 99]);
    // The same recursion in float64, rounded to hundredths, for other budgets.
    for (const n of [1, 5, 10, 37, 250, 1000]) {
      const p = [0, 0.22];
      while ((p[p.length - 1] ?? 0) < 1) {
        const last = p[p.length - 1] ?? 0;
        p.push(Math.round((last + Math.max(last - (p[p.length - 2] ?? 0) - 0.03, 0.06)) * 100) / 100);
      }
      const expected = [...new Set(p.slice(1).map((pj) => Math.ceil(Math.round(pj * n * 1e6) / 1e6)))].filter((w) => w >= 1 && w <= n);
      expect(apgdCheckpoints(n)).toEqual(expected);
    }
  });
});

describe('apgd, one step by hand on a linear model', () => {
  const D = 6;
  const C = 3;
  let m: LinearModel;
  beforeAll(async () => {
    await useBackend('cpu');
    m = linearModel(D, C, 11);
  });
  afterAll(() => { m.dispose(); });

  it('returns the better of x₀ and x₁ = P(x₀ + 2ε·sign(∇CE(x₀))), preferring a misclassified one', () => {
    const r = testRandom(4);
    const xs = Array.from({ length: 8 }, () => Array.from({ length: D }, () => 0.1 + 0.8 * r()));
    // Labels = the clean predictions, so every point is attacked.
    const labels = xs.map((row) => { const z = linearLogits(m, row); return z.indexOf(Math.max(...z)); });
    const eps = 0.05;
    const start = createRandom(5).uniform([xs.length, D], -eps, eps);
    const deltas = rows(start);
    start.dispose();
    const ce = (row: number[], yi: number): number => -(logSoftmax64(linearLogits(m, row))[yi] ?? NaN);
    const wrong = (row: number[], yi: number): boolean => { const z = linearLogits(m, row); return z.indexOf(Math.max(...z)) !== yi; };
    const expected = xs.map((row, i) => {
      const yi = labels[i] ?? 0;
      const clip = (v: number, j: number): number => Math.min(1, Math.max(0, Math.min((row[j] ?? 0) + eps, Math.max((row[j] ?? 0) - eps, v))));
      const x0 = row.map((v, j) => clip(v + (deltas[i]?.[j] ?? 0), j));
      const p = softmax64(linearLogits(m, x0));
      const g = x0.map((_, j) => p.reduce((s, pc, c) => s + (m.W[j]?.[c] ?? 0) * (pc - (c === yi ? 1 : 0)), 0));
      const x1 = x0.map((v, j) => clip(v + 2 * eps * Math.sign(g[j] ?? 0), j));
      if (wrong(x1, yi)) return x1;
      if (wrong(x0, yi)) return x0;
      return ce(x1, yi) > ce(x0, yi) ? x1 : x0;
    });
    const x = tf.tensor2d(xs);
    const y = tf.tensor1d(labels, 'int32');
    const out = apgd(m.model, x, y, { eps, steps: 1, seed: 5 });
    const got = rows(out);
    expected.forEach((row, i) => { row.forEach((v, j) => { expect(Math.abs((got[i]?.[j] ?? NaN) - v)).toBeLessThanOrEqual(2e-6); }); });
    tf.dispose([x, y, out]);
  });
});

describe.each(['cpu', 'wasm'] as const)('apgd on a trained toy model (%s)', (backend) => {
  let p: ToyProblem;
  beforeAll(async () => {
    await useBackend(backend);
    p = toyProblem();
  });
  afterAll(() => { p.dispose(); });

  it.each([
    ['apgd ce linf', 'linf', 0.12, (m: Model, x: tf.Tensor, y: tf.Tensor1D): tf.Tensor => apgd(m, x, y, { eps: 0.12, steps: 5, seed: 1 })],
    ['apgd dlr l2', 'l2', 0.5, (m: Model, x: tf.Tensor, y: tf.Tensor1D): tf.Tensor => apgd(m, x, y, { eps: 0.5, norm: 'l2', loss: 'dlr', steps: 5, seed: 1 })],
    ['apgdTargeted linf', 'linf', 0.12, (m: Model, x: tf.Tensor, y: tf.Tensor1D): tf.Tensor => apgdTargeted(m, x, y, { eps: 0.12, steps: 5, seed: 1 })]
  ] as const)('%s stays in the ε-ball and the bounds, lowers accuracy, and is seeded', (_name, norm, eps, attack) => {
    const a = attack(p.model, p.x, p.y);
    const b = attack(p.model, p.x, p.y);
    expect(a.shape).toEqual(p.x.shape);
    expect(maxDistance(a, p.x, norm)).toBeLessThanOrEqual(eps + 1e-6);
    expect(tf.min(a).dataSync()[0]).toBeGreaterThanOrEqual(0);
    expect(tf.max(a).dataSync()[0]).toBeLessThanOrEqual(1);
    expect(accuracy(p.model, a, p.y)).toBeLessThan(accuracy(p.model, p.x, p.y));
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    tf.dispose([a, b]);
  });

  it('leaks nothing', () => {
    expectNoLeak(() => apgd(p.model, p.x, p.y, { eps: 0.1, steps: 3, restarts: 2, seed: 1 }));
    expectNoLeak(() => apgdTargeted(p.model, p.x, p.y, { eps: 0.1, norm: 'l2', steps: 3, seed: 1 }));
  });
});

describe('apgd strength and semantics on a trained toy model', () => {
  let p: ToyProblem;
  beforeAll(async () => {
    await useBackend('cpu');
    p = toyProblem();
  });
  afterAll(() => { p.dispose(); });

  /** Over a few ε and seeds: point-runs PGD fools, APGD fools, and PGD fools but APGD does not. */
  function compare(norm: 'linf' | 'l2', epsilons: number[]): { pgdFooled: number; apgdFooled: number; pgdOnly: number } {
    const counts = { pgdFooled: 0, apgdFooled: 0, pgdOnly: 0 };
    for (const eps of epsilons) {
      for (const seed of [1, 2]) {
        const a = pgd(p.model, p.x, p.y, { eps, norm, steps: 10, seed });
        const b = apgd(p.model, p.x, p.y, { eps, norm, steps: 10, seed });
        const fb = fooled(p.model, b, p.y);
        fooled(p.model, a, p.y).forEach((v, i) => {
          counts.pgdFooled += v;
          counts.apgdFooled += fb[i] ?? 0;
          if (v === 1 && fb[i] === 0) counts.pgdOnly += 1;
        });
        tf.dispose([a, b]);
      }
    }
    return counts;
  }

  it('per point, APGD-CE finds (almost) every adversarial example PGD with the same number of steps finds, and more', () => {
    // Measured (L∞, ε 0.1 and 0.15, seeds 1 and 2, 10 steps each): PGD fools 222 point-runs, APGD-CE 225, and
    // every point PGD fools APGD fools too.
    const linf = compare('linf', [0.1, 0.15]);
    expect(linf.pgdFooled).toBeGreaterThan(100);
    expect(linf.apgdFooled).toBeGreaterThanOrEqual(linf.pgdFooled);
    expect(linf.pgdOnly / linf.pgdFooled).toBeLessThanOrEqual(0.02);
    // L2 (ε 0.5): APGD's 2ε first step can settle in another local maximum of CE than PGD's small steps, so a few
    // points differ (restarts and APGD-T recover them, see below): measured 2 of 121 (APGD fools 127 in all).
    const l2 = compare('l2', [0.5]);
    expect(l2.pgdOnly / l2.pgdFooled).toBeLessThanOrEqual(0.05);
  });

  it('returns points the model already misclassifies unchanged', () => {
    const wrongLabels = tf.tidy(() => tf.cast(tf.mod(tf.add(p.y, 1), p.numClasses), 'int32') as tf.Tensor1D);
    const out = apgd(p.model, p.x, wrongLabels, { eps: 0.2, steps: 3, seed: 1 });
    expect(Array.from(out.dataSync())).toEqual(Array.from(p.x.dataSync()));
    tf.dispose([wrongLabels, out]);
  });

  it('APGD-DLR is unaffected by rescaling the logits by a power of two (DLR is scale-invariant)', () => {
    const scaled: Model = (x) => tf.tidy(() => tf.mul<tf.Tensor2D>(p.model(x), 8));
    const a = apgd(p.model, p.x, p.y, { eps: 0.12, loss: 'dlr', steps: 10, seed: 4 });
    const b = apgd(scaled, p.x, p.y, { eps: 0.12, loss: 'dlr', steps: 10, seed: 4 });
    expect(maxDistance(a, b, 'linf')).toBeLessThanOrEqual(1e-6);
    tf.dispose([a, b]);
  });

  it('more restarts fool at least as many points, and APGD-T with 3 targets at least as many as with 1', () => {
    const one = apgd(p.model, p.x, p.y, { eps: 0.5, norm: 'l2', steps: 5, seed: 1 });
    const three = apgd(p.model, p.x, p.y, { eps: 0.5, norm: 'l2', steps: 5, seed: 1, restarts: 3 });
    expect(accuracy(p.model, three, p.y)).toBeLessThanOrEqual(accuracy(p.model, one, p.y));
    const t1 = apgdTargeted(p.model, p.x, p.y, { eps: 0.1, steps: 5, seed: 1, targetClasses: 1 });
    const t3 = apgdTargeted(p.model, p.x, p.y, { eps: 0.1, steps: 5, seed: 1, targetClasses: 3 });
    expect(accuracy(p.model, t3, p.y)).toBeLessThanOrEqual(accuracy(p.model, t1, p.y));
    tf.dispose([one, three, t1, t3]);
  });

  it('eps = 0 returns x', () => {
    const out = apgd(p.model, p.x, p.y, { eps: 0 });
    expect(Array.from(out.dataSync())).toEqual(Array.from(p.x.dataSync()));
    out.dispose();
  });
});

describe('apgd input validation', () => {
  let lin: LinearModel;
  let lin4: LinearModel;
  let x: tf.Tensor2D;
  let y: tf.Tensor1D;
  beforeAll(async () => {
    await useBackend('cpu');
    lin = linearModel(4, 3, 1);
    lin4 = linearModel(4, 4, 2);
    x = tf.tensor2d([[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8]]);
    y = tf.tensor1d([0, 2], 'int32');
  });
  afterAll(() => {
    lin.dispose();
    lin4.dispose();
    tf.dispose([x, y]);
  });

  describe.each([
    ['apgd', (o: Record<string, unknown>): tf.Tensor => apgd(lin.model, x, y, o as never)],
    ['apgdTargeted', (o: Record<string, unknown>): tf.Tensor => apgdTargeted(lin4.model, x, y, o as never)]
  ])('%s', (name, run) => {
    it.each([
      [{}, /eps must be given/],
      [{ eps: -1 }, /eps must be a finite number >= 0 \(got -1\)/],
      [{ eps: NaN }, /eps must be a finite number >= 0 \(got NaN\)/],
      [{ eps: 0.1, steps: 0 }, /steps must be an integer >= 1 \(got 0\)/],
      [{ eps: 0.1, steps: 2.5 }, /steps must be an integer >= 1 \(got 2.5\)/],
      [{ eps: 0.1, restarts: 0 }, /restarts must be an integer >= 1 \(got 0\)/],
      [{ eps: 0.1, norm: 'l1' }, /norm must be one of "linf", "l2" \(got "l1"\)/],
      [{ eps: 0.1, bounds: [1, 0] }, /bounds must be a pair \[lo, hi\]/],
      [{ eps: 0.1, seed: Infinity }, /seed must be a finite number \(got Infinity\)/],
      [{ eps: 0.1, stepSize: 0.1 }, /options must only have the keys .* \(got "stepSize"\)/]
    ])('rejects options %p', (options, message) => {
      expectThrowsNoLeak(() => run(options), new RegExp(`^${name}: ${message.source}`));
    });
  });

  it('rejects an unknown loss, bad targetClasses, bad labels and inputs', () => {
    expectThrowsNoLeak(() => apgd(lin.model, x, y, { eps: 0.1, loss: 'cw' as never }), /^apgd: loss must be one of "ce", "dlr" \(got "cw"\)/);
    expectThrowsNoLeak(() => apgdTargeted(lin4.model, x, y, { eps: 0.1, targetClasses: 0 }), /^apgdTargeted: targetClasses must be an integer >= 1 \(got 0\)/);
    const tooBig = tf.tensor1d([0, 3], 'int32');
    const big = tf.tensor2d([[0.1, 0.2, 0.3, 2], [0.5, 0.6, 0.7, 0.8]]);
    expectThrowsNoLeak(() => apgd(lin.model, x, tooBig, { eps: 0.1 }), /^apgd: labels must hold class indices < 3 .* \(got 3\)/);
    expectThrowsNoLeak(() => apgd(lin.model, big, y, { eps: 0.1 }), /^apgd: x must lie inside bounds \[0, 1\]/);
    expectThrowsNoLeak(() => apgd('model' as never, x, y, { eps: 0.1 }), /^apgd: model must be a function/, TypeError);
    tf.dispose([tooBig, big]);
  });

  it('needs 3 classes for DLR and 4 for APGD-T, and says so', () => {
    const two: Model = (t) => tf.tidy(() => tf.slice(lin.model(t), [0, 0], [t.shape[0] ?? 0, 2]));
    const yTwo = tf.tensor1d([0, 1], 'int32');
    expectThrowsNoLeak(() => apgd(two, x, yTwo, { eps: 0.1, loss: 'dlr' }), /^apgd: model must return logits for at least 3 classes \(the DLR loss needs them\) \(got a float32 tensor of shape \[2, 2\]\)/);
    expectThrowsNoLeak(() => apgdTargeted(lin.model, x, y, { eps: 0.1 }), /^apgdTargeted: model must return logits for at least 4 classes \(the targeted DLR loss needs them\)/);
    yTwo.dispose();
  });

  it('an error thrown by the model mid-attack leaks nothing', () => {
    // Labels the model gets right, so that every point is attacked.
    const yPred = tf.tidy(() => tf.cast(tf.argMax(lin.model(x), 1), 'int32') as tf.Tensor1D);
    let calls = 0;
    const flaky: Model = (input) => {
      calls += 1;
      if (calls === 4) throw new Error('model failed');
      return lin.model(input);
    };
    expectThrowsNoLeak(() => apgd(flaky, x, yPred, { eps: 0.1, steps: 5 }), /model failed/, Error);
    let later = 0;
    const wrongLater: Model = (input) => (later++ > 3 ? tf.tidy(() => tf.slice(lin.model(input), 0, 1)) : lin.model(input));
    expectThrowsNoLeak(() => apgd(wrongLater, x, yPred, { eps: 0.1, steps: 5 }), /^apgd: model must return logits of shape \[2, C\]/);
    yPred.dispose();
  });
});

describe('apgd with Expectation over Transformation (eotSamples)', () => {
  let p: ToyProblem;
  beforeAll(async () => {
    await useBackend('cpu');
    p = toyProblem();
  });
  afterAll(() => { p.dispose(); });

  it('calls the model eotSamples times per gradient, and on a deterministic model gives the result of one sample', () => {
    let calls = 0;
    const counted: Model = (x) => { calls++; return p.model(x); };
    const one = apgd(counted, p.x, p.y, { eps: 0.1, steps: 4, seed: 2 });
    const callsOne = calls;
    calls = 0;
    const three = apgd(counted, p.x, p.y, { eps: 0.1, steps: 4, seed: 2, eotSamples: 3 });
    // One clean call, then 1 + steps gradient evaluations, each of eotSamples passes.
    expect(callsOne).toBe(1 + 5);
    expect(calls).toBe(1 + 5 * 3);
    expect(Array.from(three.dataSync())).toEqual(Array.from(one.dataSync()));
    tf.dispose([one, three]);
  });

  it('averages the gradients of a randomised model, and leaks nothing', () => {
    // Draws that add nothing to the logits but ±5 to the gradient of logit 0, alternately: the mean gradient over two
    // consecutive draws is the model's own; a single draw's is dominated by the kick.
    let draw = 0;
    const kick = (sign: number): ((x: tf.Tensor) => tf.Tensor) =>
      tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
        const x = args[0] as tf.Tensor;
        return {
          value: tf.zeros([x.shape[0] ?? 1, 1]),
          gradFunc: (dy: tf.Tensor | tf.Tensor[]) => tf.mul(tf.reshape(dy as tf.Tensor, [x.shape[0] ?? 1, ...x.shape.slice(1).map(() => 1)]), tf.fill(x.shape, 5 * sign))
        };
      });
    const noisy: Model = (x) => tf.add(p.model(x), tf.pad(kick(draw++ % 2 === 0 ? 1 : -1)(x), [[0, 0], [0, 3]]));
    const plain = apgd(p.model, p.x, p.y, { eps: 0.1, steps: 3, seed: 3 });
    draw = 0;
    const averaged = apgd(noisy, p.x, p.y, { eps: 0.1, steps: 3, seed: 3, eotSamples: 2 });
    expect(maxDistance(averaged, plain, 'linf')).toBeLessThan(1e-6);
    draw = 0;
    const single = apgd(noisy, p.x, p.y, { eps: 0.1, steps: 3, seed: 3 });
    expect(maxDistance(single, plain, 'linf')).toBeGreaterThan(1e-3);
    tf.dispose([averaged, plain, single]);
    expectNoLeak(() => apgd(noisy, p.x, p.y, { eps: 0.1, steps: 2, seed: 1, eotSamples: 2 }));
    expectThrowsNoLeak(() => apgd(p.model, p.x, p.y, { eps: 0.1, eotSamples: 0 }), /^apgd: eotSamples must be an integer >= 1 \(got 0\)/);
  });
});
