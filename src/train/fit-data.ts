/** `fit`'s data pipeline: the accepted data shapes, one pass as batches, and the checks made before training. */
import * as tf from '@tensorflow/tfjs-core';
import { checkExamplesInBounds, checkFiniteExamples, checkInput, checkLabels, inheritChecks, type Bounds } from '../core/validate.js';
import { formatValue, isTensor, rangeError, typeError } from '../core/errors.js';
import type { Objective } from './objective.js';
import type { Student } from './student.js';

/** Examples as tensors: inputs `[N, ...]` and int32 labels `[N]`. */
export interface Examples {
  /** Inputs. */
  readonly x: tf.Tensor;
  /** Int32 labels. */
  readonly y: tf.Tensor1D;
}

/** A batch as tf.data names it. */
export interface TfDataBatch {
  /** Inputs. */
  readonly xs: tf.Tensor;
  /** Int32 labels. */
  readonly ys: tf.Tensor1D;
}

/** One batch: inputs and int32 labels (tf.data's `{ xs, ys }` is accepted too). */
export type FitBatch = Examples | TfDataBatch;

/** A pass over a dataset's batches. */
export interface BatchIterator {
  /** The next batch, or `done`. */
  next(): Promise<IteratorResult<FitBatch>>;
}

/** A tf.data-style dataset: `iterator()` gives a fresh pass over the batches. */
export interface DatasetLike {
  /** Starts a pass. */
  iterator(): Promise<BatchIterator>;
}

/**
 * Training data: tensors in memory (`fit` shuffles and batches them), or batches from an async iterable or a
 * tf.data dataset, read once per epoch. `fit` disposes every batch an iterable or dataset yields after its step.
 */
export type FitData = Examples | AsyncIterable<FitBatch> | DatasetLike;

/** Whether the data are tensors in memory. */
export function isTensorData(data: FitData): data is Examples {
  return typeof data === 'object' && 'x' in data && 'y' in data && isTensor((data as { x: unknown }).x);
}

function unpack(fn: string, batch: unknown): { x: tf.Tensor; y: tf.Tensor1D } {
  const b = batch as { x?: unknown; y?: unknown; xs?: unknown; ys?: unknown };
  const x = b.x ?? b.xs;
  const y = b.y ?? b.ys;
  if (!isTensor(x) || !isTensor(y)) typeError(fn, 'data', 'yield batches { x, y } (or { xs, ys }) of tensors', batch);
  return { x, y: y as tf.Tensor1D };
}

/** One pass over the data as batches; tensor data is shuffled with `permutation` and gathered. */
export async function* passOver(fn: string, data: FitData, batchSize: number, permutation: Int32Array | undefined): AsyncGenerator<{ x: tf.Tensor; y: tf.Tensor1D }> {
  if (isTensorData(data)) {
    const n = data.x.shape[0] ?? 0;
    for (let start = 0; start < n; start += batchSize) {
      const size = Math.min(batchSize, n - start);
      let batch: { x: tf.Tensor; y: tf.Tensor1D };
      if (permutation === undefined) {
        batch = { x: tf.slice(data.x, start, size), y: tf.slice(data.y, start, size) };
      } else {
        const idx = tf.tensor1d(permutation.subarray(start, start + size), 'int32');
        batch = { x: tf.gather(data.x, idx), y: tf.gather(data.y, idx) };
        idx.dispose();
      }
      // What fit checked of the whole set holds for its batches: the objective's attacks read nothing back.
      inheritChecks(batch.x, data.x);
      inheritChecks(batch.y, data.y);
      yield batch;
    }
    return;
  }
  if (typeof (data as DatasetLike).iterator === 'function') {
    const it = await (data as DatasetLike).iterator();
    for (;;) {
      const r = await it.next();
      if (r.done === true) return;
      yield unpack(fn, r.value);
    }
  }
  if (typeof (data as AsyncIterable<FitBatch>)[Symbol.asyncIterator] === 'function') {
    for await (const b of data as AsyncIterable<FitBatch>) yield unpack(fn, b);
    return;
  }
  typeError(fn, 'data', 'be { x, y } tensors, an async iterable of batches or a tf.data dataset', data);
}

/**
 * Checks a batch that arrived from an iterable, in its first epoch: labels, finite values and (when the objective
 * has bounds) the input box, naming examples by their index in the pass.
 */
export function checkArrivingBatch(fn: string, x: tf.Tensor, y: tf.Tensor1D, numClasses: number, bounds: Bounds | undefined, offset: number): void {
  checkLabels(fn, 'data.y', y, x.shape[0] ?? 0, numClasses, offset);
  checkFiniteExamples(fn, 'data.x', x, offset);
  if (bounds !== undefined) checkExamplesInBounds(fn, 'data.x', x, bounds, offset);
}

/**
 * Probes the student's class count on one example (peeking at the first batch of an iterable, which is trained on
 * normally afterwards), lets the objective check the student and its teachers, and checks tensor data and the
 * validation set. Everything it makes is released, also when it throws.
 *
 * @returns the number of classes.
 */
export async function probeData(
  fn: string,
  net: Student,
  data: FitData,
  objective: Objective,
  batchSize: number,
  validation: Examples | undefined
): Promise<number> {
  if (typeof data !== 'object' || data === null) typeError(fn, 'data', 'be { x, y } tensors, an async iterable of batches or a tf.data dataset', data);
  let sample: tf.Tensor | undefined;
  let first: { x: tf.Tensor; y: tf.Tensor1D } | undefined;
  try {
    if (isTensorData(data)) {
      const x = checkInput(fn, 'data.x', data.x);
      if (!isTensor(data.y) || data.y.shape[0] !== x.shape[0]) {
        throw new RangeError(`${fn}: data.x and data.y must hold the same number of examples (got ${formatValue(x.shape)} and ${formatValue(data.y)})`);
      }
      sample = tf.slice(x, 0, 1);
    } else {
      const it = passOver(fn, data, batchSize, undefined);
      const r = await it.next();
      if (r.done === true) rangeError(fn, 'data', 'yield at least one batch', 'none');
      first = r.value;
      await it.return(undefined);
      sample = tf.slice(first.x, 0, 1);
    }
    const probe = sample;
    const numClasses = tf.tidy(() => {
      const out = net.forward(probe, false);
      if (!isTensor(out.logits) || out.logits.rank !== 2 || out.logits.shape[0] !== 1) {
        rangeError(fn, 'student', 'return logits [B, C] for a batch of B', out.logits);
      }
      return out.logits.shape[1] ?? 0;
    });
    tf.tidy(() => objective.check?.(net, numClasses, probe));
    if (isTensorData(data)) {
      checkLabels(fn, 'data.y', data.y, data.x.shape[0] ?? 0, numClasses);
      checkFiniteExamples(fn, 'data.x', data.x);
      if (objective.bounds !== undefined) checkExamplesInBounds(fn, 'data.x', data.x, objective.bounds);
    }
    if (validation !== undefined) {
      checkLabels(fn, 'validation.y', validation.y, validation.x.shape[0] ?? 0, numClasses);
      checkFiniteExamples(fn, 'validation.x', validation.x);
    }
    return numClasses;
  } finally {
    sample?.dispose();
    if (first !== undefined) tf.dispose([first.x, first.y]);
  }
}
