import * as tf from '@tensorflow/tfjs-core';
import { checkGradientsInTape, checkKnownKeys, checkLabels, checkOneOf, checkPositive, checkTensor } from '../core/validate.js';
import { REDUCTIONS, type Reduction } from '../core/reduce.js';
import { formatValue, rangeError, typeError } from '../core/errors.js';
import { deviceCheck } from '../core/device-checks.js';

/** Checks a float logits tensor `[B, C]` with `C >= 2`. */
export function checkLogitsArg(fn: string, arg: string, value: unknown): tf.Tensor2D {
  checkGradientsInTape(fn);
  const z = checkTensor(fn, arg, value, { exact: 2 });
  if (z.dtype !== 'float32') typeError(fn, arg, 'be a float32 tensor', z);
  if ((z.shape[1] ?? 0) < 2) rangeError(fn, arg, 'have at least 2 classes', z);
  if (z.shape[0] === 0) rangeError(fn, arg, 'hold at least one example', z);
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
export function checkLogitsAndLabels(fn: string, logits: unknown, labels: unknown, logitsArg = 'logits', labelsArg = 'labels'): [tf.Tensor2D, tf.Tensor1D] {
  const z = checkLogitsArg(fn, logitsArg, logits);
  checkLabels(fn, labelsArg, labels, z.shape[0], z.shape[1]);
  return [z, labels as tf.Tensor1D];
}

/** Checks the `reduction` option, defaulting to `'mean'`. */
export function checkReduction(fn: string, value: unknown): Reduction {
  return value === undefined ? 'mean' : checkOneOf(fn, 'reduction', value, REDUCTIONS);
}

/**
 * How a distillation loss scales its KL terms per example: `'batchmean'` keeps the KL (the sum over classes), so
 * `reduction: 'mean'` gives PyTorch's `KLDivLoss(reduction='batchmean')`; `'classMean'` divides it by the number of
 * classes C, so `reduction: 'mean'` gives PyTorch's default element-mean `KLDivLoss()`, the convention of the
 * ARD, RSLAD, MTARD and AdaAD (CIFAR-10) reference code.
 */
export type KlReduction = 'batchmean' | 'classMean';

/** The allowed {@link KlReduction} values. */
export const KL_REDUCTIONS: readonly KlReduction[] = ['batchmean', 'classMean'];

/** Checks the `klReduction` option, defaulting to `'batchmean'`. */
export function checkKlReduction(fn: string, value: unknown): KlReduction {
  return value === undefined ? 'batchmean' : checkOneOf(fn, 'klReduction', value, KL_REDUCTIONS);
}

/** The factor a {@link KlReduction} applies to each per-example KL of logits `[B, C]`: 1, or 1/C. */
export function klFactor(klReduction: KlReduction, logits: tf.Tensor2D): number {
  return klReduction === 'classMean' ? 1 / (logits.shape[1] ?? 1) : 1;
}

/** Checks an optional temperature (finite, > 0), defaulting to `fallback`. */
export function checkTemperature(fn: string, arg: string, value: unknown, fallback: number): number {
  return value === undefined ? fallback : checkPositive(fn, arg, value);
}

/** Checks a weight in [0, 1], defaulting to `fallback`. */
export function checkUnitWeight(fn: string, arg: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 1) {
    rangeError(fn, arg, 'be a number in [0, 1]', value);
  }
  return value;
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
  fn: string,
  inputs: I,
  // Checked by the compiler in both directions, as optionKeys does: the names are keys of the inputs type `I`, and
  // every key of `I` (besides `labels`) is named.
  spec: { readonly required: readonly K[]; readonly optional?: readonly O[]; readonly labels: 'required' | 'optional' | 'none' } &
    (Exclude<keyof I & string, K | O | 'labels'> extends never ? unknown : { readonly missing: Exclude<keyof I & string, K | O | 'labels'> })
): CheckedInputs<K, O> {
  const optional: readonly string[] = spec.optional ?? [];
  const names = [...spec.required, ...optional];
  if (typeof inputs !== 'object' || inputs === null || inputs instanceof tf.Tensor) {
    typeError(fn, 'inputs', `be an object with the logits ${spec.required.join(', ')}`, inputs);
  }
  checkKnownKeys(fn, inputs as Record<string, unknown>, spec.labels === 'none' ? names : [...names, 'labels']);
  const record = inputs as Record<string, unknown>;
  const logits: Record<string, tf.Tensor2D> = {};
  let first: [string, tf.Tensor2D] | undefined;
  for (const key of names) {
    if (record[key] === undefined) {
      if ((spec.required as readonly string[]).includes(key)) rangeError(fn, `inputs.${key}`, 'be given', undefined);
      continue;
    }
    const z = checkLogitsArg(fn, `inputs.${key}`, record[key]);
    if (first === undefined) first = [key, z];
    else checkLogitsPair(fn, `inputs.${first[0]}`, first[1], `inputs.${key}`, z);
    logits[key] = z;
  }
  let labels: tf.Tensor1D | undefined;
  if (spec.labels !== 'none' && (record.labels !== undefined || spec.labels === 'required')) {
    if (record.labels === undefined) rangeError(fn, 'inputs.labels', 'be given', undefined);
    const shape = first?.[1].shape ?? [0, 0];
    checkLabels(fn, 'inputs.labels', record.labels, shape[0], shape[1]);
    labels = record.labels as tf.Tensor1D;
  }
  return { logits: logits as CheckedInputs<K, O>['logits'], labels };
}

