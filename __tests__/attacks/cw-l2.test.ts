/**
 * `cwL2` and `cwL2Attack` (Carlini & Wagner's L2 attack, arXiv 1608.04644) against its definition: on an affine binary
 * model the smallest L2 perturbation is the distance to the decision boundary, which κ = 0 must reach; the objective
 * falls; a success is misclassified; the point kept is the closest success of any iteration; more rounds of the binary
 * search never give a larger distortion. Then the invariants (inside the bounds, deterministic, `eps`, targeted), the
 * device path (no synchronous readback, the same result), the readback count, bad options and inputs, leaks, and the
 * renamed CW L∞ attack (`cwLinf`) with its deprecated aliases `cw` and `cwAttack`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { cwL2, cwL2Attack } from '../../src/attacks/cw-l2.js';
import { cw, cwAttack, cwLinf, cwLinfAttack } from '../../src/attacks/cw.js';
import type { Model } from '../../src/core/index.js';
import { deferChecksForTesting, flushChecks } from '../../src/core/device-checks.js';
import { evaluate } from '../../src/eval/index.js';
import { readbacks } from '../../scripts/lib/readbacks.js';
import { accuracy, expectNoLeak, expectThrowsNoLeak, rows, testRandom, toyProblem, useBackend, withoutSyncReads, type ToyProblem } from '../helpers.js';

const D = 8;
/** The normal of the affine binary model's boundary: `z₀ − z₁ = a·x + β`. */
const A = [1, -1, 0.5, -0.5, 1, -1, 0.5, -0.5];
const BETA = 0.05;

/** The affine binary model `z = x·W + b` with `z₀ − z₁ = a·x + β`. */
function affineBinary(): { model: Model; dispose: () => void } {
  const w = tf.tensor2d(A.map((ai) => [ai / 2, -ai / 2]));
  const b = tf.tensor1d([BETA / 2, -BETA / 2]);
  const model: Model = (x) => tf.tidy(() => tf.add<tf.Tensor2D>(tf.matMul(tf.reshape(x, [x.shape[0] ?? 1, D]), w), b));
  return { model, dispose: () => { tf.dispose([w, b]); } };
}

const dot = (u: readonly number[], v: readonly number[]): number => u.reduce((s, ui, i) => s + ui * (v[i] ?? 0), 0);
const l2 = (u: readonly number[], v: readonly number[]): number => Math.sqrt(u.reduce((s, ui, i) => s + (ui - (v[i] ?? 0)) ** 2, 0));
const argmax = (z: readonly number[]): number => z.reduce((best, v, i) => (v > (z[best] ?? -Infinity) ? i : best), 0);

/** Points in [0.35, 0.65]^D whose margin |a·x + β| is at least 0.2 (their boundary is well inside the box). */
function boundaryPoints(n: number, seed: number): number[][] {
  const r = testRandom(seed);
  const out: number[][] = [];
  while (out.length < n) {
    const p = Array.from({ length: D }, () => 0.35 + 0.3 * r());
    if (Math.abs(dot(A, p) + BETA) >= 0.2) out.push(p);
  }
  return out;
}

/** Per-point ‖a − b‖₂ of two tensors of the same shape. */
function distances(a: tf.Tensor, b: tf.Tensor): number[] {
  const ra = rows(a);
  const rb = rows(b);
  return ra.map((row, i) => l2(row, rb[i] ?? []));
}

/** The model's logits at `x` as plain rows (no tensor left behind). */
function logitRows(model: Model, x: tf.Tensor): number[][] {
  return tf.tidy(() => rows(model(x)));
}

/** A model that records, at every call, its input and its logits (host copies; for tests on the cpu backend). */
function recording(model: Model): { model: Model; calls: Array<{ x: number[][]; z: number[][] }> } {
  const calls: Array<{ x: number[][]; z: number[][] }> = [];
  return {
    calls,
    model: (x) => {
      const z = model(x);
      calls.push({ x: rows(x), z: rows(z) });
      return z;
    }
  };
}

