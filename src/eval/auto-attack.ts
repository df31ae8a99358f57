import * as tf from '@tensorflow/tfjs-core';
import { probing } from '../core/probabilities.js';
import type { Model } from '../core/model.js';
import { checkBounds, checkFunction, checkInBounds, checkInput, checkLogits } from '../core/validate.js';
import { rangeError, named } from '../core/errors.js';
import { readWithChecks } from '../core/device-checks.js';
import { buildSuite, SUITE_KEYS, type AutoAttackSuiteOptions } from '../attacks/auto-attack.js';
import type { SanityFlag } from './sanity-checks.js';
import { attackEntries } from '../attacks/attack.js';
import { runWorstCase, type WorstCaseOptions, type WorstCaseResult } from './worst-case.js';

/** Options of {@link autoAttack}: the suite's options (see `autoAttackSuite` in `ardkit/attacks`) and callbacks. */
export interface AutoAttackOptions extends AutoAttackSuiteOptions, WorstCaseOptions {
  /**
   * Called with each warning of the reference's checks before the attacks run (outputs that look like probabilities; a
   * model whose outputs change between calls, under any version but 'rand'). @defaultValue console.warn of the message
   */
  readonly onWarning?: (flag: SanityFlag) => void;
}

/** What {@link autoAttack} returns: {@link WorstCaseResult} and the warnings raised before the attacks ran. */
export interface AutoAttackResult<T extends tf.Tensor = tf.Tensor> extends WorstCaseResult<string, T> {
  /** The checks' warnings (`probabilities`, `randomized`), also passed to `onWarning`; empty when none fired. */
  readonly warnings: readonly SanityFlag[];
}

/** Points the pre-attack checks look at (the reference checks its first batch, 250 points). */
const CHECKED_POINTS = 250;
/** Calls of the model for the randomness check (the reference's `n`). */
const RANDOMNESS_CALLS = 5;

/**
 * The reference's checks before an evaluation (fra31/auto-attack `checks.py`): outputs that are a probability
 * distribution (every value in [0, 1] within 1e-5 and rows summing to 1), and, unless the version is 'rand', outputs
 * that differ between calls on the same inputs (normalised rows differing by more than 1e-4 in L2). One readback.
 */
async function preChecks(model: Model, x: tf.Tensor, version: string): Promise<SanityFlag[]> {
  const n = Math.min(x.shape[0] ?? 0, CHECKED_POINTS);
  if (n === 0) return [];
  const head = tf.slice(x, 0, n);
  // Each call in its own scope, so that only its [n, C] output (and its normalised rows) outlive it.
  const calls: Array<{ z: tf.Tensor; unit: tf.Tensor }> = [];
  let stats: tf.Tensor;
  try {
    for (let k = 0; k < (version === 'rand' ? 1 : RANDOMNESS_CALLS); k++) {
      calls.push(tf.tidy(() => {
        const z = tf.clone(checkLogits(model(head), n));
        return { z, unit: tf.div(z, tf.add(tf.norm(z, 'euclidean', 1, true), 1e-10)) };
      }));
    }
    stats = tf.tidy(() => {
      const first = calls[0]?.z ?? tf.zeros([n, 1]);
      let spread: tf.Tensor = tf.scalar(0);
      for (let i = 0; i < calls.length; i++) {
        for (let j = i + 1; j < calls.length; j++) spread = tf.maximum(spread, tf.max(tf.norm(tf.sub(calls[i]?.unit ?? first, calls[j]?.unit ?? first), 'euclidean', 1)));
      }
      return tf.stack([tf.max(first), tf.min(first), tf.max(tf.abs(tf.sub(tf.sum(first, 1), 1))), spread]);
    });
  } finally {
    tf.dispose([head, ...calls.flatMap((c) => [c.z, c.unit])]);
  }
  let values: Float32Array;
  try {
    [values = new Float32Array(4)] = await readWithChecks([stats]);
  } finally {
    stats.dispose();
  }
  const [max = 0, min = 0, sumError = Infinity, spread = 0] = values;
  const flags: SanityFlag[] = [];
  if (max < 1 + 1e-5 && min > -1e-5 && sumError < 1e-5) {
    flags.push({
      id: 'probabilities',
      message: 'autoAttack: the model\'s outputs look like a probability distribution (in [0, 1], rows summing to 1): attacks need the logits, before the softmax, or their gradients vanish and the robust accuracy is overstated.'
    });
  }
  if (version !== 'rand' && spread > 1e-4) {
    flags.push({
      id: 'randomized',
      message: `autoAttack: the model's outputs differ between calls on the same inputs (normalised by up to ${spread.toPrecision(3)}), so it seems randomised: use version 'rand' (APGD with Expectation over Transformation).`
    });
  }
  return flags;
}

