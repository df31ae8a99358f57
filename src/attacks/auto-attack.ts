import { checkKnownKeys, optionKeys, type Bounds } from '../core/validate.js';
import { integer, oneOf, resolveFields, type OptionField, type OptionFields } from '../core/options.js';
import { rangeError, typeError, named } from '../core/errors.js';
import { apgdAttackFrom, resolveApgdAttack, resolveApgdTargeted, type ApgdOptions, type ApgdTargetedOptions } from './apgd.js';
import { fabAttackFrom, resolveFab, type FabOptions, type FabTargetedOptions } from './fab.js';
import type { Norm } from './norms.js';
import { resolveThreat } from './options.js';
import { referenceSquare, resolveSquare, squareAttackFrom, type SquareOptions } from './square.js';
import { isAttack } from './attack.js';
import type { Attack } from './types.js';

/**
 * Which AutoAttack ensemble to run: the reference's `'standard'`, `'plus'` and `'rand'` versions (fra31/auto-attack),
 * `'custom'` (the attacks you list), or ardkit's own quick `'fast'` preset.
 */
export type AutoAttackVersion = 'standard' | 'plus' | 'rand' | 'custom' | 'fast';

/** The allowed {@link AutoAttackVersion} values. */
export const AUTO_ATTACK_VERSIONS: readonly AutoAttackVersion[] = ['standard', 'plus', 'rand', 'custom', 'fast'];

/** Options of {@link autoAttackSuite}. */
export interface AutoAttackSuiteOptions {
  /** The radius ε of the threat model, in input units. Required. */
  readonly eps: number;
  /** @defaultValue 'linf' */
  readonly norm?: Norm;
  /**
   * The ensemble, as the reference implementation (fra31/auto-attack) defines its versions:
   * - `'standard'`: APGD-CE (1 run), APGD-T (9 target classes), FAB-T (9 target classes), Square (5000 queries);
   * - `'plus'`: APGD-CE and APGD-DLR (5 restarts each), FAB (5 restarts), Square (5000 queries), APGD-T, FAB-T;
   * - `'rand'`: APGD-CE and APGD-DLR with Expectation over Transformation over 20 draws, for randomised models;
   * - `'custom'`: the attacks of `attacks`, in order;
   * - `'fast'` (ardkit's own preset, not one of the reference's): APGD-CE and APGD-T with 3 target classes, for quick
   *   checks of models that `sanityChecks` finds no gradient masking in. Its figure is not AutoAttack's.
   * @defaultValue 'standard'
   */
  readonly version?: AutoAttackVersion;
  /** APGD and FAB iterations per run. @defaultValue 100 */
  readonly steps?: number;
  /** APGD-T and FAB-T target classes. @defaultValue 9 (3 for 'fast') */
  readonly targetClasses?: number;
  /**
   * Square's proposals per point, as the reference counts them (two more queries go to `x` and to the start), with the
   * reference's schedule for AutoAttack (not rescaled to the budget). @defaultValue 5000
   */
  readonly queries?: number;
  /** The attacks of the `'custom'` version, run in this order (named by their `attackName`). */
  readonly attacks?: readonly Attack[];
  /** The valid input box. @defaultValue [0, 1] */
  readonly bounds?: Bounds;
  /** Seed of every member's randomness. @defaultValue 0 (AutoAttack's default: evaluations are reproducible) */
  readonly seed?: number;
}

/** The option keys of {@link AutoAttackSuiteOptions}. Internal. */
export const SUITE_KEYS = optionKeys<AutoAttackSuiteOptions>()('eps', 'norm', 'version', 'steps', 'targetClasses', 'queries', 'attacks', 'bounds', 'seed');

/**
 * How the suite's settings are checked and defaulted, after the threat model (`resolveThreat`), in the order they are
 * checked (`targetClasses` left undefined: its default depends on the version). `attacks` is checked with `version`.
 */
const SUITE_FIELDS: OptionFields<Pick<AutoAttackSuiteOptions, 'version' | 'steps' | 'queries'>> & { readonly targetClasses: OptionField<number | undefined> } = {
  version: /* @__PURE__ */ oneOf(AUTO_ATTACK_VERSIONS, 'standard'),
  steps: /* @__PURE__ */ integer(1, 100),
  targetClasses: /* @__PURE__ */ integer(1),
  queries: /* @__PURE__ */ integer(1, 5000)
};

/** Restarts of the untargeted APGD and FAB runs in the `'plus'` version. */
const PLUS_RESTARTS = 5;
/** EoT draws per gradient in the `'rand'` version. */
const RAND_EOT_SAMPLES = 20;