let p: ToyProblem;
beforeAll(async () => {
  await useBackend('cpu');
  p = toyProblem(24, 4, 11);
});
afterAll(() => { p.dispose(); });
afterEach(async () => {
  await flushChecks().catch(() => undefined);
  deferChecksForTesting(undefined);
});

describe('cwL2 against its definition', () => {
  let lin: { model: Model; dispose: () => void };
  let points: number[][];
  let x: tf.Tensor2D;
  let y: tf.Tensor1D;
  beforeAll(() => {
    lin = affineBinary();
    points = boundaryPoints(6, 3);
    x = tf.tensor2d(points);
    y = tf.tensor1d(points.map((q) => (dot(A, q) + BETA > 0 ? 0 : 1)), 'int32');
  });
  afterAll(() => {
    lin.dispose();
    tf.dispose([x, y]);
  });

  it('on an affine binary model, κ = 0 reaches the distance to the boundary, |a·x + β|/‖a‖, within 2 %', () => {
    const xAdv = cwL2(lin.model, x, y, { steps: 200 });
    const got = distances(xAdv, x);
    const norm = Math.sqrt(dot(A, A));
    const fooled = logitRows(lin.model, xAdv).map(argmax);
    const labels = Array.from(y.dataSync());
    points.forEach((q, i) => {
      const want = Math.abs(dot(A, q) + BETA) / norm;
      expect(fooled[i]).not.toBe(labels[i]);
      // It must cross the boundary, so it is never closer than the boundary (up to float32 rounding).
      expect(got[i]).toBeGreaterThanOrEqual(want * (1 - 1e-4));
      expect(got[i]).toBeLessThanOrEqual(want * 1.02);
    });
    xAdv.dispose();
  });

  it('the objective ‖x′ − x‖² + c·max(z_y − z_j, −κ) falls during a round (fixed c, one round)', () => {
    const c = 0.5;
    const kappa = 0.1;
    const rec = recording(lin.model);
    cwL2(rec.model, x, y, { binarySearchSteps: 1, initialConst: c, steps: 60, abortEarly: false, kappa }).dispose();
    expect(rec.calls).toHaveLength(60);
    const labels = Array.from(y.dataSync());
    const objective = rec.calls.map(({ x: xs, z }) =>
      xs.reduce((s, row, i) => {
        const zi = z[i] ?? [];
        const label = labels[i] ?? 0;
        const margin = (zi[label] ?? 0) - (zi[1 - label] ?? 0);
        return s + l2(row, points[i] ?? []) ** 2 + c * Math.max(margin, -kappa);
      }, 0)
    );
    // Adam is not monotone step by step; over windows of 10 iterations the objective falls.
    for (let k = 10; k < objective.length; k += 10) {
      expect(objective[k]).toBeLessThan(objective[k - 10] ?? -Infinity);
    }
    expect(objective[objective.length - 1]).toBeLessThan((objective[0] ?? 0) * 0.5);
  });

  it('keeps, per point, the closest adversarial iterate of every round; a success is misclassified by more than κ', () => {
    for (const kappa of [0, 1]) {
      const rec = recording(p.model);
      const a = cwL2Attack({ binarySearchSteps: 3, steps: 20, kappa, initialConst: 0.1 });
      const out = a.detailed(rec.model, p.x, p.y);
      const labels = Array.from(p.y.dataSync());
      const clean = rows(p.x);
      // The closest iterate with argmax(z + κ·e_y) ≠ y, over every call of the model.
      const closest = clean.map((row, i) => {
        let best = Infinity;
        for (const call of rec.calls) {
          const z = (call.z[i] ?? []).map((v, j) => (j === labels[i] ? v + kappa : v));
          if (argmax(z) !== labels[i]) best = Math.min(best, l2(call.x[i] ?? [], row));
        }
        return best;
      });
      const got = distances(out.xAdv, p.x);
      const success = Array.from(out.success?.dataSync() ?? []);
      const logits = logitRows(p.model, out.xAdv);
      closest.forEach((want, i) => {
        if (want === Infinity) {
          expect(success[i]).toBe(0);
          expect(got[i]).toBe(0);
          return;
        }
        expect(success[i]).toBe(1);
        expect(Math.abs((got[i] ?? NaN) - want)).toBeLessThanOrEqual(1e-4 * Math.max(want, 1e-3));
        const z = logits[i] ?? [];
        const label = labels[i] ?? 0;
        expect(Math.max(...z.filter((_, j) => j !== label)) - (z[label] ?? 0)).toBeGreaterThan(kappa - 1e-4);
      });
      expect(success.some((s) => s === 1)).toBe(true);
      tf.dispose([out.xAdv, ...(out.success === undefined ? [] : [out.success])]);
    }
  });

  it('more rounds of the binary search never give a larger distortion, and break every point broken with fewer', () => {
    const runs = [1, 3, 5].map((binarySearchSteps) => {
      const out = cwL2Attack({ binarySearchSteps, steps: 30 }).detailed(p.model, p.x, p.y);
      const r = { distance: distances(out.xAdv, p.x), success: Array.from(out.success?.dataSync() ?? []) };
      tf.dispose([out.xAdv, ...(out.success === undefined ? [] : [out.success])]);
      return r;
    });
    for (let k = 1; k < runs.length; k++) {
      const [before, after] = [runs[k - 1], runs[k]];
      before?.success.forEach((s, i) => {
        if (s !== 1) return;
        expect(after?.success[i]).toBe(1);
        expect(after?.distance[i]).toBeLessThanOrEqual(before.distance[i] ?? Infinity);
      });
    }
    expect(runs[2]?.success.filter((s) => s === 1).length).toBeGreaterThan(runs[0]?.success.filter((s) => s === 1).length ?? Infinity);
  });
});

