/**
 * In Node, tfjs-core alone registers no gradients. This file deliberately imports neither tfjs-layers nor
 * the test helpers (which do), so the attacks must say clearly what is missing.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { pgd } from '../../src/attacks/index.js';
import { crossEntropy } from '../../src/losses/index.js';

it('attacks explain how to register gradients when none are', async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  const x = tf.tensor2d([[0.5, 0.5]]);
  const y = tf.tensor1d([0], 'int32');
  const model = (t: tf.Tensor): tf.Tensor2D => tf.concat([t, tf.neg(t)], 1) as tf.Tensor2D;
  const before = tf.memory().numTensors;
  expect(() => pgd(model, x, y, { eps: 0.1 })).toThrow(/^pgd: tfjs gradients are not registered.*Import '@tensorflow\/tfjs' or '@tensorflow\/tfjs-layers'/);
  expect(tf.memory().numTensors).toBe(before);
  tf.dispose([x, y]);
});

it('losses differentiated in a loop of your own say the same, and run as before outside a gradient computation', async () => {
  await tf.setBackend('cpu');
  const z = tf.tensor2d([[1, 2, 3]]);
  const y = tf.tensor1d([0], 'int32');
  const before = tf.memory().numTensors;
  expect(() => tf.grad((t: tf.Tensor) => crossEntropy(t as tf.Tensor2D, y))(z)).toThrow(
    /^crossEntropy: tfjs gradients are not registered.*Import '@tensorflow\/tfjs' or '@tensorflow\/tfjs-layers'/
  );
  expect(tf.memory().numTensors).toBe(before);
  const value = crossEntropy(z, y);
  expect(value.rank).toBe(0);
  tf.dispose([value, z, y]);
});
