/**
 * The method fixes of the last release, each checked so that the old behaviour fails:
 * - `fit`'s validation evaluates `objective.deploy(student)` where the objective defines it (a custom objective, LTD);
 * - CRDND's learned compensation sits on the student's side, `KL(σ(T(x)) ‖ σ(S(x'))·M)`, against a float64
 *   reference, not `KL(σ(T(x))·M ‖ σ(S(x')))`; M gets a gradient and is not deployed;
 * - MART's default boost is the authors' bounded one, and its β ramps up over the first `betaWarmup` of training,
 *   counted in batches.
 */
import * as tf from '@tensorflow/tfjs-core';
import { pgd } from '../../src/attacks/index.js';
import { createRandom, fromLayersModel, type Model } from '../../src/core/index.js';
import { evaluate } from '../../src/eval/index.js';
import { crossEntropy, martLoss } from '../../src/losses/index.js';
import { crdnd, darht, fit, ltd, mart, natural, type BatchContext, type Objective, type Student } from '../../src/train/index.js';
import { studentModel } from '../../src/train/student.js';
import { expectRelClose, linearLogits, linearModel, randomLogits, rows, softmax64, useBackend, type LinearModel } from '../helpers.js';
import { boundedBoost64, ce64, mean } from '../losses/reference.js';
import { DIM, blobs, darhtStudent, mlp } from './fixtures.js';

const K = 3;
const ATTACK = { eps: 0.1, steps: 3, stepSize: 0.05 };

/** A linear student `x·W + b` (the same in training and inference mode), with the weights as plain numbers. */
function linearStudent(seed: number): { student: Student; ref: LinearModel; dispose: () => void } {
  const ref = linearModel(DIM, K, seed);
  const tag = `${String(seed)}_${String(Math.random()).slice(2, 8)}`;
  const w = tf.variable(tf.tensor2d(ref.W), true, `methodFixes_w_${tag}`);
  const b = tf.variable(tf.tensor1d(ref.b), true, `methodFixes_b_${tag}`);
  const student: Student = {
    forward: (x) => ({ logits: tf.tidy(() => tf.add<tf.Tensor2D>(tf.matMul(tf.reshape(x, [x.shape[0] ?? 1, DIM]), w), b)) }),
    trainableVariables: [w, b],
    variables: [w, b]
  };
  return { student, ref, dispose: () => { tf.dispose([w, b]); ref.dispose(); } };
}

/** The context `fit` hands to an objective, built by hand. */
function contextFor(student: Student, at: { epoch?: number; epochs?: number; batch?: number; batchesPerEpoch?: number } = {}): BatchContext {
  const epoch = at.epoch ?? 0;
  const epochs = at.epochs ?? 1;
  return {
    epoch,
    epochs,
    batch: at.batch ?? 0,
    progress: epoch / epochs,
    batchesPerEpoch: at.batchesPerEpoch ?? 1,
    rng: createRandom(5),
    student,
    studentModel: studentModel(student),
    learningRate: 0.1,
    baseLearningRate: 0.1
  };
}

/** Float64 `KL(p ‖ q)` of two distributions. */
function klDist64(p: number[], q: number[]): number {
  return p.reduce((s, pc, c) => s + (pc > 0 ? pc * (Math.log(pc) - Math.log(q[c] ?? NaN)) : 0), 0);
}

/** Float64 `p·M` for a row vector `p` and `M` `[C][C]`. */
function times(p: number[], m: number[][]): number[] {
  return p.map((_, c) => p.reduce((s, pk, k) => s + pk * (m[k]?.[c] ?? NaN), 0));
}

