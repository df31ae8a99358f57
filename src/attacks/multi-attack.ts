import { named } from '../core/errors.js';
import * as tf from '@tensorflow/tfjs-core';
import { probing } from '../core/probabilities.js';
import type { Model } from '../core/model.js';
import { readWithChecks } from '../core/device-checks.js';
import { checkFunction, checkInput, checkKnownKeys, checkLabelsAsync, checkLogits, optionKeys } from '../core/validate.js';
import { callable, resolveFields, type OptionField } from '../core/options.js';
import { attackEntries } from './attack.js';
import { gatherRows, indicesWhere, rowMask } from './rows.js';
import type { Attack, AttackFunction } from './types.js';

/** Progress of a {@link MultiAttack} run (and of `worstCase`, `autoAttack`), reported after each attack. */
export interface MultiAttackProgress {
  /** The attack that just finished. */
  readonly attack: string;
  /** Its position in the run order, from 0. */
  readonly index: number;
  /** How many attacks there are. */
  readonly count: number;
  /** Points still robust after it (correct on `x` and on every attack so far). */
  readonly robust: number;
  /** Points in total. */
  readonly total: number;
  /** Seconds the attack took (including the model call that checks its output). */
  readonly seconds: number;
}

/** Options of {@link MultiAttack.run}. */
export interface MultiAttackRunOptions {
  /** Called after each attack. */
  readonly onProgress?: (progress: MultiAttackProgress) => void;
}

/** What {@link MultiAttack.run} returns: `x'` and, per point, what each attack did. */
export interface MultiAttackResult<K extends string = string, T extends tf.Tensor = tf.Tensor> {
  /**
   * `x'`, same shape and type as `x`: per point, the first adversarial example found; for points robust to every
   * attack, the last attack's output; for points misclassified at `x`, `x` itself. The caller disposes it.
   */
  readonly xAdv: T;
  /** 1 where the clean input is classified correctly. */
  readonly clean: Uint8Array;
  /** Per attack, 1 where the point is correct on `x` and on the `x'` of this attack and of every attack before it. */
  readonly robust: Readonly<Record<K, Uint8Array>>;
  /** The name of the attack whose `x'` first fooled the point; null where the point is robust or misclassified at `x`. */
  readonly brokenBy: readonly (K | null)[];
  /** Seconds spent in each attack (including the model call on its outputs). */
  readonly seconds: Readonly<Record<K, number>>;
}

/**
 * Attacks run in sequence, torchattacks' `MultiAttack` and AutoAttack's way: made by {@link multiAttack}.
 */
export interface MultiAttack<K extends string = string> {
  /** Always `'multiAttack'`. */
  readonly attackName: 'multiAttack';
  /** The attacks' names, in run order. */
  readonly names: readonly K[];
  /** The attacks, in run order (plain functions wrapped once, when the combinator was made). */
  readonly attacks: readonly Attack[];
  /**
   * Runs the attacks in order, each only on the points still classified correctly, and keeps per point the first
   * `x'` that fools the model. Asynchronous: it reads back one correctness mask before the attacks and one after each
   * (`await data()`, so that it runs on webgpu too), and assembles `x'` on the device.
   *
   * @param model - a {@link Model} returning logits `[B, C]`.
   * @param x - clean inputs `[B, ...]`, float32.
   * @param y - `[B]` int32 labels.
   * @param options - see {@link MultiAttackRunOptions}.
   * @returns a promise of a {@link MultiAttackResult}; the caller disposes its `xAdv`.
   * @throws the promise rejects with a TypeError when model is not a function; a RangeError for invalid x or labels,
   * an attack returning the wrong shape, or a model returning the wrong shape; any error an attack throws (nothing
   * leaks).
   */
  run<T extends tf.Tensor>(model: Model, x: T, y: tf.Tensor1D, options?: Readonly<MultiAttackRunOptions>): Promise<MultiAttackResult<K, T>>;
}

