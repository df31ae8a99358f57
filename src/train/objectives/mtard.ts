import * as tf from '@tensorflow/tfjs-core';
import { pgd } from '../../attacks/pgd.js';
import { klDivergence } from '../../losses/kl-divergence.js';
import { mtardLoss, mtardWeights, type MtardState } from '../../losses/mtard.js';
import { checkPositive } from '../../core/validate.js';
import { asTeacher, type TeacherLike } from '../student.js';
import type { Objective } from '../objective.js';
import { checkObjectiveOptions, checkTeachers, logitsOf, type AttackSettings } from './common.js';

/** Options of {@link mtard}. */
export interface MtardObjectiveOptions extends AttackSettings {
  /** The clean (naturally trained) teacher `T_nat`. */
  readonly cleanTeacher: TeacherLike;
  /** The robust (adversarially trained) teacher `T_adv`. */
  readonly robustTeacher: TeacherLike;
  /** η of the weight update. @defaultValue 0.025 */
  readonly eta?: number;
  /** τ. @defaultValue 1 */
  readonly temperature?: number;
}

/** The MTARD objective, with its current adaptive weights. */
export interface MtardObjective extends Objective {
  /** The current weights and reference losses. */
  readonly state: () => MtardState;
}

/** What MTARD prepares per batch. */
type Prepared = { xAdv: tf.Tensor; robustTeacherAdv: tf.Tensor2D; cleanTeacherClean: tf.Tensor2D };

/**
 * MTARD (Zhao et al., ECCV 2022): two teachers, `mtardLoss` with weights adapted every batch by `mtardWeights` from
 * the two KL terms; `x'` = PGD on the student's cross-entropy (an assumption: the reference code's attack could not be
 * read). The weights and their reference losses are saved in checkpoints.
 *
 * @param options - both teachers, attack settings (`eps` required), η and τ.
 * @returns the objective; terms: `klAdv`, `klNat`, `natWeight`.
 * @throws RangeError/TypeError for invalid settings or teachers that are not models.
 * @example
 * await fit(student, { x, y }, mtard({ cleanTeacher, robustTeacher, eps: 8 / 255 }));
 */
export function mtard(options: Readonly<MtardObjectiveOptions>): MtardObjective {
  const fn = 'mtard';
  const attack = checkObjectiveOptions(fn, options, ['cleanTeacher', 'robustTeacher', 'eta', 'temperature'], { randomStart: 'uniform', steps: 10 });
  const cleanTeacher = asTeacher(fn, 'cleanTeacher', options.cleanTeacher);
  const robustTeacher = asTeacher(fn, 'robustTeacher', options.robustTeacher);
  const eta = options.eta === undefined ? 0.025 : checkPositive(fn, 'eta', options.eta);
  const temperature = options.temperature === undefined ? 1 : checkPositive(fn, 'temperature', options.temperature);
  let state: MtardState = { natWeight: 0.5, advWeight: 0.5 };
  const objective: Objective<Prepared> & { state: () => MtardState } = {
    name: fn,
    state: () => state,
    check: (_s, c, sample) => {
      checkTeachers(fn, [['cleanTeacher', cleanTeacher], ['robustTeacher', robustTeacher]], c, sample);
    },
    prepare: (x, y, ctx) => {
      const xAdv = pgd(ctx.studentModel, x, y, { ...attack, seed: ctx.rng.nextSeed() });
      return { xAdv, robustTeacherAdv: robustTeacher(xAdv), cleanTeacherClean: cleanTeacher(x) };
    },
    loss: (p, x, _y, ctx) => {
      const studentAdv = logitsOf(ctx.student, p.xAdv);
      const studentClean = logitsOf(ctx.student, x);
      const total = mtardLoss(
        { studentAdv, studentClean, robustTeacherAdv: p.robustTeacherAdv, cleanTeacherClean: p.cleanTeacherClean },
        { advWeight: state.advWeight, natWeight: state.natWeight, temperature }
      ) as tf.Scalar;
      return {
        total,
        terms: {
          klAdv: klDivergence(p.robustTeacherAdv, studentAdv) as tf.Scalar,
          klNat: klDivergence(p.cleanTeacherClean, studentClean) as tf.Scalar,
          natWeight: tf.scalar(state.natWeight)
        },
        accuracyLogits: studentAdv
      };
    },
    update: (terms) => {
      const nat = terms.klNat ?? 0;
      const adv = terms.klAdv ?? 0;
      if (nat > 0 && adv > 0) state = mtardWeights(state, nat, adv, { eta });
    },
    getState: () => ({
      values: {
        natWeight: state.natWeight,
        advWeight: state.advWeight,
        ...(state.natInitial === undefined ? {} : { natInitial: state.natInitial }),
        ...(state.advInitial === undefined ? {} : { advInitial: state.advInitial })
      },
      tensors: {}
    }),
    setState: (s) => {
      const v = s.values;
      state = {
        natWeight: v.natWeight ?? 0.5,
        advWeight: v.advWeight ?? 0.5,
        ...(v.natInitial === undefined ? {} : { natInitial: v.natInitial }),
        ...(v.advInitial === undefined ? {} : { advInitial: v.advInitial })
      };
    }
  };
  return objective;
}
