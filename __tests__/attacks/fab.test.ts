/**
 * FAB and FAB-T: the projections against an independent float64 solution of the same problem, the attack on affine
 * models (where the smallest adversarial perturbation has a closed form), invariants, bad inputs and leaks.
 */
import * as tf from '@tensorflow/tfjs-core';
import { fab, fabAttack, fabTargeted, fabTargetedAttack } from '../../src/attacks/index.js';
import { fabProjectL2, fabProjectLinf } from '../../src/attacks/fab.js';
import type { Model } from '../../src/core/index.js';
import { accuracy, expectNoLeak, expectThrowsNoLeak, linearLogits, linearModel, maxDistance, rows, testRandom, toyProblem, useBackend, type ToyProblem } from '../helpers.js';

beforeAll(async () => {
  await useBackend('cpu');
});

/** A random projection problem: points in [0, 1]^D (some exactly on the box's faces), normals, offsets. */
function problem(n: number, d: number, seed: number, offsetScale: number): { t: number[][]; w: number[][]; b: number[] } {
  const r = testRandom(seed);
  const t = Array.from({ length: n }, () => Array.from({ length: d }, (_, j) => (j % 4 === 0 ? 0 : j % 5 === 1 ? 1 : r())));
  const w = Array.from({ length: n }, () => Array.from({ length: d }, (_, j) => (j % 7 === 2 ? 0 : (r() - 0.5) * 2)));
  const b = t.map((row, i) => row.reduce((s, v, j) => s + v * (w[i]?.[j] ?? 0), 0) + (r() - 0.5) * offsetScale);
  return { t, w, b };
}

/**
 * Float64: the smallest radius, in the given norm, of a step `d` with `⟨w, t + d⟩ = b` and `t + d` in the box, or
 * undefined when no point of the box reaches the hyperplane. Each coordinate can move `room_j` toward the side that
 * brings `⟨w, ·⟩` to b. L∞: the largest move λ per coordinate reaches `Σ|w_j|·min(λ, room_j)`, increasing in λ:
 * bisection on λ. L2: the minimiser is `|d_j| = min(α|w_j|, room_j)` (the KKT conditions of the box-constrained
 * least-norm problem): bisection on α, then the norm of that d.
 */
function smallestRadius(t: number[], w: number[], b: number, norm: 'linf' | 'l2'): number | undefined {
  const gap = b - t.reduce((s, v, j) => s + v * (w[j] ?? 0), 0);
  const room = t.map((v, j) => ((w[j] ?? 0) * gap > 0 ? 1 - v : v));
  const move = (scale: number): number[] => w.map((wj, j) => Math.min(norm === 'linf' ? scale : scale * Math.abs(wj), room[j] ?? 0));
  const reach = (scale: number): number => move(scale).reduce((s, m, j) => s + Math.abs(w[j] ?? 0) * m, 0);
  if (reach(1e9) < Math.abs(gap)) return undefined;
  let lo = 0;
  let hi = norm === 'linf' ? 1 : 1e9;
  for (let k = 0; k < 200; k++) {
    const mid = (lo + hi) / 2;
    if (reach(mid) < Math.abs(gap)) lo = mid;
    else hi = mid;
  }
  if (norm === 'linf') return hi;
  return Math.sqrt(move(hi).reduce((s, m) => s + m * m, 0));
}

