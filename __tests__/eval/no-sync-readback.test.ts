/**
 * ardkit/eval on the path GPU backends take: value checks queued on the device (`deferChecksForTesting(true)` forces it
 * on cpu) and no synchronous readback at all (`dataSync`, `arraySync` and the engine's `readSync` throw, as on webgpu
 * in Node). Every function gives the result of the usual path, reports a bad label with the message naming the
 * function the user called before any attack runs, and leaks nothing.
 */
import * as tf from '@tensorflow/tfjs-core';
import { apgd, pgd, type AttackFunction } from '../../src/attacks/index.js';
import type { Model } from '../../src/core/index.js';
import { deferChecksForTesting, pendingChecks } from '../../src/core/device-checks.js';
import {
  autoAttack,
  evaluate,
  robustnessCurve,
  sanityChecks,
  selectTeachers,
  transferability,
  worstCase,
  type EvaluationResult,
  type WorstCaseResult
} from '../../src/eval/index.js';
import { expectRejectsNoLeak, toyProblem, useBackend, type ToyProblem } from '../helpers.js';
import { SCRIPTED_LABELS, SCRIPTED_SCORES, readsFeatures } from '../scripted.js';

/** Makes every synchronous readback throw until the returned function restores them. */
function forbidSyncReads(): () => void {
  const fail = (what: string) => (): never => {
    throw new Error(`${what} called: a synchronous readback, which webgpu does not offer`);
  };
  const engine = tf.engine() as unknown as { readSync: (id: object) => unknown };
  const spies = [
    jest.spyOn(tf.Tensor.prototype, 'dataSync').mockImplementation(fail('dataSync')),
    jest.spyOn(tf.Tensor.prototype, 'arraySync').mockImplementation(fail('arraySync')),
    jest.spyOn(engine, 'readSync').mockImplementation(fail('readSync'))
  ];
  return () => {
    for (const s of spies) s.mockRestore();
  };
}

/** Runs `f` on the queued path with synchronous readback forbidden; checks that no check is left queued. */
async function onDevicePath<T>(f: () => Promise<T>): Promise<T> {
  deferChecksForTesting(true);
  const restore = forbidSyncReads();
  try {
    return await f();
  } finally {
    restore();
    deferChecksForTesting(undefined);
    expect(pendingChecks()).toBe(0);
  }
}

/**
 * Calls `f` on fresh copies of `x` and `y`: tensors no value check has seen (checks remember what they established),
 * so that the checks of `f` really run. Disposes the copies afterwards.
 */
async function fresh<T>(x: tf.Tensor, y: tf.Tensor1D, f: (x: tf.Tensor, y: tf.Tensor1D) => Promise<T>): Promise<T> {
  const xs = tf.clone(x);
  const ys = tf.clone(y);
  try {
    return await f(xs, ys);
  } finally {
    tf.dispose([xs, ys]);
  }
}

/**
 * Runs `f` on the usual path, then on the device path, and returns both results. Leak-checked: nothing is left once
 * what the results hold (`xAdv`) is disposed by `release`.
 */
async function bothPaths<T>(x: tf.Tensor, y: tf.Tensor1D, f: (x: tf.Tensor, y: tf.Tensor1D) => Promise<T>, release: (r: T) => Promise<unknown> = () => Promise.resolve()): Promise<[unknown, unknown]> {
  const before = tf.memory().numTensors;
  const usual = await fresh(x, y, f);
  const usualPlain = await release(usual);
  const device = await onDevicePath(() => fresh(x, y, f));
  const devicePlain = await release(device);
  expect(tf.memory().numTensors).toBe(before);
  return [usualPlain ?? usual, devicePlain ?? device];
}

/** An evaluation result without its timings (which differ from run to run). */
function withoutSeconds(r: EvaluationResult): object {
  const { seconds, ...rest } = r;
  expect(Object.keys(seconds)).toEqual(Object.keys(r.attacks));
  return rest;
}

/** A worst-case result as plain values: `xAdv` read asynchronously and disposed, timings left out. */
async function plainWorstCase(r: WorstCaseResult): Promise<object> {
  const { xAdv, ...rest } = r;
  const values = Array.from(await xAdv.data());
  xAdv.dispose();
  return { ...withoutSeconds(rest), xAdv: values };
}

/**
 * The scripted problem (see scripted.ts): logits are features 0–2, feature 3 is the example's id/10. An attack that
 * sets the first three features of the examples `ids` to the one-hot of a wrong class, on the device.
 */