describe('cwL2 invariants', () => {
  it('x′ stays inside the bounds, also for bounds other than [0, 1]', () => {
    const xAdv = cwL2(p.model, p.x, p.y, { binarySearchSteps: 3, steps: 20 });
    expect(xAdv.shape).toEqual(p.x.shape);
    expect(tf.min(xAdv).dataSync()[0]).toBeGreaterThanOrEqual(0);
    expect(tf.max(xAdv).dataSync()[0]).toBeLessThanOrEqual(1);
    expect(accuracy(p.model, xAdv, p.y)).toBeLessThan(accuracy(p.model, p.x, p.y));
    xAdv.dispose();
    // The same problem in [−1, 2]: inputs scaled by 3 and shifted by −1, the model undoing it.
    const scaled = tf.tidy(() => tf.sub(tf.mul(p.x, 3), 1));
    const model: Model = (xs) => p.model(tf.div(tf.add(xs, 1), 3));
    const wide = cwL2(model, scaled, p.y, { binarySearchSteps: 3, steps: 20, initialConst: 0.1, bounds: [-1, 2] });
    expect(tf.min(wide).dataSync()[0]).toBeGreaterThanOrEqual(-1);
    expect(tf.max(wide).dataSync()[0]).toBeLessThanOrEqual(2);
    expect(accuracy(model, wide, p.y)).toBeLessThan(accuracy(model, scaled, p.y));
    tf.dispose([scaled, wide]);
  });

  it('is deterministic: two runs give the same x′', () => {
    const a = cwL2(p.model, p.x, p.y, { binarySearchSteps: 2, steps: 15 });
    const b = cwL2(p.model, p.x, p.y, { binarySearchSteps: 2, steps: 15 });
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    tf.dispose([a, b]);
  });

  it('with eps, points broken only beyond ε come back as x and the others within ε; its threat model says so', () => {
    const free = cwL2Attack({ binarySearchSteps: 3, steps: 20 }).detailed(p.model, p.x, p.y);
    const dFree = distances(free.xAdv, p.x);
    const sFree = Array.from(free.success?.dataSync() ?? []);
    const broken = dFree.filter((_, i) => sFree[i] === 1).sort((u, v) => u - v);
    // Halfway between two distances found, so that no point sits on the edge of the ball.
    const half = Math.floor(broken.length / 2);
    const eps = ((broken[half - 1] ?? 0) + (broken[half] ?? 0)) / 2;
    const a = cwL2Attack({ binarySearchSteps: 3, steps: 20, eps });
    expect(a.threat).toEqual({ eps, norm: 'l2', bounds: [0, 1] });
    expect(cwL2Attack().threat).toEqual({ eps: Infinity, norm: 'l2', bounds: [0, 1] });
    const within = a.detailed(p.model, p.x, p.y);
    const dWithin = distances(within.xAdv, p.x);
    const sWithin = Array.from(within.success?.dataSync() ?? []);
    dFree.forEach((d, i) => {
      const inside = sFree[i] === 1 && d <= eps * (1 + 1e-6);
      expect(sWithin[i]).toBe(inside ? 1 : 0);
      expect(dWithin[i]).toBeCloseTo(inside ? d : 0, 6);
    });
    tf.dispose([free.xAdv, within.xAdv, ...[free.success, within.success].filter((t): t is tf.Tensor1D => t !== undefined)]);
  });

  it('targeted: successes reach the target (given as y, or picked with target)', () => {
    const target = tf.tidy(() => tf.cast(tf.mod(tf.add(p.y, 1), p.numClasses), 'int32') as tf.Tensor1D);
    const out = cwL2Attack({ targeted: true, binarySearchSteps: 4, steps: 30, initialConst: 0.1 }).detailed(p.model, p.x, target);
    const hit = logitRows(p.model, out.xAdv).map(argmax);
    const success = Array.from(out.success?.dataSync() ?? []);
    const targets = Array.from(target.dataSync());
    success.forEach((s, i) => { if (s === 1) expect(hit[i]).toBe(targets[i]); });
    expect(success.filter((s) => s === 1).length).toBeGreaterThan(success.length / 2);
    const least = cwL2Attack({ target: 'leastLikely', binarySearchSteps: 4, steps: 30, initialConst: 0.1 }).detailed(p.model, p.x, p.y);
    const leastLikely = logitRows(p.model, p.x).map((z) => argmax(z.map((v) => -v)));
    const hitLeast = logitRows(p.model, least.xAdv).map(argmax);
    Array.from(least.success?.dataSync() ?? []).forEach((s, i) => { if (s === 1) expect(hitLeast[i]).toBe(leastLikely[i]); });
    tf.dispose([target, out.xAdv, least.xAdv, ...[out.success, least.success].filter((t): t is tf.Tensor1D => t !== undefined)]);
  });

  it("target: 'random' is seeded by seed, and a call's seed overrides the factory's", () => {
    const options = { target: 'random', binarySearchSteps: 3, steps: 30, initialConst: 1 } as const;
    const [a, again, b] = [1, 1, 2].map((seed) => cwL2(p.model, p.x, p.y, { ...options, seed }));
    expect(accuracy(p.model, a ?? p.x, p.y)).toBeLessThan(accuracy(p.model, p.x, p.y));
    const fromValue = cwL2Attack({ ...options, seed: 1 })(p.model, p.x, p.y, { seed: 2 });
    expect(Array.from(again?.dataSync() ?? [])).toEqual(Array.from(a?.dataSync() ?? []));
    expect(Array.from(b?.dataSync() ?? [])).not.toEqual(Array.from(a?.dataSync() ?? []));
    expect(Array.from(fromValue.dataSync())).toEqual(Array.from(b?.dataSync() ?? []));
    tf.dispose([a, again, b, fromValue].filter((t) => t !== undefined));
  });

  it('cwL2Attack gives what cwL2 gives; evaluate takes it with eps and rejects it without', async () => {
    const options = { binarySearchSteps: 2, steps: 20, kappa: 0.5, initialConst: 1 } as const;
    const a = cwL2Attack(options)(p.model, p.x, p.y, { seed: 3 });
    const b = cwL2(p.model, p.x, p.y, options);
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    const within = cwL2Attack({ ...options, eps: 1 })(p.model, p.x, p.y);
    const r = await evaluate(p.model, p.x, p.y, { attacks: { cw: cwL2Attack({ ...options, eps: 1 }) } });
    expect(r.attacks.cw).toBe(accuracy(p.model, within, p.y));
    expect(r.attacks.cw).toBeLessThan(r.clean);
    await expect(evaluate(p.model, p.x, p.y, { attacks: { cw: cwL2Attack(options) } })).rejects.toThrow(/^evaluate: attacks.cw must be bounded: cwL2Attack was made without eps/);
    tf.dispose([a, b, within]);
  });
});

