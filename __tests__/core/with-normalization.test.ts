import * as tf from '@tensorflow/tfjs-core';
import { type Model, withNormalization } from '../../src/core/index.js';
import { expectNoLeak, expectThrowsNoLeak, useBackend } from '../helpers.js';

/** A "network" that shows what it sees: the input flattened to [B, H·W·C]. */
const identity: Model = (x) => tf.reshape(x, [x.shape[0] ?? 1, -1]);

describe('withNormalization', () => {
  beforeAll(async () => useBackend('cpu'));

  it('feeds the model (x − mean)/std per channel (last axis)', () => {
    const model = withNormalization(identity, { mean: [0.5, 0.25], std: [0.5, 0.25] });
    // One image, 1×2 pixels, 2 channels: [[a0, a1], [b0, b1]].
    const x = tf.tensor4d([0, 1, 0.5, 0.75], [1, 1, 2, 2]);
    const out = model(x);
    // Channel 0: (0 − 0.5)/0.5 = −1, (0.5 − 0.5)/0.5 = 0; channel 1: (1 − 0.25)/0.25 = 3, (0.75 − 0.25)/0.25 = 2.
    expect(out.shape).toEqual([1, 4]);
    expect(Array.from(out.dataSync())).toEqual([-1, 3, 0, 2]);
    tf.dispose([x, out]);
  });

  it('is differentiable with respect to x, with the chain rule through 1/std', () => {
    const model = withNormalization((x) => tf.reshape(tf.sum(x, -1), [1, 1]), { mean: [1, 2, 3], std: [0.5, 2, 4] });
    const x = tf.ones([1, 3]);
    const g = tf.grad((v: tf.Tensor) => tf.sum(model(v)))(x);
    expect(Array.from(g.dataSync())).toEqual([2, 0.5, 0.25]);
    tf.dispose([x, g]);
  });

  it('leaves no tensor behind, on success and on the error path', () => {
    const model = withNormalization(identity, { mean: [0.1, 0.2, 0.3], std: [0.2, 0.3, 0.4] });
    const x = tf.randomUniform([2, 4, 4, 3], 0, 1, 'float32', 1);
    expectNoLeak(() => model(x));
    const bad = tf.zeros([2, 4, 4, 1]);
    expectThrowsNoLeak(() => model(bad), /^withNormalization: x must have 3 channels on its last axis \(the length of mean and std\) \(got a float32 tensor of shape \[2, 4, 4, 1\]\)$/);
    tf.dispose([x, bad]);
  });

  it('rejects bad arguments naming withNormalization, the argument, the rule and the value', () => {
    expect(() => withNormalization('net' as unknown as Model, { mean: [0], std: [1] })).toThrow(/^withNormalization: model must be a function \(got "net"\)$/);
    expect(() => withNormalization(identity, null as never)).toThrow(/^withNormalization: normalization must be an object \{ mean, std \} \(got null\)$/);
    expect(() => withNormalization(identity, { mean: [], std: [] })).toThrow(/^withNormalization: mean must be a non-empty array of finite numbers, one per channel \(got \[\]\)$/);
    expect(() => withNormalization(identity, { mean: [0, NaN], std: [1, 1] })).toThrow(/^withNormalization: mean must be a non-empty array .*\(got \[0, NaN\]\)$/);
    expect(() => withNormalization(identity, { mean: [0, 0, 0], std: [1, 1] })).toThrow(/^withNormalization: std must be an array of the length of mean \(3\) \(got \[1, 1\]\)$/);
    expect(() => withNormalization(identity, { mean: [0, 0], std: [1, 0] })).toThrow(/^withNormalization: std must hold finite numbers > 0 \(got \[1, 0\]\)$/);
    expect(() => withNormalization(identity, { mean: [0, 0], std: [-1, 1] })).toThrow(/^withNormalization: std must hold finite numbers > 0 \(got \[-1, 1\]\)$/);
    expect(() => withNormalization(identity, { mean: [0], std: [1], eps: 1 } as never)).toThrow(/^withNormalization: normalization must only have the keys mean, std \(got "eps"\)$/);
    const model = withNormalization(identity, { mean: [0], std: [1] });
    expect(() => model([1] as unknown as tf.Tensor)).toThrow(/^withNormalization: x must be a tf.Tensor \(got \[1\]\)$/);
  });
});
