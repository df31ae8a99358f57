/**
 * Every robust-distillation loss against an independent float64 computation of its METHODS.md formula, with
 * moderate and extreme logits, plus finite-difference gradient checks, the identities the methods imply,
 * bad inputs and leaks.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  adaadLoss,
  ardLoss,
  compensatedTargets,
  contrastiveRelationLoss,
  createCompensation,
  iadLoss,
  kdLoss,
  klDivergence,
  martLoss,
  mtardLoss,
  mtardWeights,
  representationDistance,
  rsladLoss,
  teacherFeatureMapLoss,
  tradesLoss
} from '../../src/losses/index.js';
import { expectNoLeak, expectRelClose, expectThrowsNoLeak, gradientCheckError, randomLogits, softmax64, useBackend } from '../helpers.js';
import { boost64, boundedBoost64, ce64, dot, kl64, klProbs64, mean, norm, prob64 } from './reference.js';

const B = 5;
const C = 4;
const LABELS = [0, 3, 1, 2, 3];

interface Case {
  readonly name: string;
  /** Computes the loss per example (`reduction: 'none'`) from tensors named like the arrays. */
  readonly run: (t: Record<string, tf.Tensor2D>, y: tf.Tensor1D, reduction: 'none' | 'mean' | 'sum') => tf.Tensor;
  /** The float64 reference per example. */
  readonly reference: (a: Record<string, number[][]>, i: number, y: number) => number;
  /** Inputs differentiated in the finite-difference check. */
  readonly wrt: readonly string[];
  /** Every input the loss reads (differentiated at extreme logits). */
  readonly uses: readonly string[];
}

