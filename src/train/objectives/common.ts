import * as tf from '@tensorflow/tfjs-core';
import { deviceChecks, type ValueCheck } from '../../core/device-checks.js';
import { outputProbe } from '../../core/probabilities.js';
import type { Model } from '../../core/model.js';
import { checkFunction, optionKeys, type Bounds } from '../../core/validate.js';
import { parseOptions, type OptionField, type Parsed } from '../../core/options.js';
import type { Attack, AttackFunction } from '../../attacks/types.js';
import { isAttack, toAttack } from '../../attacks/attack.js';
import type { Norm } from '../../attacks/norms.js';
import { isTensor, rangeError, typeError, named } from '../../core/errors.js';
import { resolvePerturbation, type PerturbationOptions, type ResolvedPerturbation } from '../../attacks/options.js';
import { resolveObjective, runLossAttack, type LossAttackConfig } from '../../attacks/runner.js';
import { runTradesAttack } from '../../attacks/trades-attack.js';
import { runAscent, type InputObjective } from '../../attacks/projected-gradient-ascent.js';
import type { KlDivergenceConfig } from '../../losses/kl-divergence.js';
import type { Student } from '../student.js';
import type { BatchContext } from '../objective.js';

/**
 * The attack options every adversarial objective takes: the threat model (`eps` required, `norm`, `bounds`) and
 * either the settings of the method's own attack (as in `pgd`) or an `attack` of your choice.
 */
export interface AttackSettings extends Omit<PerturbationOptions, 'seed'> {
  /**
   * The attack that makes the training inputs `x'`, in place of the method's own (e.g. `apgdAttack({ eps })`, an
   * L2 attack, an EoT attack, or any function `(model, x, y, { seed }) ↦ x'`). It is called against the model the
   * method attacks (the student in inference mode, or LTD's deployed student) with a fresh seed per batch from
   * `fit`'s seeded source. An attack's threat model must match `eps`, `norm` and `bounds`; the settings of the
   * method's own attack (`steps`, `stepSize`, `randomStart`, `normalStd`) cannot be given with it.
   * @defaultValue the method's own attack (PGD, or the method's KL attack), with the settings above
   */
  readonly attack?: AttackFunction;
}

/** The keys of {@link AttackSettings}. */
export const ATTACK_KEYS = optionKeys<AttackSettings>()('eps', 'norm', 'steps', 'stepSize', 'randomStart', 'normalStd', 'bounds', 'attack');

/** The settings that configure the method's own attack, meaningless with a custom `attack`. */
const OWN_ATTACK_KEYS = ['steps', 'stepSize', 'randomStart', 'normalStd'] as const satisfies readonly (keyof AttackSettings)[];

/**
 * The user's `attack`, checked against the objective's threat model and taken as an {@link Attack} (a plain function is
 * wrapped, so that its output is checked: the batch's shape and dtype, inside the objective's bounds); undefined when
 * the method's own attack runs.
 *
 * @throws TypeError when `attack` is not a function; RangeError when it comes with settings of the method's own
 * attack, or is an attack whose ε, norm or bounds differ from the objective's.
 */
export function userAttack(options: Readonly<AttackSettings>, threat: { readonly eps: number; readonly norm?: Norm | undefined; readonly bounds: Bounds }): Attack | undefined {
  const attack = options.attack;
  if (attack === undefined) return undefined;
  checkFunction('attack', attack);
  for (const k of OWN_ATTACK_KEYS) {
    if (options[k] !== undefined) rangeError(k, 'be left out when an attack is given (configure the attack itself)', options[k]);
  }
  const norm = threat.norm ?? 'linf';
  if (isAttack(attack) && attack.threat !== undefined) {
    const t = attack.threat;
    if (t.eps !== threat.eps) rangeError('attack', `have the objective's eps ${String(threat.eps)}`, `${attack.attackName} with eps ${String(t.eps)}`);
    if (t.norm !== norm) rangeError('attack', `have the objective's norm ${norm}`, `${attack.attackName} with norm ${t.norm}`);
    if (t.bounds[0] !== threat.bounds[0] || t.bounds[1] !== threat.bounds[1]) {
      rangeError('attack', `have the objective's bounds [${threat.bounds.join(', ')}]`, `${attack.attackName} with bounds [${t.bounds.join(', ')}]`);
    }
  }
  return toAttack('attack', attack, { eps: threat.eps, norm, bounds: threat.bounds });
}

/**
 * The batch's adversarial inputs: the user's attack (called with a fresh seed), or the method's own, `own(seed)`.
 * One seed is drawn either way, so a run's random stream does not depend on which attack ran.
 *
 * The user's attack was taken by {@link userAttack}, which checks a plain function's output on each call.
 */
export function adversarial(custom: Attack | undefined, ctx: BatchContext, model: Model, x: tf.Tensor, y: tf.Tensor1D, own: (seed: number) => tf.Tensor): tf.Tensor {
  const seed = ctx.rng.nextSeed();
  if (custom === undefined) return own(seed);
  return custom(model, x, y, { seed });
}

/** The defaults of the method's own attack that differ between methods. */
export interface OwnAttackDefaults {
  readonly randomStart: 'uniform' | 'normal';
  readonly steps: number;
}

/** The keys of an objective's options `O` besides the attack settings. */
type OwnKeys<O> = Exclude<keyof O & string, keyof AttackSettings>;

/**
 * Parses an objective's options once, when the objective is made: only `known` keys plus the attack keys, every
 * option of `fields` resolved (the objective's own and those it passes to its loss, so that a bad loss option throws
 * here, naming the objective, and not at the first batch), and the attack settings valid (ε given). The options that
 * are neither fields nor attack settings (teachers, feature functions) are left to the caller. Returns the fields'
 * values and the method's own attack settings resolved (defaults filled in, `seed` left undefined: each batch passes
 * its own), for {@link ownPgd}, {@link ownTradesAttack} or {@link ownAscent}, which run them per batch without parsing
 * them again.
 */
