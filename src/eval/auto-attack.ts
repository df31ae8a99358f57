import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';
import { checkBounds, checkFunction, checkInBounds, checkInput, checkLogits } from '../core/validate.js';
import { rangeError } from '../core/errors.js';
import { buildSuite, SUITE_KEYS, type AutoAttackSuiteOptions } from '../attacks/auto-attack.js';
import { worstCaseAs, type WorstCaseOptions, type WorstCaseResult } from './worst-case.js';

/** Options of {@link autoAttack}: the suite's options (see `autoAttackSuite` in `ardkit/attacks`) and a progress callback. */
export interface AutoAttackOptions extends AutoAttackSuiteOptions, WorstCaseOptions {}

/**
 * AutoAttack (Croce & Hein 2020, arXiv 2003.01690): the parameter-free ensemble the robustness literature
 * reports. APGD-CE, then APGD-T, then (standard, L∞) the black-box Square attack, each only on the points still
 * classified correctly; a point is robust only if it survives all three. See `autoAttackSuite` (in `ardkit/attacks`) for
 * the members and {@link worstCase} for the result.
 *
 * Asynchronous, so that it runs on every backend (see {@link worstCase}). The inputs, the labels and the model's class
 * count are checked before any member runs.
 *
 * @param model - a {@link Model} returning logits `[B, C]`, C ≥ 4 (APGD-T's targeted DLR loss needs it).
 * @param x - clean inputs `[B, ...]` inside `bounds`.
 * @param y - `[B]` int32 labels.
 * @param options - see {@link AutoAttackOptions}.
 * @returns a promise of a {@link WorstCaseResult}: clean and robust accuracy, accuracy after each member, per-point
 * masks, which member fooled each point, seconds per member, and `x'` (the caller disposes `xAdv`).
 * @throws the promise rejects with a RangeError for invalid options (see `autoAttackSuite`), inputs or labels, or a
 * model with the wrong output shape or fewer than 4 classes; a TypeError when model is not a function.
 * @example
 * const r = await autoAttack(model, x, y, { eps: 8 / 255 });
 * console.log(`clean ${r.clean}, AutoAttack ${r.worstCase}`, r.attacks); // accuracy after each member
 * r.xAdv.dispose();
 */
export async function autoAttack(model: Model, x: tf.Tensor, y: tf.Tensor1D, options: Readonly<AutoAttackOptions>): Promise<WorstCaseResult> {
  const fn = 'autoAttack';
  const suite = buildSuite(fn, options, [...SUITE_KEYS, 'onProgress']);
  checkFunction(fn, 'model', model);
  const input = checkInput(fn, 'x', x);
  const n = input.shape[0] ?? 0;
  // What the members would reject, checked before any of them runs: inputs outside the box, and (APGD-T) a model
  // with fewer than 4 classes, which would otherwise surface only after the whole of APGD-CE.
  checkInBounds(fn, 'x', input, options.bounds === undefined ? [0, 1] : checkBounds(fn, options.bounds));
  if (n > 0) {
    tf.tidy(() => {
      const logits = checkLogits(fn, model(tf.slice(input, 0, 1)), 1);
      if ((logits.shape[1] ?? 0) < 4) rangeError(fn, 'model', "return logits for at least 4 classes (APGD-T's targeted DLR loss needs them)", logits);
    });
  }
  // worstCaseAs reads the checks queued on webgl and webgpu (the box above, the labels) before the first member runs.
  return await worstCaseAs(fn, model, input, y, suite, options.onProgress === undefined ? {} : { onProgress: options.onProgress });
}
