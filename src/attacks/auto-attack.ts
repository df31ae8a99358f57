import { checkInteger, checkKnownKeys, optionKeys, checkOneOf, type Bounds } from '../core/validate.js';
import { typeError } from '../core/errors.js';
import { apgdAttackAs, apgdTargetedAttackAs } from './apgd.js';
import type { Norm } from './norms.js';
import { resolveThreat } from './options.js';
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
 * version, `'square'` ({@link square}). Pass them to `worstCase` (in `ardkit/eval`), or to `evaluate` to run each on every
 * point. Not included: FAB-T of the original standard version (not implemented in ardkit), and Square for L2
 * (ardkit's Square is L∞).
 *
 * @param options - see {@link AutoAttackSuiteOptions}.
 * @returns an object of named attack values (see `apgdAttack`, `squareAttack`).
 * @throws RangeError for a missing or invalid eps, an unknown norm or version, steps, targetClasses or queries that
 * are not positive integers, invalid bounds or seed, or an unknown option.
 * @example
 * const r = await evaluate(model, x, y, { attacks: autoAttackSuite({ eps: 0.3 }), sequential: true });
 */
export function autoAttackSuite(options: Readonly<AutoAttackSuiteOptions>): Record<string, AttackValue> {
  return buildSuite('autoAttackSuite', options, SUITE_KEYS);
}

/** {@link autoAttackSuite} for options that may hold more `keys`, with errors naming `fn`. Internal. */
export function buildSuite<O extends AutoAttackSuiteOptions>(fn: string, options: Readonly<O>, keys: readonly (keyof O & string)[]): Record<string, AttackValue> {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) typeError(fn, 'options', 'be an object with at least eps', options);
  checkKnownKeys(fn, options, keys);
  const suiteOptions: Readonly<AutoAttackSuiteOptions> = options;
  const threat = resolveThreat(fn, { ...suiteOptions, seed: options.seed ?? 0 });
  const { eps, norm, bounds } = threat;
  const seed = threat.seed ?? 0;
  const version = options.version === undefined ? 'standard' : checkOneOf(fn, 'version', options.version, AUTO_ATTACK_VERSIONS);
  const steps = options.steps === undefined ? 100 : checkInteger(fn, 'steps', options.steps, 1);
  const targetClasses =
    options.targetClasses === undefined ? (version === 'standard' ? 9 : 3) : checkInteger(fn, 'targetClasses', options.targetClasses, 1);
  const queries = options.queries === undefined ? 5000 : checkInteger(fn, 'queries', options.queries, 1);

  const suite: Record<string, AttackValue> = {
    'apgd-ce': apgdAttackAs(fn, { eps, norm, steps, bounds, seed, loss: 'ce' }),
    'apgd-t': apgdTargetedAttackAs(fn, { eps, norm, steps, bounds, seed, targetClasses })
  };
  if (version === 'standard' && norm === 'linf') suite.square = squareAttackAs(fn, { eps, queries, bounds, seed });
  return suite;
}