const cases: Case[] = [
  {
    name: 'kdLoss (τ_S = 4, τ_T = 0.5, scale τ_S²)',
    run: (t, _y, reduction) => kdLoss(t.s!, t.t!, { studentTemperature: 4, teacherTemperature: 0.5, reduction }),
    reference: (a, i) => 16 * kl64(a.t![i]!, a.s![i]!, 0.5, 4),
    uses: ['s', 't'],
    wrt: ['s']
  },
  {
    name: 'kdLoss (τ = 0.05, scale 2)',
    run: (t, _y, reduction) => kdLoss(t.s!, t.t!, { studentTemperature: 0.05, teacherTemperature: 0.05, scale: 2, reduction }),
    reference: (a, i) => 2 * kl64(a.t![i]!, a.s![i]!, 0.05, 0.05),
    uses: ['s', 't'],
    wrt: []
  },
  {
    name: 'tradesLoss (β = 6)',
    run: (t, y, reduction) => tradesLoss({ clean: t.s!, adv: t.sa!, labels: y }, { reduction }),
    reference: (a, i, y) => ce64(a.s![i]!, y) + 6 * kl64(a.s![i]!, a.sa![i]!),
    uses: ['s', 'sa'],
    wrt: ['s', 'sa']
  },
  {
    name: 'martLoss (β = 6, exact boost)',
    run: (t, y, reduction) => martLoss({ clean: t.s!, adv: t.sa!, labels: y }, { boost: 'exact', reduction }),
    reference: (a, i, y) => ce64(a.sa![i]!, y) + boost64(a.sa![i]!, y) + 6 * kl64(a.s![i]!, a.sa![i]!) * (1 - prob64(a.s![i]!, y)),
    uses: ['s', 'sa'],
    wrt: ['s', 'sa']
  },
  {
    name: "martLoss (β = 2, the authors' bounded boost, the default)",
    run: (t, y, reduction) => martLoss({ clean: t.s!, adv: t.sa!, labels: y }, { beta: 2, reduction }),
    reference: (a, i, y) => ce64(a.sa![i]!, y) + boundedBoost64(a.sa![i]!, y) + 2 * kl64(a.s![i]!, a.sa![i]!) * (1 - prob64(a.s![i]!, y)),
    uses: ['s', 'sa'],
    wrt: ['s', 'sa']
  },
  {
    name: 'ardLoss (τ = 30, α = 0.7)',
    run: (t, y, reduction) => ardLoss({ studentAdv: t.sa!, teacherClean: t.t!, studentClean: t.s!, labels: y }, { alpha: 0.7, reduction }),
    reference: (a, i, y) => 0.7 * 900 * kl64(a.t![i]!, a.sa![i]!, 30, 30) + 0.3 * ce64(a.s![i]!, y),
    uses: ['s', 'sa', 't'],
    wrt: ['sa', 's']
  },
  {
    name: 'rsladLoss',
    run: (t, _y, reduction) => rsladLoss({ studentAdv: t.sa!, studentClean: t.s!, teacherClean: t.t! }, { reduction }),
    reference: (a, i) => (5 / 6) * kl64(a.t![i]!, a.sa![i]!) + (1 / 6) * kl64(a.t![i]!, a.s![i]!),
    uses: ['s', 'sa', 't'],
    wrt: ['sa', 's']
  },
  {
    name: 'iadLoss (τ = 2, α = 0.8, β = 0.1)',
    run: (t, y, reduction) =>
      iadLoss({ studentAdv: t.sa!, studentClean: t.s!, teacherClean: t.t!, teacherAdv: t.ta!, labels: y }, { temperature: 2, alpha: 0.8, reduction }),
    reference: (a, i, y) => {
      const rel = prob64(a.ta![i]!, y) ** 0.1;
      return 0.8 * 4 * kl64(a.t![i]!, a.sa![i]!, 2, 2) + 0.8 * (1 - rel) * kl64(a.s![i]!, a.sa![i]!) + 0.2 * ce64(a.s![i]!, y);
    },
    uses: ['s', 'sa', 't', 'ta'],
    wrt: ['sa', 's']
  },
  {
    name: 'adaadLoss (α = 0.6)',
    run: (t, _y, reduction) => adaadLoss({ studentAdv: t.sa!, teacherAdv: t.ta!, studentClean: t.s!, teacherClean: t.t! }, { alpha: 0.6, reduction }),
    reference: (a, i) => 0.6 * kl64(a.ta![i]!, a.sa![i]!) + 0.4 * kl64(a.t![i]!, a.s![i]!),
    uses: ['s', 'sa', 't', 'ta'],
    wrt: ['sa', 's']
  },
  {
    name: 'mtardLoss (w_adv 0.3, w_nat 0.7, τ = 2)',
    run: (t, _y, reduction) =>
      mtardLoss({ studentAdv: t.sa!, studentClean: t.s!, robustTeacherAdv: t.ta!, cleanTeacherClean: t.t! }, { advWeight: 0.3, natWeight: 0.7, temperature: 2, reduction }),
    reference: (a, i) => 0.3 * 4 * kl64(a.ta![i]!, a.sa![i]!, 2, 2) + 0.7 * 4 * kl64(a.t![i]!, a.s![i]!, 2, 2),
    uses: ['s', 'sa', 't', 'ta'],
    wrt: ['sa', 's']
  },
  // klReduction 'classMean' (the authors' PyTorch element-mean KLDivLoss): each KL term divided by C, nothing else.
  {
    name: "ardLoss (τ = 30, α = 0.7, klReduction 'classMean')",
    run: (t, y, reduction) =>
      ardLoss({ studentAdv: t.sa!, teacherClean: t.t!, studentClean: t.s!, labels: y }, { alpha: 0.7, reduction, klReduction: 'classMean' }),
    reference: (a, i, y) => (0.7 * 900 * kl64(a.t![i]!, a.sa![i]!, 30, 30)) / C + 0.3 * ce64(a.s![i]!, y),
    uses: ['s', 'sa', 't'],
    wrt: ['sa', 's']
  },
  {
    name: "rsladLoss (klReduction 'classMean')",
    run: (t, _y, reduction) => rsladLoss({ studentAdv: t.sa!, studentClean: t.s!, teacherClean: t.t! }, { reduction, klReduction: 'classMean' }),
    reference: (a, i) => ((5 / 6) * kl64(a.t![i]!, a.sa![i]!) + (1 / 6) * kl64(a.t![i]!, a.s![i]!)) / C,
    uses: ['s', 'sa', 't'],
    wrt: ['sa', 's']
  },
  {
    name: "adaadLoss (α = 0.6, klReduction 'classMean')",
    run: (t, _y, reduction) =>
      adaadLoss({ studentAdv: t.sa!, teacherAdv: t.ta!, studentClean: t.s!, teacherClean: t.t! }, { alpha: 0.6, reduction, klReduction: 'classMean' }),
    reference: (a, i) => (0.6 * kl64(a.ta![i]!, a.sa![i]!) + 0.4 * kl64(a.t![i]!, a.s![i]!)) / C,
    uses: ['s', 'sa', 't', 'ta'],
    wrt: ['sa', 's']
  },
  {
    name: "mtardLoss (w_adv 0.3, w_nat 0.7, τ = 2, klReduction 'classMean')",
    run: (t, _y, reduction) =>
      mtardLoss(
        { studentAdv: t.sa!, studentClean: t.s!, robustTeacherAdv: t.ta!, cleanTeacherClean: t.t! },
        { advWeight: 0.3, natWeight: 0.7, temperature: 2, reduction, klReduction: 'classMean' }
      ),
    reference: (a, i) => (0.3 * 4 * kl64(a.ta![i]!, a.sa![i]!, 2, 2) + 0.7 * 4 * kl64(a.t![i]!, a.s![i]!, 2, 2)) / C,
    uses: ['s', 'sa', 't', 'ta'],
    wrt: ['sa', 's']
  },
  {
    name: 'representationDistance (cosine)',
    run: (t, _y, reduction) => representationDistance(t.s!, t.t!, { reduction }),
    reference: (a, i) => 1 - dot(a.s![i]!, a.t![i]!) / (norm(a.s![i]!) * norm(a.t![i]!)),
    uses: ['s', 't'],
    wrt: ['s']
  },
  {
    name: 'representationDistance (l2)',
    run: (t, _y, reduction) => representationDistance(t.s!, t.t!, { metric: 'l2', reduction }),
    reference: (a, i) => norm(a.s![i]!.map((v, j) => v - a.t![i]![j]!)),
    uses: ['s', 't'],
    wrt: ['s']
  },
  {
    name: 'representationDistance (squaredL2)',
    run: (t, _y, reduction) => representationDistance(t.s!, t.t!, { metric: 'squaredL2', reduction }),
    reference: (a, i) => norm(a.s![i]!.map((v, j) => v - a.t![i]![j]!)) ** 2,
    uses: ['s', 't'],
    wrt: ['s']
  },
  {
    name: 'contrastiveRelationLoss (τ_c = 0.5)',
    run: (t, _y, reduction) => contrastiveRelationLoss(t.sa!, t.t!, { temperature: 0.5, reduction }),
    reference: (a, i) => {
      const sims = a.t!.map((tj) => dot(a.sa![i]!, tj) / (norm(a.sa![i]!) * norm(tj)) / 0.5);
      const m = Math.max(...sims);
      return -(sims[i]! - m - Math.log(sims.reduce((s, v) => s + Math.exp(v - m), 0)));
    },
    uses: ['sa', 't'],
    wrt: ['sa', 't']
  },
  {
    name: 'klDivergence of compensated targets',
    run: (t, y, reduction) => {
      const q = compensatedTargets(t.t!, y, { beta: 2 });
      const out = klDivergence(q, t.sa!, { targetType: 'probabilities', reduction });
      q.dispose();
      return out;
    },
    reference: (a, i, y) => {
      const p = softmax64(a.t![i]!);
      const w = (p[y] ?? 0) ** 2;
      const q = p.map((pc, c) => w * pc + (1 - w) * (c === y ? 1 : 0));
      return klProbs64(q, a.sa![i]!);
    },
    uses: ['sa', 't'],
    wrt: ['sa', 't']
  }
];

