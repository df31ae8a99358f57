import type * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';
import type { Bounds } from '../core/validate.js';
import type { Random } from '../core/random.js';
import type { Student } from './student.js';

/** Where training is, handed to an {@link Objective} at every batch. */
export interface BatchContext {
  /** 0-based epoch. */
  readonly epoch: number;
  /** Total epochs of the run. */
  readonly epochs: number;
  /** 0-based batch within the epoch. */
  readonly batch: number;
  /** Fraction of training done, in [0, 1) (epoch-based: `epoch / epochs`). */
  readonly progress: number;
  /** Batches per epoch: known for tensor data, and for iterables after their first epoch; `undefined` before. */
  readonly batchesPerEpoch: number | undefined;
  /** The run's seeded random source (attack starts, coin flips). */
  readonly rng: Random;
  /** The student being trained. */
  readonly student: Student;
  /** The student's logits in inference mode, for attacks made outside the gradient tape. */
  readonly studentModel: Model;
  /** The learning rate of this batch (after the schedule). */
  readonly learningRate: number;
  /** The base learning rate the schedule scales; `learningRate / baseLearningRate` is the schedule's factor. */
  readonly baseLearningRate: number;
}

/** What an objective's loss returns, computed inside the gradient tape. */
export interface LossTerms {
  /** The scalar minimised. */
  readonly total: tf.Scalar;
  /** Each named term (scalars) for callbacks, the history and the non-finite check. */
  readonly terms: Readonly<Record<string, tf.Scalar>>;
  /** Logits whose argmax is the batch's training accuracy (usually the student on the inputs it is trained on). */
  readonly accuracyLogits?: tf.Tensor2D;
}

/**
 * An objective's state, held by `fit` between batches (optax's `init`/`update` state): plain numbers, and tensors by
 * name. Checkpoints save it as it is; trainable `tf.Variable`s among the tensors (CRDND's learned compensation) are
 * optimised with the student.
 */
export interface ObjectiveState {
  /** JSON-serialisable values (e.g. MTARD's weights). */
  readonly values: Readonly<Record<string, number>>;
  /** Tensors (e.g. CRDND's learned compensation), owned by `fit`, which disposes them when it ends. */
  readonly tensors: Readonly<Record<string, tf.Tensor>>;
}

/** What `fit` hands to {@link Objective.init}, after checking the data and the objective. */
export interface ObjectiveSetup {
  /** The student to be trained. */
  readonly student: Student;
  /** The number of classes of the student's logits. */
  readonly numClasses: number;
  /** One training example, `[1, ...]`. */
  readonly sample: tf.Tensor;
}

/**
 * A training method as `fit` runs it, with its state explicit as in optax: `fit` calls `init` once per run and holds
 * the state; per batch it calls `prepare` outside the gradient tape (adversarial examples, teacher outputs: each
 * teacher runs once per batch and input, and every term reuses its output), then `loss` inside the tape, then
 * applies the gradients of `total` to the student's variables and the state's trainable variables, then `update`
 * with the term values, which returns the next state. Tensors returned by `prepare` are disposed by `fit` after the
 * step (the batch's `x` and `y` excepted); the state's tensors when they leave the state and when `fit` ends, so an
 * objective holds nothing itself and can train any number of students, one after another or at once.
 */
export interface Objective<P extends tf.TensorContainer = tf.TensorContainer> {
  /** The method's name, used in messages and checkpoints. */
  readonly name: string;
  /** The input box its attacks work in: `fit` checks the training data against it (by example index) before training. */
  readonly bounds?: Bounds;
  /**
   * Checks the student, its teachers and the data's class count before training, on one example `sample` `[1, ...]`
   * (e.g. that teachers have the student's class count, DARHT's feature-map width).
   */
  check?(student: Student, numClasses: number, sample: tf.Tensor): void;
  /**
   * The state before the first batch (e.g. MTARD's weights, CRDND's learned compensation as trainable variables),
   * made once per `fit`; `fit` owns and disposes its tensors. Without `init` the state is empty.
   */
  init?(setup: ObjectiveSetup): ObjectiveState;
  /** Outside the tape: everything the loss needs that is not differentiated. */
  prepare(x: tf.Tensor, y: tf.Tensor1D, ctx: BatchContext, state: ObjectiveState): P;
  /** Inside the tape: the loss terms. */
  loss(prepared: P, x: tf.Tensor, y: tf.Tensor1D, ctx: BatchContext, state: ObjectiveState): LossTerms;
  /**
   * After the update, with the batch's term values: the next state (`state` itself when nothing changes). Tensors of
   * `state` missing from the result are disposed by `fit`.
   */
  update?(state: ObjectiveState, terms: Readonly<Record<string, number>>, ctx: BatchContext): ObjectiveState;
  /**
   * A batch to skip (no update) given its term values, e.g. DARHT skips batches whose cross-entropy exceeds 8.
   * Non-finite values in skipped batches do not stop training.
   */
  skip?(terms: Readonly<Record<string, number>>): boolean;
  /**
   * Releases resources the objective holds itself. `fit` never calls it: what `init` made is `fit`'s and released
   * when it ends, and no objective of ardkit holds anything, so calling it is never needed.
   * @deprecated Kept so that code written for the stateful objectives of earlier releases still compiles; it will be
   * removed in the next major release.
   */
  dispose?(): void;
  /**
   * The model as the method deploys it, given the trained student's logits (e.g. LTD divides them by `τ_S`).
   * `fit`'s validation evaluates it; without `deploy` the student is deployed as it is.
   */
  deploy?(student: Model): Model;
}
