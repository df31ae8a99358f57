import * as tf from '@tensorflow/tfjs-core';
import { checkGradientsInTape, checkKnownKeys, checkLabels, checkTensor } from '../core/validate.js';
import { formatValue, rangeError, typeError, argumentError } from '../core/errors.js';
import { deviceCheck, deviceChecks } from '../core/device-checks.js';
import { logitsProbe } from '../core/probabilities.js';

/**
 * Checks a float logits tensor `[B, C]` with `C >= 2`; with `probe`, on the loss's first call, also whether the values
 * look like probabilities (a warning).
 */
export function checkLogitsArg(arg: string, value: unknown, probe = true): tf.Tensor2D {
  checkGradientsInTape();
  const z = checkTensor(arg, value, { exact: 2 });
  if (z.dtype !== 'float32') typeError(arg, 'be a float32 tensor', z);
  if ((z.shape[1] ?? 0) < 2) rangeError(arg, 'have at least 2 classes', z);
  if (z.shape[0] === 0) rangeError(arg, 'hold at least one example', z);
  // On the loss's first call: do these logits look like probabilities? (a warning)
  if (probe) deviceChecks([logitsProbe(arg, z as tf.Tensor2D)]);
  return z as tf.Tensor2D;
}

/** Checks two logits tensors of the same shape `[B, C]`; the message names both shapes. `probeA`: see {@link checkLogitsArg}. */
export function checkLogitsPair(argA: string, a: unknown, argB: string, b: unknown, probeA = true): [tf.Tensor2D, tf.Tensor2D] {
  const za = checkLogitsArg(argA, a, probeA);
  const zb = checkLogitsArg(argB, b);
  if (za.shape[0] !== zb.shape[0]) {
    throw argumentError(RangeError, `${argA} and ${argB} must have the same batch size (got ${formatValue(za.shape)} and ${formatValue(zb.shape)})`
    );
  }
  if (za.shape[1] !== zb.shape[1]) {
    throw argumentError(RangeError, `${argA} and ${argB} must have the same number of classes (got ${formatValue(za.shape)} and ${formatValue(zb.shape)})`
    );
  }
  return [za, zb];
}

/** Checks logits `[B, C]` and matching int32 labels `[B]` in `[0, C)`. */
export function checkLogitsAndLabels(logits: unknown, labels: unknown, logitsArg = 'logits', labelsArg = 'labels'): [tf.Tensor2D, tf.Tensor1D] {
  const z = checkLogitsArg(logitsArg, logits);
  checkLabels(labelsArg, labels, z.shape[0], z.shape[1]);
  return [z, labels as tf.Tensor1D];
}

/** What {@link checkLossInputs} returns: the named logits, and the labels when the loss takes them. */
export interface CheckedInputs<K extends string, O extends string> {
  readonly logits: Readonly<Record<K, tf.Tensor2D>> & Readonly<Partial<Record<O, tf.Tensor2D>>>;
  readonly labels: tf.Tensor1D | undefined;
}

/**
 * Validates the named logits of a multi-tensor loss: the object holds only known keys, each required
 * logits tensor is present, all logits given share one shape `[B, C]`, and `labels` (required, optional
 * or absent per `labels`) are int32 `[B]` in `[0, C)`.
 */
export function checkLossInputs<I extends object, const K extends keyof I & string, const O extends keyof I & string = never>(
  inputs: I,
  // Checked by the compiler in both directions, as optionKeys does: the names are keys of the inputs type `I`, and
  // every key of `I` (besides `labels`) is named.
  spec: { readonly required: readonly K[]; readonly optional?: readonly O[]; readonly labels: 'required' | 'optional' | 'none' } &
    (Exclude<keyof I & string, K | O | 'labels'> extends never ? unknown : { readonly missing: Exclude<keyof I & string, K | O | 'labels'> })
): CheckedInputs<K, O> {
  const optional: readonly string[] = spec.optional ?? [];
  const names = [...spec.required, ...optional];
  if (typeof inputs !== 'object' || inputs === null || inputs instanceof tf.Tensor) {
    typeError('inputs', `be an object with the logits ${spec.required.join(', ')}`, inputs);
  }
  checkKnownKeys(inputs as Record<string, unknown>, spec.labels === 'none' ? names : [...names, 'labels']);
  const record = inputs as Record<string, unknown>;
  const logits: Record<string, tf.Tensor2D> = {};
  let first: [string, tf.Tensor2D] | undefined;
  for (const key of names) {
    if (record[key] === undefined) {
      if ((spec.required as readonly string[]).includes(key)) rangeError(`inputs.${key}`, 'be given', undefined);
      continue;
    }
    const z = checkLogitsArg(`inputs.${key}`, record[key]);
    if (first === undefined) first = [key, z];
    else checkLogitsPair(`inputs.${first[0]}`, first[1], `inputs.${key}`, z);
    logits[key] = z;
  }
  let labels: tf.Tensor1D | undefined;
  if (spec.labels !== 'none' && (record.labels !== undefined || spec.labels === 'required')) {
    if (record.labels === undefined) rangeError('inputs.labels', 'be given', undefined);
    const shape = first?.[1].shape ?? [0, 0];
    checkLabels('inputs.labels', record.labels, shape[0], shape[1]);
    labels = record.labels as tf.Tensor1D;
  }
  return { logits: logits as CheckedInputs<K, O>['logits'], labels };
}

/** Throws unless `value` is defined: for inputs a loss needs only under some options. */
export function requireInput<T>(arg: string, value: T | undefined, why: string): T {
  if (value === undefined) rangeError(arg, `be given ${why}`, undefined);
  return value;
}

/**
 * Checks that each row of `p` is a probability distribution: entries ≥ 0 that sum to 1 (to 1e-3). Read at once on
 * cpu, wasm and tensorflow, queued on the device elsewhere (see `flushChecks`).
 */
export function checkProbabilities(arg: string, p: tf.Tensor2D): void {
  deviceCheck(
    () => tf.stack([tf.min(p), tf.max(tf.abs(tf.sub(tf.sum(p, 1), 1)))]),
    ([min, worst]) => {
      if (!((min ?? NaN) >= 0 && (worst ?? NaN) <= 1e-3)) {
        rangeError(arg, 'hold probabilities (entries >= 0, rows summing to 1)', `min ${String(min)}, worst row-sum error ${String(worst)}`);
      }
    }
  );
}
