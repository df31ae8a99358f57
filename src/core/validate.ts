import * as tf from '@tensorflow/tfjs-core';
import { formatValue, isTensor, rangeError, typeError, argumentError } from './errors.js';
import { checksReadAtOnce, deviceCheck, deviceChecks, readWithChecks, type ValueCheck } from './device-checks.js';

/** Value bounds `[lo, hi]` of the inputs. */
export type Bounds = readonly [number, number];

/**
 * Checks that `value` is a finite number `>= 0`.
 *
 * @throws RangeError when `value` is not a finite number >= 0.
 * @example
 * const eps = checkNonNegative('myAttack', 'eps', options.eps);
 */
export function checkNonNegative(arg: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    rangeError(arg, 'be a finite number >= 0', value);
  }
  return value;
}

/**
 * Checks that `value` is a finite number `> 0`.
 *
 * @throws RangeError when `value` is not a finite number > 0.
 * @example
 * const tau = checkPositive('myLoss', 'temperature', options.temperature);
 */
export function checkPositive(arg: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    rangeError(arg, 'be a finite number > 0', value);
  }
  return value;
}

/**
 * Checks that `value` is a finite number.
 *
 * @throws RangeError when `value` is not a finite number.
 * @example
 * const kappa = checkFinite('myAttack', 'kappa', options.kappa);
 */
export function checkFinite(arg: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    rangeError(arg, 'be a finite number', value);
  }
  return value;
}

/**
 * Checks that `value` is an integer `>= min` (default 1).
 *
 * @throws RangeError when `value` is not an integer >= `min`.
 * @example
 * const steps = checkInteger('myAttack', 'steps', options.steps, 1);
 */
export function checkInteger(arg: string, value: unknown, min = 1): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    rangeError(arg, `be an integer >= ${String(min)}`, value);
  }
  return value;
}

/**
 * Checks that `value` is one of `allowed`.
 *
 * @throws RangeError when `value` is not one of `allowed`.
 * @example
 * const norm = checkOneOf('myAttack', 'norm', options.norm, ['linf', 'l2'] as const);
 */
export function checkOneOf<T extends string>(arg: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    rangeError(arg, `be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`, value);
  }
  return value as T;
}

/**
 * Checks that `value` is a boolean.
 *
 * @throws TypeError when `value` is not a boolean.
 * @example
 * const targeted = checkBoolean('myAttack', 'targeted', options.targeted);
 */
export function checkBoolean(arg: string, value: unknown): boolean {
  if (typeof value !== 'boolean') typeError(arg, 'be a boolean', value);
  return value;
}

/**
 * Checks that `bounds` is a pair of finite numbers with `lo < hi`.
 *
 * @throws RangeError when `bounds` is not a pair of finite numbers with lo < hi.
 * @example
 * const [lo, hi] = checkBounds('myAttack', options.bounds ?? [0, 1]);
 */
export function checkBounds(bounds: unknown): Bounds {
  if (
    !Array.isArray(bounds) ||
    bounds.length !== 2 ||
    typeof bounds[0] !== 'number' ||
    typeof bounds[1] !== 'number' ||
    !Number.isFinite(bounds[0]) ||
    !Number.isFinite(bounds[1]) ||
    !(bounds[0] < bounds[1])
  ) {
    rangeError('bounds', 'be a pair [lo, hi] of finite numbers with lo < hi', bounds);
  }
  return [bounds[0], bounds[1]];
}

/**
 * Checks that `value` is a tfjs tensor, optionally of a given rank (or minimum rank).
 *
 * @throws TypeError when `value` is not a live tensor; RangeError when its rank is wrong.
 * @example
 * const z = checkTensor('myLoss', 'logits', logits, { exact: 2 });
 */
export function checkTensor(arg: string, value: unknown, rank?: { exact?: number; min?: number }): tf.Tensor {
  if (!isTensor(value)) typeError(arg, 'be a tf.Tensor', value);
  if (value.isDisposed) typeError(arg, 'be a tensor that is not disposed', value);
  if (rank?.exact !== undefined && value.rank !== rank.exact) {
    rangeError(arg, `have rank ${String(rank.exact)}`, value);
  }
  if (rank?.min !== undefined && value.rank < rank.min) {
    rangeError(arg, `have rank >= ${String(rank.min)}`, value);
  }
  return value;
}

