import { named } from '../../src/core/errors.js';
/**
 * multiAttack, the sequential combinator (torchattacks' MultiAttack) that worstCase and autoAttack run and evaluate's
 * sequential mode runs per batch: exact bookkeeping on the scripted problem, the same result as worstCase, bad
 * attacks and inputs, leaks on success and on every error path; and the one boundary that takes a plain attack
 * function (toAttack): its output is checked once there (shape, dtype, the objective's box), `x` returned as it is is
 * cloned, factory attacks pass unwrapped.
 */
import * as tf from '@tensorflow/tfjs-core';
import { isAttack, multiAttack, pgdAttack, deepFoolAttack, type AttackFunction } from '../../src/attacks/index.js';
import { toAttack } from '../../src/attacks/attack.js';
import { worstCase } from '../../src/eval/index.js';
import { flushChecks } from '../../src/core/index.js';
import type { Model } from '../../src/core/index.js';
import { expectRejectsNoLeak, expectThrowsNoLeak, rows, useBackend } from '../helpers.js';
import { SCRIPTED_LABELS, SCRIPTED_SCORES, readsFeatures } from '../scripted.js';

const scripted: Model = readsFeatures(0);

/** An attack that breaks the examples `ids` (by id, feature 3) and writes `marker` into feature 4 of every row. */
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

