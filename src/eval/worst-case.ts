import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';
import { readWithChecks } from '../core/device-checks.js';
import { checkFunction, checkInput, checkKnownKeys, optionKeys, checkLabelsAsync, checkLogits } from '../core/validate.js';
import { isTensor, rangeError, typeError } from '../core/errors.js';
import { gatherRows, indicesWhere, rowMask } from '../attacks/rows.js';
import type { Attack } from '../attacks/types.js';
import { isAttackValue } from '../attacks/attack-value.js';
import type { EvaluationResult } from './evaluate.js';

/** Progress of {@link worstCase}, reported after each attack. */
export interface WorstCaseProgress {
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

/** Options of {@link worstCase}. */
export interface WorstCaseOptions {
  /** Called after each attack. */
  readonly onProgress?: (progress: WorstCaseProgress) => void;
}

/**
 * What {@link worstCase} measured: an {@link EvaluationResult} of mode `'sequential'` (`attacks` holds the accuracy
 * after each attack and every attack before it, AutoAttack's running log), plus `x'` and which attack fooled each
 * point. Accuracies are fractions in `[0, 1]`.
 */
export interface WorstCaseResult extends EvaluationResult {
  /** Always `'sequential'`: each attack ran only on the points every earlier one failed on. */
  readonly mode: 'sequential';
  /** Per point, as in {@link EvaluationResult.perPoint}, and which attack broke each point. */
  readonly perPoint: EvaluationResult['perPoint'] & {
    /** The name of the attack whose `x'` first fooled the point; null where the point is robust or misclassified at `x`. */
    readonly brokenBy: readonly (string | null)[];
  };
  /**
   * `x'`, same shape as `x`: per point, the first adversarial example found; for points robust to every attack,
   * the last attack's output; for points misclassified at `x`, `x` itself. The caller disposes it.
   */
  readonly xAdv: tf.Tensor;
}

/**
 * Rejects an attack value without a finite ε (`deepFoolAttack()` or `cwL2Attack()` without `eps`): a minimum-norm
 * attack run without a bound breaks nearly every point at some distance, so accuracy under it is not robust accuracy.
 * Internal.
 */
export function checkBoundedAttack(fn: string, arg: string, attack: unknown): void {
  if (!isAttackValue(attack) || Number.isFinite(attack.threat.eps)) return;
  rangeError(fn, arg, `be bounded: ${attack.attackName} was made without eps, so it counts points broken at any distance; give it eps (the radius robust accuracy is measured at)`, attack.threat.eps);
}

/** Attacks as named entries in run order (an array's names are its indices). */
export function attackEntries(fn: string, attacks: unknown): Array<[string, Attack]> {
  if (typeof attacks !== 'object' || attacks === null) {
    typeError(fn, 'attacks', 'be an object (or array) of attack functions (model, x, y) => xAdv', attacks);
  }
  const entries = Object.entries(attacks as Record<string, unknown>);
  if (entries.length === 0) rangeError(fn, 'attacks', 'hold at least one attack', attacks);
  for (const [name, attack] of entries) {
    if (typeof attack !== 'function') typeError(fn, `attacks.${name}`, 'be a function (model, x, y) => xAdv', attack);
    checkBoundedAttack(fn, `attacks.${name}`, attack);
  }
  return entries as Array<[string, Attack]>;
}

/** Per-point outcome of a sequential run; internal to worstCase and evaluate's sequential mode. */
export interface SequentialRun {
  readonly clean: Uint8Array;
  /** Per attack, the robust mask after it. */
  readonly after: Uint8Array[];
  readonly brokenBy: Array<string | null>;
  readonly seconds: number[];
  /** The assembled `x'` (when asked for), on the device; the caller disposes it. */
  readonly xAdv: tf.Tensor | undefined;
}

/** Checks that an attack returned a tensor of the input's shape. */
function checkSameShapeAs(fn: string, arg: string, out: unknown, input: tf.Tensor): tf.Tensor {
  if (!isTensor(out) || out.rank !== input.rank || out.shape.some((d, j) => d !== input.shape[j])) {
    rangeError(fn, arg, `return adversarial inputs of the input's shape [${input.shape.join(', ')}]`, out);
  }
  return out;
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
  return tf.tidy(() => tf.where(rowMask(taken, target.rank), tf.gather(tf.cast(source, target.dtype), tf.tensor1d(from, 'int32')), target));
}

/**
 * Runs the attacks in order, each only on the points still classified correctly, on validated inputs. Reads back one
 * correctness mask before the attacks and one after each (the rows to attack next are chosen on the host); `x'` is
 * assembled on the device. Internal; {@link worstCase} and `evaluate` (sequential mode) validate first.
 */
export async function runSequential(
  fn: string,
  model: Model,
  x: tf.Tensor,
  y: tf.Tensor1D,
  maxLabel: number,
  entries: ReadonlyArray<readonly [string, Attack]>,
  keepRows: boolean,
  onAttack?: (index: number, robust: number, seconds: number) => void
): Promise<SequentialRun> {
  const batch = x.shape[0] ?? 0;
  /** `[B]` int32, 1 where `model(xs)` predicts `ys`, left on the device. */
  const correct = (xs: tf.Tensor, ys: tf.Tensor1D): tf.Tensor =>
    tf.tidy(() => tf.cast(tf.equal(tf.argMax(checkLogits(fn, model(xs), ys.shape[0], maxLabel), 1), ys), 'int32'));
  const clean = await readMask(correct(x, y));
  const robust = Uint8Array.from(clean);
  const after: Uint8Array[] = [];
  const brokenBy: Array<string | null> = new Array<string | null>(batch).fill(null);
  const seconds: number[] = [];
  let xAdv = keepRows ? tf.clone(x) : undefined;
  try {
    for (const [i, [name, attack]] of entries.entries()) {
      const t0 = performance.now();
      const idx = indicesWhere(robust);
      if (idx.length > 0) {
        const xs = gatherRows(x, idx);
        const ys = gatherRows(y, idx);
        let out: unknown;
        try {
          out = attack(model, xs, ys);
          const adv = checkSameShapeAs(fn, `attacks.${name}`, out, xs);
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
          if (out instanceof tf.Tensor && out !== xs && out !== ys) out.dispose();
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

/**
 * Composes attacks into a worst case, AutoAttack-style (Croce & Hein 2020, arXiv 2003.01690): the attacks run
 * in order, each only on the points still classified correctly, and a point counts as robust only if it
 * survives all of them. Cheaper than running every attack on every point, and the same robust set.
 *
 * Asynchronous, so that it runs on every backend: it reads back one correctness mask per attack with
 * `await data()`, together with the value checks the attacks queued on the device (see `flushChecks` in
 * `ardkit/core`), and assembles `x'` on the device. The labels are checked before any attack runs.
 *
 * @param model - a {@link Model} returning logits `[B, C]`.
 * @param x - clean inputs `[B, ...]`.
 * @param y - `[B]` int32 labels.
 * @param attacks - named attacks `(model, x, y) ↦ x'` in run order (object keys in insertion order; integer-like
 * keys sort first in JavaScript), or an array (named by index).
 * @param options - see {@link WorstCaseOptions}.
 * @returns a promise of a {@link WorstCaseResult}: per-point robust masks, accuracy after each attack, seconds per
 * attack, and `x'` (the first adversarial example per point); the caller disposes `xAdv`.
 * @throws the promise rejects with a TypeError when model or an attack is not a function; a RangeError for no
 * attacks, an unbounded attack value (a minimum-norm attack made without `eps`), invalid x or labels, an attack
 * returning the wrong shape, or a model returning the wrong shape; any error
 * an attack throws (nothing leaks).
 * @example
 * const r = await worstCase(model, x, y, {
 *   pgd: (m, xb, yb) => pgd(m, xb, yb, { eps: 0.3, steps: 40 }),
 *   square: squareAttack({ eps: 0.3, queries: 1000 }),
 * });
 * console.log(r.worstCase, r.attacks, r.perPoint.brokenBy);
 * r.xAdv.dispose();
 */
export function worstCase(
  model: Model,
  x: tf.Tensor,
  y: tf.Tensor1D,
  attacks: Readonly<Record<string, Attack>> | readonly Attack[],
  options: Readonly<WorstCaseOptions> = {}
): Promise<WorstCaseResult> {
  return worstCaseAs('worstCase', model, x, y, attacks, options);
}

/** {@link worstCase}, with errors that name `fn`: the public function the user called (e.g. `autoAttack`). */
export async function worstCaseAs(
  fn: string,
  model: Model,
  x: tf.Tensor,
  y: tf.Tensor1D,
  attacks: Readonly<Record<string, Attack>> | readonly Attack[],
  options: Readonly<WorstCaseOptions> = {}
): Promise<WorstCaseResult> {
  checkKnownKeys(fn, options, optionKeys<WorstCaseOptions>()('onProgress'));
  checkFunction(fn, 'model', model);
  const entries = attackEntries(fn, attacks);
  if (options.onProgress !== undefined) checkFunction(fn, 'onProgress', options.onProgress);
  const input = checkInput(fn, 'x', x);
  const n = input.shape[0] ?? 0;
  // On webgl and webgpu the labels' check (and any queued before it) is read now, before any attack runs.
  const maxLabel = await checkLabelsAsync(fn, 'y', y, n);
  const run = await runSequential(fn, model, input, y, maxLabel, entries, true, (index, robust, seconds) => {
    options.onProgress?.({ attack: entries[index]?.[0] ?? '', index, count: entries.length, robust, total: n, seconds });
  });
  const share = (v: Uint8Array): number => v.reduce((s, b) => s + b, 0) / n;
  const final = run.after[run.after.length - 1] ?? run.clean;
  return {
    n,
    mode: 'sequential',
    clean: share(run.clean),
    attacks: Object.fromEntries(entries.map(([name], i) => [name, share(run.after[i] ?? final)])),
    worstCase: share(final),
    perPoint: {
      clean: run.clean,
      attacks: Object.fromEntries(entries.map(([name], i) => [name, run.after[i] ?? final])),
      worstCase: final,
      brokenBy: run.brokenBy
    },
    seconds: Object.fromEntries(entries.map(([name], i) => [name, run.seconds[i] ?? 0])),
    xAdv: run.xAdv ?? tf.clone(input)
  };
}