/**
 * Checks that `value` is a float tensor with at least a batch axis (`[B, ...]`, B >= 1).
 *
 * @throws TypeError when `value` is not a float32 tensor; RangeError when it has no batch axis or no example.
 * @example
 * const input = checkInput('myAttack', 'x', x);
 */
export function checkInput(arg: string, value: unknown): tf.Tensor {
  const x = checkTensor(arg, value, { min: 1 });
  if (x.dtype !== 'float32') typeError(arg, 'be a float32 tensor', x);
  if (x.shape[0] === 0) rangeError(arg, 'hold at least one example', x);
  return x;
}

/**
 * Checks that `value` is a function (a {@link Model} or a loss).
 *
 * @throws TypeError when `value` is not a function.
 * @example
 * checkFunction('myAttack', 'model', model);
 */
export function checkFunction(arg: string, value: unknown): void {
  if (typeof value !== 'function') typeError(arg, 'be a function', value);
}

/**
 * What the value checks below have established about a tensor. Tensors are immutable (variables excepted), so a
 * check that passed once need not read the same tensor back again: an attack called by `evaluate`, `worstCase` or
 * `fit` on inputs they checked costs no readback, which on webgl, webgpu and tfjs-node-gpu would stall the queue.
 */
interface Facts {
  /** An upper bound of the labels (the largest, or the classes − 1 when fit vouches for them); every label is ≥ 0. */
  readonly maxLabel?: number;
  /** Every value lies in [min, max], and none is NaN. */
  readonly range?: readonly [number, number];
  /** Every value is finite. */
  readonly finite?: boolean;
}

const known = new WeakMap<tf.Tensor, Facts>();

function factsOf(t: tf.Tensor): Facts | undefined {
  return t instanceof tf.Variable ? undefined : known.get(t);
}

function learn(t: tf.Tensor, facts: Facts): void {
  if (!(t instanceof tf.Variable)) known.set(t, { ...known.get(t), ...facts });
}

/**
 * Records that `derived` (a slice, gather or batch of `source`) satisfies every value check `source` passed, so that
 * checking it again reads nothing back. Internal: only for tensors whose values are a subset of `source`'s, or, with
 * `fill`, values of `source` and `fill` (a zero-padded crop): the known range is then widened to hold `fill`.
 */
export function inheritChecks(derived: tf.Tensor, source: tf.Tensor, fill?: number): void {
  const facts = factsOf(source);
  if (facts === undefined) return;
  if (fill === undefined) {
    learn(derived, facts);
    return;
  }
  if (!Number.isFinite(fill)) return;
  const { maxLabel, range, finite } = facts;
  learn(derived, {
    ...(maxLabel === undefined || fill < 0 || !Number.isInteger(fill) ? {} : { maxLabel: Math.max(maxLabel, fill) }),
    ...(range === undefined ? {} : { range: [Math.min(range[0], fill), Math.max(range[1], fill)] as const }),
    ...(finite === undefined ? {} : { finite })
  });
}

/**
 * `tf.slice(t, start, size)` along the batch axis, which satisfies every value check `t` passed (see
 * {@link inheritChecks}): the attacks run on a batch of checked data read nothing back. Internal.
 */
export function checkedSlice<T extends tf.Tensor>(t: T, start: number, size: number): T {
  const part = tf.slice<tf.Rank, T>(t, start, size);
  inheritChecks(part, t);
  return part;
}

/**
 * Records facts about `t` that its caller verifies itself, on the device, before anything computed from `t` is
 * used (fit's checks of batches that arrive from an iterable, read back with the step's loss), so that the value
 * checks of the attacks it runs read nothing back. Internal.
 */
export function assumeChecked(t: tf.Tensor, facts: { readonly maxLabel?: number; readonly range?: readonly [number, number]; readonly finite?: boolean }): void {
  learn(t, facts);
}