describe('cwL2 on the device path (webgl, webgpu)', () => {
  it('reads nothing back synchronously and gives the host path\'s x′ (early abort included)', async () => {
    const options = { binarySearchSteps: 3, steps: 20 } as const;
    const host = cwL2(p.model, p.x, p.y, options);
    deferChecksForTesting(true);
    const x = tf.clone(p.x);
    const y = tf.clone(p.y);
    const device = withoutSyncReads(() => cwL2(p.model, x, y, options));
    await flushChecks();
    deferChecksForTesting(undefined);
    expect(Array.from(device.dataSync())).toEqual(Array.from(host.dataSync()));
    tf.dispose([host, device, x, y]);
  });
});

describe('cwL2 readbacks', () => {
  /** Fresh copies of the toy data, which no value check has seen. */
  const fresh = (f: (x: tf.Tensor, y: tf.Tensor1D) => tf.Tensor): (() => void) => () => {
    const x = tf.clone(p.x);
    const y = tf.clone(p.y);
    tf.dispose([f(x, y), x, y]);
  };

  it('without abortEarly, only the input checks (as pgd); with it, at most one scalar per check: ⌊(steps − 1)/⌈steps/10⌉⌋ per round', async () => {
    const plain = await readbacks(fresh((x, y) => cwL2(p.model, x, y, { binarySearchSteps: 3, steps: 20, abortEarly: false })));
    expect(plain).toBeLessThanOrEqual(2);
    const abort = await readbacks(fresh((x, y) => cwL2(p.model, x, y, { binarySearchSteps: 3, steps: 20 })));
    expect(abort).toBeLessThanOrEqual(plain + 3 * Math.floor(19 / 2));
    const long = await readbacks(fresh((x, y) => cwL2(p.model, x, y, { binarySearchSteps: 2, steps: 100 })));
    expect(long).toBeLessThanOrEqual(plain + 2 * 9);
  });

  it('early abort ends a round once every point has stopped: fewer model calls', () => {
    const counting = (): { model: Model; calls: () => number } => {
      let n = 0;
      return { model: (x) => { n++; return p.model(x); }, calls: () => n };
    };
    const [on, off] = [counting(), counting()];
    const a = cwL2(on.model, p.x, p.y, { binarySearchSteps: 2, steps: 200, learningRate: 0.05, initialConst: 1 });
    const b = cwL2(off.model, p.x, p.y, { binarySearchSteps: 2, steps: 200, learningRate: 0.05, initialConst: 1, abortEarly: false });
    expect(off.calls()).toBe(400);
    expect(on.calls()).toBeLessThan(400);
    // Not the same x′ in general (stopped points stop improving), but no worse than clean.
    expect(accuracy(p.model, a, p.y)).toBeLessThan(accuracy(p.model, p.x, p.y));
    tf.dispose([a, b]);
  });
});

