import * as tf from '@tensorflow/tfjs-core';
import { checkLabels, checkOneOf, checkTensor } from '../core/validate.js';
import { REDUCTIONS, type Reduction } from '../core/reduce.js';
import { formatValue } from '../core/errors.js';

/** Checks a float logits tensor `[B, C]` with `C >= 2`. */
export function checkLogitsArg(fn: string, arg: string, value: unknown): tf.Tensor2D {
  const z = checkTensor(fn, arg, value, { exact: 2 });
  if (z.dtype !== 'float32') throw new TypeError(`${fn}: ${arg} must be a float32 tensor (got ${formatValue(z)})`);
  if ((z.shape[1] ?? 0) < 2) throw new RangeError(`${fn}: ${arg} must have at least 2 classes (got ${formatValue(z)})`);
  if (z.shape[0] === 0) throw new RangeError(`${fn}: ${arg} must hold at least one example (got ${formatValue(z)})`);
  return z as tf.Tensor2D;
}

/** Checks two logits tensors of the same shape `[B, C]`; the message names both shapes. */
export function checkLogitsPair(fn: string, argA: string, a: unknown, argB: string, b: unknown): [tf.Tensor2D, tf.Tensor2D] {
  const za = checkLogitsArg(fn, argA, a);
  const zb = checkLogitsArg(fn, argB, b);
  if (za.shape[0] !== zb.shape[0]) {
    throw new RangeError(
      `${fn}: ${argA} and ${argB} must have the same batch size (got ${formatValue(za.shape)} and ${formatValue(zb.shape)})`
    );
  }
  if (za.shape[1] !== zb.shape[1]) {
    throw new RangeError(
      `${fn}: ${argA} and ${argB} must have the same number of classes (got ${formatValue(za.shape)} and ${formatValue(zb.shape)})`
    );
  }
  return [za, zb];
}

/** Checks logits `[B, C]` and matching int32 labels `[B]` in `[0, C)`. */
export function checkLogitsAndLabels(fn: string, logits: unknown, labels: unknown): [tf.Tensor2D, tf.Tensor1D] {
  const z = checkLogitsArg(fn, 'logits', logits);
  checkLabels(fn, 'labels', labels, z.shape[0], z.shape[1]);
  return [z, labels as tf.Tensor1D];
}

/** Checks the `reduction` option, defaulting to `'mean'`. */
export function checkReduction(fn: string, value: unknown): Reduction {
  return value === undefined ? 'mean' : checkOneOf(fn, 'reduction', value, REDUCTIONS);
}
