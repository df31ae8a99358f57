/**
 * worstCase (exact bookkeeping on a scripted problem), autoAttack (against its members on a trained toy model),
 * eot (means and averaged gradients), bad inputs and leaks.
 */
import * as tf from '@tensorflow/tfjs-core';
import { apgd, apgdTargeted, autoAttackSuite, eot, fabAttack, fabTargeted, pgdAttack, type AttackFunction } from '../../src/attacks/index.js';
import { autoAttack, worstCase, type WorstCaseProgress } from '../../src/eval/index.js';
import type { Model } from '../../src/core/index.js';
import { squareDetailed, accuracy, expectNoLeak, expectRejectsNoLeak, expectThrowsNoLeak, maxDistance, rows, toyProblem, useBackend, type ToyProblem } from '../helpers.js';
import { SCRIPTED_LABELS, SCRIPTED_SCORES, readsFeatures } from '../scripted.js';

/**
 * A scripted problem: logits are the first 3 features, feature 3 is the example's id/10, feature 4 is a marker the
 * attacks write. Example 5 is misclassified; attack A breaks 0, 1 (and would break 5), attack B breaks 1 and 2.
 */
const scores = SCRIPTED_SCORES.map((row) => [...row]);
const labels = [...SCRIPTED_LABELS];
const scripted: Model = readsFeatures(0);

/** An attack that breaks the examples `ids` and writes `marker` into feature 4 of every row it returns. */
function breaking(ids: number[], marker: number, seen?: number[][]): AttackFunction {
  return (_m, x, y) => {
    const xs = x.arraySync() as number[][];
    const ys = Array.from(y.dataSync());
    seen?.push(xs.map((row) => Math.round((row[3] ?? 0) * 10)));
    return tf.tensor2d(
      xs.map((row, i) => {
        const id = Math.round((row[3] ?? 0) * 10);
        const wrong = ((ys[i] ?? 0) + 1) % 3;
        const s = ids.includes(id) ? [0, 1, 2].map((c) => (c === wrong ? 1 : 0)) : row.slice(0, 3);
        return [...s, row[3] ?? 0, marker];
      })
    );
  };
}