describe.each(['cpu', 'wasm'] as const)('FAB projections against a float64 solution (%s)', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });
  afterAll(async () => {
    await useBackend('cpu');
  });

  it.each([
    ['linf', 6, 7],
    ['linf', 8, 33],
    ['linf', 4, 784],
    ['l2', 6, 7],
    ['l2', 8, 33],
    ['l2', 4, 784]
  ] as const)('%s, %i points of %i values: on the hyperplane, inside the box, of the smallest norm', (norm, n, d) => {
    const p = problem(n, d, 11 + d, norm === 'linf' ? 0.8 : 1.5);
    const project = norm === 'linf' ? fabProjectLinf : fabProjectL2;
    const out = tf.tidy(() => project(tf.tensor2d(p.t), tf.tensor2d(p.w), tf.tensor1d(p.b)));
    const ds = rows(out);
    out.dispose();
    let checked = 0;
    ds.forEach((dRow, i) => {
      const t = p.t[i] ?? [];
      const w = p.w[i] ?? [];
      const b = p.b[i] ?? 0;
      const best = smallestRadius(t, w, b, norm);
      if (best === undefined) return; // the hyperplane misses the box: FAB then steps toward the far corner
      checked++;
      const moved = t.map((v, j) => v + (dRow[j] ?? 0));
      for (const v of moved) {
        expect(v).toBeGreaterThanOrEqual(-1e-5);
        expect(v).toBeLessThanOrEqual(1 + 1e-5);
      }
      const plane = moved.reduce((s, v, j) => s + v * (w[j] ?? 0), 0);
      expect(Math.abs(plane - b)).toBeLessThan(1e-3 * Math.max(1, Math.abs(b)));
      const size = norm === 'linf' ? Math.max(...dRow.map(Math.abs)) : Math.sqrt(dRow.reduce((s, v) => s + v * v, 0));
      expect(Math.abs(size - best)).toBeLessThan(1e-4 + 1e-3 * best);
    });
    expect(checked).toBeGreaterThan(0);
  });

  it('a zero normal gives d = 0 (no NaN), and nothing leaks', () => {
    const t = tf.tensor2d([[0.2, 0.5]]);
    const w = tf.tensor2d([[0, 0]]);
    const b = tf.tensor1d([1]);
    expectNoLeak(() => {
      const d = fabProjectLinf(t, w, b);
      const e = fabProjectL2(t, w, b);
      expect(Array.from(d.dataSync())).toEqual([0, 0]);
      expect(Array.from(e.dataSync())).toEqual([0, 0]);
      return [d, e];
    });
    tf.dispose([t, w, b]);
  });
});

describe('fab on wasm', () => {
  beforeAll(async () => {
    await useBackend('wasm');
  });
  afterAll(async () => {
    await useBackend('cpu');
  });

  it('gives what cpu gives (a trained toy model, FAB and FAB-T)', async () => {
    const runs = async (name: 'cpu' | 'wasm'): Promise<number[][]> => {
      await useBackend(name);
      const p = toyProblem();
      const a = fab(p.model, p.x, p.y, { eps: 0.1, steps: 10 });
      const b = fabTargeted(p.model, p.x, p.y, { eps: 0.1, steps: 10, targetClasses: 2 });
      const out = [Array.from(await a.data()), Array.from(await b.data())];
      tf.dispose([a, b]);
      p.dispose();
      return out;
    };
    const onCpu = await runs('cpu');
    const onWasm = await runs('wasm');
    onCpu.forEach((values, k) => {
      const other = onWasm[k] ?? [];
      const worst = values.reduce((m, v, i) => Math.max(m, Math.abs(v - (other[i] ?? NaN))), 0);
      expect(worst).toBeLessThan(1e-4);
    });
  });
});

