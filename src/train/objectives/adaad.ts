import type * as tf from '@tensorflow/tfjs-core';
import { projectedGradientAscent } from '../../attacks/projected-gradient-ascent.js';
import { klFromLogits } from '../../losses/kl-divergence.js';
import { adaadLoss } from '../../losses/adaad.js';
import { asTeacher, type TeacherLike } from '../student.js';
import type { Objective } from '../objective.js';
import { checkObjectiveOptions, checkTeachers, logitsOf, type AttackSettings } from './common.js';

/** Options of {@link adaad}. */
export interface AdaadObjectiveOptions extends AttackSettings {
  /** The frozen robust teacher. */
  readonly teacher: TeacherLike;
  /** α. @defaultValue 1 */
  readonly alpha?: number;
}

/** What the objective prepares per batch outside the tape. */
type Prepared = { xAdv: tf.Tensor; teacherAdv: tf.Tensor2D; teacherClean?: tf.Tensor2D };

/**
 * AdaAD (Huang et al., AAAI 2023): `x'` maximises the teacher–student disagreement `KL(σ(T(x')) ‖ σ(S(x')))` from
 * `x + 0.001·N(0, 1)` (gradients through both networks), then `adaadLoss`.
 *
 * @param options - the teacher, attack settings (`eps` required) and α.
 * @returns the objective; terms: `adaad`.
 * @throws RangeError/TypeError for invalid settings or a teacher that is not a model.
 * @example
 * await fit(student, { x, y }, adaad({ teacher, eps: 8 / 255 }));
 */
export function adaad(options: Readonly<AdaadObjectiveOptions>): Objective {
  const fn = 'adaad';
  const attack = checkObjectiveOptions(fn, options, ['teacher', 'alpha'], { randomStart: 'normal', steps: 10 });
  const teacher = asTeacher(fn, 'teacher', options.teacher);
  const alpha = options.alpha ?? 1;
  const objective: Objective<Prepared> = {
    name: fn,
    check: (_s, c, sample) => {
      checkTeachers(fn, [['teacher', teacher]], c, sample);
    },
    prepare: (x, _y, ctx) => {
      const xAdv = projectedGradientAscent((xa) => klFromLogits(teacher(xa), ctx.studentModel(xa)), x, { ...attack, seed: ctx.rng.nextSeed() });
      return alpha < 1 ? { xAdv, teacherAdv: teacher(xAdv), teacherClean: teacher(x) } : { xAdv, teacherAdv: teacher(xAdv) };
    },
    loss: (p, x, _y, ctx) => {
      const studentAdv = logitsOf(ctx.student, p.xAdv);
      const total = adaadLoss(
        p.teacherClean === undefined
          ? { studentAdv, teacherAdv: p.teacherAdv }
          : { studentAdv, teacherAdv: p.teacherAdv, studentClean: logitsOf(ctx.student, x), teacherClean: p.teacherClean },
        { alpha }
      ) as tf.Scalar;
      return { total, terms: { adaad: total }, accuracyLogits: studentAdv };
    }
  };
  return objective;
}
