import type * as tf from '@tensorflow/tfjs-core';
import { projectedGradientAscent } from '../../attacks/projected-gradient-ascent.js';
import { klFromLogits } from '../../losses/kl-divergence.js';
import { klDivergence } from '../../losses/kl-divergence.js';
import { rsladLoss } from '../../losses/rslad.js';
import { asTeacher, type TeacherLike } from '../student.js';
import type { Objective } from '../objective.js';
import { checkObjectiveOptions, checkTeachers, logitsOf, type AttackSettings } from './common.js';

/** Options of {@link rslad}. */
export interface RsladObjectiveOptions extends AttackSettings {
  /** The frozen robust teacher. */
  readonly teacher: TeacherLike;
}

/** What the objective prepares per batch outside the tape. */
type Prepared = { xAdv: tf.Tensor; teacherClean: tf.Tensor2D };

/**
 * RSLAD (Zi et al., arXiv 2108.07969): `rsladLoss`, with `x'` maximising `KL(σ(T(x)) ‖ σ(S(x')))` from
 * `x + 0.001·N(0, 1)` — the teacher's soft labels replace the hard labels in the attack too.
 *
 * @param options - the teacher and attack settings (`eps` required).
 * @returns the objective; terms: `klAdv`, `klClean`.
 * @throws RangeError/TypeError for invalid settings or a teacher that is not a model.
 * @example
 * await fit(student, { x, y }, rslad({ teacher, eps: 8 / 255, stepSize: 2 / 255 }));
 */
export function rslad(options: Readonly<RsladObjectiveOptions>): Objective {
  const fn = 'rslad';
  const attack = checkObjectiveOptions(fn, options, ['teacher'], { randomStart: 'normal', steps: 10 });
  const teacher = asTeacher(fn, 'teacher', options.teacher);
  const objective: Objective<Prepared> = {
    name: fn,
    check: (_s, c, sample) => {
      checkTeachers(fn, [['teacher', teacher]], c, sample);
    },
    prepare: (x, _y, ctx) => {
      const teacherClean = teacher(x);
      const xAdv = projectedGradientAscent((xa) => klFromLogits(teacherClean, ctx.studentModel(xa)), x, { ...attack, seed: ctx.rng.nextSeed() });
      return { xAdv, teacherClean };
    },
    loss: (p, x, _y, ctx) => {
      const studentAdv = logitsOf(ctx.student, p.xAdv);
      const studentClean = logitsOf(ctx.student, x);
      const total = rsladLoss({ studentAdv, studentClean, teacherClean: p.teacherClean }) as tf.Scalar;
      return {
        total,
        terms: { klAdv: klDivergence(p.teacherClean, studentAdv) as tf.Scalar, klClean: klDivergence(p.teacherClean, studentClean) as tf.Scalar },
        accuracyLogits: studentAdv
      };
    }
  };
  return objective;
}
