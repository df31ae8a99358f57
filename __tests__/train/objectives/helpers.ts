/** Helpers of the objective tests: a linear student with its weights as plain numbers, and a hand-built context. */
import * as tf from '@tensorflow/tfjs-core';
import { createRandom } from '../../../src/core/index.js';
import type { BatchContext, Student } from '../../../src/train/index.js';
import { studentModel } from '../../../src/train/student.js';
import { linearModel, type LinearModel } from '../../helpers.js';
import { DIM } from '../fixtures.js';

export const K = 3;
export const ATTACK = { eps: 0.1, steps: 3, stepSize: 0.05 };

/** A linear student `x·W + b` (the same in training and inference mode), with the weights as plain numbers. */
export function referenceStudent(seed: number): { student: Student; ref: LinearModel; dispose: () => void } {
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
export function contextFor(student: Student, at: { epoch?: number; epochs?: number; batch?: number; batchesPerEpoch?: number } = {}): BatchContext {
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
