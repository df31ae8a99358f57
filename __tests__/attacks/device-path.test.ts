/**
 * The attacks on the device path (webgl, webgpu: no synchronous readback), exercised on the cpu backend with
 * `deferChecksForTesting(true)` while every synchronous readback throws: the threat model, lower accuracy, no tensor
 * left behind once the results are disposed and the queued checks flushed, and agreement with the host path (cpu,
 * wasm, tensorflow) on a trained toy model.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  apgd,
  apgdAttack,
  apgdTargeted,
  cwLinf,
  eot,
  fgsm,
  pgd,
  projectedGradientAscent,
  square,
  squareAttack,
  tradesAttack
} from '../../src/attacks/index.js';
import { deferChecksForTesting, flushChecks, pendingChecks } from '../../src/core/device-checks.js';
import type { Model } from '../../src/core/index.js';
import { squareDetailed, accuracy, linearModel, maxDistance, toyProblem, useBackend, withoutSyncReads, type LinearModel, type ToyProblem } from '../helpers.js';

/** Fresh copies of the toy data, which no value check has seen yet (checks remember the tensors they passed). */
function fresh(p: ToyProblem): { x: tf.Tensor; y: tf.Tensor1D; dispose: () => void } {
  const x = tf.clone(p.x);
  const y = tf.clone(p.y);
  return { x, y, dispose: () => { tf.dispose([x, y]); } };
}

/** The tensors of a Square result. */
function squareTensors(r: ReturnType<typeof squareDetailed>): tf.Tensor[] {
  return [r.xAdv, r.queries, r.success];
}

let p: ToyProblem;

beforeAll(async () => {
  await useBackend('cpu');
  p = toyProblem();
});

afterAll(() => { p.dispose(); });

afterEach(async () => {
  await flushChecks().catch(() => undefined);
  deferChecksForTesting(undefined);
});