/** Throws unless `value` is defined: for inputs a loss needs only under some options. */
export function requireInput<T>(fn: string, arg: string, value: T | undefined, why: string): T {
  if (value === undefined) rangeError(fn, arg, `be given ${why}`, undefined);
  return value;
}

/** `log σ(z/τ)`, unchecked. */
export function logSoftmaxT(logits: tf.Tensor, temperature: number): tf.Tensor2D {
  return tf.logSoftmax(temperature === 1 ? logits : tf.div(logits, temperature)) as tf.Tensor2D;
}

/**
 * Per-example `KL(σ(a) ‖ σ(b))`, `a = p/τ_p`, `b = q/τ_q`, from logits, unchecked.
 *
 * `KL = Σ_c P_c·d_c − δ` with `d = a − b` and `δ = LSE(a) − LSE(b)`. For nearly equal distributions (high
 * temperatures, e.g. ARD's τ = 30, where the KL is ~1e-3 and is then scaled by τ²) subtracting two log-softmax
 * vectors loses the result to float32 cancellation, so there `δ = m + log1p(Σ_c Q_c·expm1(d_c − m))`,
 * `m = max_c d_c`, which keeps ~1e-6 relative accuracy. Where the distributions are far apart that sum
 * underflows, the KL is large, and the plain difference of log-sum-exps is accurate: each example takes the
 * form that suits it. A zero target probability contributes exactly 0.
 */
export function klPerExample(targetLogits: tf.Tensor, inputLogits: tf.Tensor, targetTemperature = 1, inputTemperature = 1): tf.Tensor1D {
  return tf.tidy(() => {
    const a = targetTemperature === 1 ? targetLogits : tf.div(targetLogits, targetTemperature);
    const b = inputTemperature === 1 ? inputLogits : tf.div(inputLogits, inputTemperature);
    const d = tf.sub(a, b);
    const m = tf.max(d, 1, true);
    const s = tf.sum(tf.mul(tf.softmax(b), tf.expm1(tf.sub(d, m))), 1);
    // 1 where the sum is well away from −1 (tf.step has a zero gradient, a comparison has none in tfjs).
    const nearby = tf.step(tf.add(s, 0.5));
    // Both branches stay finite everywhere, so the blend's gradient never meets 0·∞.
    const precise = tf.add(tf.squeeze(m, [1]), tf.log1p(tf.mul(nearby, s)));
    const plain = tf.sub(tf.logSumExp(a, 1), tf.logSumExp(b, 1));
    const delta = tf.add(tf.mul(nearby, precise), tf.mul(tf.sub(1, nearby), plain));
    return tf.sub<tf.Tensor1D>(tf.sum(tf.mul(tf.softmax(a), d), 1), delta);
  });
}

/** Smallest probability used inside logarithms of given probabilities: keeps `0·log 0` and its gradient finite. */
export const PROB_FLOOR = 1e-30;

/**
 * Per-example `KL(q ‖ σ(z/τ)) = Σ_c q_c (log q_c − log σ(z/τ)_c)` for target **probabilities** `q`, unchecked.
 * `q_c = 0` contributes 0, with a finite gradient with respect to `q`.
 */
export function klFromProbsPerExample(targetProbs: tf.Tensor, inputLogits: tf.Tensor, inputTemperature = 1): tf.Tensor1D {
  return tf.tidy(() => {
    const logQ = logSoftmaxT(inputLogits, inputTemperature);
    const logP = tf.log(tf.maximum(targetProbs, PROB_FLOOR));
    return tf.sum<tf.Tensor1D>(tf.mul(targetProbs, tf.sub(logP, logQ)), 1);
  });
}

/** `log σ(z)_y` per example, unchecked. */
export function trueClassLogProb(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => tf.sum<tf.Tensor1D>(tf.mul(tf.logSoftmax(logits), tf.oneHot(labels, logits.shape[1])), 1));
}

/** `σ(z)_y` per example, unchecked. */
export function trueClassProb(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => tf.sum<tf.Tensor1D>(tf.mul(tf.softmax(logits), tf.oneHot(labels, logits.shape[1])), 1));
}

/**
 * Checks that each row of `p` is a probability distribution: entries ≥ 0 that sum to 1 (to 1e-3). Read at once on
 * cpu, wasm and tensorflow, queued on the device elsewhere (see `flushChecks`).
 */
export function checkProbabilities(fn: string, arg: string, p: tf.Tensor2D): void {
  deviceCheck(
    () => tf.stack([tf.min(p), tf.max(tf.abs(tf.sub(tf.sum(p, 1), 1)))]),
    ([min, worst]) => {
      if (!((min ?? NaN) >= 0 && (worst ?? NaN) <= 1e-3)) {
        rangeError(fn, arg, 'hold probabilities (entries >= 0, rows summing to 1)', `min ${String(min)}, worst row-sum error ${String(worst)}`);
      }
    }
  );
}
