/** The darht objective's phases: no KD-only phase by default, switched by batch. */
import * as tf from '@tensorflow/tfjs-core';
import { darht, type Objective } from '../../../src/train/index.js';
import { expectRelClose, linearModel, useBackend } from '../../helpers.js';
import { DIM, blobs, darhtStudent, NO_STATE } from '../fixtures.js';
import { ATTACK, K, contextFor } from './helpers.js';

describe('darht', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  describe('DARHT phases', () => {
    it('have no KD-only phase by default, and switch by batch (the official 118/350 is an option)', () => {
      const data = blobs(12, K, 6);
      const t = linearModel(DIM, K, 61);
      const s = darhtStudent(K, 1, 62);
      /** [total, ce, kd] of the objective's loss at a hand-built context. */
      const at = (objective: Objective, batch: number): number[] => {
        const ctx = contextFor(s.student, { batch, batchesPerEpoch: 20 });
        const prepared = tf.tidy(() => objective.prepare(data.x, data.y, ctx, NO_STATE));
        const out = tf.tidy(() => {
          const r = objective.loss(prepared, data.x, data.y, ctx, NO_STATE);
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