describe('cwL2 bad options and inputs', () => {
  it.each([
    [{ kappa: -1 }, /kappa must be a finite number >= 0 \(got -1\)/, RangeError],
    [{ kappa: NaN }, /kappa must be a finite number >= 0 \(got NaN\)/, RangeError],
    [{ binarySearchSteps: 0 }, /binarySearchSteps must be an integer >= 1 \(got 0\)/, RangeError],
    [{ binarySearchSteps: 1.5 }, /binarySearchSteps must be an integer >= 1 \(got 1.5\)/, RangeError],
    [{ initialConst: 0 }, /initialConst must be a finite number > 0 \(got 0\)/, RangeError],
    [{ initialConst: Infinity }, /initialConst must be a finite number > 0 \(got Infinity\)/, RangeError],
    [{ steps: 0 }, /steps must be an integer >= 1 \(got 0\)/, RangeError],
    [{ learningRate: -0.01 }, /learningRate must be a finite number > 0 \(got -0.01\)/, RangeError],
    [{ abortEarly: 1 }, /abortEarly must be a boolean \(got 1\)/, TypeError],
    [{ targeted: 'yes' }, /targeted must be a boolean \(got "yes"\)/, TypeError],
    [{ target: 'nearest' }, /target must be "random", "leastLikely" or a function/, RangeError],
    [{ target: 'random', targeted: true }, /targeted must be left out when target is given/, RangeError],
    [{ eps: -0.5 }, /eps must be a finite number >= 0 \(got -0.5\)/, RangeError],
    [{ bounds: [1, 0] }, /bounds must be a pair \[lo, hi\] of finite numbers with lo < hi/, RangeError],
    [{ seed: NaN }, /seed must be a finite number \(got NaN\)/, RangeError],
    [{ c: 1 }, /options must only have the keys targeted, target, kappa, .* \(got "c"\)/, RangeError]
  ] as const)('rejects %p, naming cwL2 or cwL2Attack', (options, message, type) => {
    expectThrowsNoLeak(() => cwL2(p.model, p.x, p.y, options as never), new RegExp(`^cwL2: ${message.source}`), type);
    expectThrowsNoLeak(() => cwL2Attack(options as never), new RegExp(`^cwL2Attack: ${message.source}`), type);
  });

  it('cwL2Attack reads its options when made, never in its calls', () => {
    let reads = 0;
    const options = new Proxy({ binarySearchSteps: 1, steps: 2, kappa: 0.5 }, {
      get: (target, key, receiver) => {
        reads++;
        return Reflect.get(target, key, receiver) as unknown;
      },
      ownKeys: (target) => {
        reads++;
        return Reflect.ownKeys(target);
      }
    });
    const a = cwL2Attack(options);
    const atCreation = reads;
    expect(atCreation).toBeGreaterThan(0);
    for (let i = 0; i < 3; i++) tf.dispose(a(p.model, p.x, p.y, { seed: i }));
    expect(reads).toBe(atCreation);
  });

  it('rejects options that are not an object', () => {
    expectThrowsNoLeak(() => cwL2(p.model, p.x, p.y, null as never), /^cwL2: options must be an object \(got null\)/, TypeError);
  });

  it('rejects bad inputs when called, naming the function or the factory', () => {
    const outside = tf.add(p.x, 2);
    const short = tf.tensor1d([0, 1], 'int32');
    const a = cwL2Attack({ steps: 2 });
    expectThrowsNoLeak(() => cwL2(p.model, outside, p.y), /^cwL2: x must lie inside bounds \[0, 1\]/);
    expectThrowsNoLeak(() => a(p.model, outside, p.y), /^cwL2Attack: x must lie inside bounds \[0, 1\]/);
    expectThrowsNoLeak(() => cwL2(p.model, p.x, short), /^cwL2: y must have shape \[24\] to match the batch/);
    expectThrowsNoLeak(() => cwL2({} as never, p.x, p.y), /^cwL2: model must be a function/, TypeError);
    expectThrowsNoLeak(() => cwL2(() => tf.zeros([24, 2]), p.x, p.y, { steps: 2 }), /^cwL2: labels must hold class indices < 2/);
    expectThrowsNoLeak(() => a(p.model, p.x, p.y, { seed: Infinity }), /^cwL2Attack: seed must be a finite number \(got Infinity\)/);
    tf.dispose([outside, short]);
  });
});

