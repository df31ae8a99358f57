/**
 * The crdnd objective's learned compensation: on the student's side, `KL(σ(T(x)) ‖ σ(S(x'))·M)`, against a float64
 * reference, not `KL(σ(T(x))·M ‖ σ(S(x')))`; M is a trainable variable of the objective's state (made by init, released
 * by fit), gets a gradient and is not deployed.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { fromLayersModel } from '../../../src/core/index.js';
import { evaluate } from '../../../src/eval/index.js';
import { crdnd, fit, loadLatestCheckpoint } from '../../../src/train/index.js';
import { initialState } from '../../../src/train/objective-state.js';
import { studentModel } from '../../../src/train/student.js';
import { expectRelClose, linearLogits, linearModel, rows, softmax64, useBackend } from '../../helpers.js';
import { mean } from '../../losses/reference.js';
import { DIM, blobs, mlp } from '../fixtures.js';
import { ATTACK, K, contextFor, referenceStudent } from './helpers.js';

/** Float64 `KL(p ‖ q)` of two distributions. */
function klDist64(p: number[], q: number[]): number {
  return p.reduce((s, pc, c) => s + (pc > 0 ? pc * (Math.log(pc) - Math.log(q[c] ?? NaN)) : 0), 0);
}

/** Float64 `p·M` for a row vector `p` and `M` `[C][C]`. */
function times(p: number[], m: number[][]): number[] {
  return p.map((_, c) => p.reduce((s, pk, k) => s + pk * (m[k]?.[c] ?? NaN), 0));
}

