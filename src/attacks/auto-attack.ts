import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';
import { checkBounds, checkFunction, checkInBounds, checkInput, checkInteger, checkKnownKeys, optionKeys, checkLogits, checkNonNegative, checkOneOf, type Bounds } from '../core/validate.js';
import { rangeError, typeError } from '../core/errors.js';
import { apgdAttackAs, apgdTargetedAttackAs } from './apgd.js';
import { NORMS, type Norm } from './norms.js';
import { squareAttackAs } from './square.js';
import type { AttackValue } from './attack-value.js';
import { worstCaseAs, type WorstCaseOptions, type WorstCaseResult } from './worst-case.js';

/** Which AutoAttack ensemble to run. */
export type AutoAttackVersion = 'standard' | 'fast';

/** The allowed {@link AutoAttackVersion} values. */
export const AUTO_ATTACK_VERSIONS: readonly AutoAttackVersion[] = ['standard', 'fast'];

/** Options of {@link autoAttackSuite}. */
export interface AutoAttackSuiteOptions {
  /** The radius ε of the threat model, in input units. Required. */
  readonly eps: number;
  /** @defaultValue 'linf' */
  readonly norm?: Norm;
  /**
   * `'standard'`: APGD-CE, APGD-T (9 target classes), then Square (L∞ only, 5000 queries).
   * `'fast'`: APGD-CE and APGD-T with 3 target classes, no Square: for quick checks of models that
   * `sanityChecks` finds no gradient masking in.
   * @defaultValue 'standard'
   */
  readonly version?: AutoAttackVersion;
  /** APGD iterations per run. @defaultValue 100 */
  readonly steps?: number;
  /** APGD-T target classes. @defaultValue 9 (standard), 3 (fast) */
  readonly targetClasses?: number;
  /** Square's query budget per point. @defaultValue 5000 */
  readonly queries?: number;
  /** The valid input box. @defaultValue [0, 1] */
  readonly bounds?: Bounds;
  /** Seed of every member's randomness. @defaultValue 0 (AutoAttack's default: evaluations are reproducible) */
  readonly seed?: number;
}

/** Options of {@link autoAttack}: the suite's options and a progress callback. */
export interface AutoAttackOptions extends AutoAttackSuiteOptions, WorstCaseOptions {}

const SUITE_KEYS = optionKeys<AutoAttackSuiteOptions>()('eps', 'norm', 'version', 'steps', 'targetClasses', 'queries', 'bounds', 'seed');

/**
 * The members of the AutoAttack ensemble (Croce & Hein 2020, arXiv 2003.01690) as named attacks, in run order:
 * `'apgd-ce'` ({@link apgd} on cross-entropy), `'apgd-t'` ({@link apgdTargeted}) and, for the standard L∞
 * version, `'square'` ({@link square}). Pass them to {@link worstCase}, or to `evaluate` to run each on every
 * point. Not included: FAB-T of the original standard version (not implemented in ardkit), and Square for L2
 * (ardkit's Square is L∞).
 *
 * @param options - see {@link AutoAttackSuiteOptions}.
 * @returns an object of named attack values (see `apgdAttack`, `squareAttack`).
 * @throws RangeError for a missing or invalid eps, an unknown norm or version, steps, targetClasses or queries that
 * are not positive integers, invalid bounds or seed, or an unknown option.
 * @example
 * const r = evaluate(model, x, y, { attacks: autoAttackSuite({ eps: 0.3 }), sequential: true });
 */
export function autoAttackSuite(options: Readonly<AutoAttackSuiteOptions>): Record<string, AttackValue> {
  return buildSuite('autoAttackSuite', options, SUITE_KEYS);
}

function buildSuite(fn: string, options: Readonly<AutoAttackOptions>, keys: readonly (keyof AutoAttackOptions)[]): Record<string, AttackValue> {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) typeError(fn, 'options', 'be an object with at least eps', options);
  checkKnownKeys(fn, options, keys);
  if (options.eps === undefined) rangeError(fn, 'eps', 'be given (the radius of the threat model)', undefined);
  const eps = checkNonNegative(fn, 'eps', options.eps);
  const norm = options.norm === undefined ? 'linf' : checkOneOf(fn, 'norm', options.norm, NORMS);
  const version = options.version === undefined ? 'standard' : checkOneOf(fn, 'version', options.version, AUTO_ATTACK_VERSIONS);
  const steps = options.steps === undefined ? 100 : checkInteger(fn, 'steps', options.steps, 1);
  const targetClasses =
    options.targetClasses === undefined ? (version === 'standard' ? 9 : 3) : checkInteger(fn, 'targetClasses', options.targetClasses, 1);
  const queries = options.queries === undefined ? 5000 : checkInteger(fn, 'queries', options.queries, 1);
  const bounds = options.bounds === undefined ? ([0, 1] as const) : checkBounds(fn, options.bounds);
  const seed = options.seed ?? 0;
  if (typeof seed !== 'number' || !Number.isFinite(seed)) rangeError(fn, 'seed', 'be a finite number', seed);

  const suite: Record<string, AttackValue> = {
    'apgd-ce': apgdAttackAs(fn, { eps, norm, steps, bounds, seed, loss: 'ce' }),
    'apgd-t': apgdTargetedAttackAs(fn, { eps, norm, steps, bounds, seed, targetClasses })
  };
  if (version === 'standard' && norm === 'linf') suite.square = squareAttackAs(fn, { eps, queries, bounds, seed });
  return suite;
}

/**
 * AutoAttack (Croce & Hein 2020, arXiv 2003.01690): the parameter-free ensemble the robustness literature
 * reports. APGD-CE, then APGD-T, then (standard, L∞) the black-box Square attack, each only on the points still
 * classified correctly; a point is robust only if it survives all three. See {@link autoAttackSuite} for the
 * members and {@link worstCase} for the result.
 *
 * @param model - a {@link Model} returning logits `[B, C]`, C ≥ 4 (APGD-T's targeted DLR loss needs it).
 * @param x - clean inputs `[B, ...]` inside `bounds`.
 * @param y - `[B]` int32 labels.
 * @param options - see {@link AutoAttackOptions}.
 * @returns a {@link WorstCaseResult}: clean and robust accuracy, accuracy after each member, per-point masks,
 * which member fooled each point, seconds per member, and `x'` (the caller disposes `xAdv`).
 * @throws RangeError for invalid options (see {@link autoAttackSuite}), inputs or labels, or a model with the wrong
 * output shape or fewer than 4 classes; TypeError when model is not a function.
 * @example
 * const r = autoAttack(model, x, y, { eps: 8 / 255 });
 * console.log(`clean ${r.clean}, AutoAttack ${r.worstCase}`, r.attacks); // accuracy after each member
 * r.xAdv.dispose();
 */
export function autoAttack(model: Model, x: tf.Tensor, y: tf.Tensor1D, options: Readonly<AutoAttackOptions>): WorstCaseResult {
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
  return worstCaseAs(fn, model, input, y, suite, options.onProgress === undefined ? {} : { onProgress: options.onProgress });
}
