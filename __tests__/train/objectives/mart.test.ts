/**
 * The mart objective and the loss it trains with: the default boost is the authors' bounded one, and β ramps up over
 * the first `betaWarmup` of training, counted in batches.
 */
import * as tf from '@tensorflow/tfjs-core';
import { crossEntropy, martLoss } from '../../../src/losses/index.js';
import { fit, mart, type Objective } from '../../../src/train/index.js';
import { expectRelClose, randomLogits, useBackend } from '../../helpers.js';
import { boundedBoost64, ce64 } from '../../losses/reference.js';
import { blobs, mlp, NO_STATE } from '../fixtures.js';
import { ATTACK, K, contextFor, referenceStudent } from './helpers.js';

describe('mart', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

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
    let s: ReturnType<typeof referenceStudent>;
    let data: { x: tf.Tensor2D; y: tf.Tensor1D };
    beforeAll(() => {
      s = referenceStudent(51);
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
      const prepared = tf.tidy(() => objective.prepare(data.x, data.y, ctx, NO_STATE)) as Record<string, tf.Tensor>;
      const result = tf.tidy((): [number, number] => {
        const got = objective.loss(prepared, data.x, data.y, ctx, NO_STATE).total.dataSync()[0]!;
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
