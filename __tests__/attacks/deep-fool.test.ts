/**
 * DeepFool (Moosavi-Dezfooli et al. 2016, arXiv 1511.04599): on an affine classifier it finds the exact minimal
 * perturbation in one step, `r = |f'_l|/‖w'_l‖₂²·w'_l` (L2) or `|f'_l|/‖w'_l‖₁·sign(w'_l)` (L∞) toward the closest
 * boundary, computed here by hand in float64; points stop once fooled; the invariants on a trained toy model; the
 * unbounded threat model and the optional ε-ball; bad inputs, leaks and readbacks.
 */
import * as tf from '@tensorflow/tfjs-core';
import { projectL2, projectLinf } from '../../src/attacks/index.js';
import { deepFool, deepFoolAttack, type DeepFoolOptions } from '../../src/attacks/deep-fool.js';
import { deferChecksForTesting, flushChecks, pendingChecks } from '../../src/core/device-checks.js';
import type { Model } from '../../src/core/index.js';
import { pgdAt } from '../../src/train/index.js';
import { evaluate, worstCase } from '../../src/eval/index.js';
import { readbacks } from '../../scripts/lib/readbacks.js';
import { accuracy, expectNoLeak, expectRejectsNoLeak, expectThrowsNoLeak, linearLogits, linearModel, maxDistance, rows, testRandom, toyProblem, useBackend, withoutSyncReads, type LinearModel, type ToyProblem } from '../helpers.js';

const D = 6;
const C = 4;
const B = 8;
const WIDE = [-10, 10] as const;
const values = (t: tf.Tensor): number[] => Array.from(t.dataSync());
const argmax = (v: number[]): number => v.indexOf(Math.max(...v));

/** One DeepFool step on the affine model, in float64: the minimal perturbation to the closest candidate boundary. */
function deepFool64(m: LinearModel, x: number[], y: number, norm: 'l2' | 'linf', overshoot: number, candidates = C): number[] {
  const z = linearLogits(m, x);
  if (argmax(z) !== y) return x;
  const others = z.map((v, k) => [v, k] as const).filter(([, k]) => k !== y).sort((a, b) => b[0] - a[0]).slice(0, candidates - 1).map(([, k]) => k);
  let best = { distance: Infinity, f: 0, w: [] as number[] };
  for (const k of others) {
    const w = x.map((_, i) => (m.W[i]?.[k] ?? 0) - (m.W[i]?.[y] ?? 0));
    const f = (z[k] ?? 0) - (z[y] ?? 0);
    const q = norm === 'l2' ? Math.sqrt(w.reduce((s, v) => s + v * v, 0)) : w.reduce((s, v) => s + Math.abs(v), 0);
    const distance = Math.abs(f) / q;
    if (distance < best.distance) best = { distance, f, w };
  }
  const { distance, w } = best;
  const l2 = Math.sqrt(w.reduce((s, v) => s + v * v, 0));
  const r = w.map((v) => (norm === 'l2' ? (distance * v) / l2 : distance * Math.sign(v)));
  return x.map((v, i) => v + (1 + overshoot) * (r[i] ?? 0));
}