describe('fab on an affine model: close to the smallest adversarial perturbation', () => {
  /** Float64: the smallest perturbation (in `norm`) that moves x across the boundary between classes y and k, ignoring the box. */
  function boundaryDistance(m: ReturnType<typeof linearModel>, x: number[], y: number, k: number, norm: 'linf' | 'l2'): number {
    const z = linearLogits(m, x);
    const w = m.W.map((row) => (row[k] ?? 0) - (row[y] ?? 0));
    const dual = norm === 'linf' ? w.reduce((s, v) => s + Math.abs(v), 0) : Math.sqrt(w.reduce((s, v) => s + v * v, 0));
    return ((z[y] ?? 0) - (z[k] ?? 0)) / dual;
  }

  it.each(['linf', 'l2'] as const)('%s: untargeted, within 6 %% above the closest boundary (points far from the box faces)', (norm) => {
    const m = linearModel(6, 3, 5);
    const r = testRandom(3);
    const points = Array.from({ length: 8 }, () => Array.from({ length: 6 }, () => 0.4 + 0.2 * r()));
    const x = tf.tensor2d(points);
    const labels = points.map((p) => { const z = linearLogits(m, p); return z.indexOf(Math.max(...z)); });
    const y = tf.tensor1d(labels, 'int32');
    const xAdv = fab(m.model, x, y, { eps: 10, norm, steps: 50 });
    const adv = rows(xAdv);
    points.forEach((p, i) => {
      const label = labels[i] ?? 0;
      const closest = Math.min(...[0, 1, 2].filter((k) => k !== label).map((k) => boundaryDistance(m, p, label, k, norm)));
      const delta = (adv[i] ?? []).map((v, j) => v - (p[j] ?? 0));
      const size = norm === 'linf' ? Math.max(...delta.map(Math.abs)) : Math.sqrt(delta.reduce((s, v) => s + v * v, 0));
      const z = linearLogits(m, adv[i] ?? []);
      expect(z.indexOf(Math.max(...z))).not.toBe(label);
      expect(size).toBeGreaterThanOrEqual(closest * (1 - 1e-4));
      expect(size).toBeLessThanOrEqual(closest * 1.06);
    });
    tf.dispose([x, y, xAdv]);
    m.dispose();
  });

  it('fabTargeted: toward the most likely other class, within 6 % of that boundary', () => {
    const m = linearModel(5, 4, 8);
    const p = [0.5, 0.45, 0.55, 0.5, 0.52];
    const z = linearLogits(m, p);
    const label = z.indexOf(Math.max(...z));
    const second = z.map((v, k) => (k === label ? -Infinity : v)).reduce((best, v, k, a) => (v > (a[best] ?? -Infinity) ? k : best), 0);
    const x = tf.tensor2d([p]);
    const y = tf.tensor1d([label], 'int32');
    const xAdv = fabTargeted(m.model, x, y, { eps: 10, steps: 50, targetClasses: 1 });
    const adv = rows(xAdv)[0] ?? [];
    const w = m.W.map((row) => (row[second] ?? 0) - (row[label] ?? 0));
    const needed = ((z[label] ?? 0) - (z[second] ?? 0)) / w.reduce((s, v) => s + Math.abs(v), 0);
    const size = Math.max(...adv.map((v, j) => Math.abs(v - (p[j] ?? 0))));
    expect(size).toBeGreaterThanOrEqual(needed * (1 - 1e-4));
    expect(size).toBeLessThanOrEqual(needed * 1.06);
    tf.dispose([x, y, xAdv]);
    m.dispose();
  });
});

