import * as tf from '@tensorflow/tfjs-core';
import { probing } from '../core/probabilities.js';
import type { Model } from '../core/model.js';
import { readWithChecks } from '../core/device-checks.js';
import { checkInput, checkKnownKeys, optionKeys, checkLabelsAsync, checkLogits, checkedSlice } from '../core/validate.js';
import { integer, resolveFields, type OptionFields } from '../core/options.js';
import { rangeError, typeError, named } from '../core/errors.js';
import type { AttackFunction } from '../attacks/types.js';
import { toAttack } from '../attacks/attack.js';

/** Options of {@link transferability}. */
export interface TransferabilityOptions {
  /** Examples per batch. @defaultValue 256 */
  readonly batchSize?: number;
}

/** How each of {@link TransferabilityOptions} is checked and defaulted. */
const TRANSFERABILITY_FIELDS: OptionFields<TransferabilityOptions> = { batchSize: /* @__PURE__ */ integer(1, 256) };

/** What {@link transferability} measured, indexed by model in the order of `names`. */
export interface TransferabilityResult {
  /** The models' names (an array's are its indices). */
  readonly names: readonly string[];
  /**
   * `matrix[i][j]`: among the points both `i` and `j` classify correctly whose adversarial example made on `i`
   * fools `i`, the share that also fools `j`. `NaN` where there is no such point. The diagonal is 1 (or `NaN`).
   */
  readonly matrix: readonly (readonly number[])[];
  /** The number of points each `matrix[i][j]` is measured on. */
  readonly counts: readonly (readonly number[])[];
  /** Clean accuracy of each model. */
  readonly clean: readonly number[];
  /** Accuracy of each model on the adversarial examples made on it (white-box robust accuracy). */
  readonly robust: readonly number[];
}

/** Models as named entries (an array's names are its indices). */
function modelEntries(models: unknown): Array<[string, Model]> {
  if (typeof models !== 'object' || models === null) typeError('models', 'be an object (or array) of models', models);
  const entries = Object.entries(models as Record<string, unknown>);
  if (entries.length === 0) rangeError('models', 'hold at least one model', models);
  for (const [name, m] of entries) if (typeof m !== 'function') typeError(`models.${name}`, 'be a function (a Model)', m);
  return entries as Array<[string, Model]>;
}

/**
 * Adversarial transferability between models: for every ordered pair (i, j), how often the adversarial examples
 * made on model i with `attack` also fool model j. DARHT picks teachers with low mutual transfer (arXiv
 * 2402.15586); see {@link selectTeachers}. Each source model is attacked once; every model then classifies the
 * adversarial examples.
 *
 * Asynchronous, so that it runs on every backend: every model's correctness masks of a batch (on `x` and on each
 * source's `x'`) are read back once per batch with `await data()`, together with the value checks the attack queued
 * on the device (see `flushChecks` in `ardkit/core`). The labels are checked before any attack runs.
 *
 * @param models - the models, named (object) or by index (array).
 * @param x - inputs `[N, ...]`.
 * @param y - `[N]` int32 labels.
 * @param attack - the attack run on each source model: an `Attack` made by a factory or a plain function.
 * @param options - see {@link TransferabilityOptions}.
 * @returns a promise of a {@link TransferabilityResult}; no tensors.
 * @throws the promise rejects with a TypeError when a model or the attack is not a function; a RangeError for no
 * models, invalid inputs, an attack returning the wrong shape, or a model returning the wrong shape; any error an
 * attack throws (nothing leaks).
 * @example
 * const t = await transferability({ cnn, mlp, resnet }, x, y, (m, xb, yb) => pgd(m, xb, yb, { eps: 8 / 255, steps: 10 }));
 * console.log(t.matrix); // t.matrix[0][1]: share of cnn's adversarial examples that fool mlp
 */
