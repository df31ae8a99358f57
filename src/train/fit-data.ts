/** `fit`'s data pipeline: the accepted data shapes, one pass as batches, and the checks made before training. */
import * as tf from '@tensorflow/tfjs-core';
import { deviceChecks, flushChecks } from '../core/device-checks.js';
import { modelProbe } from '../core/probabilities.js';
import { assumeChecked, checkExamplesInBounds, checkFiniteExamples, checkInput, checkLabels, checkTensor, inheritChecks, type Bounds } from '../core/validate.js';
import { formatValue, isTensor, rangeError, typeError, argumentError, runAs } from '../core/errors.js';
import type { Augmentation, AugmentContext } from '../data/augment.js';
import { batchRows } from '../data/batch-rows.js';
import type { Objective, ObjectiveState } from './objective.js';
import { initialState } from './objective-state.js';
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

function unpack(batch: unknown): { x: tf.Tensor; y: tf.Tensor1D } {
  const b = batch as { x?: unknown; y?: unknown; xs?: unknown; ys?: unknown };
  const x = b.x ?? b.xs;
  const y = b.y ?? b.ys;
  if (!isTensor(x) || !isTensor(y)) typeError('data', 'yield batches { x, y } (or { xs, ys }) of tensors', batch);
  return { x, y: y as tf.Tensor1D };
}

/** One pass over the data as batches; tensor data is shuffled with `permutation` and gathered. */
export async function* passOver(data: FitData, batchSize: number, permutation: Int32Array | undefined): AsyncGenerator<{ x: tf.Tensor; y: tf.Tensor1D }> {
  if (isTensorData(data)) {
    for (const batch of batchRows(data.x, data.y, batchSize, permutation, Math.ceil((data.x.shape[0] ?? 0) / batchSize))) {
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
      yield unpack(r.value);
    }
  }
  if (typeof (data as AsyncIterable<FitBatch>)[Symbol.asyncIterator] === 'function') {
    for await (const b of data as AsyncIterable<FitBatch>) yield unpack(b);
    return;
  }
  typeError('data', 'be { x, y } tensors, an async iterable of batches or a tf.data dataset', data);
}

/**
 * A training batch's inputs through the user's augmentation (see `FitOptions.augment`), its intermediates released.
 * The result is `x` itself or a new tensor the caller disposes.
 *
 * @throws the augmentation's error as `fn: augment failed at epoch E, batch B: <message>` (same class, the original as
 * `cause`); TypeError/RangeError naming the function the user called when the result is not a float32 tensor of the batch's size (released).
 */
export function augmentBatch(augment: Augmentation, x: tf.Tensor, ctx: AugmentContext): tf.Tensor {
  let out: unknown;
  try {
    out = tf.tidy(() => augment(x, ctx));
  } catch (error) {
    const Failure = error instanceof RangeError ? RangeError : error instanceof TypeError ? TypeError : Error;
    const message = error instanceof Error ? error.message : String(error);
    throw argumentError(Failure, `augment failed at epoch ${String(ctx.epoch + 1)}, batch ${String(ctx.batch + 1)}: ${message}`, { cause: error });
  }
  if (!isTensor(out) || out.isDisposed) typeError('augment', 'return a tensor that is not disposed', out);
  const size = x.shape[0] ?? 0;
  if (out.dtype !== 'float32' || out.rank < 1 || out.shape[0] !== size) {
    const message = `augment must return a float32 tensor of the batch's size [${String(size)}, ...] (got ${formatValue(out)})`;
    const Failure = out.dtype === 'float32' ? RangeError : TypeError;
    if (out !== x) out.dispose();
    throw argumentError(Failure, message);
  }
  return out;
}

