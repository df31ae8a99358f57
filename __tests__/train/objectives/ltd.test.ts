/** The ltd objective: fit's validation evaluates its deployed student, the logits divided by τ_S. */
import * as tf from '@tensorflow/tfjs-core';
import { pgd } from '../../../src/attacks/index.js';
import { fromLayersModel, type Model } from '../../../src/core/index.js';
import { evaluate } from '../../../src/eval/index.js';
import { fit, ltd } from '../../../src/train/index.js';
import { linearModel, rows, useBackend } from '../../helpers.js';
import { DIM, blobs, mlp } from '../fixtures.js';
import { ATTACK, K } from './helpers.js';

describe('ltd', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  describe('deployed in validation', () => {
    let data: { x: tf.Tensor2D; y: tf.Tensor1D };
    beforeAll(() => {
      data = blobs(96, K, 1);
    });
    afterAll(() => {
      tf.dispose([data.x, data.y]);
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
});