export async function transferability(
  models: Readonly<Record<string, Model>> | readonly Model[],
  x: tf.Tensor,
  y: tf.Tensor1D,
  attack: AttackFunction,
  options: Readonly<TransferabilityOptions> = {}
): Promise<TransferabilityResult> {
  return named('transferability', async () => {
    // The keys first and the values after the other arguments, the order in which their errors have always come.
    checkKnownKeys(options, optionKeys<TransferabilityOptions>()('batchSize'));
    const entries = modelEntries(models);
    const attacker = toAttack('attack', attack);
    const { batchSize } = resolveFields(options, TRANSFERABILITY_FIELDS);
    const input = checkInput('x', x);
    const n = input.shape[0] ?? 0;
    // On webgl and webgpu the labels' check (and any queued before it) is read now, before any attack runs.
    const maxLabel = await checkLabelsAsync('y', y, n);
    const m = entries.length;
    const grid = (): number[][] => Array.from({ length: m }, () => new Array<number>(m).fill(0));
    const transferred = grid();
    const attempted = grid();
    const cleanCount = new Array<number>(m).fill(0);
    const robustCount = new Array<number>(m).fill(0);

    /** `[B]` int32, 1 where `model(xs)` predicts `ys`, left on the device. */
    const correct = (model: Model, xs: tf.Tensor, ys: tf.Tensor1D, size: number): tf.Tensor =>
      named('transferability', () => tf.tidy(() => tf.cast(tf.equal(tf.argMax(checkLogits(probing(model)(xs), size, maxLabel), 1), ys), 'int32')));
    /** The batch's masks, every model's on `x` then, per source, every model's on its `x'`: `[m + m², size]`, read once. */
    const batchMasks = async (xb: tf.Tensor, yb: tf.Tensor1D, size: number): Promise<Float32Array> => {
      const masks: tf.Tensor[] = [];
      try {
        for (const [, model] of entries) masks.push(correct(model, xb, yb, size));
        for (const [, source] of entries) {
          const xAdv = attacker(source, xb, yb);
          try {
            for (const [, target] of entries) masks.push(correct(target, xAdv, yb, size));
          } finally {
            if (xAdv !== xb) xAdv.dispose();
          }
        }
        const stacked = tf.stack(masks);
        try {
          const [values = new Float32Array(0)] = await readWithChecks([stacked]);
          return values;
        } finally {
          stacked.dispose();
        }
      } finally {
        tf.dispose(masks);
      }
    };

    for (let start = 0; start < n; start += batchSize) {
      const size = Math.min(batchSize, n - start);
      // What was checked of the whole set holds for its batches: the attacks' own checks read nothing back.
      const xb = checkedSlice(input, start, size);
      const yb = checkedSlice(y, start, size);
      let all: Float32Array;
      try {
        all = await batchMasks(xb, yb, size);
      } finally {
        tf.dispose([xb, yb]);
      }
      const clean = (i: number, p: number): number => all[i * size + p] ?? 0;
      // rightOnAdv(i, j, p): model j still classifies the adversarial example made on model i correctly.
      const rightOnAdv = (i: number, j: number, p: number): number => all[(m + i * m + j) * size + p] ?? 0;
      for (let i = 0; i < m; i++) {
        for (let p = 0; p < size; p++) {
          if (clean(i, p) !== 1) continue;
          cleanCount[i] = (cleanCount[i] ?? 0) + 1;
          if (rightOnAdv(i, i, p) === 1) {
            robustCount[i] = (robustCount[i] ?? 0) + 1;
            continue;
          }
          // The attack succeeded on the source: count, for each target right on x, whether it is fooled too.
          for (let j = 0; j < m; j++) {
            if (clean(j, p) !== 1) continue;
            const tried = attempted[i] ?? [];
            tried[j] = (tried[j] ?? 0) + 1;
            if (rightOnAdv(i, j, p) === 0) {
              const hit = transferred[i] ?? [];
              hit[j] = (hit[j] ?? 0) + 1;
            }
          }
        }
      }
    }
    return {
      names: entries.map(([name]) => name),
      matrix: transferred.map((row, i) => row.map((t, j) => {
        const a = attempted[i]?.[j] ?? 0;
        return a === 0 ? NaN : t / a;
      })),
      counts: attempted,
      clean: cleanCount.map((c) => c / n),
      robust: robustCount.map((c) => c / n)
    };
  });
}
