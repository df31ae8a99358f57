/**
 * `fit`'s `augment` option: a seeded per-batch hook on the training inputs (before the objective prepares the batch),
 * with cifarAugment (ardkit/data) as the CIFAR standard.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createRandom } from '../../src/core/index.js';
import { cifarAugment, type AugmentContext, type Augmentation } from '../../src/data/index.js';
import { fit, natural, pgdAt } from '../../src/train/index.js';
import { readbacks } from '../../scripts/lib/readbacks.js';
import { useBackend } from '../helpers.js';
import { imageBlobs, imageMlp, mlp as flatMlp, weightsOf } from './fixtures.js';

const K = 3;

describe('fit with augment', () => {
  let data: { x: tf.Tensor4D; y: tf.Tensor1D };
  beforeAll(async () => {
    await useBackend('cpu');
    data = imageBlobs(24, K, 3);
  });
  afterAll(() => {
    tf.dispose([data.x, data.y]);
  });

  const trained = async (seed: number | undefined, augment: boolean): Promise<number[][]> => {
    const net = imageMlp(K, 7);
    await fit(net, data, pgdAt({ eps: 0.1, steps: 2 }), {
      epochs: 2,
      batchSize: 8,
      ...(seed === undefined ? {} : { seed }),
      ...(augment ? { augment: cifarAugment({ padding: 1 }) } : {})
    });
    const w = weightsOf(net.weights.map((v) => v.read()));
    net.dispose();
    return w;
  };

  it('the same seed gives identical weights, another seed other weights, and augment changes the run', async () => {
    const a = await trained(11, true);
    expect(await trained(11, true)).toEqual(a);
    expect(await trained(12, true)).not.toEqual(a);
    expect(await trained(11, false)).not.toEqual(a);
  });

  it('passes one seed per batch from fit\'s source with the epoch and batch, only for training batches', async () => {
    const calls: Array<{ ctx: AugmentContext; shape: number[] }> = [];
    const net = imageMlp(K, 7);
    const validation = imageBlobs(6, K, 9);
    await fit(net, data, natural(), {
      epochs: 2,
      batchSize: 10,
      shuffle: false,
      seed: 4,
      validation,
      augment: (x, ctx) => {
        calls.push({ ctx: { ...ctx }, shape: x.shape });
        return x;
      }
    });
    // natural() and an unshuffled pass draw nothing else: the seeds are fit's stream itself.
    const rng = createRandom(4);
    expect(calls).toEqual([0, 1].flatMap((epoch) => [10, 10, 4].map((size, batch) => ({ ctx: { seed: rng.nextSeed(), epoch, batch }, shape: [size, 3, 4, 1] }))));
    net.dispose();
    tf.dispose([validation.x, validation.y]);
  });

  it('an augmentation that returns x trains exactly as none (x is not disposed); the objective trains on what augment returns', async () => {
    const run = async (augment?: (x: tf.Tensor) => tf.Tensor): Promise<{ initial: number[][]; final: number[][] }> => {
      const net = imageMlp(K, 7);
      const initial = weightsOf(net.weights.map((v) => v.read()));
      const optimizer = tf.train.sgd(0.1);
      await fit(net, data, natural(), { epochs: 2, batchSize: 8, shuffle: false, seed: 1, optimizer, ...(augment === undefined ? {} : { augment }) });
      const final = weightsOf(net.weights.map((v) => v.read()));
      net.dispose();
      optimizer.dispose();
      return { initial, final };
    };
    const none = await run();
    expect((await run((x) => x)).final).toEqual(none.final);
    expect(data.x.isDisposed).toBe(false);
    // All-zero inputs: the first dense layer's kernel gets no gradient (and no decay with a given optimizer), the
    // output bias does.
    const zeroed = await run((x) => tf.zerosLike(x));
    expect(zeroed.final[0]).toEqual(zeroed.initial[0]);
    expect(zeroed.final[3]).not.toEqual(zeroed.initial[3]);
    expect(none.final[0]).not.toEqual(none.initial[0]);
  });

  it('leaks no tensor, on success, when augment throws, and when it returns a wrong batch', async () => {
    const before = tf.memory().numTensors;
    const net = imageMlp(K, 7);
    await fit(net, data, pgdAt({ eps: 0.1, steps: 2 }), { epochs: 2, batchSize: 8, seed: 0, augment: cifarAugment() });
    net.dispose();
    expect(tf.memory().numTensors).toBe(before);

    const failing = imageMlp(K, 7);
    const boom = new Error('boom');
    let error: unknown;
    try {
      await fit(failing, data, pgdAt({ eps: 0.1, steps: 2 }), {
        batchSize: 8,
        seed: 0,
        augment: (x, { batch }) => {
          const y = tf.mul(x, 0.5);
          tf.add(y, 1);
          if (batch === 1) throw boom;
          return y;
        }
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe('fit: augment failed at epoch 1, batch 2: boom');
    expect((error as Error).cause).toBe(boom);
    failing.dispose();
    expect(tf.memory().numTensors).toBe(before);

    // An error of cifarAugment keeps its class (here: images of rank 2).
    const flat = { x: tf.reshape(data.x, [24, 12]), y: data.y };
    const mlp = imageMlp(K, 7);
    await expect(fit(mlp, data, natural(), { augment: (x) => tf.reshape(x, [24 * 12]) })).rejects.toThrow(
      new RangeError("fit: augment must return a float32 tensor of the batch's size [24, ...] (got a float32 tensor of shape [288])")
    );
    await expect(fit(mlp, data, natural(), { augment: (x) => tf.cast(x, 'int32') })).rejects.toThrow(TypeError);
    const flatNet = flatMlp(K, 7);
    const rankError = await fit(flatNet, flat, natural(), { augment: cifarAugment() }).catch((e: unknown) => e);
    expect(rankError).toBeInstanceOf(RangeError);
    expect((rankError as Error).message).toBe('fit: augment failed at epoch 1, batch 1: cifarAugment: x must have rank 4 (got a float32 tensor of shape [24, 12])');
    flat.x.dispose();
    flatNet.dispose();
    mlp.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('an augmentation that leaves the input box is caught by the attack\'s checks, and augment must be a function', async () => {
    const before = tf.memory().numTensors;
    const net = imageMlp(K, 7);
    await expect(fit(net, data, pgdAt({ eps: 0.1, steps: 2 }), { batchSize: 8, augment: (x) => tf.add(x, 2) })).rejects.toThrow(/x must lie inside bounds \[0, 1\]/);
    await expect(fit(net, data, natural(), { augment: 'cifar' as never })).rejects.toThrow(new TypeError('fit: augment must be a function (got "cifar")'));
    net.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('crops and flips keep the batch\'s checks: no more readbacks than without augment (another augmentation is checked)', async () => {
    const net = imageMlp(K, 7);
    const run = (augment?: Augmentation): Promise<number> =>
      readbacks(async () => {
        const x = tf.clone(data.x);
        const y = tf.clone(data.y);
        await fit(net, { x, y }, pgdAt({ eps: 0.1, steps: 2 }), { epochs: 2, batchSize: 8, seed: 0, ...(augment === undefined ? {} : { augment }) });
        tf.dispose([x, y]);
      });
    const without = await run();
    expect(await run(cifarAugment())).toBe(without);
    // A tensor no check has seen: the attack checks its box, on cpu with a readback per batch.
    expect(await run((x) => tf.reverse(x, 2))).toBe(without + 2 * 3);
    net.dispose();
  });
});