describe('fab invariants on a trained toy model', () => {
  let p: ToyProblem;
  beforeAll(() => { p = toyProblem(); });
  afterAll(() => { p.dispose(); });

  it.each([
    ['fab linf', 'linf', 0.1, (x: tf.Tensor, y: tf.Tensor1D, m: Model): tf.Tensor => fab(m, x, y, { eps: 0.1, steps: 20 })],
    ['fab l2, 2 restarts', 'l2', 0.5, (x: tf.Tensor, y: tf.Tensor1D, m: Model): tf.Tensor => fab(m, x, y, { eps: 0.5, norm: 'l2', steps: 20, restarts: 2, seed: 1 })],
    ['fabTargeted linf, 3 targets', 'linf', 0.1, (x: tf.Tensor, y: tf.Tensor1D, m: Model): tf.Tensor => fabTargeted(m, x, y, { eps: 0.1, steps: 20, targetClasses: 3 })]
  ] as const)('%s: inside the ε-ball and the box, a changed point is misclassified, the others are x', (_name, norm, eps, attack) => {
    const xAdv = attack(p.x, p.y, p.model);
    expect(xAdv.shape).toEqual(p.x.shape);
    expect(maxDistance(xAdv, p.x, norm)).toBeLessThanOrEqual(eps * (1 + 1e-5));
    const adv = rows(xAdv);
    const clean = rows(p.x);
    const predicted = Array.from(tf.tidy(() => tf.argMax(p.model(xAdv), 1)).dataSync());
    const labels = Array.from(p.y.dataSync());
    let changed = 0;
    adv.forEach((row, i) => {
      for (const v of row) {
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(1);
      }
      const same = row.every((v, j) => v === clean[i]?.[j]);
      if (!same) {
        changed++;
        expect(predicted[i]).not.toBe(labels[i]);
      }
    });
    expect(changed).toBeGreaterThan(0);
    expect(accuracy(p.model, xAdv, p.y)).toBeLessThan(accuracy(p.model, p.x, p.y));
    xAdv.dispose();
  });

  it('the same seed gives the same result; more restarts and more targets never break fewer points', () => {
    const broken = (t: tf.Tensor): number => 1 - accuracy(p.model, t, p.y);
    const a = fab(p.model, p.x, p.y, { eps: 0.06, steps: 10, restarts: 2, seed: 4 });
    const b = fab(p.model, p.x, p.y, { eps: 0.06, steps: 10, restarts: 2, seed: 4 });
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    const one = fab(p.model, p.x, p.y, { eps: 0.06, steps: 10, restarts: 1 });
    const three = fab(p.model, p.x, p.y, { eps: 0.06, steps: 10, restarts: 3, seed: 4 });
    expect(broken(three)).toBeGreaterThanOrEqual(broken(one));
    const t1 = fabTargeted(p.model, p.x, p.y, { eps: 0.06, steps: 10, targetClasses: 1 });
    const t3 = fabTargeted(p.model, p.x, p.y, { eps: 0.06, steps: 10, targetClasses: 3 });
    expect(broken(t3)).toBeGreaterThanOrEqual(broken(t1));
    tf.dispose([a, b, one, three, t1, t3]);
  });

  it('eps 0 returns x; a point misclassified at x is returned unchanged', () => {
    const zero = fab(p.model, p.x, p.y, { eps: 0, steps: 5 });
    expect(Array.from(zero.dataSync())).toEqual(Array.from(p.x.dataSync()));
    const wrong = tf.tidy(() => tf.cast(tf.mod(tf.add(tf.argMax(p.model(p.x), 1), 1), 4), 'int32')) as tf.Tensor1D;
    const out = fab(p.model, p.x, wrong, { eps: 0.3, steps: 5 });
    expect(Array.from(out.dataSync())).toEqual(Array.from(p.x.dataSync()));
    tf.dispose([zero, wrong, out]);
  });

  it('bounds other than [0, 1]: the same points as on the rescaled problem', () => {
    const shifted = tf.tidy(() => tf.sub(tf.mul(p.x, 2), 1));
    const model: Model = (x) => p.model(tf.div(tf.add(x, 1), 2));
    const onUnit = fab(p.model, p.x, p.y, { eps: 0.08, steps: 10 });
    const onWide = fab(model, shifted, p.y, { eps: 0.16, steps: 10, bounds: [-1, 1] });
    const back = tf.tidy(() => tf.div(tf.add(onWide, 1), 2));
    expect(maxDistance(back, onUnit, 'linf')).toBeLessThan(1e-4);
    tf.dispose([shifted, onUnit, onWide, back]);
  });

  it('attack values: detailed success marks the points broken within ε; a call leaks nothing', () => {
    const attack = fabTargetedAttack({ eps: 0.1, steps: 10, targetClasses: 2 });
    expect(attack.attackName).toBe('fabTargetedAttack');
    expect(attack.threat).toEqual({ eps: 0.1, norm: 'linf', bounds: [0, 1] });
    const out = attack.detailed(p.model, p.x, p.y);
    const success = Array.from(out.success?.dataSync() ?? []);
    const predicted = Array.from(tf.tidy(() => tf.argMax(p.model(out.xAdv), 1)).dataSync());
    const labels = Array.from(p.y.dataSync());
    success.forEach((s, i) => { expect(s === 1).toBe(predicted[i] !== labels[i]); });
    tf.dispose([out.xAdv, out.success].filter((t) => t !== undefined));
    expectNoLeak(() => fabAttack({ eps: 0.1, steps: 3 })(p.model, p.x, p.y));
    expectNoLeak(() => fab(p.model, p.x, p.y, { eps: 0.1, norm: 'l2', steps: 3, restarts: 2 }));
    expectNoLeak(() => fabTargeted(p.model, p.x, p.y, { eps: 0.1, steps: 3, targetClasses: 2 }));
  });
});

