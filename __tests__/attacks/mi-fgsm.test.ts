/**
 * MI-FGSM (Dong et al. 2018, arXiv 1710.06081): its iterates against a float64 computation by hand on a linear model
 * (where ∇ₓCE is known in closed form), its special cases (one step of ε is FGSM, decay 0 is I-FGSM, i.e. PGD without
 * random start), the attack invariants on a trained toy model, bad inputs, leaks and readbacks.
 */
import * as tf from '@tensorflow/tfjs-core';
import { fgsm, pgd } from '../../src/attacks/index.js';
import { miFgsm, miFgsmAttack, type MiFgsmOptions } from '../../src/attacks/mi-fgsm.js';
import { deferChecksForTesting, flushChecks, pendingChecks } from '../../src/core/device-checks.js';
import type { Model } from '../../src/core/index.js';
import { crossEntropy } from '../../src/losses/index.js';
import { readbacks } from '../../scripts/lib/readbacks.js';
import { accuracy, expectNoLeak, expectThrowsNoLeak, linearLogits, linearModel, maxDistance, rows, softmax64, testRandom, toyProblem, useBackend, withoutSyncReads, type LinearModel, type ToyProblem } from '../helpers.js';

const D = 6;
const C = 3;
const B = 5;
const values = (t: tf.Tensor): number[] => Array.from(t.dataSync());
const clip = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));

/** ∇ₓ CE(x·W + b, y) = W (σ(z) − e_y), in float64. */
function ceGrad(m: LinearModel, x: number[], y: number): number[] {
  const p = softmax64(linearLogits(m, x));
  return x.map((_, i) => p.reduce((s, pc, c) => s + (m.W[i]?.[c] ?? 0) * (pc - (c === y ? 1 : 0)), 0));
}

/** A loss whose gradient turns and grows as x moves: `Σ_c s_c·exp(β·z_c)`, and its input gradient in float64. */
const S = [1, -1.5, 0.5];
const BETA = 4;
function expLoss(z: tf.Tensor2D): tf.Tensor {
  return tf.sum(tf.mul(tf.exp(tf.mul(z, BETA)), tf.tensor1d(S)), 1);
}
function expGrad(m: LinearModel, x: number[]): number[] {
  const z = linearLogits(m, x);
  return x.map((_, i) => z.reduce((acc, zc, c) => acc + (S[c] ?? 0) * BETA * Math.exp(BETA * zc) * (m.W[i]?.[c] ?? 0), 0));
}

/** MI-FGSM by hand, in float64: g ← μ·g + ∇/mean|∇|, x ← clip(clip(x + α·sign(g), x₀ ± ε), 0, 1). */
function miFgsm64(
  m: LinearModel,
  x0: number[],
  y: number,
  o: { eps: number; alpha: number; decay: number; steps: number; targeted: boolean; loss?: 'exp'; unnormalised?: boolean }
): number[] {
  let x = x0.slice();
  let g = x0.map(() => 0);
  for (let t = 0; t < o.steps; t++) {
    const grad = (o.loss === 'exp' ? expGrad(m, x) : ceGrad(m, x, y)).map((v) => (o.targeted ? -v : v));
    const mean = o.unnormalised === true ? 1 : grad.reduce((s, v) => s + Math.abs(v), 0) / grad.length;
    g = g.map((gi, i) => o.decay * gi + (grad[i] ?? 0) / mean);
    x = x.map((xi, i) => clip(clip(xi + o.alpha * Math.sign(g[i] ?? 0), (x0[i] ?? 0) - o.eps, (x0[i] ?? 0) + o.eps), 0, 1));
  }
  return x;
}

function inputs(seed: number): number[][] {
  const r = testRandom(seed);
  return Array.from({ length: B }, () => Array.from({ length: D }, () => 0.1 + 0.8 * r()));
}

