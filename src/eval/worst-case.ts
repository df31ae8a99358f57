import { named } from '../core/errors.js';
import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';
import type { Attack, AttackFunction } from '../attacks/types.js';
import { attackEntries } from '../attacks/attack.js';
import { runMultiAttack, type MultiAttackProgress, type MultiAttackRunOptions } from '../attacks/multi-attack.js';
import { byName, share, type EvaluationResult } from './result.js';

/** Progress of {@link worstCase}, reported after each attack: a `MultiAttack`'s progress. */
export type WorstCaseProgress = MultiAttackProgress;

/** Options of {@link worstCase}. */
export type WorstCaseOptions = MultiAttackRunOptions;

/**
 * What {@link worstCase} measured: an {@link EvaluationResult} of mode `'sequential'` (`attacks` holds the accuracy
 * after each attack and every attack before it, AutoAttack's running log), plus `x'` and which attack fooled each
 * point. Accuracies are fractions in `[0, 1]`.
 */
export interface WorstCaseResult<K extends string = string, T extends tf.Tensor = tf.Tensor> extends EvaluationResult<K> {
  /** Always `'sequential'`: each attack ran only on the points every earlier one failed on. */
  readonly mode: 'sequential';
  /** Per point, as in {@link EvaluationResult.perPoint}, and which attack broke each point. */
  readonly perPoint: EvaluationResult<K>['perPoint'] & {
    /** The name of the attack whose `x'` first fooled the point; null where the point is robust or misclassified at `x`. */
    readonly brokenBy: readonly (K | null)[];
  };
  /**
   * `x'`, same shape and type as `x`: per point, the first adversarial example found; for points robust to every
   * attack, the last attack's output; for points misclassified at `x`, `x` itself. The caller disposes it.
   */
  readonly xAdv: T;
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
 * attacks, an unbounded attack (a minimum-norm attack made without `eps`), invalid x or labels, an attack
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
export async function worstCase<K extends string = string, T extends tf.Tensor = tf.Tensor>(
  model: Model,
  x: T,
  y: tf.Tensor1D,
  attacks: Readonly<Record<K, AttackFunction>> | readonly (AttackFunction)[],
  options: Readonly<WorstCaseOptions> = {}
): Promise<WorstCaseResult<K, T>> {
  return named('worstCase', async () => {
    return runWorstCase(attackEntries<K>(attacks), model, x, y, options);
  });
}

/**
 * {@link worstCase} of attacks taken once by `attackEntries`: a `MultiAttack` run (which checks the inputs, with errors
 * naming the function the user called: `worstCase` or `autoAttack`) and its accuracies. Internal.
 */
export async function runWorstCase<K extends string, T extends tf.Tensor>(
  entries: ReadonlyArray<readonly [K, Attack]>,
  model: Model,
  x: T,
  y: tf.Tensor1D,
  options: Readonly<WorstCaseOptions>
): Promise<WorstCaseResult<K, T>> {
  const run = await runMultiAttack(entries, model, x, y, options);
  const names = entries.map(([name]) => name);
  const last = names[names.length - 1];
  const final = last === undefined ? run.clean : run.robust[last];
  return {
    n: run.clean.length,
    mode: 'sequential',
    clean: share(run.clean),
    attacks: byName(names, (name) => share(run.robust[name])),
    worstCase: share(final),
    perPoint: { clean: run.clean, attacks: run.robust, worstCase: final, brokenBy: run.brokenBy },
    seconds: run.seconds,
    xAdv: run.xAdv
  };
}