/**
 * Combines attacks in sequence (torchattacks' `MultiAttack`; AutoAttack's ensemble, Croce & Hein 2020, arXiv
 * 2003.01690): each attack runs only on the points every earlier one failed to fool, and each point keeps the first
 * adversarial example found. A point survives the combination only if it survives every attack: the worst case of
 * running them all on every point, at a fraction of the cost. `worstCase` and `autoAttack` (in `ardkit/eval`) run
 * one, and `evaluate` with `sequential: true` runs one per batch.
 *
 * The attacks are checked here, once: attacks made by factories (which must be bounded: `deepFoolAttack` and
 * `cwL2Attack` need `eps`) or plain functions `(model, x, y) => x'`, whose outputs are then checked on every call.
 *
 * @param attacks - the attacks in run order: an object of named attacks (insertion order; integer-like keys sort first
 * in JavaScript), or an array (named by index).
 * @returns a {@link MultiAttack}, whose `run(model, x, y)` attacks a batch.
 * @throws TypeError when `attacks` is not an object or an attack is not a function; RangeError for no attacks or an
 * unbounded attack (a minimum-norm attack made without `eps`).
 * @example
 * const ensemble = multiAttack({ pgd: pgdAttack({ eps: 0.3, steps: 40 }), square: squareAttack({ eps: 0.3, queries: 1000 }) });
 * const { xAdv, robust, brokenBy } = await ensemble.run(model, x, y);
 * xAdv.dispose();
 */
export function multiAttack<K extends string>(attacks: Readonly<Record<K, AttackFunction>> | readonly (AttackFunction)[]): MultiAttack<K> {
  return named('multiAttack', () => {
    const entries = attackEntries<K>(attacks);
    return {
      attackName: 'multiAttack',
      names: entries.map(([name]) => name),
      attacks: entries.map(([, attack]) => attack),
      run: <T extends tf.Tensor>(model: Model, x: T, y: tf.Tensor1D, options: Readonly<MultiAttackRunOptions> = {}): Promise<MultiAttackResult<K, T>> =>
        named('multiAttack', () => runMultiAttack(entries, model, x, y, options))
    };
  });
}

/** The option keys of {@link MultiAttack.run}. */
const RUN_KEYS = optionKeys<MultiAttackRunOptions>()('onProgress');

/** How {@link MultiAttack.run}'s options are checked (after the model: its keys are checked first). */
const RUN_FIELDS: { readonly onProgress: OptionField<MultiAttackRunOptions['onProgress']> } = {
  onProgress: /* @__PURE__ */ callable<(progress: MultiAttackProgress) => void>()
};

/**
 * A run of attacks taken by {@link attackEntries}, with the run's inputs checked (errors naming the function the user
 * called: `multiAttack`, `worstCase`, `autoAttack`); the labels' check is read before any attack runs. Internal.
 */
export async function runMultiAttack<K extends string, T extends tf.Tensor>(
  entries: ReadonlyArray<readonly [K, Attack]>,
  model: Model,
  x: T,
  y: tf.Tensor1D,
  options: Readonly<MultiAttackRunOptions>
): Promise<MultiAttackResult<K, T>> {
  checkKnownKeys(options, RUN_KEYS);
  checkFunction('model', model);
  const { onProgress } = resolveFields(options, RUN_FIELDS);
  const input = checkInput('x', x);
  const n = input.shape[0] ?? 0;
  // On webgl and webgpu the labels' check (and any queued before it) is read now, before any attack runs.
  const maxLabel = await checkLabelsAsync('y', y, n);
  const run = await runSequence(model, input, y, maxLabel, entries, true, (index, robust, seconds) => {
    onProgress?.({ attack: entries[index]?.[0] ?? '', index, count: entries.length, robust, total: n, seconds });
  });
  const byName = <V>(values: readonly V[], fallback: V): Record<K, V> =>
    Object.fromEntries(entries.map(([name], i) => [name, values[i] ?? fallback])) as Record<K, V>;
  return {
    // Assembled from rows of x and of attacks' outputs, which have x's shape and dtype.
    xAdv: (run.xAdv ?? tf.clone(input)) as T,
    clean: run.clean,
    robust: byName(run.after, run.clean),
    brokenBy: run.brokenBy,
    seconds: byName(run.seconds, 0)
  };
}