function arrays(scale: number, seed: number): Record<string, number[][]> {
  return {
    s: randomLogits(B, C, scale, seed),
    sa: randomLogits(B, C, scale, seed + 1),
    t: randomLogits(B, C, scale, seed + 2),
    ta: randomLogits(B, C, scale, seed + 3)
  };
}

function tensors(a: Record<string, number[][]>): Record<string, tf.Tensor2D> {
  return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, tf.tensor2d(v)]));
}

describe.each(['cpu', 'wasm'] as const)('distillation losses (%s)', (backend) => {
  beforeAll(async () => useBackend(backend));

  describe.each(cases)('$name', (c) => {
    it.each([
      ['moderate', 3, 1e-6],
      ['extreme (|z| up to 1e4)', 1e4, 1e-3]
    ])('equals the float64 formula with %s logits, per example and reduced', (_label, scale, floor) => {
      const a = arrays(scale, 21);
      const t = tensors(a);
      const y = tf.tensor1d(LABELS, 'int32');
      const expected = LABELS.map((label, i) => c.reference(a, i, label));
      const none = c.run(t, y, 'none');
      expect(none.shape).toEqual([B]);
      // Relative 1e-5; values near 0 are compared against a floor (float32 logits of 1e4 carry 1e-3 absolute error).
      Array.from(none.dataSync()).forEach((v, i) => { expectRelClose(v, expected[i]!, 1e-5, floor * scale); });
      expectRelClose(c.run(t, y, 'mean').dataSync()[0]!, mean(expected), 1e-5, floor * scale);
      expectRelClose(c.run(t, y, 'sum').dataSync()[0]!, expected.reduce((s, v) => s + v, 0), 1e-5, floor * scale);
      tf.dispose([...Object.values(t), y, none]);
    });

    it('has finite values and gradients at |z| = 1e4', () => {
      const t = tensors(arrays(1e4, 5));
      const y = tf.tensor1d(LABELS, 'int32');
      for (const key of c.uses) {
        const g = tf.grad((v: tf.Tensor) => c.run({ ...t, [key]: v as tf.Tensor2D }, y, 'mean'))(t[key]!);
        expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
        g.dispose();
      }
      const v = c.run(t, y, 'mean');
      expect(Number.isFinite(v.dataSync()[0])).toBe(true);
      tf.dispose([...Object.values(t), y, v]);
    });

    if (c.wrt.length > 0) {
      it(`passes a central finite-difference gradient check w.r.t. ${c.wrt.join(', ')}`, () => {
        const t = tensors(arrays(2, 8));
        const y = tf.tensor1d(LABELS, 'int32');
        for (const key of c.wrt) {
          const err = gradientCheckError((v) => c.run({ ...t, [key]: v as tf.Tensor2D }, y, 'mean') as tf.Scalar, t[key]!);
          expect(err).toBeLessThan(1e-2);
        }
        tf.dispose([...Object.values(t), y]);
      });
    }

    it('leaks nothing', () => {
      const t = tensors(arrays(2, 3));
      const y = tf.tensor1d(LABELS, 'int32');
      expectNoLeak(() => c.run(t, y, 'mean'));
      expectNoLeak(() => c.run(t, y, 'none'));
      tf.dispose([...Object.values(t), y]);
    });
  });

  describe('teacherFeatureMapLoss', () => {
    const teachers = [randomLogits(B, C, 3, 40), randomLogits(B, C, 3, 41), randomLogits(B, C, 3, 42)];
    const fmap = randomLogits(B, 3 * C, 3, 43);

    it.each([
      ['kl', 'teacherConfidence'],
      ['kl', 'uniform'],
      ['mse', 'teacherConfidence'],
      ['mse', 'uniform']
    ] as const)('equals Σ_i w_i·d(T_i, z_i) in float64 (%s, %s)', (divergence, weighting) => {
      const z = tf.tensor2d(fmap);
      const ts = teachers.map((tt) => tf.tensor2d(tt));
      const y = tf.tensor1d(LABELS, 'int32');
      const none = teacherFeatureMapLoss(z, ts, y, { divergence, weighting, reduction: 'none' });
      const weights = teachers.map((tt) => (weighting === 'uniform' ? 1 : Math.exp(-mean(tt.map((row, i) => ce64(row, LABELS[i]!))))));
      Array.from(none.dataSync()).forEach((v, i) => {
        const expected = teachers.reduce((s, tt, k) => {
          const block = fmap[i]!.slice(k * C, (k + 1) * C);
          const d = divergence === 'kl' ? kl64(tt[i]!, block) : mean(block.map((b, c) => (b - tt[i]![c]!) ** 2));
          return s + weights[k]! * d;
        }, 0);
        expectRelClose(v, expected);
      });
      const err = gradientCheckError((v) => teacherFeatureMapLoss(v as tf.Tensor2D, ts, y, { divergence, weighting }), z);
      expect(err).toBeLessThan(1e-2);
      expectNoLeak(() => teacherFeatureMapLoss(z, ts, y, { divergence, weighting }));
      tf.dispose([z, ...ts, y, none]);
    });

    it('with one teacher and uniform weight equals kdLoss at temperature 1', () => {
      const z = tf.tensor2d(randomLogits(B, C, 3, 50));
      const t = tf.tensor2d(teachers[0]!);
      const y = tf.tensor1d(LABELS, 'int32');
      const a = teacherFeatureMapLoss(z, [t], y, { weighting: 'uniform' });
      const b = kdLoss(z, t);
      expectRelClose(a.dataSync()[0]!, b.dataSync()[0]!, 1e-6);
      tf.dispose([z, t, y, a, b]);
    });
  });

  describe('createCompensation', () => {
    it('starts near the identity and maps σ(T) through the row-softmax of its weights', () => {
      const comp = createCompensation(C, { initialConfidence: 0.9 });
      const m = comp.matrix();
      const rows = m.arraySync();
      rows.forEach((row, i) => {
        expectRelClose(row[i]!, 0.9, 1e-5);
        expectRelClose(row.reduce((s, v) => s + v, 0), 1, 1e-6);
      });
      const tz = randomLogits(B, C, 3, 60);
      const t = tf.tensor2d(tz);
      const q = comp.apply(t);
      const qs = q.arraySync();
      tz.forEach((row, i) => {
        const p = softmax64(row);
        for (let c = 0; c < C; c++) expectRelClose(qs[i]![c]!, p.reduce((s, pk, k) => s + pk * rows[k]![c]!, 0), 1e-5);
      });
      // The module's weights receive gradients through the targets.
      const sa = tf.tensor2d(randomLogits(B, C, 3, 61));
      const { grads } = tf.variableGrads(() => klDivergence(comp.apply(t), sa, { targetType: 'probabilities' }), [comp.weights]);
      const g = grads[comp.weights.name]!;
      expect(Array.from(g.dataSync()).some((v) => v !== 0)).toBe(true);
      expectNoLeak(() => comp.apply(t));
      tf.dispose([m, t, q, sa, g]);
      const before = tf.memory().numTensors;
      comp.dispose();
      expect(tf.memory().numTensors).toBe(before - 1);
    });
  });
});