describe('fab bad inputs: clear errors naming the function called, nothing leaked', () => {
  const model: Model = (x) => tf.tidy(() => tf.concat([tf.reshape(tf.sum(x, 1), [-1, 1]), tf.zeros([x.shape[0] ?? 1, 2])], 1));
  let x: tf.Tensor2D;
  let y: tf.Tensor1D;
  let outside: tf.Tensor2D;
  let big: tf.Tensor1D;
  beforeAll(() => {
    x = tf.tensor2d([[0.1, 0.2]]);
    y = tf.tensor1d([0], 'int32');
    outside = tf.tensor2d([[2, 0]]);
    big = tf.tensor1d([5], 'int32');
  });
  afterAll(() => { tf.dispose([x, y, outside, big]); });

  it.each([
    ['fab', () => fab(model, x, y, {} as never), /^fab: eps must be given/],
    ['fab', () => fab(model, x, y, { eps: -1 }), /^fab: eps must be a finite number >= 0 \(got -1\)/],
    ['fab', () => fab(model, x, y, { eps: 0.1, steps: 0 }), /^fab: steps must be an integer >= 1 \(got 0\)/],
    ['fab', () => fab(model, x, y, { eps: 0.1, restarts: 1.5 }), /^fab: restarts must be an integer >= 1 \(got 1.5\)/],
    ['fab', () => fab(model, x, y, { eps: 0.1, alphaMax: 2 }), /^fab: alphaMax must be in \(0, 1\] \(got 2\)/],
    ['fab', () => fab(model, x, y, { eps: 0.1, eta: 0.5 }), /^fab: eta must be a finite number >= 1/],
    ['fab', () => fab(model, x, y, { eps: 0.1, beta: 0 }), /^fab: beta must be/],
    ['fab', () => fab(model, x, y, { eps: 0.1, norm: 'l1' as never }), /^fab: norm must be one of/],
    ['fab', () => fab(model, x, y, { eps: 0.1, targetClasses: 3 } as never), /^fab: options must only have the keys .* \(got "targetClasses"\)/],
    ['fabTargeted', () => fabTargeted(model, x, y, { eps: 0.1, targetClasses: 0 }), /^fabTargeted: targetClasses must be an integer >= 1 \(got 0\)/],
    ['fab', () => fab(model, outside, y, { eps: 0.1 }), /^fab: x must lie inside bounds \[0, 1\]/],
    ['fabAttack', () => fabAttack({ eps: 0.1 })(model, x, big), /^fabAttack: labels must hold class indices < 3/]
  ])('%s', (_name, call, message) => {
    expectThrowsNoLeak(call, message);
  });

  it('an error of the model inside the iterations leaks nothing', () => {
    let calls = 0;
    const failing: Model = (input) => {
      calls++;
      if (calls > 3) throw new Error('model failed');
      return model(input);
    };
    expectThrowsNoLeak(() => fab(failing, x, y, { eps: 0.5, steps: 5 }), /model failed/, Error);
  });
});

describe('untargeted fab in class chunks (a large batch of many classes)', () => {
  it('gives each point what a batch small enough for one pass gives it', () => {
    // 1500 points × 5 classes: the linearisation runs in chunks of 2 classes (4096 rows at most); 700 points run in one.
    const m = linearModel(6, 5, 21);
    const r = testRandom(5);
    const xs = Array.from({ length: 1500 * 6 }, () => 0.3 + 0.4 * r());
    const x = tf.tensor2d(xs, [1500, 6]);
    const y = tf.tidy(() => tf.cast(tf.argMax(m.model(x), 1), 'int32')) as tf.Tensor1D;
    const big = fab(m.model, x, y, { eps: 0.5, steps: 3 });
    const xSmall = tf.slice(x, 0, 700);
    const ySmall = tf.slice(y, 0, 700);
    const small = fab(m.model, xSmall, ySmall, { eps: 0.5, steps: 3 });
    const head = tf.slice(big, 0, 700);
    expect(maxDistance(head, small, 'linf')).toBeLessThan(1e-6);
    tf.dispose([x, y, big, xSmall, ySmall, small, head]);
    m.dispose();
  });
});