/** A labels check queued on the device: the class counts learnt before it is read. */
interface QueuedLabels {
  /** The number of classes the caller named, if any. */
  numClasses?: number;
  /** The number of classes of the model the labels met (set by {@link checkLogits}). */
  modelClasses?: number;
}

const queuedLabels = new WeakMap<tf.Tensor, QueuedLabels>();

/** Forgets what checks established about `t` (a queued check of it failed). */
function forget(t: tf.Tensor): void {
  known.delete(t);
  queuedLabels.delete(t);
}

/**
 * Checks integer class labels: an int32 tensor of shape `[batch]` with values `>= 0`
 * (and `< numClasses` when given). Returns the largest label. `offset` is the index of the
 * first label in the whole data set, for the messages of data that arrives in batches.
 *
 * The values are read back at once on cpu, wasm and tensorflow. On webgl and webgpu the check is queued on the device
 * (see `flushChecks`) and the function returns −1; the classes of the model the labels meet in {@link checkLogits}
 * join the queued check.
 *
 * @throws TypeError when `value` is not an int32 tensor; RangeError for a wrong shape or a label out of range.
 * @example
 * const maxLabel = checkLabels('myAttack', 'y', y, x.shape[0], 10);
 */
export function checkLabels(arg: string, value: unknown, batch: number, numClasses?: number, offset = 0): number {
  const y = checkTensor(arg, value);
  // One-hot labels [B, C] are the commonest mistake: say what to pass instead.
  if (y.rank === 2 && y.shape[0] === batch && (y.shape[1] ?? 0) >= 2) {
    (y.dtype === 'int32' ? rangeError : typeError)(arg, `be class indices [${String(batch)}], not one-hot rows: pass tf.argMax(${arg}, 1)`, y);
  }
  if (y.dtype !== 'int32') {
    typeError(arg, `be an int32 tensor of class indices${y.dtype === 'float32' ? ` (cast them: tf.cast(${arg}, 'int32'))` : ''}`, y);
  }
  if (y.rank !== 1 || y.shape[0] !== batch) {
    rangeError(arg, `have shape [${String(batch)}] to match the batch`, y);
  }
  const facts = factsOf(y);
  if (facts?.maxLabel !== undefined && (numClasses === undefined || facts.maxLabel < numClasses)) return facts.maxLabel;
  const queued = y instanceof tf.Variable ? undefined : queuedLabels.get(y);
  if (queued !== undefined) {
    if (numClasses !== undefined) queued.numClasses = Math.min(queued.numClasses ?? Infinity, numClasses);
    return -1;
  }
  const entry: QueuedLabels = numClasses === undefined ? {} : { numClasses };
  let max = -1;
  deviceCheck(
    () => y,
    (data) => {
      queuedLabels.delete(y);
      for (let i = 0; i < data.length; i++) {
        const v = data[i] ?? 0;
        const at = `${String(v)} at index ${String(i + offset)}`;
        if (v < 0) {
          forget(y);
          rangeError(arg, 'hold class indices >= 0', at);
        }
        if (entry.numClasses !== undefined && v >= entry.numClasses) {
          forget(y);
          rangeError(arg, `hold class indices < ${String(entry.numClasses)} (the number of classes)`, at);
        }
        if (entry.modelClasses !== undefined && v >= entry.modelClasses) {
          forget(y);
          rangeError(arg, `hold class indices < ${String(entry.modelClasses)} (the model's number of classes)`, at);
        }
        if (v > max) max = v;
      }
      learn(y, { maxLabel: max });
    }
  );
  if (!checksReadAtOnce() && !(y instanceof tf.Variable)) queuedLabels.set(y, entry);
  return max;
}