describe('identities', () => {
  beforeAll(async () => useBackend('cpu'));

  it('kdLoss with equal temperatures is classic KD, τ²·KL(σ(T/τ) ‖ σ(S/τ))', () => {
    const s = tf.tensor2d(randomLogits(B, C, 3, 1));
    const t = tf.tensor2d(randomLogits(B, C, 3, 2));
    for (const tau of [1, 4, 20]) {
      const kd = kdLoss(s, t, { studentTemperature: tau, teacherTemperature: tau });
      const classic = tf.tidy(() => tf.mul(klDivergence(tf.div(t, tau), tf.div(s, tau)), tau * tau));
      expectRelClose(kd.dataSync()[0]!, classic.dataSync()[0]!, 1e-6);
      tf.dispose([kd, classic]);
    }
    tf.dispose([s, t]);
  });

  it('rsladLoss with equal student outputs reduces to one KL', () => {
    const s = tf.tensor2d(randomLogits(B, C, 3, 3));
    const t = tf.tensor2d(randomLogits(B, C, 3, 4));
    const r = rsladLoss({ studentAdv: s, studentClean: s, teacherClean: t });
    const kl = klDivergence(t, s);
    expectRelClose(r.dataSync()[0]!, kl.dataSync()[0]!, 1e-6);
    tf.dispose([s, t, r, kl]);
  });

  it('ardLoss with α = 1 is kdLoss at τ; tradesLoss with β = 0 is cross-entropy', () => {
    const s = tf.tensor2d(randomLogits(B, C, 3, 5));
    const t = tf.tensor2d(randomLogits(B, C, 3, 6));
    const y = tf.tensor1d(LABELS, 'int32');
    const ard = ardLoss({ studentAdv: s, teacherClean: t }, { temperature: 7 });
    const kd = kdLoss(s, t, { studentTemperature: 7, teacherTemperature: 7 });
    expectRelClose(ard.dataSync()[0]!, kd.dataSync()[0]!, 1e-6);
    const trades = tradesLoss({ clean: s, adv: t, labels: y }, { beta: 0 });
    expectRelClose(trades.dataSync()[0]!, mean(randomLogits(B, C, 3, 5).map((row, i) => ce64(row, LABELS[i]!))), 1e-5);
    tf.dispose([s, t, y, ard, kd, trades]);
  });

  it('InfoNCE of identical orthogonal embeddings tends to 0 as the temperature falls', () => {
    const e = tf.eye(4);
    const values = [1, 0.1, 0.02].map((temperature) => {
      const l = contrastiveRelationLoss(e, e, { temperature });
      const v = l.dataSync()[0]!;
      l.dispose();
      return v;
    });
    // −log(e^{1/τ} / (e^{1/τ} + 3)) = log(1 + 3·e^{−1/τ}).
    [1, 0.1, 0.02].forEach((tau, i) => { expect(Math.abs(values[i]! - Math.log(1 + 3 * Math.exp(-1 / tau)))).toBeLessThan(1e-6); });
    expect(values[2]).toBeLessThan(1e-6);
    expect(values[0]).toBeGreaterThan(values[1]!);
    e.dispose();
  });

  it('zero teacher probabilities give a finite KL with finite gradients', () => {
    const q = tf.tensor2d([[1, 0, 0, 0], [0, 0.5, 0.5, 0]]);
    const s = tf.tensor2d(randomLogits(2, 4, 3, 9));
    const kl = klDivergence(q, s, { targetType: 'probabilities', reduction: 'none' });
    const rows = randomLogits(2, 4, 3, 9);
    Array.from(kl.dataSync()).forEach((v, i) => { expectRelClose(v, klProbs64(q.arraySync()[i]!, rows[i]!)); });
    const g = tf.grad((v: tf.Tensor) => klDivergence(v as tf.Tensor2D, s, { targetType: 'probabilities' }))(q);
    expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
    tf.dispose([q, s, kl, g]);
  });

  it('representation distances are 0 for identical inputs (with finite gradients) and work on any rank', () => {
    const a = tf.tensor4d(randomLogits(2, 12, 1, 3).flat(), [2, 2, 3, 2]);
    for (const metric of ['cosine', 'l2', 'squaredL2'] as const) {
      const d = representationDistance(a, a, { metric, reduction: 'none' });
      Array.from(d.dataSync()).forEach((v) => { expect(Math.abs(v)).toBeLessThan(1e-5); });
      const g = tf.grad((v: tf.Tensor) => representationDistance(v, a, { metric }))(a);
      expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
      tf.dispose([d, g]);
    }
    a.dispose();
  });

  it('compensatedTargets are probabilities that equal σ(T) for a confident teacher and lean on the label for an unsure one', () => {
    const t = tf.tensor2d([[20, 0, 0], [0.1, 0, 0]]);
    const y = tf.tensor1d([0, 1], 'int32');
    const q = compensatedTargets(t, y).arraySync();
    q.forEach((row) => { expectRelClose(row.reduce((s, v) => s + v, 0), 1, 1e-6); });
    expect(q[0]![0]).toBeGreaterThan(0.999);
    const p = softmax64([0.1, 0, 0]);
    const w = p[1]!;
    expectRelClose(q[1]![1]!, w * p[1]! + (1 - w), 1e-6);
    tf.dispose([t, y]);
  });

  it("klReduction 'classMean' divides the KL terms by C and only them; 'batchmean' is the default", () => {
    const c = 7;
    const rows = { s: randomLogits(B, c, 3, 11), sa: randomLogits(B, c, 3, 12), t: randomLogits(B, c, 3, 13), ta: randomLogits(B, c, 3, 14) };
    const t = tensors(rows);
    const y = tf.tensor1d([0, 6, 1, 2, 5], 'int32');
    const read = (f: () => tf.Tensor): number => {
      const v = f();
      const out = v.dataSync()[0]!;
      v.dispose();
      return out;
    };
    const kl = (p: number[][], q: number[][], tau = 1): number => mean(p.map((row, i) => kl64(row, q[i]!, tau, tau)));
    // Against float64: the authors' element mean over B·C entries of the element-wise KL.
    const ardInputs = { studentAdv: t.sa!, teacherClean: t.t!, studentClean: t.s!, labels: y };
    const ce = mean(rows.s.map((row, i) => ce64(row, [0, 6, 1, 2, 5][i]!)));
    expectRelClose(read(() => ardLoss(ardInputs, { alpha: 0.4, temperature: 5, klReduction: 'classMean' })), (0.4 * 25 * kl(rows.t, rows.sa, 5)) / c + 0.6 * ce, 1e-5);
    expectRelClose(read(() => ardLoss(ardInputs, { alpha: 0.4, temperature: 5 })), 0.4 * 25 * kl(rows.t, rows.sa, 5) + 0.6 * ce, 1e-5);
    const rsladInputs = { studentAdv: t.sa!, studentClean: t.s!, teacherClean: t.t! };
    const adaadInputs = { studentAdv: t.sa!, teacherAdv: t.ta!, studentClean: t.s!, teacherClean: t.t! };
    const mtardInputs = { studentAdv: t.sa!, studentClean: t.s!, robustTeacherAdv: t.ta!, cleanTeacherClean: t.t! };
    const pairs: Array<[() => tf.Tensor, () => tf.Tensor, () => tf.Tensor, number]> = [
      [() => rsladLoss(rsladInputs), () => rsladLoss(rsladInputs, { klReduction: 'batchmean' }), () => rsladLoss(rsladInputs, { klReduction: 'classMean' }), (5 / 6) * kl(rows.t, rows.sa) + (1 / 6) * kl(rows.t, rows.s)],
      [() => adaadLoss(adaadInputs, { alpha: 0.3 }), () => adaadLoss(adaadInputs, { alpha: 0.3, klReduction: 'batchmean' }), () => adaadLoss(adaadInputs, { alpha: 0.3, klReduction: 'classMean' }), 0.3 * kl(rows.ta, rows.sa) + 0.7 * kl(rows.t, rows.s)],
      [() => mtardLoss(mtardInputs), () => mtardLoss(mtardInputs, { klReduction: 'batchmean' }), () => mtardLoss(mtardInputs, { klReduction: 'classMean' }), 0.5 * kl(rows.ta, rows.sa) + 0.5 * kl(rows.t, rows.s)]
    ];
    for (const [byDefault, batchmean, classMean, expected] of pairs) {
      expectRelClose(read(byDefault), expected, 1e-5);
      expectRelClose(read(batchmean), expected, 1e-5);
      expectRelClose(read(classMean), expected / c, 1e-5);
    }
    // With reduction 'none' the per-example values carry the same scaling, and their mean is the reduced value.
    const none = rsladLoss(rsladInputs, { klReduction: 'classMean', reduction: 'none' });
    Array.from(none.dataSync()).forEach((v, i) => {
      expectRelClose(v, ((5 / 6) * kl64(rows.t[i]!, rows.sa[i]!) + (1 / 6) * kl64(rows.t[i]!, rows.s[i]!)) / c, 1e-5);
    });
    tf.dispose([...Object.values(t), y, none]);
  });

  it('mtardWeights follows w_nat ← w_nat − η·(w_nat − r_nat/(r_nat + r_adv))', () => {
    let state = mtardWeights({ natWeight: 0.5, advWeight: 0.5 }, 2, 4);
    expect(state).toEqual({ natWeight: 0.5, advWeight: 0.5, natInitial: 2, advInitial: 4 });
    state = mtardWeights(state, 1.5, 1, { eta: 0.1 });
    const rNat = 1.5 / 2;
    const rAdv = 1 / 4;
    expectRelClose(state.natWeight, 0.5 - 0.1 * (0.5 - rNat / (rNat + rAdv)), 1e-12);
    expectRelClose(state.advWeight, 1 - state.natWeight, 1e-12);
    // The clean term has fallen less, so it gains weight.
    expect(state.natWeight).toBeGreaterThan(0.5);
  });
});

