/**
 * Exact resume with the optimizers users use. tfjs' Adam `setWeights` recomputes its bias-correction powers as
 * `pow(β, t + 1)` while training multiplies them step by step; in float32 the two differ (from the second step for
 * β₂ = 0.999), and so would every update after a resume. `fit` saves the running products with the checkpoint.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { fit, pgdAt } from '../../src/train/index.js';
import { cifarAugment } from '../../src/data/index.js';
import { useBackend } from '../helpers.js';
import { blobs, imageBlobs, imageMlp, mlp, weightsOf } from './fixtures.js';

type Powers = { accBeta1?: tf.Variable; accBeta2?: tf.Variable };
/** Adam's running bias-correction powers (private in tfjs' types). */
const powersOf = (o: tf.Optimizer): Powers => o as unknown as Powers;

describe('resume is exact', () => {
  let tmp: string;
  beforeAll(async () => {
    await useBackend('cpu');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ardkit-exact-'));
  });
  afterAll(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it.each([
    ['adam', (): tf.Optimizer => tf.train.adam(0.01)],
    ['adam (β₂ = 0.99)', (): tf.Optimizer => tf.train.adam(0.01, 0.8, 0.99)],
    ['rmsprop', (): tf.Optimizer => tf.train.rmsprop(0.01)],
    ['sgd with momentum', (): tf.Optimizer => tf.train.momentum(0.05, 0.9)]
  ])('with %s: the optimizer state and the weights after a resume equal an uninterrupted run', async (name, makeOptimizer) => {
    const data = blobs(48, 3, 1);
    const options = { batchSize: 8, seed: 3 };
    const objective = (): ReturnType<typeof pgdAt> => pgdAt({ eps: 0.1, steps: 2 });
    const wholeOpt = makeOptimizer();
    const whole = mlp(3, 9);
    await fit(whole, data, objective(), { ...options, epochs: 4, optimizer: wholeOpt });
    const dir = path.join(tmp, name.replace(/\W/g, ''));
    const firstOpt = makeOptimizer();
    const first = mlp(3, 9);
    await fit(first, data, objective(), { ...options, epochs: 2, optimizer: firstOpt, checkpoint: { dir } });
    const secondOpt = makeOptimizer();
    const second = mlp(3, 9);
    await fit(second, data, objective(), { ...options, epochs: 4, optimizer: secondOpt, checkpoint: { dir }, resume: true });
    for (const k of ['accBeta1', 'accBeta2'] as const) {
      const a = powersOf(wholeOpt)[k];
      const b = powersOf(secondOpt)[k];
      if (a !== undefined && b !== undefined) expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    }
    expect(weightsOf(second.weights.map((w) => w.read()))).toEqual(weightsOf(whole.weights.map((w) => w.read())));
    for (const o of [wholeOpt, firstOpt, secondOpt]) o.dispose();
    for (const n of [whole, first, second]) n.dispose();
    tf.dispose([data.x, data.y]);
  });

  it('with augment (cifarAugment): the weights after a resume equal an uninterrupted run, and differ from a run without augment', async () => {
    const data = imageBlobs(48, 3, 2);
    const options = { batchSize: 8, seed: 5, augment: cifarAugment({ padding: 1 }) };
    const objective = (): ReturnType<typeof pgdAt> => pgdAt({ eps: 0.1, steps: 2 });
    const dir = path.join(tmp, 'augment');
    const whole = imageMlp(3, 4);
    await fit(whole, data, objective(), { ...options, epochs: 4 });
    const first = imageMlp(3, 4);
    await fit(first, data, objective(), { ...options, epochs: 2, checkpoint: { dir } });
    const second = imageMlp(3, 4);
    await fit(second, data, objective(), { ...options, epochs: 4, checkpoint: { dir }, resume: true });
    const plain = imageMlp(3, 4);
    await fit(plain, data, objective(), { batchSize: 8, seed: 5, epochs: 4 });
    const wholeWeights = weightsOf(whole.weights.map((w) => w.read()));
    expect(weightsOf(second.weights.map((w) => w.read()))).toEqual(wholeWeights);
    expect(weightsOf(plain.weights.map((w) => w.read()))).not.toEqual(wholeWeights);
    for (const n of [whole, first, second, plain]) n.dispose();
    tf.dispose([data.x, data.y]);
  });
});
