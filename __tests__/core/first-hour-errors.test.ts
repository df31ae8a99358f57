/**
 * The mistakes of a user's first hour, each refused (or warned about) with the fix in the message: one-hot or float
 * labels, images in 0–255, an attack function passed where a configured attack goes, and a loss differentiated
 * without tfjs' gradients registered.
 */
import * as tf from '@tensorflow/tfjs-core';
import { pgd } from '../../src/attacks/index.js';
import { evaluate } from '../../src/eval/index.js';
import { expectRejectsNoLeak, expectThrowsNoLeak, useBackend } from '../helpers.js';

describe("a user's first hour", () => {
  beforeAll(async () => useBackend('cpu'));

  const w = (): tf.Tensor2D => tf.tensor2d([[1, -1, 0.5], [0.2, 0.3, -0.4], [-1, 0.5, 0.1], [0.3, -0.2, 0.7]]);
  const logitsOf = (weights: tf.Tensor2D) => (x: tf.Tensor): tf.Tensor2D => tf.matMul(x, weights);

  it('one-hot labels: pass class indices, with tf.argMax', () => {
    const weights = w();
    const x = tf.fill([2, 4], 0.5);
    const oneHot = tf.oneHot(tf.tensor1d([0, 2], 'int32'), 3);
    expectThrowsNoLeak(
      () => pgd(logitsOf(weights), x, oneHot as unknown as tf.Tensor1D, { eps: 0.1 }),
      /^pgd: y must be class indices \[2\], not one-hot rows: pass tf\.argMax\(y, 1\) \(got an int32 tensor of shape \[2, 3\]\)$/
    );
    const floats = tf.tensor1d([0, 2]);
    expectThrowsNoLeak(
      () => pgd(logitsOf(weights), x, floats, { eps: 0.1 }),
      /^pgd: y must be an int32 tensor of class indices \(cast them: tf\.cast\(y, 'int32'\)\) \(got a float32 tensor of shape \[2\]\)$/,
      TypeError
    );
    tf.dispose([weights, x, oneHot, floats]);
  });

  it('images in 0–255: divide by 255 or pass bounds', () => {
    const weights = w();
    const x = tf.tensor2d([[0, 12, 200, 255], [3, 4, 5, 6]]);
    const y = tf.tensor1d([0, 1], 'int32');
    expectThrowsNoLeak(
      () => pgd(logitsOf(weights), x, y, { eps: 0.1 }),
      /^pgd: x must lie inside bounds \[0, 1\] \(images in 0–255\? divide them by 255, or pass bounds: \[0, 255\]\) \(got "values in \[0, 255\]"\)$/
    );
    // Values just outside the box are no pixels: no hint.
    const near = tf.tensor2d([[0, 0.5, 1.2, 0.3], [0.1, 0.2, 0.3, 0.4]]);
    expectThrowsNoLeak(() => pgd(logitsOf(weights), near, y, { eps: 0.1 }), /^pgd: x must lie inside bounds \[0, 1\] \(got "values in \[0, 1\.2\]"\)$/);
    tf.dispose([weights, x, near, y]);
  });

  it('an attack function such as pgd passed to evaluate: use its factory', async () => {
    const weights = w();
    const x = tf.fill([3, 4], 0.5);
    const y = tf.tensor1d([0, 1, 2], 'int32');
    await expectRejectsNoLeak(
      () => evaluate(logitsOf(weights), x, y, { attacks: { pgd: pgd as never } }),
      /^evaluate: attacks\.pgd must be an attack that runs as \(model, x, y\), such as pgdAttack\(\{ eps, … \}\) \(got pgd, an attack function that needs its options: .*options must be an object/,
      TypeError
    );
    tf.dispose([weights, x, y]);
  });

  // A loss differentiated without tfjs' gradients registered: __tests__/core/no-gradients.test.ts (no tfjs-layers there).

});
