/**
 * fit's callbacks: validation evaluates `objective.deploy(student)` where the objective defines it (moved from the
 * method fixes of release 0.x).
 */
import * as tf from '@tensorflow/tfjs-core';
import { fromLayersModel, type Model } from '../../src/core/index.js';
import { evaluate } from '../../src/eval/index.js';
import { fit, natural, type Objective } from '../../src/train/index.js';
import { useBackend } from '../helpers.js';
import { blobs, mlp } from './fixtures.js';

const K = 3;

describe('fit callbacks', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  describe('validation', () => {
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
  });
});
