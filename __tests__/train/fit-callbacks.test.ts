/**
 * fit's callbacks: validation evaluates `objective.deploy(student)` where the objective defines it (moved from the
 * method fixes of release 0.x).
 */
import * as tf from '@tensorflow/tfjs-core';
import { fromLayersModel, type Model } from '../../src/core/index.js';
import { evaluate } from '../../src/eval/index.js';
import { fit, natural, type Objective } from '../../src/train/index.js';
import { CallbackList, type BatchLog, type FitCallback } from '../../src/train/callbacks.js';
import { EpochProgress } from '../../src/train/fit-callbacks.js';
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

  it('CallbackList calls every event on each callback in turn, waiting for each', async () => {
    const calls: string[] = [];
    const make = (name: string): FitCallback => ({
      onTrainBegin: () => { calls.push(`${name}:trainBegin`); },
      onEpochBegin: async (e) => { await Promise.resolve(); calls.push(`${name}:epochBegin ${String(e)}`); },
      onBatchEnd: (log) => { calls.push(`${name}:batch ${String(log.batch)}`); },
      onEpochEnd: (e, logs) => { calls.push(`${name}:epochEnd ${String(e)} ${String(logs.info.loss)}`); },
      onTrainEnd: () => { calls.push(`${name}:trainEnd`); }
    });
    const list = new CallbackList([make('a'), {}, make('b')]);
    const log: BatchLog = { epoch: 0, batch: 0, size: 2, learningRate: 0.1, values: { total: 1, terms: {}, correct: undefined }, skipped: false };
    await list.onTrainBegin();
    await list.onEpochBegin(0);
    await list.onBatchEnd(log);
    await list.onEpochEnd(0, { info: { epoch: 0, loss: 1, terms: {}, accuracy: undefined, learningRate: 0.1, batches: 1, skipped: 0, seconds: 0 } });
    await list.onTrainEnd();
    expect(calls).toEqual([
      'a:trainBegin', 'b:trainBegin', 'a:epochBegin 0', 'b:epochBegin 0', 'a:batch 0', 'b:batch 0', 'a:epochEnd 0 1', 'b:epochEnd 0 1', 'a:trainEnd', 'b:trainEnd'
    ]);
  });

  it('EpochProgress sums the updated batches, counts the skipped ones and keeps the last learning rate', () => {
    const progress = new EpochProgress(0.5);
    progress.onEpochBegin();
    const batch = (b: number, total: number, correct: number | undefined, skipped: boolean, learningRate: number): BatchLog =>
      ({ epoch: 2, batch: b, size: 4, learningRate, values: { total, terms: { ce: total / 2 }, correct }, skipped });
    progress.onBatchEnd(batch(0, 1, 2, false, 0.4));
    progress.onBatchEnd(batch(1, 100, 0, true, 0.3));
    progress.onBatchEnd(batch(2, 3, 4, false, 0.2));
    const info = progress.summary(2);
    expect({ ...info, seconds: 0 }).toEqual({ epoch: 2, loss: 2, terms: { ce: 1 }, accuracy: 6 / 8, learningRate: 0.2, batches: 3, skipped: 1, seconds: 0 });
    // A new epoch starts from nothing: no batch, the base rate, no loss.
    progress.onEpochBegin();
    const empty = progress.summary(3);
    expect([empty.loss, empty.learningRate, empty.batches, empty.accuracy]).toEqual([NaN, 0.5, 0, undefined]);
  });
});
