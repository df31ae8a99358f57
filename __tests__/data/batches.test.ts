import * as tf from '@tensorflow/tfjs-core';
import { createRandom } from '../../src/core/index.js';
import { batches, type Batch, type Batches } from '../../src/data/index.js';
import { expectThrowsNoLeak, useBackend } from '../helpers.js';

/** One epoch as plain numbers: the y values (example ids) of each batch, after checking x matches y row by row. */
async function epochIds(data: Batches): Promise<number[][]> {
  const out: number[][] = [];
  for await (const { x, y } of data) {
    const ids = Array.from(y.dataSync());
    // Row k of x is [id, 100 + id] for the example id in y.
    expect(Array.from(x.dataSync())).toEqual(ids.flatMap((id) => [id, 100 + id]));
    expect(x.shape).toEqual([ids.length, 2]);
    out.push(ids);
    tf.dispose([x, y]);
  }
  return out;
}

describe.each(['cpu', 'wasm'] as const)('batches (%s)', (backend) => {
  let x: tf.Tensor2D;
  let y: tf.Tensor1D;
  beforeAll(async () => {
    await useBackend(backend);
    x = tf.tensor2d(Array.from({ length: 10 }, (_, i) => [i, 100 + i]));
    y = tf.tensor1d(Array.from({ length: 10 }, (_, i) => i), 'int32');
  });
  afterAll(() => { tf.dispose([x, y]); });

  it('yields the examples in order in batches of batchSize, the last one smaller', async () => {
    const data = batches(x, y, { batchSize: 4 });
    expect(data.numExamples).toBe(10);
    expect(data.batchesPerEpoch).toBe(3);
    expect(await epochIds(data)).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    // Without shuffling, every epoch is the same.
    expect(await epochIds(data)).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    const dropped = batches(x, y, { batchSize: 4, dropRemainder: true });
    expect(dropped.batchesPerEpoch).toBe(2);
    expect(await epochIds(dropped)).toEqual([[0, 1, 2, 3], [4, 5, 6, 7]]);
    expect(await epochIds(batches(x, y, { batchSize: 10, dropRemainder: true }))).toEqual([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]]);
    expect((await epochIds(batches(x, y))).length).toBe(1); // default batchSize 32 > 10
  });

  it('shuffles with a new seeded permutation each epoch, the same for the same seed', async () => {
    const data = batches(x, y, { batchSize: 3, shuffle: true, seed: 11 });
    const epochs = [await epochIds(data), await epochIds(data), await epochIds(data)];
    // Each epoch is a permutation, in batches of 3, 3, 3, 1.
    for (const e of epochs) {
      expect(e.map((b) => b.length)).toEqual([3, 3, 3, 1]);
      expect(e.flat().sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    }
    expect(epochs[0]?.flat()).not.toEqual(epochs[1]?.flat());
    expect(epochs[1]?.flat()).not.toEqual(epochs[2]?.flat());
    // The documented draw: epoch k uses the k-th permutation of createRandom(seed).
    const rng = createRandom(11);
    for (const e of epochs) expect(e.flat()).toEqual(Array.from(rng.permutation(10)));
    // A second iterable with the same seed repeats the same sequence of epochs; another seed does not.
    const again = batches(x, y, { batchSize: 3, shuffle: true, seed: 11 });
    expect([await epochIds(again), await epochIds(again), await epochIds(again)]).toEqual(epochs);
    expect(await epochIds(batches(x, y, { batchSize: 3, shuffle: true, seed: 12 }))).not.toEqual(epochs[0]);
    // dropRemainder drops the last, smaller batch of the shuffled order.
    const dropped = await epochIds(batches(x, y, { batchSize: 3, shuffle: true, seed: 11, dropRemainder: true }));
    expect(dropped).toEqual(epochs[0]?.slice(0, 3));
  });

  it('restores the shuffle state, so a resumed run draws the epochs it would have drawn', async () => {
    const data = batches(x, y, { batchSize: 5, shuffle: true, seed: 3 });
    await epochIds(data);
    const saved = data.getState();
    const second = await epochIds(data);
    const third = await epochIds(data);
    const resumed = batches(x, y, { batchSize: 5, shuffle: true, seed: 999 });
    resumed.setState(saved);
    expect([await epochIds(resumed), await epochIds(resumed)]).toEqual([second, third]);
    expect(() => { resumed.setState(-1); }).toThrow(/^batches.setState: state must be an integer >= 0 \(got -1\)$/);
  });

  it('batches any targets with matching rows, e.g. soft labels [N, C]', async () => {
    const soft = tf.tensor2d(Array.from({ length: 10 }, (_, i) => [i / 10, 1 - i / 10]));
    const seen: number[][] = [];
    for await (const b of batches(x, soft, { batchSize: 4, shuffle: true, seed: 5 })) {
      const batch: Batch<tf.Tensor2D, tf.Tensor2D> = b;
      const xs = Array.from(batch.x.dataSync());
      const ys = Array.from(batch.y.dataSync());
      expect(batch.y.shape).toEqual([batch.x.shape[0], 2]);
      for (let k = 0; k < (batch.x.shape[0] ?? 0); k++) seen.push([xs[2 * k] ?? -1, ys[2 * k] ?? -1]);
      tf.dispose([batch.x, batch.y]);
    }
    expect(seen.length).toBe(10);
    for (const [id, first] of seen) expect(first).toBeCloseTo((id ?? 0) / 10, 6);
    soft.dispose();
  });

  it('leaks nothing: the caller owns each batch; breaking out early leaves only what was yielded', async () => {
    const before = tf.memory().numTensors;
    const data = batches(x, y, { batchSize: 3, shuffle: true, seed: 1 });
    for (let e = 0; e < 2; e++) await epochIds(data);
    expect(tf.memory().numTensors).toBe(before);
    const kept: tf.Tensor[] = [];
    for await (const b of data) {
      kept.push(b.x, b.y);
      if (kept.length === 4) break;
    }
    // The yielded batches stay valid after the loop: the iterator never disposes them.
    expect(kept.every((t) => !t.isDisposed)).toBe(true);
    expect(tf.memory().numTensors).toBe(before + 4);
    tf.dispose(kept);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects bad arguments before making any tensor', async () => {
    const y9 = tf.tensor1d([1, 2, 3, 4, 5, 6, 7, 8, 9], 'int32');
    expectThrowsNoLeak(() => batches(x, y9), /^batches: x and y must hold the same number of examples \(first dimension\) \(got \[10, 2\] and \[9\]\)$/);
    expectThrowsNoLeak(() => batches(x, y, { batchSize: 0 }), /^batches: batchSize must be an integer >= 1 \(got 0\)$/);
    expectThrowsNoLeak(() => batches(x, y, { batchSize: 2.5 }), /^batches: batchSize must be an integer >= 1 \(got 2.5\)$/);
    expectThrowsNoLeak(() => batches(x, y, { batchSize: 11, dropRemainder: true }), /^batches: batchSize must be <= the number of examples \(10\) when dropRemainder is true/);
    expectThrowsNoLeak(() => batches(x, y, { shuffle: 'yes' as never }), /^batches: shuffle must be a boolean \(got "yes"\)$/, TypeError);
    expectThrowsNoLeak(() => batches(x, y, { seed: NaN }), /^batches: seed must be a finite number \(got NaN\)$/);
    expectThrowsNoLeak(() => batches(x, y, { batch_size: 8 } as never), /^batches: options must only have the keys batchSize, shuffle, dropRemainder, seed \(got "batch_size"\)$/);
    expectThrowsNoLeak(() => batches([1, 2] as never, y), /^batches: x must be a tf.Tensor \(got \[1, 2\]\)$/, TypeError);
    const scalar = tf.scalar(1);
    expectThrowsNoLeak(() => batches(scalar as never, y), /^batches: x must have rank >= 1/);
    tf.dispose([y9, scalar]);
    // A source disposed between epochs is reported when the next epoch starts.
    const gone = tf.tensor1d([1, 2, 3], 'int32');
    const inputs = tf.zeros([3, 1]);
    const data = batches(inputs, gone);
    gone.dispose();
    const before = tf.memory().numTensors;
    await expect(data[Symbol.asyncIterator]().next()).rejects.toThrow(/^batches: y must stay alive while its batches are iterated/);
    expect(tf.memory().numTensors).toBe(before);
    inputs.dispose();
  });
});