describe('method fixes', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  describe('fit validates the deployed model', () => {
    let data: { x: tf.Tensor2D; y: tf.Tensor1D };
    beforeAll(() => {
      data = blobs(96, K, 1);
    });
    afterAll(() => {
      tf.dispose([data.x, data.y]);
    });

    it("evaluates a custom objective's deploy(student), not the raw student", async () => {
      // The deployed model always predicts class 0: one third of the (balanced) labels.
      const alwaysZero: Model = (x) => tf.tidy(() => tf.mul<tf.Tensor2D>(tf.oneHot(tf.zeros([x.shape[0] ?? 1], 'int32'), K), 10));
      const handed: tf.Tensor2D[] = [];
      const objective: Objective = {
        ...natural(),
        name: 'naturalDeployedAsZero',
        deploy: (student) => {
          handed.push(tf.tidy(() => student(tf.slice(data.x, 0, 4))));
          return alwaysZero;
        }
      };
      const net = mlp(K, 3);
      const before = tf.memory().numTensors;
      const history = await fit(net, data, objective, { epochs: 8, batchSize: 32, seed: 2, learningRate: 0.1, validation: { x: data.x, y: data.y } });
      expect(tf.memory().numTensors).toBe(before + handed.length);
      const raw = fromLayersModel(net);
      const rawClean = (await evaluate(raw, data.x, data.y)).clean;
      const deployedClean = (await evaluate(alwaysZero, data.x, data.y)).clean;
      expect(deployedClean).toBeCloseTo(1 / 3, 6);
      expect(rawClean).toBeGreaterThan(0.6);
      const validated = history.epochs.map((e) => e.validation?.clean);
      expect(validated).toHaveLength(8);
      for (const v of validated) expect(v).toBe(deployedClean);
      // deploy was handed the student itself (its inference-mode logits), once per validation.
      expect(handed).toHaveLength(8);
      const expected = tf.tidy(() => raw(tf.slice(data.x, 0, 4)));
      expect(tf.tidy(() => tf.max(tf.abs(tf.sub(handed[handed.length - 1]!, expected))).dataSync()[0])).toBeLessThan(1e-6);
      tf.dispose([...handed, expected]);
      expect(tf.memory().numTensors).toBe(before);
      net.dispose();
    });

    it("evaluates ltd's deployed student, its logits divided by τ_S", async () => {
      const tauS = 4;
      const teacherRef = linearModel(DIM, K, 31);
      const objective = ltd({ ...ATTACK, teacher: teacherRef.model, teacherTemperature: 1, studentTemperature: tauS });
      // Clean accuracy cannot tell z from z/τ_S: an attack that records the logits it is handed can, and a PGD on the
      // cross-entropy, whose gradient direction depends on the scale, is compared as well.
      const seen: number[][][] = [];
      const attacks = {
        probe: (m: Model, x: tf.Tensor): tf.Tensor => {
          seen.push(tf.tidy(() => rows(m(x))));
          return tf.clone(x);
        },
        pgd: (m: Model, x: tf.Tensor, y: tf.Tensor1D): tf.Tensor => pgd(m, x, y, { eps: 0.2, steps: 5, seed: 9 })
      };
      const net = mlp(K, 4);
      const before = tf.memory().numTensors;
      const history = await fit(net, data, objective, { epochs: 2, batchSize: 48, seed: 3, learningRate: 0.1, validation: { x: data.x, y: data.y, attacks } });
      expect(tf.memory().numTensors).toBe(before);
      const raw = fromLayersModel(net);
      const deployed = objective.deploy(raw);
      const last = history.epochs[1]?.validation;
      const expected = await evaluate(deployed, data.x, data.y, { attacks: { pgd: attacks.pgd } });
      expect(last?.clean).toBe(expected.clean);
      expect(last?.attacks.pgd).toBe(expected.attacks.pgd);
      // The model validated is the deployed one: z/τ_S, not z.
      const rawLogits = tf.tidy(() => rows(raw(data.x)));
      const handed = seen[seen.length - 1]!;
      expect(handed).toHaveLength(96);
      handed.forEach((row, i) => {
        row.forEach((v, c) => {
          const z = rawLogits[i]![c]!;
          expect(Math.abs(v - z / tauS)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(z)));
        });
      });
      const spread = Math.max(...rawLogits.flat().map(Math.abs));
      expect(spread).toBeGreaterThan(0.1); // so z and z/τ_S are told apart above
      expect(tf.memory().numTensors).toBe(before);
      net.dispose();
      teacherRef.dispose();
    });
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
      const s = linearStudent(41);
      const teacherRef = linearModel(DIM, K, 42);
      const data = blobs(12, K, 2);
      const before = tf.memory().numTensors;

      const objective = crdnd({ ...ATTACK, teacher: teacherRef.model, compensation: 'learned', lambda: 0.5 });
      const sample = tf.slice(data.x, 0, 1);
      tf.tidy(() => { objective.check?.(s.student, K, sample); });
      sample.dispose();
      const w = tf.tensor2d(W);
      objective.setState?.({ values: {}, tensors: { compensation: w } });
      w.dispose();
      // The state holds the matrix's weights as set.
      const state = objective.getState?.();
      expect(rows(state!.tensors.compensation!).flat()).toEqual(W.flat().map(Math.fround));

      const ctx = contextFor(s.student);
      const prepared = tf.tidy(() => objective.prepare(data.x, data.y, ctx)) as Record<string, tf.Tensor>;
      const xAdv = rows(prepared.xAdv!);
      const x = rows(data.x);
      const klValue = tf.tidy(() => objective.loss(prepared, data.x, data.y, ctx).terms.kl!.dataSync()[0]!);

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

      // M's weights are among the objective's variables and get a non-zero gradient from the loss.
      const vars = objective.variables ?? [];
      expect(vars).toHaveLength(1);
      const gradNorm = tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => objective.loss(prepared, data.x, data.y, ctx).total, [...vars]);
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
      objective.dispose?.();
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([data.x, data.y]);
      s.dispose();
      teacherRef.dispose();
    });

    it('validates the raw student in fit, M not applied, and trains M with it', async () => {
      const data = blobs(48, K, 3);
      const teacherRef = linearModel(DIM, K, 43);
      const objective = crdnd({ ...ATTACK, teacher: teacherRef.model, compensation: 'learned' });
      const net = mlp(K, 6);
      const before = tf.memory().numTensors;
      const history = await fit(net, data, objective, { epochs: 2, batchSize: 24, seed: 1, learningRate: 0.1, validation: { x: data.x, y: data.y } });
      // createCompensation starts at M_ii = 0.9, M_ij = 0.1/(C − 1): M moved, so it was trained with the student.
      const weights = objective.getState?.().tensors.compensation;
      const moved = tf.tidy(() =>
        Math.max(...rows(tf.softmax(weights!)).flatMap((row, i) => row.map((v, c) => Math.abs(v - (c === i ? 0.9 : 0.1 / (K - 1))))))
      );
      expect(moved).toBeGreaterThan(1e-6);
      expect(history.epochs[1]?.validation?.clean).toBe((await evaluate(fromLayersModel(net), data.x, data.y)).clean);
      objective.dispose?.();
      expect(tf.memory().numTensors).toBe(before);
      net.dispose();
      tf.dispose([data.x, data.y]);
      teacherRef.dispose();
    });
  });

  describe('mart', () => {
    it("bounds the default boost by −log(1e−4) ≈ 9.21, the authors' form; boost: 'exact' grows without bound", () => {
      const before = tf.memory().numTensors;
      for (const scale of [10, 100, 1000]) {
        // The label is class 0; class 1 takes (almost) all of the probability.
        const [bounded, exact, ce] = tf.tidy(() => {
          const z = tf.tensor2d([[0, scale, 0], [-scale, scale, 0]]);
          const y = tf.tensor1d([0, 0], 'int32');
          const clean = tf.zeros<tf.Rank.R2>([2, K]);
          return [
            Array.from(martLoss({ clean, adv: z, labels: y }, { beta: 0, reduction: 'none' }).dataSync()),
            Array.from(martLoss({ clean, adv: z, labels: y }, { beta: 0, reduction: 'none', boost: 'exact' }).dataSync()),
            Array.from(crossEntropy(z, y, { reduction: 'none' }).dataSync())
          ];
        });
        bounded.forEach((v, i) => {
          const boost = v - ce[i]!;
          expect(Number.isFinite(v)).toBe(true);
          expect(boost).toBeLessThanOrEqual(9.22);
          // Its ceiling, −log(1.0001 − 1 + 1e−12) = 9.2102, is reached once max_{k≠y} p_k rounds to 1.
          if (scale >= 100) expect(boost).toBeGreaterThan(9.2);
          // The exact boost, LSE(z) − LSE_{j≠k*}(z), is about the scale of the logits.
          expect(exact[i]! - ce[i]!).toBeGreaterThan(0.5 * scale);
        });
      }
      expect(tf.memory().numTensors).toBe(before);
    });

    it('is, by default, CE + the float64 bounded boost on moderate logits', () => {
      const adv = randomLogits(6, K, 3, 1);
      const labels = [0, 1, 2, 0, 1, 2];
      const expected = adv.map((z, i) => ce64(z, labels[i]!) + boundedBoost64(z, labels[i]!));
      const before = tf.memory().numTensors;
      const values = tf.tidy(() => {
        const y = tf.tensor1d(labels, 'int32');
        return Array.from(martLoss({ clean: tf.tensor2d(randomLogits(6, K, 3, 2)), adv: tf.tensor2d(adv), labels: y }, { beta: 0, reduction: 'none' }).dataSync());
      });
      values.forEach((v, i) => { expectRelClose(v, expected[i]!, 1e-5); });
      expect(tf.memory().numTensors).toBe(before);
    });

    describe('β warm-up, counted in batches', () => {
      let s: ReturnType<typeof linearStudent>;
      let data: { x: tf.Tensor2D; y: tf.Tensor1D };
      beforeAll(() => {
        s = linearStudent(51);
        data = blobs(12, K, 4);
      });
      afterAll(() => {
        s.dispose();
        tf.dispose([data.x, data.y]);
      });

      /** The objective's loss at a hand-built context, and martLoss at β and boost on the same x'. */
      function lossAt(objective: Objective, at: Parameters<typeof contextFor>[1], beta: number, boost?: 'reference' | 'exact'): [number, number] {
        const ctx = contextFor(s.student, at);
        const before = tf.memory().numTensors;
        const prepared = tf.tidy(() => objective.prepare(data.x, data.y, ctx)) as Record<string, tf.Tensor>;
        const result = tf.tidy((): [number, number] => {
          const got = objective.loss(prepared, data.x, data.y, ctx).total.dataSync()[0]!;
          const clean = s.student.forward(data.x, true).logits;
          const adv = s.student.forward(prepared.xAdv!, true).logits;
          const want = martLoss({ clean, adv, labels: data.y }, { beta, ...(boost === undefined ? {} : { boost }) }).dataSync()[0]!;
          return [got, want];
        });
        tf.dispose(Object.values(prepared));
        expect(tf.memory().numTensors).toBe(before);
        return result;
      }

      it('is CE + boost alone at batch 0 and the full β from progress ≥ betaWarmup (default 0.1)', () => {
        const objective = mart({ ...ATTACK, beta: 6 });
        const [at0, ce0] = lossAt(objective, { batch: 0, batchesPerEpoch: 20 }, 0);
        expectRelClose(at0, ce0, 1e-6);
        // 1 of 20 batches of a one-epoch run: progress 0.05, half way up the ramp.
        const [half, wantHalf] = lossAt(objective, { batch: 1, batchesPerEpoch: 20 }, 3);
        expectRelClose(half, wantHalf, 1e-6);
        // 2 of 20: progress 0.1 = betaWarmup; 10 of 20 and a later epoch: past it. The epoch-based progress is 0 in
        // the first two, so these fail unless batches are counted.
        for (const at of [{ batch: 2, batchesPerEpoch: 20 }, { batch: 10, batchesPerEpoch: 20 }, { epoch: 1, epochs: 3, batch: 0, batchesPerEpoch: 20 }]) {
          const [full, wantFull] = lossAt(objective, at, 6);
          expectRelClose(full, wantFull, 1e-6);
        }
        // The KL term matters here, so "full β" and "β = 0" are told apart.
        const [full] = lossAt(objective, { batch: 10, batchesPerEpoch: 20 }, 6);
        expect(Math.abs(full - at0)).toBeGreaterThan(1e-3 * Math.abs(at0));
      });

      it('follows betaWarmup and boost: 0 gives the full β at once, 0.5 ramps over half of training', () => {
        const [none, wantNone] = lossAt(mart({ ...ATTACK, beta: 6, betaWarmup: 0 }), { batch: 0, batchesPerEpoch: 20 }, 6);
        expectRelClose(none, wantNone, 1e-6);
        const [quarter, wantQuarter] = lossAt(mart({ ...ATTACK, beta: 6, betaWarmup: 0.5, boost: 'exact' }), { batch: 5, batchesPerEpoch: 20 }, 3, 'exact');
        expectRelClose(quarter, wantQuarter, 1e-6);
      });

      it('leaks nothing in fit', async () => {
        const net = mlp(K, 7);
        const before = tf.memory().numTensors;
        await fit(net, data, mart({ ...ATTACK }), { epochs: 2, batchSize: 6, seed: 1 });
        expect(tf.memory().numTensors).toBe(before);
        net.dispose();
      });
    });

    it('rejects bad betaWarmup and boost values with RangeErrors naming mart, the argument and the value', () => {
      const cases: Array<[() => unknown, RegExp]> = [
        [() => mart({ ...ATTACK, betaWarmup: 2 }), /^mart: betaWarmup must be a fraction in \[0, 1\] \(got 2\)/],
        [() => mart({ ...ATTACK, betaWarmup: -1 }), /^mart: betaWarmup must be a fraction in \[0, 1\] \(got -1\)/],
        [() => mart({ ...ATTACK, betaWarmup: NaN }), /^mart: betaWarmup must be a fraction in \[0, 1\] \(got NaN\)/],
        [() => mart({ ...ATTACK, betaWarmup: '0.1' as never }), /^mart: betaWarmup must be a fraction in \[0, 1\] \(got "0.1"\)/],
        [() => mart({ ...ATTACK, boost: 'bounded' as never }), /^mart: boost must be one of "reference", "exact" \(got "bounded"\)/],
        [() => mart({ ...ATTACK, boost: 1 as never }), /^mart: boost must be one of "reference", "exact" \(got 1\)/]
      ];
      for (const [make, message] of cases) {
        const before = tf.memory().numTensors;
        expect(make).toThrow(RangeError);
        expect(make).toThrow(message);
        expect(tf.memory().numTensors).toBe(before);
      }
      const before = tf.memory().numTensors;
      const z = tf.zeros<tf.Rank.R2>([2, K]);
      const y = tf.tensor1d([0, 1], 'int32');
      const afterInputs = tf.memory().numTensors;
      expect(() => martLoss({ clean: z, adv: z, labels: y }, { boost: 'bounded' as never })).toThrow(/^martLoss: boost must be one of "reference", "exact" \(got "bounded"\)/);
      expect(tf.memory().numTensors).toBe(afterInputs);
      tf.dispose([z, y]);
      expect(tf.memory().numTensors).toBe(before);
    });
  });

  describe('DARHT phases', () => {
    it('have no KD-only phase by default, and switch by batch (the official 118/350 is an option)', () => {
      const data = blobs(12, K, 6);
      const t = linearModel(DIM, K, 61);
      const s = darhtStudent(K, 1, 62);
      /** [total, ce, kd] of the objective's loss at a hand-built context. */
      const at = (objective: Objective, batch: number): number[] => {
        const ctx = contextFor(s.student, { batch, batchesPerEpoch: 20 });
        const prepared = tf.tidy(() => objective.prepare(data.x, data.y, ctx));
        const out = tf.tidy(() => {
          const r = objective.loss(prepared, data.x, data.y, ctx);
          return [r.total.dataSync()[0]!, r.terms.ce!.dataSync()[0]!, r.terms.kd!.dataSync()[0]!];
        });
        // Clean batches train on x itself, which fit (and so this test) never disposes.
        const p = prepared as { xt: tf.Tensor; teacherLogits: tf.Tensor[] };
        tf.dispose([...p.teacherLogits, ...(p.xt === data.x ? [] : [p.xt])]);
        return out;
      };
      const before = tf.memory().numTensors;
      const byDefault = darht({ ...ATTACK, teachers: [t.model], adversarialProbability: 0 });
      // Batch 19 of 20 (progress 0.95): CE + KD with the default; the epoch-based progress would still say 0.
      const [total, ce, kd] = at(byDefault, 19);
      expectRelClose(total!, ce! + kd!, 1e-6);
      // Batch 1 of 20 (progress 0.05 < 50/350): CE alone.
      const [early, ceEarly] = at(byDefault, 1);
      expectRelClose(early!, ceEarly!, 1e-6);
      const official = darht({ ...ATTACK, teachers: [t.model], adversarialProbability: 0, jointUntil: 118 / 350 });
      const [late, , kdLate] = at(official, 19);
      expectRelClose(late!, kdLate!, 1e-6);
      expect(tf.memory().numTensors).toBe(before);
      t.dispose();
      s.net.dispose();
      tf.dispose([data.x, data.y]);
    });
  });
});