describe('every attack on the device path reads nothing back synchronously', () => {
  beforeEach(() => { deferChecksForTesting(true); });

  const linf = 0.1;
  const l2 = 0.5;
  it.each([
    ['apgd ce linf', 'linf', linf, (m: Model, x: tf.Tensor, y: tf.Tensor1D): tf.Tensor => apgd(m, x, y, { eps: linf, steps: 5, seed: 1 })],
    ['apgd dlr l2, 2 restarts', 'l2', l2, (m: Model, x: tf.Tensor, y: tf.Tensor1D): tf.Tensor => apgd(m, x, y, { eps: l2, norm: 'l2', loss: 'dlr', steps: 4, restarts: 2, seed: 1 })],
    ['apgdTargeted linf, 2 targets', 'linf', linf, (m: Model, x: tf.Tensor, y: tf.Tensor1D): tf.Tensor => apgdTargeted(m, x, y, { eps: linf, steps: 4, targetClasses: 2, seed: 1 })],
    ['apgdAttack', 'linf', linf, (m: Model, x: tf.Tensor, y: tf.Tensor1D): tf.Tensor => apgdAttack({ eps: linf, steps: 3, seed: 2 })(m, x, y)],
    ['square', 'linf', linf, (m: Model, x: tf.Tensor, y: tf.Tensor1D): tf.Tensor => {
      const r = squareDetailed(m, x, y, { eps: linf, queries: 60, seed: 1 });
      tf.dispose([r.queries, r.success]);
      return r.xAdv;
    }],
    ['squareAttack (a plain call releases the detail)', 'linf', linf, (m: Model, x: tf.Tensor, y: tf.Tensor1D): tf.Tensor => squareAttack({ eps: linf, queries: 30, seed: 1 })(m, x, y)],
    ['pgd', 'linf', linf, (m: Model, x: tf.Tensor, y: tf.Tensor1D): tf.Tensor => pgd(m, x, y, { eps: linf, steps: 5, seed: 1 })],
    ['pgd l2', 'l2', l2, (m: Model, x: tf.Tensor, y: tf.Tensor1D): tf.Tensor => pgd(m, x, y, { eps: l2, norm: 'l2', steps: 5, seed: 1 })],
    ['fgsm', 'linf', linf, (m: Model, x: tf.Tensor, y: tf.Tensor1D): tf.Tensor => fgsm(m, x, y, { eps: linf })],
    ['cwLinf', 'linf', linf, (m: Model, x: tf.Tensor, y: tf.Tensor1D): tf.Tensor => cwLinf(m, x, y, { eps: linf, steps: 5, seed: 1 })],
    ['tradesAttack', 'linf', linf, (m: Model, x: tf.Tensor, y: tf.Tensor1D): tf.Tensor => tradesAttack(m, x, y, { eps: linf, steps: 5, seed: 1 })],
    ['pgd on eot(model, 2)', 'linf', linf, (m: Model, x: tf.Tensor, y: tf.Tensor1D): tf.Tensor => pgd(eot(m, 2), x, y, { eps: linf, steps: 3, seed: 1 })],
    ['projectedGradientAscent', 'linf', linf, (m: Model, x: tf.Tensor, y: tf.Tensor1D): tf.Tensor =>
      projectedGradientAscent((xa) => tf.neg(tf.sum(tf.mul(m(xa), tf.oneHot(y, 4)), 1)), x, { eps: linf, steps: 3, seed: 1 })]
  ] as const)('%s: inside the ball and the bounds, no more accurate than clean, nothing leaked', async (_name, norm, eps, attack) => {
    const data = fresh(p);
    const before = tf.memory().numTensors;
    const xAdv = withoutSyncReads(() => attack(p.model, data.x, data.y));
    // The input checks wait on the device.
    expect(pendingChecks()).toBeGreaterThan(0);
    await flushChecks();
    expect(xAdv.shape).toEqual(p.x.shape);
    expect(maxDistance(xAdv, p.x, norm)).toBeLessThanOrEqual(eps + 1e-5);
    expect(tf.tidy(() => tf.min(xAdv).dataSync()[0])).toBeGreaterThanOrEqual(0);
    expect(tf.tidy(() => tf.max(xAdv).dataSync()[0])).toBeLessThanOrEqual(1);
    expect(accuracy(p.model, xAdv, p.y)).toBeLessThanOrEqual(accuracy(p.model, p.x, p.y));
    xAdv.dispose();
    await flushChecks();
    expect(tf.memory().numTensors).toBe(before);
    data.dispose();
  });

  it('square: queries (int32) and success (bool) stay on the device, and squareAttack.detailed hands them over', async () => {
    const data = fresh(p);
    const before = tf.memory().numTensors;
    const r = withoutSyncReads(() => squareDetailed(p.model, data.x, data.y, { eps: 0.12, queries: 80, seed: 4 }));
    const d = withoutSyncReads(() => squareAttack({ eps: 0.12, queries: 80, seed: 4 }).detailed(p.model, data.x, data.y));
    await flushChecks();
    expect([r.queries.dtype, r.success.dtype]).toEqual(['int32', 'bool']);
    const queries = Array.from(await r.queries.data());
    const success = Array.from(await r.success.data());
    expect(Math.max(...queries)).toBeLessThanOrEqual(80);
    queries.forEach((q, i) => { if (success[i] === 0) expect(q).toBe(80); });
    const wrong = Array.from(tf.tidy(() => tf.notEqual(tf.argMax(p.model(r.xAdv), 1), p.y).dataSync()));
    expect(success).toEqual(wrong);
    expect(Array.from(await d.queries!.data())).toEqual(queries);
    expect(Array.from(await d.success!.data())).toEqual(success);
    tf.dispose([...squareTensors(r), d.xAdv, d.queries!, d.success!]);
    expect(tf.memory().numTensors).toBe(before);
    data.dispose();
  });

  it('square returns points misclassified at x unchanged, with one query', async () => {
    const wrong = tf.tidy(() => tf.cast(tf.mod(tf.add(p.y, 1), p.numClasses), 'int32') as tf.Tensor1D);
    const r = withoutSyncReads(() => squareDetailed(p.model, p.x, wrong, { eps: 0.1, queries: 20, seed: 1 }));
    await flushChecks();
    expect(Array.from(r.xAdv.dataSync())).toEqual(Array.from(p.x.dataSync()));
    expect(Array.from(r.queries.dataSync()).every((q) => q === 1)).toBe(true);
    expect(Array.from(r.success.dataSync()).every((v) => v === 1)).toBe(true);
    tf.dispose([wrong, ...squareTensors(r)]);
  });

  it('apgd returns points misclassified at x unchanged', async () => {
    const wrong = tf.tidy(() => tf.cast(tf.mod(tf.add(p.y, 1), p.numClasses), 'int32') as tf.Tensor1D);
    const out = withoutSyncReads(() => apgd(p.model, p.x, wrong, { eps: 0.2, steps: 3, seed: 1 }));
    const none = withoutSyncReads(() => apgd(p.model, p.x, p.y, { eps: 0 }));
    await flushChecks();
    expect(Array.from(out.dataSync())).toEqual(Array.from(p.x.dataSync()));
    expect(Array.from(none.dataSync())).toEqual(Array.from(p.x.dataSync()));
    tf.dispose([wrong, out, none]);
  });

  it('labels beyond the model\'s classes: the queued check names the attack and the model\'s class count', async () => {
    const big = tf.tidy(() => tf.add<tf.Tensor1D>(p.y, tf.scalar(p.numClasses, 'int32')));
    const run = (f: () => tf.TensorContainer): Promise<void> => {
      tf.dispose(withoutSyncReads(f));
      return flushChecks();
    };
    await expect(run(() => apgd(p.model, p.x, big, { eps: 0.1, steps: 2 }))).rejects.toThrow(/^apgd: y must hold class indices < 4 \(the model's number of classes\)/);
    await expect(run(() => apgdTargeted(p.model, p.x, big, { eps: 0.1, steps: 2, targetClasses: 1 }))).rejects.toThrow(/^apgdTargeted: y must hold class indices < 4 \(the model's number of classes\)/);
    await expect(run(() => square(p.model, p.x, big, { eps: 0.1, queries: 3 }))).rejects.toThrow(/^square: y must hold class indices < 4 \(the model's number of classes\)/);
    big.dispose();
  });

  it('a model that throws mid-attack leaks nothing', async () => {
    const data = fresh(p);
    const before = tf.memory().numTensors;
    let calls = 0;
    const flaky: Model = (x) => {
      calls += 1;
      if (calls === 6) throw new Error('model failed');
      return p.model(x);
    };
    expect(() => withoutSyncReads(() => apgdTargeted(flaky, data.x, data.y, { eps: 0.1, steps: 2, targetClasses: 3 }))).toThrow(/model failed/);
    calls = 0;
    expect(() => withoutSyncReads(() => square(flaky, data.x, data.y, { eps: 0.1, queries: 20 }))).toThrow(/model failed/);
    await flushChecks();
    expect(tf.memory().numTensors).toBe(before);
    data.dispose();
  });
});

describe('the harness', () => {
  it('catches the synchronous readbacks of the host path', () => {
    deferChecksForTesting(false);
    const before = tf.memory().numTensors;
    expect(() => withoutSyncReads(() => apgd(p.model, p.x, p.y, { eps: 0.1, steps: 1 }))).toThrow(/synchronous readback/);
    expect(() => withoutSyncReads(() => square(p.model, p.x, p.y, { eps: 0.1, queries: 5 }))).toThrow(/synchronous readback/);
    expect(() => withoutSyncReads(() => p.x.bufferSync())).toThrow(/synchronous readback/);
    expect(() => withoutSyncReads(() => (tf.engine() as unknown as { readSync: (id: object) => unknown }).readSync(p.x.dataId))).toThrow(/synchronous readback/);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('the device path agrees with the host path', () => {
  /** Runs `f` on the host path (checks read at once) and on the device path (queued, no synchronous readback). */
  async function bothPaths<T>(f: () => T): Promise<{ host: T; device: T }> {
    deferChecksForTesting(false);
    const host = f();
    deferChecksForTesting(true);
    const device = withoutSyncReads(f);
    await flushChecks();
    deferChecksForTesting(undefined);
    return { host, device };
  }

  it('square: the same draws, so the same queries, successes and x\' (the host path only skips fooled points)', async () => {
    const lin: LinearModel = linearModel(20, 4, 3);
    const flat = tf.reshape(p.x, [p.x.shape[0], 20]);
    const y = tf.tidy(() => tf.cast(tf.argMax(lin.model(flat), 1), 'int32') as tf.Tensor1D);
    for (const [model, x, labels] of [[p.model, p.x, p.y], [lin.model, flat, y]] as const) {
      const { host, device } = await bothPaths(() => squareDetailed(model, x, labels, { eps: 0.1, queries: 120, seed: 5 }));
      expect(Array.from(device.queries.dataSync())).toEqual(Array.from(host.queries.dataSync()));
      expect(Array.from(device.success.dataSync())).toEqual(Array.from(host.success.dataSync()));
      expect(maxDistance(device.xAdv, host.xAdv, 'linf')).toBeLessThanOrEqual(1e-6);
      expect(Array.from(host.success.dataSync()).some((v) => v === 1)).toBe(true);
      tf.dispose([...squareTensors(host), ...squareTensors(device)]);
    }
    tf.dispose([flat, y]);
    lin.dispose();
  });

  it('apgd, one run on points all classified correctly: the same random start and trajectory, so the same x\'', async () => {
    expect(accuracy(p.model, p.x, p.y)).toBe(1);
    for (const options of [{ eps: 0.1, steps: 10, seed: 3 }, { eps: 0.5, norm: 'l2', loss: 'dlr', steps: 10, seed: 3 }] as const) {
      const { host, device } = await bothPaths(() => apgd(p.model, p.x, p.y, options));
      expect(maxDistance(device, host, 'linf')).toBe(0);
      tf.dispose([host, device]);
    }
  });

  it('apgd with restarts and APGD-T: robust accuracy within 0.05 of the host path (96 points, 3 seeds each)', async () => {
    // Later runs draw their random starts for the whole batch on the device path and for the points still robust on
    // the host path, so they can differ point by point. Measured here: equal means (0.2396 with restarts, 0.9063 for
    // APGD-T); with 10 steps and 4 seeds, 0.2448 against 0.2422 with restarts.
    const cases: Array<(seed: number) => tf.Tensor> = [
      (seed) => apgd(p.model, p.x, p.y, { eps: 0.5, norm: 'l2', steps: 5, restarts: 3, seed }),
      (seed) => apgdTargeted(p.model, p.x, p.y, { eps: 0.08, steps: 5, targetClasses: 3, seed })
    ];
    for (const attack of cases) {
      let host = 0;
      let device = 0;
      for (const seed of [1, 2, 3]) {
        const r = await bothPaths(() => attack(seed));
        host += accuracy(p.model, r.host, p.y) / 3;
        device += accuracy(p.model, r.device, p.y) / 3;
        tf.dispose([r.host, r.device]);
      }
      expect(Math.abs(device - host)).toBeLessThanOrEqual(0.05);
      expect(device).toBeLessThan(1);
    }
  });

  it('apgd on the device path: a restart only adds fooled points (merged where still robust), and is seeded', async () => {
    deferChecksForTesting(true);
    const [one, three, again] = withoutSyncReads(() => [
      apgd(p.model, p.x, p.y, { eps: 0.5, norm: 'l2', steps: 5, seed: 1 }),
      apgd(p.model, p.x, p.y, { eps: 0.5, norm: 'l2', steps: 5, seed: 1, restarts: 3 }),
      apgd(p.model, p.x, p.y, { eps: 0.5, norm: 'l2', steps: 5, seed: 1, restarts: 3 })
    ]);
    await flushChecks();
    const fooled = (t: tf.Tensor): number[] => Array.from(tf.tidy(() => tf.notEqual(tf.argMax(p.model(t), 1), p.y).dataSync()));
    const [f1, f3] = [fooled(one), fooled(three)];
    f1.forEach((v, i) => { if (v === 1) expect(f3[i]).toBe(1); });
    expect(Array.from(again.dataSync())).toEqual(Array.from(three.dataSync()));
    tf.dispose([one, three, again]);
  });
});