/**
 * {@link checkLabels} for ardkit's asynchronous functions (`evaluate`, `worstCase`, …): returns the largest label on
 * every backend. It reads asynchronously, in one readback, every value check queued on the device (this one and those
 * queued before it, in order; the first failure throws), and records what they established, so that the attacks then
 * run on these labels, or on slices of them, read nothing back. Call {@link checkLabels} first and queue the call's
 * other checks before awaiting this, to read them all at once and report them in the order they were made. On cpu,
 * wasm and tensorflow nothing is queued and this costs no readback beyond checkLabels' own. Internal.
 *
 * @throws the promise rejects with checkLabels' errors, or with the first failed check queued before it.
 * @example
 * checkLabels('myEval', 'y', y, n);
 * checkFiniteExamples('myEval', 'x', x);
 * const maxLabel = await checkLabelsAsync('myEval', 'y', y, n);
 */
export async function checkLabelsAsync(arg: string, value: unknown, batch: number, numClasses?: number): Promise<number> {
  const max = checkLabels(arg, value, batch, numClasses);
  await readWithChecks([]);
  if (max >= 0) return max;
  const y = value as tf.Tensor;
  const known = factsOf(y)?.maxLabel;
  if (known !== undefined) return known;
  // A variable, whose facts are never recorded (its values can change): the check passed, its largest label is read.
  const [labels = new Float32Array(0)] = await readWithChecks([y]);
  return labels.reduce((m, v) => Math.max(m, v), -1);
}

/**
 * Checks that every example of `x` (`[N, ...]`) lies inside `bounds`, with one flag per example (read at once on
 * cpu, wasm and tensorflow, queued on the device elsewhere: see `flushChecks`), and names the first example outside.
 *
 * @param offset - the index of `x`'s first example in the whole data set (for data that arrives in batches).
 * @throws RangeError naming the first example with a value outside `bounds`.
 * @example
 * checkExamplesInBounds('fit', 'data.x', x, [0, 1]);
 */
export function checkExamplesInBounds(arg: string, x: tf.Tensor, bounds: Bounds, offset = 0): void {
  if (x.rank === 0 || (x.shape[0] ?? 0) === 0) return;
  const range = factsOf(x)?.range;
  if (range !== undefined && range[0] >= bounds[0] && range[1] <= bounds[1]) return;
  deviceCheck(
    () => {
      const flat = tf.reshape(x, [x.shape[0] ?? 0, -1]);
      const inside = tf.logicalAnd(tf.all(tf.greaterEqual(flat, bounds[0]), 1), tf.all(tf.lessEqual(flat, bounds[1]), 1));
      // The last two codes, min and max, say whether the data look like 8-bit pixels.
      return tf.concat([tf.cast(inside, 'float32'), tf.reshape(tf.min(flat), [1]), tf.reshape(tf.max(flat), [1])]);
    },
    (codes) => {
      const inside = codes.subarray(0, codes.length - 2);
      const bad = inside.findIndex((v) => v === 0);
      if (bad >= 0) {
        forget(x);
        const hint = pixelHint(bounds, codes[codes.length - 2] ?? NaN, codes[codes.length - 1] ?? NaN);
        rangeError(arg, `lie inside bounds [${String(bounds[0])}, ${String(bounds[1])}]${hint}`, `example ${String(bad + offset)} has values outside`);
      }
    }
  );
  // Comparisons with NaN are false, so the check also rules NaN out.
  learn(x, { range: [bounds[0], bounds[1]] });
}

/**
 * Checks that every example of `x` (`[N, ...]`) holds finite numbers, with one flag per example (read at once on
 * cpu, wasm and tensorflow, queued on the device elsewhere: see `flushChecks`), and names the first bad example.
 *
 * @param offset - the index of `x`'s first example in the whole data set (for data that arrives in batches).
 * @param also - another value check read in the same readback (the probe of a model's outputs), reported first.
 * @throws RangeError naming the first example that holds NaN or ±Infinity.
 * @example
 * checkFiniteExamples('fit', 'data.x', x);
 */
