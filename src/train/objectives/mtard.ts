import * as tf from '@tensorflow/tfjs-core';
import { klDivergenceCore } from '../../losses/kl-divergence.js';
import { MTARD_FIELDS, mtardLossCore, mtardWeights, type MtardConfig, type MtardState } from '../../losses/mtard.js';
import { klFactor } from '../../losses/kl.js';
import { oneOf, positive, type OptionField } from '../../core/options.js';
import { rangeError, named } from '../../core/errors.js';
import { asTeacher, type TeacherLike } from '../student.js';
import type { BatchContext, LossTerms, Objective, ObjectiveState } from '../objective.js';
import { adversarial, ownPgd, checkObjectiveOptions, checkTeachers, KL_MEAN, logitsOf, teacherLogits, type AttackSettings, userAttack } from './common.js';

/** Options of {@link mtard}. */
export interface MtardObjectiveOptions extends AttackSettings {
  /** The clean (naturally trained) teacher `T_nat`. */
  readonly cleanTeacher: TeacherLike;
  /** The robust (adversarially trained) teacher `T_adv`. */
  readonly robustTeacher: TeacherLike;
  /** η of the weight update, in (0, 1] (as `mtardWeights` takes it). @defaultValue 0.025 */
  readonly eta?: number;
  /** τ. @defaultValue 1 */
  readonly temperature?: number;
  /**
   * How η follows training. `'learningRate'`: the η of a batch is `eta · ctx.learningRate / ctx.baseLearningRate`,
   * η scaled by the learning-rate schedule's factor; under `multiStep` with gamma 0.1 this is the authors' rule
   * (zhaoshiji123/MTARD `mtard/mtard_resnet18_cifar10.py` multiplies η by 0.1 at each learning-rate milestone,
   * epochs 215, 260 and 285 of 300), and any other schedule (cosine, warm-up) scales η the same way. A rate above the
   * base rate raises η at most to 1; a batch whose learning rate is 0 leaves the weights where they are. Without a
   * schedule the factor is 1. `'constant'`: η never changes (ardkit's behaviour before this option).
   * @defaultValue 'learningRate'
   */
  readonly etaSchedule?: 'learningRate' | 'constant';
  /**
   * How the KL terms (of the loss and of the reported `klAdv`, `klNat` that drive the weight update) are scaled,
   * passed to `mtardLoss`: `'batchmean'` (ardkit's convention, each KL summed over classes) or `'classMean'` (divided
   * by the number of classes C: the authors' CIFAR-10 code averages an element-wise KL with `torch.mean`). The weight
   * update is unchanged by it (it reads ratios `L_now / L_first`); the paper's learning rates and weight decay carry
   * over only with `'classMean'`.
   * @defaultValue 'batchmean'
   */
  readonly klReduction?: 'batchmean' | 'classMean';
}

/**
 * The MTARD objective: its state is `MtardState` (`ardkit/losses`) as numbers (`natWeight`, `advWeight`, and `natInitial`,
 * `advInitial` once recorded), which `fit` returns as `objectiveValues`.
 */
export interface MtardObjective extends Objective {
  /** The starting weights, `{ natWeight: 0.5, advWeight: 0.5 }`, as an objective state. */
  init(): ObjectiveState;
  /** The state after a batch: `mtardWeights` of the batch's `klNat` and `klAdv`, with this batch's η. */
  update(state: ObjectiveState, terms: Readonly<Record<string, number>>, ctx: BatchContext): ObjectiveState;
}

/** MTARD's weights and reference losses read from an objective state (absent weights start at 0.5). */
function weightsOf(state: ObjectiveState): MtardState {
  const v = state.values;
  return {
    natWeight: v.natWeight ?? 0.5,
    advWeight: v.advWeight ?? 0.5,
    ...(v.natInitial === undefined ? {} : { natInitial: v.natInitial }),
    ...(v.advInitial === undefined ? {} : { advInitial: v.advInitial })
  };
}

/** An objective state holding MTARD's weights and reference losses (the names checkpoints have always used). */
function stateOf(w: MtardState): ObjectiveState {
  return { values: { ...w }, tensors: {} };
}

/** η: a number in (0, 1], checked when the objective is made (`mtardWeights` would reject it at the first update). */
const ETA_FIELD: OptionField<number> = {
  parse: (arg, value) => {
    const eta = positive(0.025).parse(arg, value);
    if (eta > 1) rangeError(arg, 'be a number in (0, 1]', eta);
    return eta;
  }
};

/** What MTARD prepares per batch. */
type Prepared = { xAdv: tf.Tensor; robustTeacherAdv: tf.Tensor2D; cleanTeacherClean: tf.Tensor2D };

/** η of a batch scaled by the schedule's factor `learningRate / baseLearningRate`, at most max(η, 1). */
function scheduledEta(eta: number, ctx: BatchContext): number {
  const base = ctx.baseLearningRate;
  const factor = Number.isFinite(base) && base > 0 && Number.isFinite(ctx.learningRate) ? Math.max(0, ctx.learningRate / base) : 1;
  return Math.min(eta * factor, Math.max(eta, 1));
}