describe('multiAttack', () => {
  let x: tf.Tensor2D;
  let y: tf.Tensor1D;
  beforeAll(async () => {
    await useBackend('cpu');
    x = tf.tensor2d(SCRIPTED_SCORES.map((row, i) => [...row, i / 10, 0]));
    y = tf.tensor1d([...SCRIPTED_LABELS], 'int32');
  });
  afterAll(() => { tf.dispose([x, y]); });

  it('runs each attack only on the points still correct and keeps the first successful x\' per point', async () => {
    const seenByB: number[][] = [];
    const ensemble = multiAttack({ A: breaking([0, 1, 5], 0.5), B: breaking([1, 2], 0.75, seenByB) });
    expect(ensemble.attackName).toBe('multiAttack');
    expect(ensemble.names).toEqual(['A', 'B']);
    expect(ensemble.attacks.every(isAttack)).toBe(true);
    const before = tf.memory().numTensors;
    const progress: Array<[string, number]> = [];
    const r = await ensemble.run(scripted, x, y, { onProgress: (p) => progress.push([p.attack, p.robust]) });
    expect(seenByB).toEqual([[2, 3, 4]]);
    expect(Array.from(r.clean)).toEqual([1, 1, 1, 1, 1, 0]);
    expect(Array.from(r.robust.A)).toEqual([0, 0, 1, 1, 1, 0]);
    expect(Array.from(r.robust.B)).toEqual([0, 0, 0, 1, 1, 0]);
    expect(r.brokenBy).toEqual(['A', 'A', 'B', null, null, null]);
    expect(Object.keys(r.seconds)).toEqual(['A', 'B']);
    // x': A's rows for 0 and 1, B's for 2, the last attack's for the robust 3 and 4, x itself for 5.
    expect(rows(r.xAdv).map((row) => row[4])).toEqual([0.5, 0.5, 0.75, 0.75, 0.75, 0]);
    expect(r.xAdv.shape).toEqual(x.shape);
    expect(progress).toEqual([['A', 3], ['B', 2]]);
    r.xAdv.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('gives what worstCase gives, which runs it (an array of attacks is named by index)', async () => {
    const attacks = [breaking([0, 1, 5], 0.5), breaking([1, 2], 0.75)];
    const m = await multiAttack(attacks).run(scripted, x, y);
    const w = await worstCase(scripted, x, y, attacks);
    expect(m.brokenBy).toEqual(w.perPoint.brokenBy);
    expect(Array.from(m.robust['1'] ?? [])).toEqual(Array.from(w.perPoint.worstCase));
    expect(rows(m.xAdv)).toEqual(rows(w.xAdv));
    tf.dispose([m.xAdv, w.xAdv]);
  });

  it('runs attacks made by factories and plain functions side by side: a factory attack\'s rows stay in its ball', async () => {
    const net: Model = (t) => tf.tidy(() => tf.matMul(tf.slice(t, [0, 0], [t.shape[0] ?? 0, 3]) as tf.Tensor2D, tf.tensor2d([[2, -1, 0], [-1, 2, 0], [0, 0, 1]])));
    const r = await multiAttack({ mine: breaking([3], 0.25), pgd: pgdAttack({ eps: 0.05, steps: 3, seed: 1 }) }).run(net, x, y);
    expect(r.brokenBy[3]).toBe('mine');
    const perPoint = tf.tidy(() => tf.max(tf.abs(tf.sub(r.xAdv, x)), 1, true));
    const distance = rows(perPoint).map((row) => row[0] ?? Infinity);
    perPoint.dispose();
    // Every point but 3 (rewritten by the plain attack) and 5 (misclassified, x kept) carries pgd's x'.
    [0, 1, 2, 4].forEach((i) => { expect(distance[i]).toBeLessThanOrEqual(0.05 + 1e-6); });
    expect(distance[5]).toBe(0);
    r.xAdv.dispose();
  });

  it('rejects bad attacks when made', () => {
    expectThrowsNoLeak(() => multiAttack({}), /^multiAttack: attacks must hold at least one attack/);
    expectThrowsNoLeak(() => multiAttack([]), /^multiAttack: attacks must hold at least one attack/);
    expectThrowsNoLeak(() => multiAttack(null as never), /^multiAttack: attacks must be an object/, TypeError);
    expectThrowsNoLeak(() => multiAttack({ a: 3 as never }), /^multiAttack: attacks.a must be a function/, TypeError);
    expectThrowsNoLeak(() => multiAttack({ df: deepFoolAttack() }), /^multiAttack: attacks.df must be bounded: deepFoolAttack was made without eps/);
  });

  it('rejects bad inputs and bad attack outputs when run, leaking nothing', async () => {
    const ensemble = multiAttack({ A: breaking([0], 0.5) });
    await expectRejectsNoLeak(() => ensemble.run(3 as never, x, y), /^multiAttack: model must be a function/, TypeError);
    await expectRejectsNoLeak(() => ensemble.run(scripted, [[1]] as never, y), /^multiAttack: x must be a tf.Tensor/, TypeError);
    const short = tf.tensor1d([0, 1], 'int32');
    await expectRejectsNoLeak(() => ensemble.run(scripted, x, short), /^multiAttack: y must have shape \[6\]/);
    short.dispose();
    await expectRejectsNoLeak(() => ensemble.run(scripted, x, y, { onProgress: 1 as never }), /^multiAttack: onProgress must be a function/, TypeError);
    await expectRejectsNoLeak(() => ensemble.run(scripted, x, y, { nope: 1 } as never), /^multiAttack: options must only have the keys onProgress \(got "nope"\)/);
    const half = multiAttack({ A: breaking([0], 0.5), half: (_m, xb) => tf.slice(xb, 0, 1) });
    await expectRejectsNoLeak(() => half.run(scripted, x, y), /^multiAttack: attacks.half must return adversarial inputs of the batch's shape \[4, 5\] \(got a float32 tensor of shape \[1, 5\]\)/);
    const ints = multiAttack({ ints: (_m, xb) => tf.cast(xb, 'int32') });
    await expectRejectsNoLeak(() => ints.run(scripted, x, y), /^multiAttack: attacks.ints must return adversarial inputs of the batch's dtype float32 \(got an int32 tensor/);
    const failing = multiAttack({ A: breaking([0], 0.5), failing: () => { throw new Error('attack failed'); } });
    await expectRejectsNoLeak(() => failing.run(scripted, x, y), /attack failed/, Error);
    const wrongModel: Model = (t) => tf.zeros([(t.shape[0] ?? 0) + 1, 3]);
    await expectRejectsNoLeak(() => ensemble.run(wrongModel, x, y), /^multiAttack: model must return logits of shape \[6, C\]/);
  });

  it('leaks nothing over repeated runs, and an attack handing back its input is fine', async () => {
    const identity: AttackFunction = (_m, xb) => xb;
    const ensemble = multiAttack({ A: breaking([0, 1], 0.5), same: identity });
    (await ensemble.run(scripted, x, y)).xAdv.dispose();
    const before = tf.memory().numTensors;
    for (let k = 0; k < 2; k++) (await ensemble.run(scripted, x, y)).xAdv.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(x.isDisposed).toBe(false);
  });
});

describe('toAttack: the one place a plain attack function is taken', () => {
  beforeAll(async () => { await useBackend('cpu'); });

  it('passes attacks made by factories as they are, and wraps a plain function once, as an Attack', () => {
    const made = pgdAttack({ eps: 0.1 });
    expect(named('f', () => toAttack('attack', made))).toBe(made);
    const plain: AttackFunction = function mine(_m, xb) { return tf.add(xb, 0); };
    const wrapped = named('f', () => toAttack('attack', plain));
    expect(isAttack(wrapped)).toBe(true);
    expect(isAttack(plain)).toBe(false);
    expect(wrapped.attackName).toBe('mine');
    expect(wrapped.threat).toBeUndefined();
    expectThrowsNoLeak(() => named('f', () => toAttack('attack', 'pgd')), /^f: attack must be a function \(model, x, y\) => xAdv or an attack made by a factory/, TypeError);
  });

  it('clones x returned as it is, so that the caller owns what it gets', () => {
    const x = tf.tensor2d([[0.1, 0.2]]);
    const y = tf.tensor1d([0], 'int32');
    const wrapped = named('f', () => toAttack('attack', (_m: Model, xb: tf.Tensor) => xb));
    const out = wrapped(scripted, x, y);
    expect(out).not.toBe(x);
    out.dispose();
    expect(x.isDisposed).toBe(false);
    tf.dispose([x, y]);
  });

  it('checks the output inside the box where one is known (an objective\'s), releasing the output', async () => {
    const x = tf.tensor2d([[0.1, 0.2], [0.3, 0.4]]);
    const y = tf.tensor1d([0, 1], 'int32');
    const box = { eps: 0.1, norm: 'linf' as const, bounds: [0, 1] as const };
    const outside = named('pgdAt', () => toAttack('attack', (_m: Model, xb: tf.Tensor) => tf.add(xb, 2), box));
    expect(outside.threat).toEqual(box);
    expectThrowsNoLeak(() => outside(scripted, x, y), /^pgdAt: attack's x' must lie inside bounds \[0, 1\] \(got "values in \[2.1, 2.4\]"\)/);
    const inside = named('pgdAt', () => toAttack('attack', (_m: Model, xb: tf.Tensor) => tf.add(xb, 0.05), box));
    const ok = inside(scripted, x, y);
    await flushChecks();
    expect(ok.shape).toEqual([2, 2]);
    tf.dispose([ok, x, y]);
  });
});