export function checkFiniteExamples(arg: string, x: tf.Tensor, offset = 0, also?: ValueCheck): void {
  if (x.rank === 0 || (x.shape[0] ?? 0) === 0 || x.dtype === 'int32' || x.dtype === 'bool' || factsOf(x)?.finite === true) {
    deviceChecks([also]);
    return;
  }
  const n = x.shape[0] ?? 0;
  // A flag per example, and the range of the values (which attacks on `x` then need not read).
  deviceChecks([also, {
    codes: () => {
      const flat = tf.reshape(x, [n, -1]);
      return tf.concat([tf.cast(tf.all(tf.isFinite(flat), 1), 'float32'), tf.stack([tf.min(flat), tf.max(flat)])]);
    },
    check: (stats) => {
      const bad = stats.subarray(0, n).findIndex((v) => v === 0);
      if (bad >= 0) {
        forget(x);
        rangeError(arg, 'hold finite numbers', `NaN or ±Infinity in example ${String(bad + offset)}`);
      }
      learn(x, { range: [stats[n] ?? -Infinity, stats[n + 1] ?? Infinity] });
    }
  }]);
  learn(x, { finite: true });
}

/**
 * The fix for the commonest bounds mistake, images in 0–255 checked against the unit box: a hint appended to the
 * rule, or nothing when the values do not look like 8-bit pixels.
 */
function pixelHint(bounds: Bounds, min: number, max: number): string {
  const unit = bounds[0] === 0 && bounds[1] === 1;
  return unit && min >= 0 && max >= 16 && max <= 255 ? ' (images in 0–255? divide them by 255, or pass bounds: [0, 255])' : '';
}

/**
 * Checks that every element of `x` is a number inside `[lo, hi]` (read at once on cpu, wasm and tensorflow, queued on
 * the device elsewhere: see `flushChecks`). Out-of-range inputs are an error rather than a silent clip: they usually
 * mean an unnormalised image (0..255) or a wrong pipeline.
 *
 * @throws RangeError when an element is NaN or lies outside `bounds`.
 * @example
 * checkInBounds('myAttack', 'x', x, [0, 1]);
 */
export function checkInBounds(arg: string, x: tf.Tensor, bounds: Bounds): void {
  const range = factsOf(x)?.range;
  if (range !== undefined && range[0] >= bounds[0] && range[1] <= bounds[1]) return;
  deviceCheck(
    () => tf.stack([tf.min(x), tf.max(x), tf.cast(tf.any(tf.isNaN(x)), 'float32')]),
    (stats) => {
      const min = stats[0] ?? NaN;
      const max = stats[1] ?? NaN;
      if (stats[2] !== 0) {
        forget(x);
        rangeError(arg, 'hold no NaN', 'NaN');
      }
      if (!(min >= bounds[0] && max <= bounds[1])) {
        forget(x);
        const shown = (v: number): string => String(Number(v.toPrecision(7)));
        rangeError(arg, `lie inside bounds [${String(bounds[0])}, ${String(bounds[1])}]${pixelHint(bounds, min, max)}`, `values in [${shown(min)}, ${shown(max)}]`);
      }
      learn(x, { range: [min, max] });
    }
  );
  learn(x, { range: [bounds[0], bounds[1]] });
}

/**
 * Checks what a model returned: a rank-2 float tensor `[batch, C]` with `C > maxLabel`.
 * Only shapes are read, so the check costs nothing inside attack loops. `labels`, when given, are the labels the
 * logits will meet: where their check is queued on the device, the model's class count joins it.
 *
 * @throws TypeError when `out` is not a float32 tensor; RangeError for a wrong shape or fewer classes than `maxLabel + 1`.
 * @example
 * const logits = checkLogits('myAttack', model(x), batch, maxLabel);
 */
export function checkLogits(out: unknown, batch: number, maxLabel = -1, labels?: tf.Tensor): tf.Tensor2D {
  if (!isTensor(out)) {
    typeError('model', 'return a tf.Tensor of logits [B, C]', out);
  }
  if (out.dtype !== 'float32') typeError('model', 'return float32 logits', out);
  if (out.rank !== 2 || out.shape[0] !== batch) {
    rangeError('model', `return logits of shape [${String(batch)}, C] for a batch of ${String(batch)}`, out);
  }
  const classes = out.shape[1] ?? 0;
  if (classes < 2) rangeError('model', 'return logits for at least 2 classes', out);
  if (maxLabel >= classes) {
    rangeError('labels', `hold class indices < ${String(classes)} (the model's number of classes)`, maxLabel);
  }
  const queued = labels === undefined ? undefined : queuedLabels.get(labels);
  if (queued !== undefined) queued.modelClasses = Math.min(queued.modelClasses ?? Infinity, classes);
  return out as tf.Tensor2D;
}