function breaking(ids: number[], calls?: { n: number }): AttackFunction {
  return (_m, x, y) =>
    tf.tidy(() => {
      if (calls !== undefined) calls.n += 1;
      const n = x.shape[0] ?? 0;
      const idColumn = tf.slice(x, [0, 3], [n, 1]);
      const hit = tf.any(tf.equal(tf.round(tf.mul(idColumn, 10)), tf.tensor1d(ids)), 1, true);
      const wrong = tf.cast(tf.oneHot(tf.mod(tf.add(y, tf.scalar(1, 'int32')), tf.scalar(3, 'int32')), 3), 'float32');
      return tf.where(hit, tf.concat([wrong, idColumn], 1), x);
    });
}

describe('ardkit/eval reads asynchronously only, on the path GPU backends take', () => {
  const model: Model = readsFeatures(0);
  let x: tf.Tensor2D;
  let y: tf.Tensor1D;
  let badY: tf.Tensor1D;
  let p: ToyProblem;
  let badToyY: tf.Tensor1D;
  beforeAll(async () => {
    await useBackend('cpu');
    x = tf.tensor2d(SCRIPTED_SCORES.map((row, i) => [...row, i / 10]));
    y = tf.tensor1d([...SCRIPTED_LABELS], 'int32');
    badY = tf.tensor1d(SCRIPTED_LABELS.map((v, i) => (i === 3 ? -1 : v)), 'int32');
    p = toyProblem(32);
    badToyY = tf.tensor1d(Array.from({ length: 32 }, (_, i) => (i === 7 ? -2 : i % 4)), 'int32');
  });
  afterAll(() => {
    tf.dispose([x, y, badY, badToyY]);
    p.dispose();
  });

  it('the test really forbids synchronous readback', async () => {
    await expect(onDevicePath(() => Promise.resolve(tf.tidy(() => tf.scalar(1).dataSync())))).rejects.toThrow(/dataSync called/);
    await expect(onDevicePath(() => Promise.resolve(tf.tidy(() => tf.scalar(1).arraySync())))).rejects.toThrow(/arraySync called/);
  });

  it.each([false, true])('evaluate (sequential: %s) gives the usual result', async (sequential) => {
    const attacks = { A: breaking([0, 1, 5]), B: breaking([1, 2]) };
    const [usual, device] = await bothPaths(x, y, (xs, ys) => evaluate(model, xs, ys, { attacks, batchSize: 4, sequential }));
    expect(withoutSeconds(device as EvaluationResult)).toEqual(withoutSeconds(usual as EvaluationResult));
    expect((device as EvaluationResult).attacks).toEqual(sequential ? { A: 3 / 6, B: 2 / 6 } : { A: 3 / 6, B: 3 / 6 });
  });

  it('evaluate with PGD on a trained model gives the usual result', async () => {
    const attacks = { pgd: (m: Model, xb: tf.Tensor, yb: tf.Tensor1D): tf.Tensor => pgd(m, xb, yb, { eps: 0.1, steps: 3, seed: 1 }) };
    const [usual, device] = await bothPaths(p.x, p.y, (xs, ys) => evaluate(p.model, xs, ys, { attacks, batchSize: 10 }));
    expect(withoutSeconds(device as EvaluationResult)).toEqual(withoutSeconds(usual as EvaluationResult));
  });

  it('worstCase gives the usual result, x\' included', async () => {
    const [usual, device] = await bothPaths(x, y, (xs, ys) => worstCase(model, xs, ys, { A: breaking([0, 1, 5]), B: breaking([1, 2]) }), plainWorstCase);
    expect(device).toEqual(usual);
    expect((device as { perPoint: { brokenBy: unknown } }).perPoint.brokenBy).toEqual(['A', 'A', 'B', null, null, null]);
  });

  it('autoAttack gives the usual result, x\' included', async () => {
    const [usual, device] = await bothPaths(p.x, p.y, (xs, ys) => autoAttack(p.model, xs, ys, { eps: 0.1, steps: 5, targetClasses: 3, queries: 20 }), plainWorstCase);
    expect(device).toEqual(usual);
  });

  it('robustnessCurve gives the usual result', async () => {
    const curve = (xs: tf.Tensor, ys: tf.Tensor1D): ReturnType<typeof robustnessCurve> =>
      robustnessCurve(p.model, xs, ys, (eps) => (m, xb, yb) => apgd(m, xb, yb, { eps, steps: 3, seed: 0 }), [0, 0.1, 1], { batchSize: 10 });
    const [usual, device] = await bothPaths(p.x, p.y, curve);
    const { seconds: s1, ...a } = usual as Awaited<ReturnType<typeof robustnessCurve>>;
    const { seconds: s2, ...b } = device as Awaited<ReturnType<typeof robustnessCurve>>;
    expect(s2).toHaveLength(s1.length);
    expect(b).toEqual(a);
  });

  it('sanityChecks gives the usual flags, with the same numbers in their messages', async () => {
    const stepped: Model = (xs) => tf.tidy(() => tf.div<tf.Tensor2D>(tf.round(tf.mul(p.model(xs), 4)), 4));
    const options = { eps: 0.1, steps: 4, queries: 40 };
    const [usual, device] = await bothPaths(p.x, p.y, (xs, ys) => sanityChecks(stepped, xs, ys, options));
    expect(device).toEqual(usual);
    expect((device as Array<{ id: string }>).map((f) => f.id)).toContain('zero-gradients');
    const [usualNormal, deviceNormal] = await bothPaths(p.x, p.y, (xs, ys) => sanityChecks(p.model, xs, ys, options));
    expect(deviceNormal).toEqual(usualNormal);
  });

  it('transferability and selectTeachers give the usual results', async () => {
    const flipped: Model = (xs) => tf.tidy(() => tf.reverse(p.model(xs), 1));
    const attack: AttackFunction = (m, xb, yb) => pgd(m, xb, yb, { eps: 0.15, steps: 3, seed: 2 });
    const [usual, device] = await bothPaths(p.x, p.y, (xs, ys) => transferability({ a: p.model, b: flipped, c: p.model }, xs, ys, attack, { batchSize: 12 }));
    expect(device).toEqual(usual);
    const t = device as Awaited<ReturnType<typeof transferability>>;
    expect(await onDevicePath(() => selectTeachers(t, 2))).toEqual(await selectTeachers(t, 2));
  });

  describe('a bad label is reported, naming the function called, before any attack runs', () => {
    const negative = /y must hold class indices >= 0 \(got "-1 at index 3"\)/;

    it('evaluate and worstCase', async () => {
      const calls = { n: 0 };
      await onDevicePath(async () => {
        await expectRejectsNoLeak(() => fresh(x, badY, (xs, ys) => evaluate(model, xs, ys, { attacks: { A: breaking([0], calls) } })), new RegExp(`^evaluate: ${negative.source}`));
        await expectRejectsNoLeak(() => fresh(x, badY, (xs, ys) => evaluate(model, xs, ys, { attacks: { A: breaking([0], calls) }, sequential: true })), new RegExp(`^evaluate: ${negative.source}`));
        await expectRejectsNoLeak(() => fresh(x, badY, (xs, ys) => worstCase(model, xs, ys, [breaking([0], calls)])), new RegExp(`^worstCase: ${negative.source}`));
      });
      expect(calls.n).toBe(0);
    });

    it('a label beyond the model\'s classes: the message of the usual path', async () => {
      const beyond = tf.tensor1d([0, 1, 2, 5, 1, 2], 'int32');
      const message = /^evaluate: labels must hold class indices < 3 \(the model's number of classes\) \(got 5\)/;
      await expectRejectsNoLeak(() => fresh(x, beyond, (xs, ys) => evaluate(model, xs, ys)), message);
      await onDevicePath(() => expectRejectsNoLeak(() => fresh(x, beyond, (xs, ys) => evaluate(model, xs, ys)), message));
      beyond.dispose();
    });

    it('autoAttack, robustnessCurve, sanityChecks and transferability', async () => {
      const calls = { n: 0 };
      const counted: AttackFunction = (m, xb, yb) => {
        calls.n += 1;
        return pgd(m, xb, yb, { eps: 0.1, steps: 1 });
      };
      const at7 = /y must hold class indices >= 0 \(got "-2 at index 7"\)/.source;
      await onDevicePath(async () => {
        await expectRejectsNoLeak(() => fresh(p.x, badToyY, (xs, ys) => autoAttack(p.model, xs, ys, { eps: 0.1, steps: 2, queries: 5 })), new RegExp(`^autoAttack: ${at7}`));
        await expectRejectsNoLeak(() => fresh(p.x, badToyY, (xs, ys) => robustnessCurve(p.model, xs, ys, () => counted, [0.1])), new RegExp(`^robustnessCurve: ${at7}`));
        await expectRejectsNoLeak(() => fresh(p.x, badToyY, (xs, ys) => sanityChecks(p.model, xs, ys, { eps: 0.1, steps: 2, queries: 5 })), new RegExp(`^sanityChecks: ${at7}`));
        await expectRejectsNoLeak(() => fresh(p.x, badToyY, (xs, ys) => transferability([p.model], xs, ys, counted)), new RegExp(`^transferability: ${at7}`));
      });
      expect(calls.n).toBe(0);
    });
  });
});