/**
 * The members of the AutoAttack ensemble (Croce & Hein 2020, arXiv 2003.01690) as named attacks, in run order, as
 * the reference implementation's versions define them (see {@link AutoAttackSuiteOptions.version}): `'apgd-ce'` and
 * `'apgd-dlr'` ({@link apgd}), `'apgd-t'` ({@link apgdTargeted}), `'fab'` and `'fab-t'` ({@link fab},
 * {@link fabTargeted}) and `'square'` ({@link square}), for L∞ and L2. Pass them to `worstCase` (in `ardkit/eval`), or
 * to `evaluate` to run each on every point; `autoAttack` runs them in sequence on the points still robust.
 *
 * @param options - see {@link AutoAttackSuiteOptions}.
 * @returns an object of named attacks, in run order.
 * @throws RangeError for a missing or invalid eps, an unknown norm or version, steps, targetClasses or queries that
 * are not positive integers, `attacks` given with a version other than 'custom' (or missing, empty or not attacks made by factories
 * with 'custom'), invalid bounds or seed, or an unknown option.
 * @example
 * const r = await evaluate(model, x, y, { attacks: autoAttackSuite({ eps: 0.3 }), sequential: true });
 * const plus = autoAttackSuite({ eps: 0.5, norm: 'l2', version: 'plus' });
 */
export function autoAttackSuite(options: Readonly<AutoAttackSuiteOptions>): Record<string, Attack> {
  return named('autoAttackSuite', () => {
    return buildSuite('autoAttackSuite', options, SUITE_KEYS);
  });
}

/** {@link autoAttackSuite} for options that may hold more `keys`, with errors naming the function the user called. Internal. */
export function buildSuite<O extends AutoAttackSuiteOptions>(name: string, options: Readonly<O>, keys: readonly (keyof O & string)[]): Record<string, Attack> {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) typeError('options', 'be an object with at least eps', options);
  checkKnownKeys(options, keys);
  const suiteOptions: Readonly<AutoAttackSuiteOptions> = options;
  const threat = resolveThreat({ ...suiteOptions, seed: options.seed ?? 0 });
  const { eps, norm, bounds } = threat;
  const seed = threat.seed ?? 0;
  const { version, steps, queries, ...given } = resolveFields(options, SUITE_FIELDS);
  const targetClasses = given.targetClasses ?? (version === 'fast' ? 3 : 9);
  if (version !== 'custom' && options.attacks !== undefined) {
    rangeError('attacks', `be given only with version 'custom' (version '${version}' defines its own members)`, options.attacks);
  }
  const common = { eps, norm, steps, bounds, seed };
  // The members, configured here, once; their calls' errors name `name`, the function the user called.
  const apgdCe = (o: ApgdOptions): Attack => apgdAttackFrom(name, resolveApgdAttack(o));
  const apgdT = (o: ApgdTargetedOptions): Attack => apgdAttackFrom(name, resolveApgdTargeted(o));
  const fabU = (o: FabOptions): Attack => fabAttackFrom(name, resolveFab(o, false));
  const fabT = (o: FabTargetedOptions): Attack => fabAttackFrom(name, resolveFab(o, true));
  const squareRef = (o: SquareOptions): Attack => squareAttackFrom(name, referenceSquare(resolveSquare(o)));
  switch (version) {
    case 'standard':
      return {
        'apgd-ce': apgdCe({ ...common, loss: 'ce' }),
        'apgd-t': apgdT({ ...common, targetClasses }),
        'fab-t': fabT({ ...common, targetClasses }),
        square: squareRef({ eps, norm, queries, bounds, seed })
      };
    case 'plus':
      return {
        'apgd-ce': apgdCe({ ...common, loss: 'ce', restarts: PLUS_RESTARTS }),
        'apgd-dlr': apgdCe({ ...common, loss: 'dlr', restarts: PLUS_RESTARTS }),
        fab: fabU({ ...common, restarts: PLUS_RESTARTS }),
        square: squareRef({ eps, norm, queries, bounds, seed }),
        'apgd-t': apgdT({ ...common, targetClasses }),
        'fab-t': fabT({ ...common, targetClasses })
      };
    case 'rand':
      return {
        'apgd-ce': apgdCe({ ...common, loss: 'ce', eotSamples: RAND_EOT_SAMPLES }),
        'apgd-dlr': apgdCe({ ...common, loss: 'dlr', eotSamples: RAND_EOT_SAMPLES })
      };
    case 'fast':
      return {
        'apgd-ce': apgdCe({ ...common, loss: 'ce' }),
        'apgd-t': apgdT({ ...common, targetClasses })
      };
    case 'custom':
      return customSuite(options.attacks);
  }
}

/** The `'custom'` version: the listed attacks, keyed by `attackName` (`name#2`, … for repeats). */
function customSuite(attacks: unknown): Record<string, Attack> {
  if (!Array.isArray(attacks) || attacks.length === 0) {
    rangeError('attacks', "be a non-empty array of attacks (made by pgdAttack, apgdAttack, fabAttack, …) with version 'custom'", attacks);
  }
  const suite: Record<string, Attack> = {};
  (attacks as unknown[]).forEach((attack, i) => {
    if (!isAttack(attack)) rangeError(`attacks[${String(i)}]`, 'be an attack made by a factory (pgdAttack, apgdAttack, fabAttack, …)', attack);
    let name = attack.attackName;
    for (let k = 2; name in suite; k++) name = `${attack.attackName}#${String(k)}`;
    suite[name] = attack;
  });
  return suite;
}