/**
 * Checks that two tensors have the same shape; the message names both shapes.
 *
 * @throws RangeError when the shapes differ.
 * @example
 * checkSameShape('signStep', 'x', x, 'grad', grad);
 */
export function checkSameShape(argA: string, a: tf.Tensor, argB: string, b: tf.Tensor): void {
  if (a.rank !== b.rank || a.shape.some((d, i) => d !== b.shape[i])) {
    throw argumentError(RangeError, `${argA} and ${argB} must have the same shape (got ${formatValue(a.shape)} and ${formatValue(b.shape)})`
    );
  }
}

/**
 * Rejects option keys the function does not know: a typo must not silently fall back to a default. Options that
 * are not an object at all (`null`, a number, an array; `undefined` where the options are required) are a TypeError.
 * The key list is typed by the options: a key the interface does not have is a compile error, and
 * {@link optionKeys} makes a list the compiler also checks for missing keys.
 *
 * @throws TypeError when `options` is not a plain object; RangeError naming the first unknown key.
 * @example
 * checkKnownKeys('myAttack', options, optionKeys<MyAttackOptions>()('eps', 'steps'));
 */
export function checkKnownKeys<T extends object>(options: T, known: readonly (keyof T & string)[]): void {
  if (typeof options !== 'object' || (options as unknown) === null || Array.isArray(options)) {
    typeError('options', 'be an object', options);
  }
  for (const key of Object.keys(options)) {
    if (!(known as readonly string[]).includes(key)) {
      rangeError('options', `only have the keys ${known.join(', ')}`, key);
    }
  }
}

/**
 * Checks that tfjs' gradient functions are registered. `@tensorflow/tfjs-core` alone registers none in
 * Node; `@tensorflow/tfjs`, `@tensorflow/tfjs-node` and `@tensorflow/tfjs-layers` register them on import.
 *
 * @throws Error explaining which import registers the gradients.
 * @example
 * checkGradientsRegistered('myAttack'); // before calling tf.grad
 */
export function checkGradientsRegistered(): void {
  if (tf.getGradient('Sum') === undefined || tf.getGradient('Multiply') === undefined) {
    throw argumentError(Error, 'tfjs gradients are not registered, so no input gradient can be computed. ' +
        "Import '@tensorflow/tfjs' or '@tensorflow/tfjs-layers' once in your program (in Node), " +
        "or '@tensorflow/tfjs-core/dist/register_all_gradients' (with a bundler)."
    );
  }
}

/**
 * Every key of `T`, spelled out and checked by the compiler in both directions: a key `T` does not have, or a key of
 * `T` left out, is a compile error (the arguments' type becomes `never`). Option key lists are made with it, so that
 * an option added to an interface cannot be rejected at run time as unknown.
 *
 * @throws never throws: its checks happen at compile time.
 * @example
 * const KEYS = optionKeys<{ eps: number; steps?: number }>()('eps', 'steps');
 */
export function optionKeys<T extends object>(): <const K extends readonly (keyof T & string)[]>(
  ...keys: K & (Exclude<keyof T, K[number]> extends never ? unknown : { readonly missing: Exclude<keyof T, K[number]> })
) => K {
  return (...keys) => keys;
}

/**
 * Inside a gradient computation (`tf.grad`, `tf.variableGrads`, `optimizer.minimize`), refuses to go on when tfjs'
 * gradients are not registered (tfjs-core alone, without `@tensorflow/tfjs` or tfjs-layers imported), with the fix,
 * instead of tfjs' "gradient function not found" at the end of the step. Outside one, does nothing. Internal.
 */
export function checkGradientsInTape(): void {
  const state = (tf.engine() as unknown as { state: { gradientDepth?: number } }).state;
  if ((state.gradientDepth ?? 0) > 0) checkGradientsRegistered();
}
