/**
 * Attack values (`pgdAttack`, `fgsmAttack`, `cwLinfAttack`, `apgdAttack`, `apgdTargetedAttack`, `squareAttack`,
 * `tradesKlAttack`, and the members of `autoAttackSuite`): each gives exactly what its function form gives for the
 * same options and seed, a call's seed overrides the factory's, the threat model is reported, options are checked when
 * the value is made and inputs when it is called (errors naming the factory), nothing leaks, and every evaluation
 * function takes them.
 */
import * as tf from '@tensorflow/tfjs-core';
import { apgd, apgdAttack, apgdTargeted, apgdTargetedAttack, autoAttackSuite, cwLinf, cwLinfAttack, fgsm, fgsmAttack, isAttack, pgd, pgdAttack, square, squareAttack, tradesAttack, tradesKlAttack, type Attack } from '../../src/attacks/index.js';
import { evaluate, robustnessCurve, transferability, worstCase } from '../../src/eval/index.js';
import type { Model } from '../../src/core/index.js';
import { expectNoLeak, expectThrowsNoLeak, toyProblem, useBackend, type ToyProblem } from '../helpers.js';

let p: ToyProblem;
beforeAll(async () => {
  await useBackend('cpu');
  p = toyProblem(24, 4, 11);
});
afterAll(() => { p.dispose(); });

const EPS = 0.1;
const values = (t: tf.Tensor): number[] => Array.from(t.dataSync());

/** [name, the value, the function form with the same options and a given seed]. */
const pairs: Array<[string, () => Attack, (m: Model, x: tf.Tensor, y: tf.Tensor1D, seed: number | undefined) => tf.Tensor]> = [
  ['pgdAttack', () => pgdAttack({ eps: EPS, steps: 5 }), (m, x, y, seed) => pgd(m, x, y, { eps: EPS, steps: 5, ...(seed === undefined ? {} : { seed }) })],
  ['fgsmAttack', () => fgsmAttack({ eps: EPS }), (m, x, y) => fgsm(m, x, y, { eps: EPS })],
  ['cwLinfAttack', () => cwLinfAttack({ eps: EPS, steps: 5, kappa: 1 }), (m, x, y, seed) => cwLinf(m, x, y, { eps: EPS, steps: 5, kappa: 1, ...(seed === undefined ? {} : { seed }) })],
  ['apgdAttack', () => apgdAttack({ eps: EPS, steps: 10, loss: 'dlr' }), (m, x, y, seed) => apgd(m, x, y, { eps: EPS, steps: 10, loss: 'dlr', ...(seed === undefined ? {} : { seed }) })],
  ['apgdTargetedAttack', () => apgdTargetedAttack({ eps: EPS, steps: 10, targetClasses: 2 }), (m, x, y, seed) => apgdTargeted(m, x, y, { eps: EPS, steps: 10, targetClasses: 2, ...(seed === undefined ? {} : { seed }) })],
  ['squareAttack', () => squareAttack({ eps: EPS, queries: 50 }), (m, x, y, seed) => square(m, x, y, { eps: EPS, queries: 50, ...(seed === undefined ? {} : { seed }) })],
  ['tradesKlAttack', () => tradesKlAttack({ eps: EPS, steps: 5 }), (m, x, y, seed) => tradesAttack(m, x, y, { eps: EPS, steps: 5, ...(seed === undefined ? {} : { seed }) })]
];