describe('crdnd', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  describe("crdnd compensation: 'learned'", () => {
    // A clearly non-identity compensation: M = softmax_rows(W).
    const W = [
      [0.2, 2.0, -1.0],
      [1.5, -0.5, 0.3],
      [-0.7, 0.4, 1.8]
    ];
    const M = W.map(softmax64);

    it("has kl = KL(σ(T(x)) ‖ σ(S(x'))·M) (float64 reference), not KL(σ(T(x))·M ‖ σ(S(x'))); M gets a gradient; no M at deployment", () => {
      const s = referenceStudent(41);
      const teacherRef = linearModel(DIM, K, 42);
      const data = blobs(12, K, 2);
      const before = tf.memory().numTensors;

      const objective = crdnd({ ...ATTACK, teacher: teacherRef.model, compensation: 'learned', lambda: 0.5 });
      const sample = tf.slice(data.x, 0, 1);
      tf.tidy(() => { objective.check?.(s.student, K, sample); });
      // init (as fit calls it) makes M's weights W a trainable variable of the objective's state; set here to W by hand.
      const state = initialState(objective, { student: s.student, numClasses: K, sample });
      sample.dispose();
      const weights = state.tensors.compensation;
      expect(weights).toBeInstanceOf(tf.Variable);
      expect((weights as tf.Variable).trainable).toBe(true);
      const w = tf.tensor2d(W);
      (weights as tf.Variable).assign(w);
      w.dispose();
      expect(rows(state.tensors.compensation!).flat()).toEqual(W.flat().map(Math.fround));

      const ctx = contextFor(s.student);
      const prepared = tf.tidy(() => objective.prepare(data.x, data.y, ctx, state)) as Record<string, tf.Tensor>;
      const xAdv = rows(prepared.xAdv!);
      const x = rows(data.x);
      const klValue = tf.tidy(() => objective.loss(prepared, data.x, data.y, ctx, state).terms.kl!.dataSync()[0]!);

      const newForm = mean(
        x.map((xi, i) => {
          const q = softmax64(linearLogits(teacherRef, xi));
          const p = softmax64(linearLogits(s.ref, xAdv[i]!));
          return klDist64(q, times(p, M));
        })
      );
      const oldForm = mean(
        x.map((xi, i) => {
          const q = softmax64(linearLogits(teacherRef, xi));
          const p = softmax64(linearLogits(s.ref, xAdv[i]!));
          return klDist64(times(q, M), p);
        })
      );
      expectRelClose(klValue, newForm, 1e-4);
      expect(Math.abs(oldForm - newForm)).toBeGreaterThan(100 * 1e-4 * Math.abs(newForm));
      expect(Math.abs(klValue - oldForm)).toBeGreaterThan(100 * 1e-4 * Math.abs(newForm));

      // M's weights are the state's trainable variables (fit optimises them with the student) and get a non-zero gradient.
      const vars = Object.values(state.tensors).filter((t): t is tf.Variable => t instanceof tf.Variable && t.trainable);
      expect(vars).toHaveLength(1);
      const gradNorm = tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => objective.loss(prepared, data.x, data.y, ctx, state).total, vars);
        value.dispose();
        return Object.values(grads).map((g) => tf.norm(g).dataSync()[0]!);
      });
      expect(gradNorm).toHaveLength(1);
      expect(Number.isFinite(gradNorm[0])).toBe(true);
      expect(gradNorm[0]).toBeGreaterThan(1e-6);

      // The student is deployed without M: no deploy, or one that returns the student's own logits.
      const raw = studentModel(s.student);
      const deployed = objective.deploy?.(raw) ?? raw;
      expect(tf.tidy(() => tf.max(tf.abs(tf.sub(deployed(data.x), raw(data.x)))).dataSync()[0])).toBe(0);

      tf.dispose(Object.values(prepared).filter((t) => t !== data.x && t !== data.y));
      // The state is the caller's (fit's) to release.
      tf.dispose(Object.values(state.tensors));
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([data.x, data.y]);
      s.dispose();
      teacherRef.dispose();
    });

    it('validates the raw student in fit, M not applied, and trains M with it; fit releases M', async () => {
      const data = blobs(48, K, 3);
      const teacherRef = linearModel(DIM, K, 43);
      const objective = crdnd({ ...ATTACK, teacher: teacherRef.model, compensation: 'learned' });
      const net = mlp(K, 6);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ardkit-crdnd-'));
      const before = tf.memory().numTensors;
      const history = await fit(net, data, objective, { epochs: 2, batchSize: 24, seed: 1, learningRate: 0.1, validation: { x: data.x, y: data.y }, checkpoint: { dir } });
      // fit made M (init) and released it: nothing of the objective's state is left.
      expect(tf.memory().numTensors).toBe(before);
      // The checkpoint holds the state as fit left it. createCompensation starts at M_ii = 0.9, M_ij = 0.1/(C − 1): M
      // moved, so it was trained with the student.
      const saved = await loadLatestCheckpoint(dir);
      const weights = saved?.objectiveTensors.compensation;
      const moved = tf.tidy(() =>
        Math.max(...rows(tf.softmax(weights!)).flatMap((row, i) => row.map((v, c) => Math.abs(v - (c === i ? 0.9 : 0.1 / (K - 1))))))
      );
      expect(moved).toBeGreaterThan(1e-6);
      tf.dispose([...(saved?.weights ?? []), ...(saved?.optimizer.map((o) => o.tensor) ?? []), ...Object.values(saved?.objectiveTensors ?? {})]);
      expect(history.epochs[1]?.validation?.clean).toBe((await evaluate(fromLayersModel(net), data.x, data.y)).clean);
      expect(tf.memory().numTensors).toBe(before);
      net.dispose();
      tf.dispose([data.x, data.y]);
      teacherRef.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('releases M when fit fails after init: a corrupt checkpoint to resume from', async () => {
      const data = blobs(48, K, 3);
      const teacherRef = linearModel(DIM, K, 43);
      const objective = crdnd({ ...ATTACK, teacher: teacherRef.model, compensation: 'learned' });
      const net = mlp(K, 6);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ardkit-crdnd-'));
      fs.writeFileSync(path.join(dir, 'latest.json'), '{"checkpoint": "epoch-0001"');
      const before = tf.memory().numTensors;
      await expect(fit(net, data, objective, { epochs: 1, batchSize: 24, seed: 1, checkpoint: { dir }, resume: true })).rejects.toThrow(RangeError);
      expect(tf.memory().numTensors).toBe(before);
      net.dispose();
      tf.dispose([data.x, data.y]);
      teacherRef.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('trains two students one after the other: each run makes its own M and releases it', async () => {
      const data = blobs(48, K, 3);
      const teacherRef = linearModel(DIM, K, 43);
      const objective = crdnd({ ...ATTACK, teacher: teacherRef.model, compensation: 'learned' });
      const [a, b] = [mlp(K, 6), mlp(K, 6)];
      const before = tf.memory().numTensors;
      const first = await fit(a, data, objective, { epochs: 1, batchSize: 24, seed: 1, learningRate: 0.1 });
      expect(tf.memory().numTensors).toBe(before);
      const second = await fit(b, data, objective, { epochs: 1, batchSize: 24, seed: 1, learningRate: 0.1 });
      expect(tf.memory().numTensors).toBe(before);
      // Same initial student, seed and a fresh M: the same run twice.
      expect(second.epochs[0]?.loss).toBe(first.epochs[0]?.loss);
      for (const n of [a, b]) n.dispose();
      tf.dispose([data.x, data.y]);
      teacherRef.dispose();
    });
  });
});
