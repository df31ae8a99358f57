/**
 * The example networks the backend benchmarks time (bench/measure.ts's backend comparison, bench/gpu.ts): ardkit's
 * `smallCnn()` and the teacher and student CNNs of the main example (examples/robust-distillation.ts builds them with
 * its `cnn()`, copied here: that file is a program, not a module), with the same PGD step, PGD-AT step and hand-written
 * equivalents on any backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers'; // also registers tfjs' gradients in Node
import type { Model } from 'ardkit/core';
import { pgd } from 'ardkit/attacks';
import { crossEntropy } from 'ardkit/losses';
import { smallCnn } from 'ardkit/models';
import { mnistCnn } from '../examples/common.js';

export const NETWORKS = ['smallCnn', 'teacher', 'student'] as const;
export type NetworkName = (typeof NETWORKS)[number];

/** What each network is, for reports. */
export const NETWORK_DESCRIPTIONS: Record<NetworkName, string> = {
  smallCnn: "ardkit's smallCnn() (conv 32-32-pool-64-64-pool, dense 200-200-10)",
  teacher: "the main example's teacher: cnn([16, 32], 128) (3×3 same conv + 2×2 pool blocks, dense 128, 10)",
  student: "the main example's student: cnn([8, 16], 0) (3×3 same conv + 2×2 pool blocks, 10)"
};

/** Builds one of {@link NETWORKS} on the current backend (weights seeded: the same on every backend). */
export function buildNetwork(name: NetworkName): tfl.LayersModel {
  if (name === 'smallCnn') return smallCnn({ seed: 0 });
  if (name === 'teacher') return mnistCnn([16, 32], 128, 1);
  return mnistCnn([8, 16], 0, 3);
}

export interface AttackSetup {
  readonly eps: number;
  readonly stepSize: number;
}

/**
 * The PGD loop as a tfjs user writes it by hand: cross-entropy summed over the batch (log-softmax form), random
 * start in the ε-box, sign step, projection on the ε-ball ∩ [0, 1]. Uses only tfjs-core ops, so it runs wherever the
 * backend runs, whatever ardkit's own functions need.
 */
export function handPgd(model: Model, x: tf.Tensor, y: tf.Tensor1D, steps: number, a: AttackSetup): tf.Tensor {
  const oneHot = tf.oneHot(y, 10);
  const grad = tf.grad((xa: tf.Tensor) => tf.neg(tf.sum(tf.mul(oneHot, tf.logSoftmax(model(xa))))));
  const lower = tf.maximum(tf.sub(x, a.eps), 0);
  const upper = tf.minimum(tf.add(x, a.eps), 1);
  let xAdv = tf.tidy(() => tf.minimum(tf.maximum(tf.add(x, tf.randomUniform(x.shape, -a.eps, a.eps)), lower), upper));
  for (let k = 0; k < steps; k++) {
    const next = tf.tidy(() => tf.minimum(tf.maximum(tf.add(xAdv, tf.mul(tf.sign(grad(xAdv)), a.stepSize)), lower), upper));
    xAdv.dispose();
    xAdv = next;
  }
  tf.dispose([oneHot, lower, upper]);
  return xAdv;
}

/** Which implementation a measurement used: ardkit's functions, or the same ops written with tfjs-core. */
export type Impl = 'ardkit' | 'hand';

/** A PGD attack of `steps` steps: ardkit's `pgd`, or {@link handPgd}. Returns the adversarial batch. */
export function attack(impl: Impl, model: Model, x: tf.Tensor, y: tf.Tensor1D, steps: number, a: AttackSetup, seed: number): tf.Tensor {
  return impl === 'ardkit' ? pgd(model, x, y, { eps: a.eps, steps, stepSize: a.stepSize, seed }) : handPgd(model, x, y, steps, a);
}

/**
 * One PGD-AT step (Madry et al.): the attack outside the gradient tape (`steps` PGD steps), then one SGD update of the
 * cross-entropy on the adversarial batch, as ardkit's `fit` with `pgdAt` does per batch. Returns the loss (read it
 * with `await data()`: that waits for the whole step). `trainModel` is the network the update runs: by default
 * `model`; for a network with batch norm, the same network in training mode (`fromLayersModel(net, { training: true })`),
 * as `fit` attacks in inference mode and trains on batch statistics.
 */
export function pgdAtStep(impl: Impl, model: Model, optimizer: tf.Optimizer, x: tf.Tensor, y: tf.Tensor1D, steps: number, a: AttackSetup, seed: number, trainModel: Model = model): tf.Scalar {
  const xAdv = attack(impl, model, x, y, steps, a, seed);
  const loss =
    impl === 'ardkit'
      ? optimizer.minimize(() => crossEntropy(trainModel(xAdv), y), true)
      : optimizer.minimize(() => tf.div<tf.Scalar>(tf.neg(tf.sum(tf.mul(tf.oneHot(y, 10), tf.logSoftmax(trainModel(xAdv))))), y.shape[0]), true);
  xAdv.dispose();
  if (loss === null) throw new Error('pgdAtStep: the optimizer returned no loss');
  return loss;
}