describe('cwL2 leaks nothing', () => {
  it('on success: the function, the value, its detail, a targeted run with target', () => {
    expectNoLeak(() => cwL2(p.model, p.x, p.y, { binarySearchSteps: 2, steps: 5 }));
    expectNoLeak(() => cwL2Attack({ binarySearchSteps: 2, steps: 5, eps: 0.5 })(p.model, p.x, p.y));
    expectNoLeak(() => {
      const out = cwL2Attack({ binarySearchSteps: 2, steps: 5 }).detailed(p.model, p.x, p.y);
      return [out.xAdv, ...(out.success === undefined ? [] : [out.success])];
    });
    expectNoLeak(() => cwL2(p.model, p.x, p.y, { binarySearchSteps: 2, steps: 5, target: 'random', seed: 1 }));
  });

  it('when the model throws mid-attack, in the forward pass or in the backward pass', () => {
    let calls = 0;
    const flaky: Model = (x) => {
      calls += 1;
      if (calls === 7) throw new Error('model failed');
      return p.model(x);
    };
    expectThrowsNoLeak(() => cwL2(flaky, p.x, p.y, { binarySearchSteps: 2, steps: 5 }), /model failed/, Error);
    const throwing = tf.customGrad((t) => ({
      value: tf.clone(t as tf.Tensor),
      gradFunc: () => {
        throw new Error('no gradient here');
      }
    }));
    const model: Model = (x) => p.model(throwing(x));
    expectThrowsNoLeak(() => cwL2(model, p.x, p.y, { steps: 3 }), /no gradient here/, Error);
  });
});