/** The state after a batch whose KL terms were `klNat`, `klAdv`: `mtardWeights` with η (unchanged unless both are > 0). */
function nextState(state: ObjectiveState, terms: Readonly<Record<string, number>>, eta: number): ObjectiveState {
  const nat = terms.klNat ?? 0;
  const adv = terms.klAdv ?? 0;
  if (!(nat > 0 && adv > 0)) return state;
  const w = weightsOf(state);
  // η = 0 (a zero learning rate) moves nothing, but the first losses are still recorded.
  return stateOf(eta > 0 ? mtardWeights(w, nat, adv, { eta }) : { ...w, natInitial: w.natInitial ?? nat, advInitial: w.advInitial ?? adv });
}

/** MTARD's loss terms of one batch, inside the tape, with the batch's weights `w`. */
function mtardTerms(p: Prepared, x: tf.Tensor, ctx: BatchContext, w: MtardState, loss: MtardConfig): LossTerms {
  const studentAdv = logitsOf(ctx.student, p.xAdv);
  const studentClean = logitsOf(ctx.student, x);
  const total = mtardLossCore(
    { studentAdv, studentClean, robustTeacherAdv: p.robustTeacherAdv, cleanTeacherClean: p.cleanTeacherClean },
    { ...loss, advWeight: w.advWeight, natWeight: w.natWeight }
  ) as tf.Scalar;
  const scale = klFactor(loss.klReduction, studentAdv);
  const kl = (target: tf.Tensor2D, input: tf.Tensor2D): tf.Scalar => tf.mul<tf.Scalar>(klDivergenceCore(target, input, KL_MEAN), scale);
  return {
    total,
    terms: { klAdv: kl(p.robustTeacherAdv, studentAdv), klNat: kl(p.cleanTeacherClean, studentClean), natWeight: tf.scalar(w.natWeight) },
    accuracyLogits: studentAdv
  };
}

/**
 * MTARD (Zhao et al., ECCV 2022): two teachers, `mtardLoss` with weights adapted every batch by `mtardWeights` from
 * the two KL terms, η following the learning-rate schedule (`etaSchedule`); `x'` = PGD on the student's cross-entropy.
 * As in the authors' code (zhaoshiji123/MTARD `mtard/mtard_loss.py`), that attack starts from `x + 0.001·N(0, 1)`
 * with the student in inference mode. The weights and their reference losses are the objective's state: `fit` holds
 * them, saves them in checkpoints and returns them as `objectiveValues`.
 *
 * @param options - both teachers, attack settings (`eps` required), η and its schedule, τ and the KL reduction.
 * @returns the objective; terms: `klAdv`, `klNat`, `natWeight`.
 * @throws RangeError/TypeError for invalid settings, an unknown `etaSchedule` or `klReduction`, or teachers that are not
 * models.
 * @example
 * await fit(student, { x, y }, mtard({ cleanTeacher, robustTeacher, eps: 8 / 255 }));
 */
export function mtard(options: Readonly<MtardObjectiveOptions>): MtardObjective {
  return named('mtard', () => {
    // The authors' attack starts from x + 0.001·N(0, 1) (mtard_loss.py).
    const { attack, config } = checkObjectiveOptions(
      options,
      ['cleanTeacher', 'robustTeacher', 'eta', 'temperature', 'etaSchedule', 'klReduction'],
      {
        eta: ETA_FIELD,
        temperature: MTARD_FIELDS.temperature,
        etaSchedule: oneOf(['learningRate', 'constant'], 'learningRate'),
        klReduction: MTARD_FIELDS.klReduction
      },
      { randomStart: 'normal', steps: 10 }
    );
    const custom = userAttack(options, attack);
    const own = ownPgd(attack);
    const cleanTeacher = asTeacher('cleanTeacher', options.cleanTeacher);
    const robustTeacher = asTeacher('robustTeacher', options.robustTeacher);
    const { eta, etaSchedule, klReduction } = config;
    const loss: MtardConfig = { advWeight: 0.5, natWeight: 0.5, temperature: config.temperature, reduction: 'mean', klReduction };
    const objective: Objective<Prepared> & MtardObjective = {
      name: 'mtard',
      bounds: attack.bounds,
      check: (_s, c, sample) => {
        named('mtard', () => {
          checkTeachers([['cleanTeacher', cleanTeacher], ['robustTeacher', robustTeacher]], c, sample);
        });
      },
      init: () => stateOf({ natWeight: 0.5, advWeight: 0.5 }),
      prepare: (x, y, ctx) => {
        return named('mtard', () => {
          const xAdv = adversarial(custom, ctx, ctx.studentModel, x, y, (seed) => own(ctx.studentModel, x, y, seed));
          return {
            xAdv,
            robustTeacherAdv: teacherLogits('robustTeacher', robustTeacher, xAdv),
            cleanTeacherClean: teacherLogits('cleanTeacher', cleanTeacher, x)
          };
        });
      },
      loss: (p: Prepared, x, _y, ctx, state) => mtardTerms(p, x, ctx, weightsOf(state), loss),
      update: (state, terms, ctx) => nextState(state, terms, etaSchedule === 'constant' ? eta : scheduledEta(eta, ctx))
    };
    return objective;
  });
}
