/**
 * Every function of `ardkit/eval` on webgpu, where nothing may read back synchronously: the same results as on the
 * cpu backend (one problem, fixed seeds), no synchronous readback, nothing leaked, and a bad label reported by the
 * function called, before any attack runs.
 */
import * as tf from '@tensorflow/tfjs-core';
import { pgd } from '../../src/attacks/index.js';
import type { Model } from '../../src/core/index.js';
import { autoAttack, evaluate, robustnessCurve, sanityChecks, selectTeachers, transferability, worstCase } from '../../src/eval/index.js';
import { syncReads, useBackend } from './webgpu.js';

/** Two linear models on 24 points of 12 features in [0, 1]; labels mostly (not always) the first model's answers. */
function problem(): { x: tf.Tensor; y: tf.Tensor1D; model: Model; other: Model; dispose: () => void } {
  const [n, d, c] = [24, 12, 4];
  const x = tf.tensor2d(Array.from({ length: n * d }, (_, i) => (Math.sin(i * 1.7) + 1) / 2), [n, d]);
  const w = tf.tensor2d(Array.from({ length: d * c }, (_, i) => Math.cos(i * 0.9) * 2), [d, c]);
  const w2 = tf.tensor2d(Array.from({ length: d * c }, (_, i) => Math.sin(i * 1.3) * 2), [d, c]);
  const model: Model = (v) => tf.tidy(() => tf.matMul(v as tf.Tensor2D, w));
  const other: Model = (v) => tf.tidy(() => tf.matMul(v as tf.Tensor2D, w2));
  const labels = Array.from({ length: n }, (_, i) => (i % 5 === 0 ? (i % c) : -1));
  const y = tf.tidy(() => {
    const predicted = tf.argMax(model(x), 1);
    return tf.where(tf.greaterEqual(tf.tensor1d(labels, 'int32'), 0), tf.tensor1d(labels, 'int32'), tf.cast(predicted, 'int32'));
  }) as tf.Tensor1D;
  return { x, y, model, other, dispose: () => { tf.dispose([x, y, w, w2]); } };
}

/** Runs every eval function on a fresh problem; returns what they measured (worstCase's x' apart). */
async function measure(): Promise<{ results: unknown; xAdv: number[]; leaked: number }> {
  const p = problem();
  const before = tf.memory().numTensors;
  const attack = (m: Model, xb: tf.Tensor, yb: tf.Tensor1D): tf.Tensor => pgd(m, xb, yb, { eps: 0.05, steps: 5, seed: 1 });
  const e = await evaluate(p.model, p.x, p.y, { attacks: { pgd: attack }, batchSize: 10 });
  const s = await evaluate(p.model, p.x, p.y, { attacks: { a: attack, b: attack }, batchSize: 10, sequential: true });
  const w = await worstCase(p.model, p.x, p.y, [attack, attack]);
  const xAdv = Array.from(await w.xAdv.data());
  w.xAdv.dispose();
  const t = await transferability([p.model, p.other], p.x, p.y, attack, { batchSize: 10 });
  const chosen = await selectTeachers(t, 1);
  const curve = await robustnessCurve(p.model, p.x, p.y, (eps) => (m, xb, yb) => pgd(m, xb, yb, { eps, steps: 3, seed: 0 }), [0, 0.05, 0.2]);
  const flags = (await sanityChecks(p.model, p.x, p.y, { eps: 0.05, steps: 4, queries: 20 })).map((f) => f.id);
  const aa = await autoAttack(p.model, p.x, p.y, { eps: 0.05, steps: 5, queries: 20, targetClasses: 3 });
  aa.xAdv.dispose();
  const leaked = tf.memory().numTensors - before;
  const results = {
    evaluate: [e.clean, e.attacks, e.perPoint.worstCase],
    sequential: [s.attacks, s.perPoint.worstCase],
    worstCase: [w.worstCase, w.perPoint.brokenBy],
    transferability: [t.matrix, t.counts, t.clean, t.robust, chosen.selected],
    robustnessCurve: [curve.clean, curve.accuracy],
    sanityChecks: flags,
    autoAttack: [aa.clean, aa.attacks]
  };
  p.dispose();
  return { results, xAdv, leaked };
}

it('gives the cpu backend\'s results on webgpu, with no synchronous readback and nothing leaked', async () => {
  await useBackend('cpu');
  const cpu = await measure();
  await useBackend('webgpu');
  const gpu = await measure();
  expect(syncReads.count).toBe(0);
  expect(gpu.leaked).toBe(0);
  expect(gpu.results).toEqual(cpu.results);
  // x' within float32 rounding of the cpu's.
  expect(Math.max(...gpu.xAdv.map((v, i) => Math.abs(v - (cpu.xAdv[i] ?? NaN))))).toBeLessThanOrEqual(1e-5);
});

it('reports a bad label on webgpu by the function called, before any attack runs', async () => {
  await useBackend('webgpu');
  const p = problem();
  const bad = tf.tensor1d(Array.from({ length: 24 }, (_, i) => (i === 5 ? -1 : 0)), 'int32');
  let calls = 0;
  const counted = (m: Model, xb: tf.Tensor, yb: tf.Tensor1D): tf.Tensor => {
    calls += 1;
    return pgd(m, xb, yb, { eps: 0.05, steps: 1 });
  };
  const before = tf.memory().numTensors;
  const message = /y must hold class indices >= 0 \(got "-1 at index 5"\)/.source;
  await expect(evaluate(p.model, p.x, bad, { attacks: { counted } })).rejects.toThrow(new RegExp(`^evaluate: ${message}`));
  await expect(worstCase(p.model, p.x, bad, [counted])).rejects.toThrow(new RegExp(`^worstCase: ${message}`));
  await expect(transferability([p.model], p.x, bad, counted)).rejects.toThrow(new RegExp(`^transferability: ${message}`));
  await expect(robustnessCurve(p.model, p.x, bad, () => counted, [0.1])).rejects.toThrow(new RegExp(`^robustnessCurve: ${message}`));
  await expect(sanityChecks(p.model, p.x, bad, { eps: 0.05 })).rejects.toThrow(new RegExp(`^sanityChecks: ${message}`));
  await expect(autoAttack(p.model, p.x, bad, { eps: 0.05 })).rejects.toThrow(new RegExp(`^autoAttack: ${message}`));
  expect(calls).toBe(0);
  expect(tf.memory().numTensors).toBe(before);
  expect(syncReads.count).toBe(0);
  bad.dispose();
  p.dispose();
});