describe('cwLinf, and its deprecated aliases cw and cwAttack', () => {
  it('cw gives what cwLinf gives, and cwAttack what cwLinfAttack gives, for the same options and seed', () => {
    const options = { eps: 0.1, steps: 5, kappa: 1, seed: 4 } as const;
    const pairs = [
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- the alias under test
      [cw(p.model, p.x, p.y, options), cwLinf(p.model, p.x, p.y, options)],
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- the alias under test
      [cwAttack(options)(p.model, p.x, p.y, { seed: 9 }), cwLinfAttack(options)(p.model, p.x, p.y, { seed: 9 })]
    ] as const;
    for (const [alias, renamed] of pairs) {
      expect(Array.from(alias.dataSync())).toEqual(Array.from(renamed.dataSync()));
      tf.dispose([alias, renamed]);
    }
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- the alias under test
    expect(cwAttack(options).threat).toEqual(cwLinfAttack(options).threat);
  });

  it('the errors of each name the function the user called', () => {
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- the alias under test
    expectThrowsNoLeak(() => cw(p.model, p.x, p.y, { eps: -1 }), /^cw: eps must be a finite number >= 0 \(got -1\)/);
    expectThrowsNoLeak(() => cwLinf(p.model, p.x, p.y, { eps: -1 }), /^cwLinf: eps must be a finite number >= 0 \(got -1\)/);
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- the alias under test
    expectThrowsNoLeak(() => cwAttack({ eps: 0.1, kappa: NaN }), /^cwAttack: kappa must be a finite number \(got NaN\)/);
    expectThrowsNoLeak(() => cwLinfAttack({ eps: 0.1, kappa: NaN }), /^cwLinfAttack: kappa must be a finite number \(got NaN\)/);
    const outside = tf.add(p.x, 2);
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- the alias under test
    expectThrowsNoLeak(() => cwAttack({ eps: 0.1 })(p.model, outside, p.y), /^cwAttack: x must lie inside bounds/);
    expectThrowsNoLeak(() => cwLinfAttack({ eps: 0.1 })(p.model, outside, p.y), /^cwLinfAttack: x must lie inside bounds/);
    outside.dispose();
  });

  it('cwLinf stays inside the L∞ ball and leaks nothing', () => {
    const xAdv = cwLinf(p.model, p.x, p.y, { eps: 0.1, steps: 5, seed: 1 });
    const dist = tf.tidy(() => tf.max(tf.abs(tf.sub(xAdv, p.x))).dataSync()[0] ?? NaN);
    expect(dist).toBeLessThanOrEqual(0.1 + 1e-6);
    xAdv.dispose();
    expectNoLeak(() => cwLinf(p.model, p.x, p.y, { eps: 0.1, steps: 3, seed: 1 }));
    expectNoLeak(() => cwLinfAttack({ eps: 0.1, steps: 3 })(p.model, p.x, p.y, { seed: 1 }));
  });
});