/**
 * AutoAttack (Croce & Hein 2020, arXiv 2003.01690): the parameter-free ensemble the robustness literature
 * reports, in the reference implementation's versions (fra31/auto-attack). The standard version runs APGD-CE, APGD-T
 * (9 target classes), FAB-T (9 target classes) and the black-box Square attack (5000 queries), in L∞ or L2, each only
 * on the points still classified correctly; a point is robust only if it survives all of them. See `autoAttackSuite`
 * (in `ardkit/attacks`) for the versions and members, and {@link worstCase} for the result.
 *
 * Before the attacks, the reference's checks run on the first 250 points (one readback): outputs that look like
 * probabilities, and outputs that change between calls (unless the version is 'rand'). Each warning goes to
 * `onWarning` (default `console.warn`) and into the result's `warnings`.
 *
 * Asynchronous, so that it runs on every backend (see {@link worstCase}). The inputs, the labels and the model's class
 * count are checked before any member runs.
 *
 * @param model - a {@link Model} returning logits `[B, C]`: C ≥ 4 for the versions with APGD-T (its targeted DLR loss
 * needs them), C ≥ 3 for 'rand' (APGD-DLR), C ≥ 2 for 'custom'.
 * @param x - clean inputs `[B, ...]` inside `bounds`.
 * @param y - `[B]` int32 labels.
 * @param options - see {@link AutoAttackOptions}.
 * @returns a promise of an {@link AutoAttackResult}: clean and robust accuracy, accuracy after each member, per-point
 * masks, which member fooled each point, seconds per member, `x'` (the caller disposes `xAdv`) and the warnings.
 * @throws the promise rejects with a RangeError for invalid options (see `autoAttackSuite`), inputs or labels, or a
 * model with the wrong output shape or too few classes; a TypeError when model is not a function or onWarning is given
 * and not a function.
 * @example
 * const r = await autoAttack(model, x, y, { eps: 8 / 255 });
 * console.log(`clean ${r.clean}, AutoAttack ${r.worstCase}`, r.attacks); // accuracy after each member
 * r.xAdv.dispose();
 */
export async function autoAttack<T extends tf.Tensor>(model: Model, x: T, y: tf.Tensor1D, options: Readonly<AutoAttackOptions>): Promise<AutoAttackResult<T>> {
  return named('autoAttack', async () => {
    const suite = buildSuite('autoAttack', options, [...SUITE_KEYS, 'onProgress', 'onWarning']);
    if (options.onWarning !== undefined) checkFunction('onWarning', options.onWarning);
    const version = options.version ?? 'standard';
    const minClasses = version === 'custom' ? 2 : version === 'rand' ? 3 : 4;
    checkFunction('model', model);
    const input = checkInput('x', x);
    const n = input.shape[0] ?? 0;
    // What the members would reject, checked before any of them runs: inputs outside the box, and (APGD-T) a model
    // with fewer than 4 classes, which would otherwise surface only after the whole of APGD-CE.
    checkInBounds('x', input, options.bounds === undefined ? [0, 1] : checkBounds(options.bounds));
    if (n > 0) {
      tf.tidy(() => {
        const logits = checkLogits(probing(model)(tf.slice(input, 0, 1)), 1);
        if ((logits.shape[1] ?? 0) < minClasses) {
          rangeError('model', `return logits for at least ${String(minClasses)} classes (${minClasses === 4 ? "APGD-T's targeted DLR loss needs them" : minClasses === 3 ? "APGD-DLR's loss needs them" : 'a classifier has two'})`, logits);
        }
      });
    }
    // runWorstCase reads the checks queued on webgl and webgpu (the box above, the labels) before the first member runs.
    const warnings = await preChecks(model, input, version);
    const warn = options.onWarning ?? ((flag: SanityFlag): void => { console.warn(flag.message); });
    for (const flag of warnings) warn(flag);
    const result = await runWorstCase(attackEntries(suite), model, x, y, options.onProgress === undefined ? {} : { onProgress: options.onProgress });
    return { ...result, warnings };
  });
}