describe('worstCase on a scripted problem', () => {
  let x: tf.Tensor2D;
  let y: tf.Tensor1D;
  beforeAll(async () => {
    await useBackend('cpu');
    x = tf.tensor2d(scores.map((row, i) => [...row, i / 10, 0]));
    y = tf.tensor1d(labels, 'int32');
  });
  afterAll(() => { tf.dispose([x, y]); });

  it('runs each attack only on the points still robust, and keeps the first adversarial example per point', async () => {
    const seenByB: number[][] = [];
    const progress: WorstCaseProgress[] = [];
    const before = tf.memory().numTensors;
    const r = await worstCase(scripted, x, y, { A: breaking([0, 1, 5], 0.5), B: breaking([1, 2], 0.75, seenByB) }, { onProgress: (p) => progress.push(p) });
    expect(seenByB).toEqual([[2, 3, 4]]);
    expect(r.n).toBe(6);
    expect(r.clean).toBeCloseTo(5 / 6, 12);
    expect(r.attacks).toEqual({ A: 3 / 6, B: 2 / 6 });
    expect(r.worstCase).toBeCloseTo(2 / 6, 12);
    expect(Array.from(r.perPoint.clean)).toEqual([1, 1, 1, 1, 1, 0]);
    expect(Array.from(r.perPoint.attacks.A ?? [])).toEqual([0, 0, 1, 1, 1, 0]);
    expect(Array.from(r.perPoint.attacks.B ?? [])).toEqual([0, 0, 0, 1, 1, 0]);
    expect(Array.from(r.perPoint.worstCase)).toEqual([0, 0, 0, 1, 1, 0]);
    expect(r.perPoint.brokenBy).toEqual(['A', 'A', 'B', null, null, null]);
    // x': A's rows for 0 and 1, B's for 2, the last attack's (B) for the robust 3 and 4, x itself for 5.
    expect(rows(r.xAdv).map((row) => row[4])).toEqual([0.5, 0.5, 0.75, 0.75, 0.75, 0]);
    expect(accuracy(scripted, r.xAdv, y)).toBeCloseTo(r.worstCase, 6);
    expect(progress.map((p) => [p.attack, p.index, p.count, p.robust, p.total])).toEqual([['A', 0, 2, 3, 6], ['B', 1, 2, 2, 6]]);
    expect(Object.keys(r.seconds)).toEqual(['A', 'B']);
    r.xAdv.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('takes an array of attacks, named by index, and skips attacks once nothing is left to attack', async () => {
    let calls = 0;
    const counting: AttackFunction = (m, xb, yb) => {
      calls += 1;
      return breaking([0, 1, 2, 3, 4], 0.1)(m, xb, yb);
    };
    const r = await worstCase(scripted, x, y, [counting, counting]);
    expect(Object.keys(r.attacks)).toEqual(['0', '1']);
    expect(r.worstCase).toBe(0);
    expect(calls).toBe(1);
    r.xAdv.dispose();
  });

  it('rejects bad attacks and inputs clearly, leaking nothing', async () => {
    await expectRejectsNoLeak(() => worstCase(scripted, x, y, {}), /^worstCase: attacks must hold at least one attack/);
    await expectRejectsNoLeak(() => worstCase(scripted, x, y, { a: 3 as never }), /^worstCase: attacks.a must be a function/, TypeError);
    await expectRejectsNoLeak(() => worstCase(scripted, x, y, null as never), /^worstCase: attacks must be an object/, TypeError);
    await expectRejectsNoLeak(
      () => worstCase(scripted, x, y, { half: (_m, xb) => tf.slice(xb, 0, 1) }),
      /^worstCase: attacks.half must return adversarial inputs of the batch's shape \[5, 5\] \(got a float32 tensor of shape \[1, 5\]\)/
    );
    const failing: AttackFunction = () => { throw new Error('attack failed'); };
    await expectRejectsNoLeak(() => worstCase(scripted, x, y, { A: breaking([0], 0.5), failing }), /attack failed/, Error);
    const short = tf.tensor1d([0, 1], 'int32');
    await expectRejectsNoLeak(() => worstCase(scripted, x, short, { A: breaking([0], 0.5) }), /^worstCase: y must have shape \[6\]/);
    await expectRejectsNoLeak(() => worstCase(scripted, x, y, { A: breaking([0], 0.5) }, { progress: 1 } as never), /^worstCase: options must only have the keys onProgress/);
    short.dispose();
  });
});

describe('autoAttack on a trained toy model', () => {
  let p: ToyProblem;
  const eps = 0.1;
  const budget = { steps: 10, queries: 150, seed: 0 } as const;
  beforeAll(async () => {
    await useBackend('cpu');
    p = toyProblem();
  });
  afterAll(() => { p.dispose(); });

  it('is at most as accurate as each of its members alone, per point robust only where every member fails', async () => {
    const before = tf.memory().numTensors;
    const r = await autoAttack(p.model, p.x, p.y, { eps, ...budget });
    expect(Object.keys(r.attacks)).toEqual(['apgd-ce', 'apgd-t', 'fab-t', 'square']);
    expect(r.warnings).toEqual([]);
    const squared = squareDetailed(p.model, p.x, p.y, { eps, queries: budget.queries, seed: 0 });
    tf.dispose([squared.queries, squared.success]);
    const alone = {
      'apgd-ce': apgd(p.model, p.x, p.y, { eps, steps: budget.steps, seed: 0 }),
      'apgd-t': apgdTargeted(p.model, p.x, p.y, { eps, steps: budget.steps, seed: 0 }),
      'fab-t': fabTargeted(p.model, p.x, p.y, { eps, steps: budget.steps, seed: 0 }),
      square: squared.xAdv
    };
    for (const [name, xAdv] of Object.entries(alone)) {
      const acc = accuracy(p.model, xAdv, p.y);
      expect(r.worstCase).toBeLessThanOrEqual(acc + 1e-9);
      // The first member runs on the same points with the same seed: the same result.
      if (name === 'apgd-ce') expect(r.attacks['apgd-ce']).toBeCloseTo(acc, 6);
    }
    tf.dispose(Object.values(alone));
    expect(r.worstCase).toBeLessThan(r.clean);
    expect(r.attacks['apgd-ce']).toBeGreaterThanOrEqual(r.attacks['apgd-t'] ?? 1);
    expect(r.attacks['apgd-t']).toBeGreaterThanOrEqual(r.attacks['fab-t'] ?? 1);
    expect(r.attacks['fab-t']).toBeGreaterThanOrEqual(r.attacks.square ?? 1);
    expect(maxDistance(r.xAdv, p.x, 'linf')).toBeLessThanOrEqual(eps + 1e-6);
    expect(accuracy(p.model, r.xAdv, p.y)).toBeCloseTo(r.worstCase, 6);
    r.perPoint.worstCase.forEach((v, i) => {
      expect(v).toBeLessThanOrEqual(r.perPoint.clean[i] ?? 0);
      expect(v === 1).toBe(r.perPoint.clean[i] === 1 && r.perPoint.brokenBy[i] === null);
    });
    r.xAdv.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("the reference's versions: their members in order, for L∞ and L2; 'fast' is ardkit's own", async () => {
    for (const norm of ['linf', 'l2'] as const) {
      expect(Object.keys(autoAttackSuite({ eps, norm }))).toEqual(['apgd-ce', 'apgd-t', 'fab-t', 'square']);
      expect(Object.keys(autoAttackSuite({ eps, norm, version: 'plus' }))).toEqual(['apgd-ce', 'apgd-dlr', 'fab', 'square', 'apgd-t', 'fab-t']);
      expect(Object.keys(autoAttackSuite({ eps, norm, version: 'rand' }))).toEqual(['apgd-ce', 'apgd-dlr']);
      for (const a of Object.values(autoAttackSuite({ eps, norm, version: 'plus' }))) expect(a.threat).toEqual({ eps, norm, bounds: [0, 1] });
    }
    expect(Object.keys(autoAttackSuite({ eps, version: 'fast' }))).toEqual(['apgd-ce', 'apgd-t']);
    const custom = autoAttackSuite({ eps, version: 'custom', attacks: [fabAttack({ eps }), pgdAttack({ eps }), pgdAttack({ eps, steps: 3 })] });
    expect(Object.keys(custom)).toEqual(['fabAttack', 'pgdAttack', 'pgdAttack#2']);
    // 'plus' and 'rand' on the toy model: as strong as 'standard' or stronger where they share members.
    const plus = await autoAttack(p.model, p.x, p.y, { eps, version: 'plus', steps: 4, queries: 20, seed: 0 });
    expect(Object.keys(plus.attacks)).toEqual(['apgd-ce', 'apgd-dlr', 'fab', 'square', 'apgd-t', 'fab-t']);
    expect(plus.worstCase).toBeLessThan(plus.clean);
    expect(maxDistance(plus.xAdv, p.x, 'linf')).toBeLessThanOrEqual(eps + 1e-6);
    plus.xAdv.dispose();
    const rand = await autoAttack(p.model, p.x, p.y, { eps, version: 'rand', steps: 3, seed: 0 });
    expect(Object.keys(rand.attacks)).toEqual(['apgd-ce', 'apgd-dlr']);
    rand.xAdv.dispose();
    const r = await autoAttack(p.model, p.x, p.y, { eps: 0.5, norm: 'l2', version: 'fast', steps: 5 });
    expect(maxDistance(r.xAdv, p.x, 'l2')).toBeLessThanOrEqual(0.5 + 1e-5);
    expect(r.worstCase).toBeLessThan(r.clean);
    r.xAdv.dispose();
    // Warm up backend constants once, then count.
    (await autoAttack(p.model, p.x, p.y, { eps, steps: 2, queries: 5 })).xAdv.dispose();
    const before = tf.memory().numTensors;
    (await autoAttack(p.model, p.x, p.y, { eps, steps: 2, queries: 5 })).xAdv.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects bad options before running anything', async () => {
    await expectRejectsNoLeak(() => autoAttack(p.model, p.x, p.y, {} as never), /^autoAttack: eps must be given/);
    await expectRejectsNoLeak(() => autoAttack(p.model, p.x, p.y, { eps, version: 'best' as never }), /^autoAttack: version must be one of "standard", "plus", "rand", "custom", "fast" \(got "best"\)/);
    await expectRejectsNoLeak(() => autoAttack(p.model, p.x, p.y, { eps, steps: 0 }), /^autoAttack: steps must be an integer >= 1 \(got 0\)/);
    await expectRejectsNoLeak(() => autoAttack(p.model, p.x, p.y, { eps, queries: -1 }), /^autoAttack: queries must be an integer >= 1 \(got -1\)/);
    await expectRejectsNoLeak(() => autoAttack(p.model, p.x, p.y, { eps, seed: NaN }), /^autoAttack: seed must be a finite number \(got NaN\)/);
    await expectRejectsNoLeak(() => autoAttack(p.model, p.x, p.y, { eps, attacks: [pgdAttack({ eps })] }), /^autoAttack: attacks must be given only with version 'custom'/);
    await expectRejectsNoLeak(() => autoAttack(p.model, p.x, p.y, { eps, version: 'custom' }), /^autoAttack: attacks must be a non-empty array of attacks/);
    await expectRejectsNoLeak(() => autoAttack(p.model, p.x, p.y, { eps, version: 'custom', attacks: [(_m: Model, x: tf.Tensor) => tf.clone(x)] as never }), /^autoAttack: attacks\[0\] must be an attack made by a factory/);
    await expectRejectsNoLeak(() => autoAttack(p.model, p.x, p.y, { eps, onWarning: 3 as never }), /^autoAttack: onWarning must be a function/, TypeError);
    expect(() => autoAttackSuite({ eps, onProgress: () => undefined } as never)).toThrow(/^autoAttackSuite: options must only have the keys .* \(got "onProgress"\)/);
    expect(() => autoAttackSuite({ eps: -1 })).toThrow(/^autoAttackSuite: eps must be a finite number >= 0 \(got -1\)/);
  });
});

describe("autoAttack's checks before the attacks (the reference's warnings)", () => {
  let p: ToyProblem;
  beforeAll(async () => {
    await useBackend('cpu');
    p = toyProblem();
  });
  afterAll(() => { p.dispose(); });

  it('warns about probabilities and about a randomised model (not under rand), through onWarning and the result', async () => {
    const softmaxed: Model = (x) => tf.softmax(p.model(x));
    const seen: string[] = [];
    const r = await autoAttack(softmaxed, p.x, p.y, { eps: 0.05, version: 'fast', steps: 2, onWarning: (flag) => { seen.push(flag.id); } });
    expect(seen).toEqual(['probabilities']);
    expect(r.warnings.map((w) => w.id)).toEqual(['probabilities']);
    expect(r.warnings[0]?.message).toMatch(/^autoAttack: the model's outputs look like a probability distribution/);
    r.xAdv.dispose();
    let calls = 0;
    const noisy: Model = (x) => tf.tidy(() => tf.add(p.model(x), (calls++ % 2) * 0.05));
    const q = await autoAttack(noisy, p.x, p.y, { eps: 0.05, version: 'fast', steps: 2, onWarning: () => undefined });
    expect(q.warnings.map((w) => w.id)).toEqual(['randomized']);
    expect(q.warnings[0]?.message).toMatch(/use version 'rand'/);
    q.xAdv.dispose();
    const quiet = await autoAttack(noisy, p.x, p.y, { eps: 0.05, version: 'rand', steps: 2, onWarning: () => undefined });
    expect(quiet.warnings).toEqual([]);
    quiet.xAdv.dispose();
  });
});

describe('eot', () => {
  beforeAll(async () => useBackend('cpu'));

  it('averages the logits and the gradients of a stochastic model over its samples', () => {
    const w1 = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
    const w2 = tf.tensor2d([[-1, 0, 1], [2, -2, 0]]);
    let call = 0;
    // Alternates between two weight matrices, like a model with a random transform.
    const stochastic: Model = (x) => tf.matMul(x, call++ % 2 === 0 ? w1 : w2);
    const x = tf.tensor2d([[0.5, 0.25]]);
    const averaged = eot(stochastic, 4);
    const z = averaged(x);
    expect(Array.from(z.dataSync())).toEqual([0.75, 0.875, 1.75]); // x·(W1 + W2)/2
    const g = tf.grad((t: tf.Tensor) => tf.sum(averaged(t)))(x);
    expect(Array.from(g.dataSync())).toEqual([3, 7.5]); // row sums of (W1 + W2)/2
    expect(call).toBe(8);
    tf.dispose([z, g]);
    expectNoLeak(() => averaged(x));
    tf.dispose([w1, w2, x]);
  });

  it('rejects bad arguments and inconsistent samples', () => {
    expect(() => eot(3 as never, 2)).toThrow(/^eot: model must be a function/);
    expect(() => eot((t) => t as tf.Tensor2D, 0)).toThrow(/^eot: samples must be an integer >= 1 \(got 0\)/);
    let call = 0;
    const changing: Model = (t) => tf.tidy(() => tf.tile(t as tf.Tensor2D, [1, call++ + 1]));
    const x = tf.tensor2d([[0.5, 0.25]]);
    expectThrowsNoLeak(() => eot(changing, 3)(x), /^eot: model must return the same shape on every sample \(got \[1, 2\] and \[1, 4\]\)/);
    x.dispose();
  });
});
