import { checkBounds, checkInteger, checkKnownKeys, optionKeys, checkNonNegative, checkOneOf, type Bounds } from '../core/validate.js';
import { rangeError, typeError } from '../core/errors.js';
import { apgdAttackAs, apgdTargetedAttackAs } from './apgd.js';
import { NORMS, type Norm } from './norms.js';
import { squareAttackAs } from './square.js';
import type { AttackValue } from './attack-value.js';

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

/** The option keys of {@link AutoAttackSuiteOptions}. Internal. */
export const SUITE_KEYS = optionKeys<AutoAttackSuiteOptions>()('eps', 'norm', 'version', 'steps', 'targetClasses', 'queries', 'bounds', 'seed');

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

/** {@link autoAttackSuite} for options that may hold more `keys`, with errors naming `fn`. Internal. */
export function buildSuite<O extends AutoAttackSuiteOptions>(fn: string, options: Readonly<O>, keys: readonly (keyof O & string)[]): Record<string, AttackValue> {
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