describe('deepFool', () => {
  let m: LinearModel;
  let p: ToyProblem;
  let xs: number[][];
  let labels: number[];
  let x: tf.Tensor2D;
  let y: tf.Tensor1D;
  beforeAll(async () => {
    await useBackend('cpu');
    m = linearModel(D, C, 5);
    p = toyProblem();
    const r = testRandom(9);
    xs = Array.from({ length: B }, () => Array.from({ length: D }, () => r()));
    labels = xs.map((row) => argmax(linearLogits(m, row)));
    x = tf.tensor2d(xs);
    y = tf.tensor1d(labels, 'int32');
  });
  afterAll(() => {
    m.dispose();
    p.dispose();
    tf.dispose([x, y]);
  });
  afterEach(async () => {
    await flushChecks().catch(() => undefined);
    deferChecksForTesting(undefined);
  });

  function expectRows(out: tf.Tensor, want: number[][], tol = 1e-5): void {
    const got = rows(out);
    want.forEach((row, i) => { row.forEach((v, j) => { expect(Math.abs((got[i]?.[j] ?? NaN) - v)).toBeLessThanOrEqual(tol); }); });
  }

  describe('on an affine classifier', () => {
    it.each(['l2', 'linf'] as const)('%s: one step is the exact minimal perturbation, times 1 + overshoot; more steps change nothing', (norm) => {
      expect(new Set(labels).size).toBeGreaterThan(1);
      const want = xs.map((row, i) => deepFool64(m, row, labels[i] ?? 0, norm, 0.02));
      for (const steps of [1, 50]) {
        const out = deepFool(m.model, x, y, { norm, steps, bounds: WIDE });
        expectRows(out, want);
        // Every point is misclassified.
        expect(accuracy(m.model, out, y)).toBe(0);
        out.dispose();
      }
    });

    it('the default is L2 with overshoot 0.02 and every class', () => {
      const want = xs.map((row, i) => deepFool64(m, row, labels[i] ?? 0, 'l2', 0.02));
      const out = deepFool(m.model, x, y, { bounds: WIDE });
      const capped = deepFool(m.model, x, y, { bounds: WIDE, candidates: 100 });
      expectRows(out, want);
      expect(values(capped)).toEqual(values(out));
      tf.dispose([out, capped]);
    });

    it('without overshoot it lands on the closest boundary: z_l = z_y there', () => {
      const out = deepFool(m.model, x, y, { norm: 'l2', overshoot: 0, steps: 1, bounds: WIDE });
      const want = xs.map((row, i) => deepFool64(m, row, labels[i] ?? 0, 'l2', 0));
      expectRows(out, want);
      rows(out).forEach((row, i) => {
        const label = labels[i] ?? 0;
        const z = linearLogits(m, row);
        const gaps = z.filter((_, k) => k !== label).map((v) => Math.abs(v - (z[label] ?? NaN)));
        expect(Math.min(...gaps)).toBeLessThan(1e-4);
      });
      out.dispose();
    });

    it('candidates = 2 considers only the most likely other class at x', () => {
      const want = xs.map((row, i) => deepFool64(m, row, labels[i] ?? 0, 'l2', 0.02, 2));
      const out = deepFool(m.model, x, y, { candidates: 2, steps: 1, bounds: WIDE });
      expectRows(out, want);
      out.dispose();
    });

    it('a point misclassified at x is returned unchanged', () => {
      const wrong = tf.tensor1d(labels.map((l) => (l + 1) % C), 'int32');
      const out = deepFool(m.model, x, wrong, { bounds: WIDE });
      expect(values(out)).toEqual(values(x));
      tf.dispose([wrong, out]);
    });

    it('the box clips every iterate', () => {
      const out = deepFool(m.model, x, y, { norm: 'linf' });
      expect(Math.min(...values(out))).toBeGreaterThanOrEqual(0);
      expect(Math.max(...values(out))).toBeLessThanOrEqual(1);
      out.dispose();
    });

    it('with eps, x′ is the unbounded result projected on the ε-ball (and the box)', () => {
      for (const [norm, eps, project] of [['l2', 0.1, projectL2], ['linf', 0.02, projectLinf]] as const) {
        const free = deepFool(m.model, x, y, { norm, bounds: WIDE });
        const bounded = deepFool(m.model, x, y, { norm, eps, bounds: WIDE });
        const want = project(free, x, eps, WIDE);
        expect(maxDistance(bounded, x, norm)).toBeLessThanOrEqual(eps * (1 + 1e-6));
        expect(maxDistance(bounded, want, 'linf')).toBeLessThanOrEqual(1e-6);
        tf.dispose([free, bounded, want]);
      }
    });
  });

  describe('on a trained toy model', () => {
    it.each(['l2', 'linf'] as const)('%s: inside the bounds, fools almost every point, and more steps never unfool one', (norm) => {
      const fooled = (t: tf.Tensor): number[] => Array.from(tf.tidy(() => tf.notEqual(tf.argMax(p.model(t), 1), p.y).dataSync()));
      const few = deepFool(p.model, p.x, p.y, { norm, steps: 2 });
      const many = deepFool(p.model, p.x, p.y, { norm, steps: 10 });
      expect(tf.tidy(() => tf.min(many).dataSync()[0])).toBeGreaterThanOrEqual(0);
      expect(tf.tidy(() => tf.max(many).dataSync()[0])).toBeLessThanOrEqual(1);
      expect(accuracy(p.model, many, p.y)).toBeLessThanOrEqual(0.1);
      const [f2, f10] = [fooled(few), fooled(many)];
      f2.forEach((v, i) => { if (v === 1) expect(f10[i]).toBe(1); });
      // Deterministic.
      const again = deepFool(p.model, p.x, p.y, { norm, steps: 10 });
      expect(values(again)).toEqual(values(many));
      tf.dispose([few, many, again]);
    });

    it('deepFoolAttack gives what deepFool gives; unbounded, its threat model has eps Infinity, and fit\'s objectives reject it', () => {
      const free = deepFoolAttack();
      expect(free.attackName).toBe('deepFoolAttack');
      expect(free.threat).toEqual({ eps: Infinity, norm: 'l2', bounds: [0, 1] });
      expect(deepFoolAttack({ norm: 'linf', eps: 0.1 }).threat).toEqual({ eps: 0.1, norm: 'linf', bounds: [0, 1] });
      const [got, want] = [free(p.model, p.x, p.y, { seed: 4 }), deepFool(p.model, p.x, p.y)];
      expect(values(got)).toEqual(values(want));
      tf.dispose([got, want]);
      expect(() => pgdAt({ eps: 0.1, attack: free })).toThrow(/^pgdAt: attack must have the objective's eps 0.1 \(got "deepFoolAttack with eps Infinity"\)$/);
      expect(() => pgdAt({ eps: 0.1, attack: deepFoolAttack({ norm: 'linf', eps: 0.1 }) })).not.toThrow();
      const outside = tf.add(p.x, 2);
      expectThrowsNoLeak(() => free(p.model, outside, p.y), /^deepFoolAttack: x must lie inside bounds \[0, 1\]/);
      outside.dispose();
    });
  });

  describe('bad inputs: errors naming the function, the argument, the rule and the value, and no tensor left behind', () => {
    it.each([
      [{ steps: 0 }, /^deepFool: steps must be an integer >= 1 \(got 0\)$/],
      [{ overshoot: -0.1 }, /^deepFool: overshoot must be a finite number >= 0 \(got -0.1\)$/],
      [{ candidates: 1 }, /^deepFool: candidates must be an integer >= 2 \(got 1\)$/],
      [{ candidates: 2.5 }, /^deepFool: candidates must be an integer >= 2 \(got 2.5\)$/],
      [{ norm: 'l1' }, /^deepFool: norm must be one of "linf", "l2" \(got "l1"\)$/],
      [{ eps: 0.5 }, /^deepFool: norm must be given with eps, "l2" or "linf" \(DeepFool defaults to L2, the ε-bounded attacks to L∞\) \(got undefined\)$/],
      [{ eps: -1, norm: 'l2' }, /^deepFool: eps must be a finite number >= 0 \(got -1\)$/],
      [{ bounds: [1, 0] }, /^deepFool: bounds must be a pair \[lo, hi\]/],
      [{ kappa: 1 }, /^deepFool: options must only have the keys norm, steps, overshoot, candidates, eps, bounds \(got "kappa"\)$/]
    ])('rejects options %p', (options, message) => {
      expectThrowsNoLeak(() => deepFool(m.model, x, y, options as unknown as DeepFoolOptions), message);
    });

    it('the factory checks its options when made, naming deepFoolAttack', () => {
      expect(() => deepFoolAttack({ steps: -1 })).toThrow(/^deepFoolAttack: steps must be an integer >= 1 \(got -1\)$/);
      expect(() => deepFoolAttack(null as never)).toThrow(/^deepFoolAttack: options must be an object \(got null\)$/);
    });

    it('rejects bad labels, inputs and models', () => {
      const short = tf.tensor1d([0], 'int32');
      const tooBig = tf.tensor1d(labels.map((l, i) => (i === 1 ? C : l)), 'int32');
      const big = tf.add(x, 1);
      expectThrowsNoLeak(() => deepFool(m.model, x, short), new RegExp(`^deepFool: y must have shape \\[${B}\\] to match the batch \\(got an int32 tensor of shape \\[1\\]\\)$`));
      expectThrowsNoLeak(() => deepFool(m.model, x, tooBig), new RegExp(`^deepFool: labels must hold class indices < ${C} \\(the model's number of classes\\) \\(got ${C}\\)$`));
      expectThrowsNoLeak(() => deepFool(m.model, big, y), /^deepFool: x must lie inside bounds \[0, 1\]/);
      expectThrowsNoLeak(() => deepFool(3 as never, x, y), /^deepFool: model must be a function \(got 3\)$/, TypeError);
      expectThrowsNoLeak(() => deepFool((input) => tf.slice(m.model(input), 0, 1), x, y), new RegExp(`^deepFool: model must return logits of shape \\[${B}, C\\] for a batch of ${B}`));
      tf.dispose([short, tooBig, big]);
    });

    it('leaks nothing, also when the model throws mid-attack or in a backward pass', () => {
      expectNoLeak(() => deepFool(m.model, x, y, { steps: 3 }));
      expectNoLeak(() => deepFool(m.model, x, y, { steps: 3, norm: 'linf', eps: 0.1 }));
      for (const failAt of [1, 2, 6]) {
        let calls = 0;
        const flaky: Model = (input) => {
          calls += 1;
          if (calls === failAt) throw new Error('model failed');
          return m.model(input);
        };
        expectThrowsNoLeak(() => deepFool(flaky, x, y, { steps: 3 }), /^model failed$/, Error);
      }
      const throwing = tf.customGrad((t) => ({
        value: tf.clone(t as tf.Tensor),
        gradFunc: () => {
          throw new Error('no gradient here');
        }
      }));
      expectThrowsNoLeak(() => deepFool((input) => m.model(throwing(input)), x, y, { steps: 2 }), /^no gradient here$/, Error);
    });
  });

  describe('readbacks', () => {
    /** A call on fresh copies of the toy data, which no value check has seen. */
    const fresh = (o: DeepFoolOptions) => (): tf.Tensor => {
      const [xc, yc] = [tf.clone(p.x), tf.clone(p.y)];
      try {
        return deepFool(p.model, xc, yc, o);
      } finally {
        tf.dispose([xc, yc]);
      }
    };

    it('at most 2 per call (the input checks), whatever the step count', async () => {
      const few = await readbacks(fresh({ steps: 2 }));
      const many = await readbacks(fresh({ steps: 20, norm: 'linf', eps: 0.1 }));
      expect(many).toBeLessThanOrEqual(2);
      expect(many).toBe(few);
    });

    it('none synchronous on the device path, and nothing left once the checks are flushed', async () => {
      deferChecksForTesting(true);
      const [xc, yc] = [tf.clone(p.x), tf.clone(p.y)];
      const before = tf.memory().numTensors;
      const xAdv = withoutSyncReads(() => deepFool(p.model, xc, yc, { steps: 3, candidates: 3 }));
      expect(pendingChecks()).toBeGreaterThan(0);
      await flushChecks();
      expect(accuracy(p.model, xAdv, p.y)).toBeLessThan(accuracy(p.model, p.x, p.y));
      xAdv.dispose();
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([xc, yc]);
    });
  });
});

describe('evaluate and worstCase refuse an unbounded minimum-norm attack value', () => {
  it('deepFoolAttack without eps is an error naming the function called; with eps it runs', async () => {
    await useBackend('cpu');
    const p = toyProblem();
    await expectRejectsNoLeak(() => evaluate(p.model, p.x, p.y, { attacks: { df: deepFoolAttack() } }), /^evaluate: attacks\.df must be bounded: deepFoolAttack was made without eps/);
    await expectRejectsNoLeak(() => worstCase(p.model, p.x, p.y, { df: deepFoolAttack({ steps: 3 }) }), /^worstCase: attacks\.df must be bounded/);
    const r = await evaluate(p.model, p.x, p.y, { attacks: { df: deepFoolAttack({ eps: 0.5, norm: 'l2', steps: 3 }) } });
    expect(r.attacks.df).toBeLessThanOrEqual(r.clean);
    p.dispose();
  });
});

describe('deepFool on wasm', () => {
  it("gives cpu's result (tfjs' wasm OneHot with a float32 dtype writes integer bits: ardkit casts instead)", async () => {
    const run = async (backend: 'cpu' | 'wasm'): Promise<number[]> => {
      await useBackend(backend);
      const p = toyProblem();
      const adv = deepFool(p.model, p.x, p.y, { steps: 5 });
      const out = Array.from(await adv.data());
      adv.dispose();
      p.dispose();
      return out;
    };
    const onCpu = await run('cpu');
    const onWasm = await run('wasm');
    await useBackend('cpu');
    expect(onWasm.reduce((m, v, i) => Math.max(m, Math.abs(v - (onCpu[i] ?? NaN))), 0)).toBeLessThan(1e-4);
  });
});