/** Per-point outcome of a sequential run. Internal. */
export interface SequentialRun<K extends string = string> {
  readonly clean: Uint8Array;
  /** Per attack, the robust mask after it. */
  readonly after: Uint8Array[];
  readonly brokenBy: Array<K | null>;
  readonly seconds: number[];
  /** The assembled `x'` (when asked for), on the device; the caller disposes it. */
  readonly xAdv: tf.Tensor | undefined;
}

/** Reads a `[B]` mask back asynchronously (with the value checks queued on the device), and releases it. */
async function readMask(mask: tf.Tensor): Promise<Uint8Array> {
  try {
    const [values = new Float32Array(0)] = await readWithChecks([mask]);
    return Uint8Array.from(values);
  } finally {
    mask.dispose();
  }
}

/**
 * `target` with row `indices[k]` replaced by row `k` of `source` where `take(k)`, merged on the device (a gather and
 * a `where` by row mask); undefined when no row is taken.
 */
function mergeRows(target: tf.Tensor, source: tf.Tensor, indices: readonly number[], take: (k: number) => boolean): tf.Tensor | undefined {
  const batch = target.shape[0] ?? 0;
  const from = new Int32Array(batch);
  const taken = new Uint8Array(batch);
  indices.forEach((row, k) => {
    if (!take(k)) return;
    from[row] = k;
    taken[row] = 1;
  });
  if (!taken.includes(1)) return undefined;
  return tf.tidy(() => tf.where(rowMask(taken, target.rank), tf.gather(source, tf.tensor1d(from, 'int32')), target));
}

/**
 * The sequential run itself, on validated inputs (`maxLabel` from the labels' check): the attacks in order, each only
 * on the points still classified correctly. Reads back one correctness mask before the attacks and one after each (the
 * rows to attack next are chosen on the host); `x'` is assembled on the device when `keepRows`. Internal;
 * {@link runMultiAttack} and `evaluate` (sequential mode, per batch) validate first.
 */
export async function runSequence<K extends string>(
  model: Model,
  x: tf.Tensor,
  y: tf.Tensor1D,
  maxLabel: number,
  entries: ReadonlyArray<readonly [K, Attack]>,
  keepRows: boolean,
  onAttack?: (index: number, robust: number, seconds: number) => void
): Promise<SequentialRun<K>> {
  const batch = x.shape[0] ?? 0;
  /** `[B]` int32, 1 where `model(xs)` predicts `ys`, left on the device. */
  const correct = (xs: tf.Tensor, ys: tf.Tensor1D): tf.Tensor =>
    tf.tidy(() => tf.cast(tf.equal(tf.argMax(checkLogits(probing(model)(xs), ys.shape[0], maxLabel), 1), ys), 'int32'));
  const clean = await readMask(correct(x, y));
  const robust = Uint8Array.from(clean);
  const after: Uint8Array[] = [];
  const brokenBy: Array<K | null> = new Array<K | null>(batch).fill(null);
  const seconds: number[] = [];
  let xAdv = keepRows ? tf.clone(x) : undefined;
  try {
    for (const [i, [name, attack]] of entries.entries()) {
      const t0 = performance.now();
      const idx = indicesWhere(robust);
      if (idx.length > 0) {
        const xs = gatherRows(x, idx);
        const ys = gatherRows(y, idx);
        let adv: tf.Tensor | undefined;
        try {
          adv = attack(model, xs, ys);
          const ok = await readMask(correct(adv, ys));
          const last = i === entries.length - 1;
          if (xAdv !== undefined) {
            const merged = mergeRows(xAdv, adv, idx, (k) => ok[k] === 0 || last);
            if (merged !== undefined) {
              xAdv.dispose();
              xAdv = merged;
            }
          }
          idx.forEach((p, k) => {
            if (ok[k] === 0) {
              robust[p] = 0;
              brokenBy[p] = name;
            }
          });
        } finally {
          // An attack owes the caller a tensor of its own; should one hand back its input, it is released once.
          if (adv !== xs) adv?.dispose();
          tf.dispose([xs, ys]);
        }
      }
      const s = (performance.now() - t0) / 1000;
      seconds.push(s);
      after.push(Uint8Array.from(robust));
      onAttack?.(i, robust.reduce((a, b) => a + b, 0), s);
    }
  } catch (error) {
    xAdv?.dispose();
    throw error;
  }
  return { clean, after, brokenBy, seconds, xAdv };
}