describe('bad inputs', () => {
  beforeAll(async () => useBackend('cpu'));

  it('are rejected clearly, leaking nothing', () => {
    const s = tf.tensor2d(randomLogits(3, 4, 2, 1));
    const t = tf.tensor2d(randomLogits(3, 4, 2, 2));
    const t5 = tf.tensor2d(randomLogits(3, 5, 2, 2));
    const s2 = tf.tensor2d(randomLogits(2, 4, 2, 2));
    const y = tf.tensor1d([0, 1, 2], 'int32');
    const yFloat = tf.tensor1d([0, 1, 2]);
    const yBig = tf.tensor1d([0, 1, 4], 'int32');
    const fmap = tf.tensor2d(randomLogits(3, 7, 2, 3));
    const ints = tf.tensor2d([[1, 2, 3, 4]], undefined, 'int32');

    expectThrowsNoLeak(() => kdLoss(s, s2), /^kdLoss: studentLogits and teacherLogits must have the same batch size \(got \[3, 4\] and \[2, 4\]\)/);
    expectThrowsNoLeak(() => kdLoss(s, t5), /^kdLoss: studentLogits and teacherLogits must have the same number of classes \(got \[3, 4\] and \[3, 5\]\)/);
    expectThrowsNoLeak(() => kdLoss(s, t, { studentTemperature: 0 }), /^kdLoss: studentTemperature must be a finite number > 0 \(got 0\)/);
    expectThrowsNoLeak(() => kdLoss(s, t, { teacherTemperature: NaN }), /^kdLoss: teacherTemperature must be a finite number > 0 \(got NaN\)/);
    expectThrowsNoLeak(() => kdLoss(s, t, { teacherTemperature: -1 }), /^kdLoss: teacherTemperature must be a finite number > 0 \(got -1\)/);
    expectThrowsNoLeak(() => kdLoss(ints, t), /^kdLoss: studentLogits must have rank 2|^kdLoss: studentLogits must be a float32 tensor/, TypeError);
    expectThrowsNoLeak(() => ardLoss({ studentAdv: s, teacherClean: t5 }), /^ardLoss: inputs.studentAdv and inputs.teacherClean must have the same number of classes/);
    expectThrowsNoLeak(() => ardLoss({ studentAdv: s, teacherClean: t }, { temperature: 0 }), /^ardLoss: temperature must be a finite number > 0 \(got 0\)/);
    expectThrowsNoLeak(() => ardLoss({ studentAdv: s, teacherClean: t }, { alpha: 0.5 }), /^ardLoss: inputs.studentClean must be given when alpha < 1/);
    expectThrowsNoLeak(() => ardLoss({ studentAdv: s, teacherClean: t }, { alpha: 1.5 }), /^ardLoss: alpha must be a number in \[0, 1\] \(got 1.5\)/);
    expectThrowsNoLeak(() => tradesLoss({ clean: s, adv: t, labels: yFloat }), /^tradesLoss: inputs.labels must be an int32 tensor/, TypeError);
    expectThrowsNoLeak(() => tradesLoss({ clean: s, adv: t, labels: yBig }), /^tradesLoss: inputs.labels must hold class indices < 4 \(the number of classes\) \(got "4 at index \d+"\)/);
    expectThrowsNoLeak(() => martLoss({ clean: s, adv: s2, labels: y }), /^martLoss: inputs.clean and inputs.adv must have the same batch size/);
    expectThrowsNoLeak(() => martLoss({ clean: s, adv: t, labels: y }, { boost: 'log' as never }), /^martLoss: boost must be one of "reference", "exact" \(got "log"\)/);
    expectThrowsNoLeak(() => tradesLoss({ clean: s, adv: t } as never), /^tradesLoss: inputs.labels must be given/);
    expectThrowsNoLeak(() => rsladLoss({ studentAdv: s, studentClean: s, teacher: t } as never), /^rsladLoss: options must only have the keys|^rsladLoss: inputs.teacherClean must be given/);
    expectThrowsNoLeak(() => iadLoss({ studentAdv: s, studentClean: s, teacherClean: t, labels: y }), /^iadLoss: inputs.teacherAdv must be given when introspection is on/);
    expectThrowsNoLeak(() => mtardLoss({ studentAdv: s, studentClean: s, robustTeacherAdv: t, cleanTeacherClean: t }, { temperature: NaN }), /^mtardLoss: temperature must be a finite number > 0 \(got NaN\)/);
    expectThrowsNoLeak(() => contrastiveRelationLoss(s, t5), /^contrastiveRelationLoss: studentEmbeddings and teacherEmbeddings must have the same shape \[B, D\] \(got \[3, 4\] and \[3, 5\]\)/);
    expectThrowsNoLeak(() => contrastiveRelationLoss(s, t, { temperature: 0 }), /^contrastiveRelationLoss: temperature must be a finite number > 0 \(got 0\)/);
    expectThrowsNoLeak(() => representationDistance(s, s2), /^representationDistance: a and b must have the same shape \(got \[3, 4\] and \[2, 4\]\)/);
    expectThrowsNoLeak(() => representationDistance(s, t, { metric: 'l1' as never }), /^representationDistance: metric must be one of "cosine", "l2", "squaredL2" \(got "l1"\)/);
    expectThrowsNoLeak(() => compensatedTargets(s, yBig), /^compensatedTargets: labels must hold class indices < 4/);
    expectThrowsNoLeak(() => klDivergence(s, t, { targetType: 'probabilities' }), /^klDivergence: targetLogits must hold probabilities \(entries >= 0, rows summing to 1\)/);
    expectThrowsNoLeak(() => teacherFeatureMapLoss(fmap, [], y), /^teacherFeatureMapLoss: teacherLogits must hold at least one teacher \(got "\[\]"\)/);
    expectThrowsNoLeak(() => teacherFeatureMapLoss(fmap, [t, t], y), /^teacherFeatureMapLoss: featureMap must have shape \[3, 8\] \(M·C for 2 teachers of 4 classes\) \(got a float32 tensor of shape \[3, 7\]\)/);
    expectThrowsNoLeak(() => teacherFeatureMapLoss(fmap, [t, t5], y), /^teacherFeatureMapLoss: teacherLogits\[1\] must have the shape of teacherLogits\[0\]/);
    expectThrowsNoLeak(() => teacherFeatureMapLoss(fmap, [t], yFloat), /must have shape \[3, 4\]|labels must be an int32 tensor/, RangeError);
    for (const [name, f] of [
      ['ardLoss', () => ardLoss({ studentAdv: s, teacherClean: t }, { klReduction: 'mean' as never })],
      ['rsladLoss', () => rsladLoss({ studentAdv: s, studentClean: s, teacherClean: t }, { klReduction: 'mean' as never })],
      ['adaadLoss', () => adaadLoss({ studentAdv: s, teacherAdv: t }, { klReduction: 'mean' as never })],
      ['mtardLoss', () => mtardLoss({ studentAdv: s, studentClean: s, robustTeacherAdv: t, cleanTeacherClean: t }, { klReduction: 'mean' as never })]
    ] as const) {
      expectThrowsNoLeak(f, new RegExp(`^${name}: klReduction must be one of "batchmean", "classMean" \\(got "mean"\\)`));
    }
    expectThrowsNoLeak(() => ardLoss({ studentAdv: s, teacherClean: t }, { klReduction: 1 as never }), /^ardLoss: klReduction must be one of "batchmean", "classMean" \(got 1\)/);
    expect(() => createCompensation(1)).toThrow(/^createCompensation: numClasses must be an integer >= 2 \(got 1\)/);
    expect(() => createCompensation(4, { initialConfidence: 0.1 })).toThrow(/^createCompensation: initialConfidence must be a number in \(1\/C, 1\)/);
    expect(() => mtardWeights({ natWeight: 0.5, advWeight: 0.5 }, 0, 1)).toThrow(/^mtardWeights: natLoss must be a finite number > 0 \(got 0\)/);
    expect(() => mtardWeights({ natWeight: 0.5, advWeight: 0.5 }, 1, 1, { eta: 2 })).toThrow(/^mtardWeights: eta must be a number in \(0, 1\] \(got 2\)/);
    tf.dispose([s, t, t5, s2, y, yFloat, yBig, fmap, ints]);
  });
});