/**
 * The checks of a batch that arrived from an iterable, left on the device: `codes` is `[2, B]`, a code per example
 * (0 valid, 1 a label below 0, 2 a label ≥ C, 3 a value not finite, 4 a value outside the bounds) and its label.
 * `fit` reads them back with the step's loss (no readback of their own) and reports the first bad example, by its
 * index in the pass: before the batch's update with `logEvery: 1`, at the next log (after its group's updates) with
 * `logEvery: k`.
 */
export interface ArrivingChecks {
  /** `[2, B]`: the code of each example, and its label. */
  readonly codes: tf.Tensor2D;
  /** Index of the batch's first example in the pass. */
  readonly offset: number;
}

/**
 * Checks a batch that arrived from an iterable: its shapes and dtypes at once, its values on the device (see
 * {@link ArrivingChecks}). The batch's tensors are marked as checked, so that the objective's attacks read nothing
 * back; the caller reads the codes with the step's loss, and {@link reportArrivingBatch} throws for a bad example.
 *
 * @throws TypeError/RangeError naming the function the user called when the labels are not int32 `[B]` or the inputs are not a float batch.
 */
export function checkArrivingBatch(x: tf.Tensor, y: tf.Tensor1D, numClasses: number, bounds: Bounds | undefined, offset: number): ArrivingChecks {
  checkInput('data.x', x);
  checkTensor('data.y', y);
  if (y.dtype !== 'int32') typeError('data.y', 'be an int32 tensor of class indices', y);
  const batch = x.shape[0] ?? 0;
  if (y.rank !== 1 || y.shape[0] !== batch) rangeError('data.y', `have shape [${String(batch)}] to match the batch`, y);
  const codes = tf.tidy(() => {
    const flat = tf.reshape(x, [batch, -1]);
    const zeros = tf.zeros([batch]);
    let code = tf.where(tf.logicalNot(tf.all(tf.isFinite(flat), 1)), tf.fill([batch], 3), zeros);
    if (bounds !== undefined) {
      const inside = tf.logicalAnd(tf.all(tf.greaterEqual(flat, bounds[0]), 1), tf.all(tf.lessEqual(flat, bounds[1]), 1));
      code = tf.where(tf.logicalAnd(tf.equal(code, 0), tf.logicalNot(inside)), tf.fill([batch], 4), code);
    }
    code = tf.where(tf.greaterEqual(y, numClasses), tf.fill([batch], 2), code);
    code = tf.where(tf.less(y, 0), tf.fill([batch], 1), code);
    return tf.stack([code, tf.cast(y, 'float32')]) as tf.Tensor2D;
  });
  assumeChecked(y, { maxLabel: numClasses - 1 });
  assumeChecked(x, bounds === undefined ? { finite: true } : { finite: true, range: [bounds[0], bounds[1]] });
  return { codes, offset };
}

/**
 * Throws for the first bad example of an arriving batch, given its codes read back (`[2·B]`, see
 * {@link ArrivingChecks}): labels first, then non-finite values, then values outside `bounds`, as the checks of
 * tensor data report them.
 *
 * @throws RangeError naming the function the user called, the argument, the rule and the example's index in the pass.
 */
export function reportArrivingBatch(values: ArrayLike<number>, offset: number, numClasses: number, bounds: Bounds | undefined): void {
  try {
    reportCodes(values, offset, numClasses, bounds);
  } catch (error) {
    if (error instanceof Error) reported.add(error);
    throw error;
  }
}

/** The errors {@link reportArrivingBatch} threw: a bad batch, said once. */
const reported = new WeakSet<Error>();

/** Whether `error` is a bad arriving batch's report (made by {@link reportArrivingBatch}). */
export function isArrivingBatchError(error: unknown): boolean {
  return error instanceof Error && reported.has(error);
}

