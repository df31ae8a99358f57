import * as tf from '@tensorflow/tfjs-core';
import { smallCnn } from '../../src/models/index.js';
import { useBackend } from '../helpers.js';

describe('smallCnn', () => {
  beforeAll(async () => useBackend('cpu'));

  it('is the SmallCNN of Madry et al. and TRADES by default: 312 202 parameters, logits for 10 classes', () => {
    const net = smallCnn();
    expect(net.countParams()).toBe(312202);
    expect(net.layers.map((l) => [l.getClassName(), l.outputShape])).toEqual([
      ['Conv2D', [null, 26, 26, 32]],
      ['Conv2D', [null, 24, 24, 32]],
      ['MaxPooling2D', [null, 12, 12, 32]],
      ['Conv2D', [null, 10, 10, 64]],
      ['Conv2D', [null, 8, 8, 64]],
      ['MaxPooling2D', [null, 4, 4, 64]],
      ['Flatten', [null, 1024]],
      ['Dense', [null, 200]],
      ['Dense', [null, 200]],
      ['Dense', [null, 10]]
    ]);
    const logits = net.predict(tf.zeros([2, 28, 28, 1])) as tf.Tensor;
    expect(logits.shape).toEqual([2, 10]);
    tf.dispose(logits);
    net.dispose();
  });

  it('scales with its options, and the same seed gives the same weights', () => {
    const a = smallCnn({ inputShape: [32, 32, 3], numClasses: 5, filters: [8, 16], hidden: 20, seed: 4 });
    const b = smallCnn({ inputShape: [32, 32, 3], numClasses: 5, filters: [8, 16], hidden: 20, seed: 4 });
    const c = smallCnn({ inputShape: [32, 32, 3], numClasses: 5, filters: [8, 16], hidden: 20, seed: 5 });
    expect(a.outputShape).toEqual([null, 5]);
    expect(a.layers[6]?.outputShape).toEqual([null, 5 * 5 * 16]);
    const w = (n: typeof a): number[] => Array.from(n.getWeights()[0]?.dataSync() ?? []);
    expect(w(a)).toEqual(w(b));
    expect(w(a)).not.toEqual(w(c));
    for (const n of [a, b, c]) n.dispose();
  });

  it('rejects bad options with messages that name the argument', () => {
    expect(() => smallCnn({ inputShape: [8, 8, 1] })).toThrow(/^smallCnn: inputShape must have height and width >= 16 .*\(got \[8, 8, 1\]\)$/);
    expect(() => smallCnn({ inputShape: [28, 28] as unknown as [number, number, number] })).toThrow(RangeError);
    expect(() => smallCnn({ numClasses: 1 })).toThrow(/^smallCnn: numClasses must be an integer >= 2 \(got 1\)$/);
    expect(() => smallCnn({ filters: [32, 0] })).toThrow(/^smallCnn: filters\[1\] must be an integer >= 1 \(got 0\)$/);
    expect(() => smallCnn({ hidden: 2.5 })).toThrow(/^smallCnn: hidden must be an integer >= 1 \(got 2.5\)$/);
    expect(() => smallCnn({ width: 2 } as object)).toThrow(/^smallCnn: options must only have the keys/);
  });
});