export function checkObjectiveOptions<
  O extends AttackSettings,
  const K extends readonly OwnKeys<O>[],
  const F extends { readonly [P in keyof F]: P extends K[number] ? OptionField<Exclude<O[P & keyof O], undefined>> : never }
>(
  options: Readonly<O>,
  // Checked by the compiler in both directions, as optionKeys does: every key of the objective's own options.
  known: K & (Exclude<OwnKeys<O>, K[number]> extends never ? unknown : { readonly missing: Exclude<OwnKeys<O>, K[number]> }),
  fields: F,
  defaults: OwnAttackDefaults | ((config: Parsed<F>) => OwnAttackDefaults)
): { readonly attack: ResolvedPerturbation; readonly config: Parsed<F> } {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) typeError('options', 'be an object with at least eps', options);
  const config = parseOptions(options, fields as Readonly<Record<string, OptionField<unknown>>>, [...known, ...ATTACK_KEYS]) as Parsed<F>;
  const o: Record<string, unknown> = { ...(options as AttackSettings) };
  delete o.attack;
  const r = resolvePerturbation(o as unknown as PerturbationOptions, typeof defaults === 'function' ? defaults(config) : defaults);
  return { attack: { ...r, seed: undefined }, config };
}

/** The reduction of the loss terms an objective computes: the mean over the batch. */
export const MEAN: { readonly reduction: 'mean' } = { reduction: 'mean' };

/** The reported KL terms: the batch mean of the per-example class sums. */
export const KL_MEAN: KlDivergenceConfig = { reduction: 'mean', targetType: 'logits' };

/** The method's own attack on `(model, x, y)`, resolved once; each call runs it with the batch's seed. */
export type OwnAttack = (model: Model, x: tf.Tensor, y: tf.Tensor1D, seed: number) => tf.Tensor;

/**
 * The method's own PGD on the model's cross-entropy with the resolved settings of {@link checkObjectiveOptions}: the
 * configuration is made here, once, and each batch only runs it (errors of a run name `pgd`, as the attack it runs).
 */
export function ownPgd(attack: ResolvedPerturbation): OwnAttack {
  return named('pgd', () => {
    const config: LossAttackConfig = { ...attack, objective: resolveObjective(undefined, false) };
    return (model, x, y, seed) => named('pgd', () => runLossAttack(model, x, y, config, seed));
  });
}

/**
 * The method's own TRADES-KL attack (`tradesAttack`, which needs no labels) with resolved settings: made once, run per
 * batch without parsing options (errors of a run name `tradesAttack`).
 */
export function ownTradesAttack(attack: ResolvedPerturbation): (model: Model, x: tf.Tensor, seed: number) => tf.Tensor {
  return (model, x, seed) => named('tradesAttack', () => runTradesAttack(model, x, attack, seed));
}

/**
 * The method's own projected-gradient ascent on an objective of the input (RSLAD's and AdaAD's KL attacks) with
 * resolved settings: made once, run per batch without parsing options (errors of a run name `projectedGradientAscent`).
 */
export function ownAscent(attack: ResolvedPerturbation): (objective: InputObjective, x: tf.Tensor, seed: number) => tf.Tensor {
  return (objective, x, seed) => named('projectedGradientAscent', () => runAscent(objective, x, attack, seed));
}

/** Checks that each teacher maps the sample to logits `[1, C]` with the student's C. */
export function checkTeachers(teachers: ReadonlyArray<readonly [string, Model]>, numClasses: number, sample: tf.Tensor): void {
  const probes: Array<ValueCheck | undefined> = [];
  for (const [name, teacher] of teachers) {
    const out = teacher(sample);
    if (!isTensor(out) || out.rank !== 2 || out.shape[0] !== 1) rangeError(name, 'return logits [B, C]', out);
    if (out.shape[1] !== numClasses) {
      rangeError(name, `have the student's number of classes (${String(numClasses)})`, out.shape[1]);
    }
    probes.push(outputProbe(teacher, name, out));
  }
  // Whether a teacher returns probabilities (a warning): every teacher in one readback.
  deviceChecks(probes);
}

/** The student's logits in training mode (other outputs are released with the tape's scope). */
export function logitsOf(student: Student, x: tf.Tensor): tf.Tensor2D {
  return student.forward(x, true).logits;
}

/**
 * Fraction of training done at this batch, counting batches within the epoch where their number is known:
 * `(epoch + batch / batchesPerEpoch) / epochs` (else `epoch / epochs`).
 */
export function batchProgress(ctx: BatchContext): number {
  const within = ctx.batchesPerEpoch === undefined ? 0 : Math.min(1, ctx.batch / ctx.batchesPerEpoch);
  return (ctx.epoch + within) / ctx.epochs;
}

/**
 * The teacher's logits on the batch `x`, checked by shape only (nothing is read back): `[B, C]` for a batch of B. The
 * number of classes was checked once, before training, by {@link checkTeachers}.
 *
 * @throws RangeError naming the function the user called and `name` when the teacher returns anything else.
 */
export function teacherLogits(name: string, teacher: Model, x: tf.Tensor): tf.Tensor2D {
  const out: unknown = teacher(x);
  if (!isTensor(out) || out.rank !== 2 || out.shape[0] !== x.shape[0]) {
    rangeError(name, `return logits [B, C] for a batch of ${String(x.shape[0])}`, out);
  }
  return out as tf.Tensor2D;
}