function reportCodes(values: ArrayLike<number>, offset: number, numClasses: number, bounds: Bounds | undefined): void {
  const batch = values.length / 2;
  const first = (code: number): number => {
    for (let i = 0; i < batch; i++) if (values[i] === code) return i;
    return -1;
  };
  const label = (i: number): string => `${String(values[batch + i])} at index ${String(i + offset)}`;
  const below = first(1);
  const above = first(2);
  if (below >= 0 && (above < 0 || below < above)) rangeError('data.y', 'hold class indices >= 0', label(below));
  if (above >= 0) rangeError('data.y', `hold class indices < ${String(numClasses)} (the number of classes)`, label(above));
  const nonFinite = first(3);
  if (nonFinite >= 0) rangeError('data.x', 'hold finite numbers', `NaN or ±Infinity in example ${String(nonFinite + offset)}`);
  const outside = first(4);
  if (outside >= 0 && bounds !== undefined) {
    rangeError('data.x', `lie inside bounds [${String(bounds[0])}, ${String(bounds[1])}]`, `example ${String(outside + offset)} has values outside`);
  }
}

/**
 * Probes the student's class count on one example (peeking at the first batch of an iterable, which is trained on
 * normally afterwards), lets the objective check the student and its teachers, checks tensor data and the
 * validation set, and last makes the objective's state (its `init`, on the same example). Everything else it makes is
 * released, also when it throws.
 *
 * @returns the number of classes, and the objective's state (the caller's to release).
 */
export async function probeData(
  net: Student,
  data: FitData,
  objective: Objective,
  batchSize: number,
  validation: Examples | undefined
): Promise<{ numClasses: number; state: ObjectiveState }> {
  if (typeof data !== 'object' || data === null) typeError('data', 'be { x, y } tensors, an async iterable of batches or a tf.data dataset', data);
  let sample: tf.Tensor | undefined;
  let first: { x: tf.Tensor; y: tf.Tensor1D } | undefined;
  try {
    if (isTensorData(data)) {
      const x = checkInput('data.x', data.x);
      if (!isTensor(data.y) || data.y.shape[0] !== x.shape[0]) {
        throw argumentError(RangeError, `data.x and data.y must hold the same number of examples (got ${formatValue(x.shape)} and ${formatValue(data.y)})`);
      }
      sample = tf.slice(x, 0, 1);
    } else {
      const it = passOver(data, batchSize, undefined);
      const r = await it.next();
      if (r.done === true) rangeError('data', 'yield at least one batch', 'none');
      first = r.value;
      await it.return(undefined);
      sample = tf.slice(first.x, 0, 1);
    }
    const probe = sample;
    const numClasses = tf.tidy(() => {
      const out = net.forward(probe, false);
      if (!isTensor(out.logits) || out.logits.rank !== 2 || out.logits.shape[0] !== 1) {
        rangeError('student', 'return logits [B, C] for a batch of B', out.logits);
      }
      return out.logits.shape[1] ?? 0;
    });
    // The objective's checks name it: `ard: teacher must have the student's number of classes`.
    tf.tidy(() => { runAs(objective.name, () => objective.check?.(net, numClasses, probe)); });
    // Whether the student returns probabilities: read with the data's checks (a warning).
    const studentProbe = modelProbe((xs) => net.forward(xs, false).logits, isTensorData(data) ? data.x : probe, 'the student');
    if (isTensorData(data)) {
      checkLabels('data.y', data.y, data.x.shape[0] ?? 0, numClasses);
      checkFiniteExamples('data.x', data.x, 0, studentProbe);
      if (objective.bounds !== undefined) checkExamplesInBounds('data.x', data.x, objective.bounds);
    } else {
      deviceChecks([studentProbe]);
    }
    if (validation !== undefined) {
      checkLabels('validation.y', validation.y, validation.x.shape[0] ?? 0, numClasses);
      checkFiniteExamples('validation.x', validation.x);
    }
    // On webgl and webgpu the checks above are queued on the device: read them now, before any training.
    await flushChecks();
    return { numClasses, state: initialState(objective, { student: net, numClasses, sample: probe }) };
  } finally {
    sample?.dispose();
    if (first !== undefined) tf.dispose([first.x, first.y]);
  }
}