describe('miFgsm', () => {
  let m: LinearModel;
  let p: ToyProblem;
  const labels = [0, 1, 2, 1, 0];
  beforeAll(async () => {
    await useBackend('cpu');
    m = linearModel(D, C, 11);
    p = toyProblem();
  });
  afterAll(() => {
    m.dispose();
    p.dispose();
  });
  afterEach(async () => {
    await flushChecks().catch(() => undefined);
    deferChecksForTesting(undefined);
  });

  describe('on a linear model, against the computation by hand', () => {
    it.each([
      [{ eps: 0.1, alpha: 0.03, decay: 1, steps: 4, targeted: false }],
      [{ eps: 0.1, alpha: 0.03, decay: 0.5, steps: 6, targeted: false }],
      [{ eps: 0.05, alpha: 0.02, decay: 1, steps: 5, targeted: true }]
    ])('%p', (o) => {
      const xs = inputs(3);
      const x = tf.tensor2d(xs);
      const y = tf.tensor1d(labels, 'int32');
      const out = miFgsm(m.model, x, y, { eps: o.eps, stepSize: o.alpha, decay: o.decay, steps: o.steps, ...(o.targeted ? { targeted: true } : {}) });
      const got = rows(out);
      xs.forEach((row, i) => {
        const want = miFgsm64(m, row, labels[i] ?? 0, o);
        want.forEach((v, j) => { expect(Math.abs((got[i]?.[j] ?? NaN) - v)).toBeLessThanOrEqual(1e-6); });
      });
      tf.dispose([x, y, out]);
    });

    it('each step\'s gradient is normalised by its mean |∇| before it joins the momentum', () => {
      const xs = inputs(8);
      const x = tf.tensor2d(xs);
      const y = tf.tensor1d(labels, 'int32');
      const o = { eps: 0.3, alpha: 0.05, decay: 1, steps: 6, targeted: false, loss: 'exp' } as const;
      const out = miFgsm(m.model, x, y, { eps: o.eps, stepSize: o.alpha, steps: o.steps, loss: (z) => tf.tidy(() => expLoss(z)) });
      const got = rows(out);
      let differs = false;
      xs.forEach((row, i) => {
        const want = miFgsm64(m, row, labels[i] ?? 0, o);
        const unnormalised = miFgsm64(m, row, labels[i] ?? 0, { ...o, unnormalised: true });
        if (unnormalised.some((v, j) => Math.abs(v - (want[j] ?? NaN)) > 1e-3)) differs = true;
        want.forEach((v, j) => { expect(Math.abs((got[i]?.[j] ?? NaN) - v)).toBeLessThanOrEqual(1e-5); });
      });
      // The case is one where leaving the normalisation out changes the result.
      expect(differs).toBe(true);
      tf.dispose([x, y, out]);
    });

    it('defaults: 10 steps of α = ε/10 and μ = 1', () => {
      const xs = inputs(4);
      const x = tf.tensor2d(xs);
      const y = tf.tensor1d(labels, 'int32');
      const out = miFgsm(m.model, x, y, { eps: 0.1 });
      const got = rows(out);
      xs.forEach((row, i) => {
        const want = miFgsm64(m, row, labels[i] ?? 0, { eps: 0.1, alpha: 0.01, decay: 1, steps: 10, targeted: false });
        want.forEach((v, j) => { expect(Math.abs((got[i]?.[j] ?? NaN) - v)).toBeLessThanOrEqual(1e-6); });
      });
      tf.dispose([x, y, out]);
    });

    it('one step of α = ε is FGSM; decay 0 is I-FGSM (PGD from x, no random start)', () => {
      const x = tf.tensor2d(inputs(5));
      const y = tf.tensor1d(labels, 'int32');
      const [mi1, fg, mi0, bim] = [
        miFgsm(m.model, x, y, { eps: 0.1, steps: 1 }),
        fgsm(m.model, x, y, { eps: 0.1 }),
        miFgsm(m.model, x, y, { eps: 0.1, steps: 7, stepSize: 0.03, decay: 0 }),
        pgd(m.model, x, y, { eps: 0.1, steps: 7, stepSize: 0.03, randomStart: 'none' })
      ];
      expect(values(mi1)).toEqual(values(fg));
      expect(values(mi0)).toEqual(values(bim));
      tf.dispose([x, y, mi1, fg, mi0, bim]);
    });

    it('a point whose gradient is zero does not move (no 0/0)', () => {
      const flat: Model = (input) => tf.tidy(() => tf.mul<tf.Tensor2D>(tf.ones([input.shape[0] ?? 1, C]), tf.sum(tf.mul(input, 0))));
      const x = tf.tensor2d(inputs(6));
      const y = tf.tensor1d(labels, 'int32');
      const out = miFgsm(flat, x, y, { eps: 0.1 });
      expect(values(out)).toEqual(values(x));
      tf.dispose([x, y, out]);
    });
  });

  describe('invariants on a trained toy model', () => {
    const EPS = 0.2;

    it('stays inside the ε-ball and the bounds, and lowers accuracy', () => {
      const xAdv = miFgsm(p.model, p.x, p.y, { eps: EPS });
      expect(xAdv.shape).toEqual(p.x.shape);
      expect(maxDistance(xAdv, p.x, 'linf')).toBeLessThanOrEqual(EPS + 1e-6);
      expect(tf.tidy(() => tf.min(xAdv).dataSync()[0])).toBeGreaterThanOrEqual(0);
      expect(tf.tidy(() => tf.max(xAdv).dataSync()[0])).toBeLessThanOrEqual(1);
      expect(accuracy(p.model, xAdv, p.y)).toBeLessThan(accuracy(p.model, p.x, p.y));
      xAdv.dispose();
    });

    it('raises the loss above one FGSM step of the same total budget, and with the cw loss too', () => {
      const ce = (t: tf.Tensor): number => tf.tidy(() => crossEntropy(p.model(t), p.y).dataSync()[0] ?? NaN);
      const [mi, one, cw] = [miFgsm(p.model, p.x, p.y, { eps: EPS, steps: 10 }), miFgsm(p.model, p.x, p.y, { eps: EPS, steps: 1 }), miFgsm(p.model, p.x, p.y, { eps: EPS, loss: 'cw' })];
      expect(ce(mi)).toBeGreaterThan(ce(p.x));
      expect(ce(mi)).toBeGreaterThanOrEqual(ce(one) - 1e-6);
      expect(accuracy(p.model, cw, p.y)).toBeLessThan(accuracy(p.model, p.x, p.y));
      tf.dispose([mi, one, cw]);
    });

    it('is deterministic; targeted mode moves predictions toward the target', () => {
      const [a, b] = [miFgsm(p.model, p.x, p.y, { eps: EPS, steps: 5 }), miFgsm(p.model, p.x, p.y, { eps: EPS, steps: 5 })];
      expect(values(a)).toEqual(values(b));
      const target = tf.tidy(() => tf.cast(tf.mod(tf.add(p.y, 1), p.numClasses), 'int32') as tf.Tensor1D);
      const toward = miFgsm(p.model, p.x, target, { eps: EPS, targeted: true });
      expect(accuracy(p.model, toward, target)).toBeGreaterThan(accuracy(p.model, p.x, target));
      tf.dispose([a, b, target, toward]);
    });

    it('miFgsmAttack gives what miFgsm gives, reports its threat model, and names itself in errors', () => {
      const a = miFgsmAttack({ eps: EPS, steps: 4, decay: 0.8 });
      expect(a.attackName).toBe('miFgsmAttack');
      expect(a.threat).toEqual({ eps: EPS, norm: 'linf', bounds: [0, 1] });
      const [got, want] = [a(p.model, p.x, p.y, { seed: 3 }), miFgsm(p.model, p.x, p.y, { eps: EPS, steps: 4, decay: 0.8 })];
      expect(values(got)).toEqual(values(want));
      tf.dispose([got, want]);
      const outside = tf.add(p.x, 2);
      expectThrowsNoLeak(() => a(p.model, outside, p.y), /^miFgsmAttack: x must lie inside bounds \[0, 1\]/);
      outside.dispose();
      expect(() => miFgsmAttack({ eps: EPS, decay: -1 })).toThrow(/^miFgsmAttack: decay must be a finite number >= 0 \(got -1\)$/);
    });
  });

  describe('bad inputs: errors naming miFgsm, the argument, the rule and the value, and no tensor left behind', () => {
    let x: tf.Tensor2D;
    let y: tf.Tensor1D;
    beforeAll(() => {
      x = tf.tensor2d(inputs(7).slice(0, 2));
      y = tf.tensor1d([0, 2], 'int32');
    });
    afterAll(() => { tf.dispose([x, y]); });

    it.each([
      [{ eps: -1 }, /^miFgsm: eps must be a finite number >= 0 \(got -1\)$/],
      [{}, /^miFgsm: eps must be given/],
      [{ eps: 0.1, steps: 0 }, /^miFgsm: steps must be an integer >= 1 \(got 0\)$/],
      [{ eps: 0.1, stepSize: -0.1 }, /^miFgsm: stepSize must be a finite number >= 0 \(got -0.1\)$/],
      [{ eps: 0.1, decay: NaN }, /^miFgsm: decay must be a finite number >= 0 \(got NaN\)$/],
      [{ eps: 0.1, bounds: [1, 0] }, /^miFgsm: bounds must be a pair \[lo, hi\]/],
      [{ eps: 0.1, norm: 'l2' }, /^miFgsm: options must only have the keys eps, steps, stepSize, decay, loss, targeted, target, bounds, seed \(got "norm"\)$/],
      [{ eps: 0.1, loss: 'mse' }, /^miFgsm: loss must be "ce", "cw" or a function/],
      [{ eps: 0.1, seed: Infinity }, /^miFgsm: seed must be a finite number \(got Infinity\)$/]
    ])('rejects options %p', (options, message) => {
      expectThrowsNoLeak(() => miFgsm(m.model, x, y, options as unknown as MiFgsmOptions), message);
    });

    it('rejects bad labels, inputs, models and losses', () => {
      const short = tf.tensor1d([0], 'int32');
      const big = tf.tensor2d([[0.1, 0.2, 0.3, 0.4, 0.5, 2], [0.5, 0.6, 0.7, 0.8, 0.1, 0.1]]);
      expectThrowsNoLeak(() => miFgsm(m.model, x, short, { eps: 0.1 }), /^miFgsm: y must have shape \[2\] to match the batch \(got an int32 tensor of shape \[1\]\)$/);
      expectThrowsNoLeak(() => miFgsm(m.model, big, y, { eps: 0.1 }), /^miFgsm: x must lie inside bounds \[0, 1\] \(got "values in \[0.1, 2\]"\)$/);
      expectThrowsNoLeak(() => miFgsm({} as Model, x, y, { eps: 0.1 }), /^miFgsm: model must be a function \(got an object\)$/, TypeError);
      expectThrowsNoLeak(() => miFgsm((input) => tf.slice(m.model(input), 0, 1), x, y, { eps: 0.1 }), /^miFgsm: model must return logits of shape \[2, C\] for a batch of 2/);
      expectThrowsNoLeak(() => miFgsm(m.model, x, y, { eps: 0.1, loss: (z) => tf.mean(z) }), /^miFgsm: loss must return per-example values of shape \[2\] \(got a float32 tensor of shape \[\]\)$/);
      expectThrowsNoLeak(() => miFgsm(m.model, x, y, { eps: 0.1, targeted: 1 as never }), /^miFgsm: targeted must be a boolean \(got 1\)$/, TypeError);
      expectThrowsNoLeak(() => miFgsm(m.model, x, y, null as never), /^miFgsm: options must be an object \(got null\)$/, TypeError);
      tf.dispose([short, big]);
    });

    it('leaks nothing, also when the model throws mid-attack', () => {
      expectNoLeak(() => miFgsm(m.model, x, y, { eps: 0.1, steps: 3 }));
      let calls = 0;
      const flaky: Model = (input) => {
        calls += 1;
        if (calls === 3) throw new Error('model failed');
        return m.model(input);
      };
      expectThrowsNoLeak(() => miFgsm(flaky, x, y, { eps: 0.1, steps: 5 }), /^model failed$/, Error);
    });
  });

  describe('readbacks', () => {
    /** A call on fresh copies of the toy data, which no value check has seen. */
    const fresh = (o: MiFgsmOptions) => (): tf.Tensor => {
      const [x, y] = [tf.clone(p.x), tf.clone(p.y)];
      try {
        return miFgsm(p.model, x, y, o);
      } finally {
        tf.dispose([x, y]);
      }
    };

    it('at most 2 per call (the input checks), whatever the step count', async () => {
      const few = await readbacks(fresh({ eps: 0.1, steps: 2 }));
      const many = await readbacks(fresh({ eps: 0.1, steps: 30 }));
      expect(many).toBeLessThanOrEqual(2);
      expect(many).toBe(few);
    });

    it('none synchronous on the device path, and nothing left once the checks are flushed', async () => {
      deferChecksForTesting(true);
      const [x, y] = [tf.clone(p.x), tf.clone(p.y)];
      const before = tf.memory().numTensors;
      const xAdv = withoutSyncReads(() => miFgsm(p.model, x, y, { eps: 0.1, steps: 5 }));
      expect(pendingChecks()).toBeGreaterThan(0);
      await flushChecks();
      expect(maxDistance(xAdv, p.x, 'linf')).toBeLessThanOrEqual(0.1 + 1e-6);
      xAdv.dispose();
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([x, y]);
    });
  });
});