describe('attack values', () => {
  it.each(pairs)('%s gives what its function form gives, for the seed of the call', (_name, make, form) => {
    const a = make();
    expect(isAttack(a)).toBe(true);
    for (const seed of [3, 4]) {
      const got = a(p.model, p.x, p.y, { seed });
      const want = form(p.model, p.x, p.y, seed);
      expect(values(got)).toEqual(values(want));
      tf.dispose([got, want]);
    }
  });

  it.each(pairs)('%s: ‖x′ − x‖∞ ≤ ε, inside the bounds, and its threat model', (_name, make) => {
    const a = make();
    expect(a.threat).toEqual({ eps: EPS, norm: 'linf', bounds: [0, 1] });
    const xAdv = a(p.model, p.x, p.y, { seed: 1 });
    const [dist, lo, hi] = tf.tidy(() => [tf.max(tf.abs(tf.sub(xAdv, p.x))), tf.min(xAdv), tf.max(xAdv)].map((t) => t.dataSync()[0] ?? NaN));
    expect(dist).toBeLessThanOrEqual(EPS * (1 + 1e-6));
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThanOrEqual(1);
    xAdv.dispose();
  });

  it.each(pairs)('%s leaks nothing, also when a call throws', (_name, make) => {
    const a = make();
    expectNoLeak(() => a(p.model, p.x, p.y, { seed: 2 }));
    const outside = tf.add(p.x, 2);
    expectThrowsNoLeak(() => a(p.model, outside, p.y), new RegExp(`^${a.attackName}: x must lie inside bounds \\[0, 1\\]`));
    outside.dispose();
  });

  it("the factory's seed holds when a call gives none; a call's seed overrides it", () => {
    const a = pgdAttack({ eps: EPS, seed: 7 });
    const [own, again, other] = [a(p.model, p.x, p.y), a(p.model, p.x, p.y), a(p.model, p.x, p.y, { seed: 8 })];
    const want = pgd(p.model, p.x, p.y, { eps: EPS, seed: 8 });
    expect(values(own)).toEqual(values(again));
    expect(values(other)).toEqual(values(want));
    expect(values(other)).not.toEqual(values(own));
    tf.dispose([own, again, other, want]);
  });

  it('square returns the x\' of squareAttack.detailed, which also returns the queries and successes per point', () => {
    const d = squareAttack({ eps: 0.3, queries: 40, seed: 1 }).detailed(p.model, p.x, p.y);
    const xAdv = square(p.model, p.x, p.y, { eps: 0.3, queries: 40, seed: 1 });
    expect(values(d.xAdv)).toEqual(values(xAdv));
    expect([d.queries?.dtype, d.success?.dtype, d.queries?.shape, xAdv.shape]).toEqual(['int32', 'bool', [p.x.shape[0]], p.x.shape]);
    const fooled = Array.from(tf.tidy(() => tf.notEqual(tf.argMax(p.model(xAdv), 1), p.y).dataSync()));
    expect(Array.from(d.success?.dataSync() ?? [])).toEqual(fooled);
    tf.dispose([d.xAdv, xAdv, d.queries, d.success].filter((t) => t !== undefined));
  });

  it('tradesAttack takes labels, as every attack, and ignores them; its former form without labels gives the same x\'', () => {
    const withLabels = tradesAttack(p.model, p.x, p.y, { eps: EPS, steps: 3, seed: 2 });
    const otherLabels = tf.tidy(() => tf.cast(tf.mod(tf.add(p.y, 1), 2), 'int32') as tf.Tensor1D);
    const ignored = tradesAttack(p.model, p.x, otherLabels, { eps: EPS, steps: 3, seed: 2 });
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- the former signature, kept until its removal
    const former = tradesAttack(p.model, p.x, { eps: EPS, steps: 3, seed: 2 });
    expect(values(ignored)).toEqual(values(withLabels));
    expect(values(former)).toEqual(values(withLabels));
    expect(withLabels.shape).toEqual(p.x.shape);
    tf.dispose([withLabels, otherLabels, ignored, former]);
  });

  it('bad options are errors when the value is made, naming the factory, the option, the rule and the value', () => {
    expect(() => pgdAttack({ eps: -1 })).toThrow(/^pgdAttack: eps must be a finite number >= 0 \(got -1\)$/);
    expect(() => pgdAttack({ eps: 0.1, stpes: 3 } as never)).toThrow(/^pgdAttack: options must only have the keys eps, .* \(got "stpes"\)$/);
    expect(() => apgdAttack({ eps: 0.1, steps: 0 })).toThrow(/^apgdAttack: steps must be an integer >= 1 \(got 0\)$/);
    expect(() => apgdTargetedAttack({ eps: 0.1, targetClasses: 1.5 })).toThrow(/^apgdTargetedAttack: targetClasses must be an integer >= 1 \(got 1.5\)$/);
    expect(() => squareAttack({ eps: 0.1, pInit: 2 })).toThrow(/^squareAttack: pInit must be a number in \(0, 1\] \(got 2\)$/);
    expect(() => cwLinfAttack({ eps: 0.1, kappa: NaN })).toThrow(/^cwLinfAttack: kappa/);
    expect(() => fgsmAttack({} as never)).toThrow(/^fgsmAttack: eps must be given/);
    expect(() => tradesKlAttack({ eps: 0.1, norm: 'l1' as never })).toThrow(/^tradesKlAttack: norm must be one of/);
    expect(() => pgdAttack(null as never)).toThrow(TypeError);
  });

  it('bad inputs are errors when the value is called, naming the factory', () => {
    const a = apgdAttack({ eps: EPS });
    expect(() => a(p.model, p.x, tf.tensor1d([0, 1], 'int32'))).toThrow(/^apgdAttack: y must have shape \[24\]/);
    expect(() => a((() => tf.zeros([24, 2])), p.x, p.y)).toThrow(/^apgdAttack: labels must hold class indices < 2/);
  });

  it('autoAttackSuite members are attack values whose errors name autoAttackSuite', () => {
    const suite = autoAttackSuite({ eps: EPS, steps: 5, queries: 20 });
    expect(Object.values(suite).every(isAttack)).toBe(true);
    expect(Object.values(suite).map((a) => a.attackName)).toEqual(['autoAttackSuite', 'autoAttackSuite', 'autoAttackSuite', 'autoAttackSuite']);
    expect(() => suite['apgd-ce']?.(p.model, tf.add(p.x, 2), p.y)).toThrow(/^autoAttackSuite: x must lie inside bounds/);
  });

  it('evaluate, worstCase, robustnessCurve and transferability take attack values', async () => {
    const a = pgdAttack({ eps: EPS, steps: 5, seed: 0 });
    const lambda = (m: Model, x: tf.Tensor, y: tf.Tensor1D): tf.Tensor => pgd(m, x, y, { eps: EPS, steps: 5, seed: 0 });
    const e = await evaluate(p.model, p.x, p.y, { attacks: { a, lambda } });
    expect(e.attacks.a).toBe(e.attacks.lambda);
    const w = await worstCase(p.model, p.x, p.y, [a, squareAttack({ eps: EPS, queries: 20, seed: 0 })]);
    expect(w.worstCase).toBeLessThanOrEqual(e.attacks.a ?? 1);
    w.xAdv.dispose();
    const c = await robustnessCurve(p.model, p.x, p.y, (eps) => pgdAttack({ eps, steps: 5, seed: 0 }), [0, EPS]);
    expect(c.accuracy[1]).toBe(e.attacks.a);
    const t = await transferability([p.model, p.model], p.x, p.y, a);
    expect(t.matrix[0]?.[1]).toBeGreaterThanOrEqual(0);
  });
});
