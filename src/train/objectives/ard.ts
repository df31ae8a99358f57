import type * as tf from '@tensorflow/tfjs-core';
import { pgd } from '../../attacks/pgd.js';
import { ardLoss } from '../../losses/ard.js';
import { checkPositive } from '../../core/validate.js';
import { asTeacher, type TeacherLike } from '../student.js';
import type { Objective } from '../objective.js';
import { checkObjectiveOptions, checkTeachers, logitsOf, type AttackSettings } from './common.js';

/** Options of {@link ard}. */
export interface ArdObjectiveOptions extends AttackSettings {
  /** The frozen (robust) teacher. */
  readonly teacher: TeacherLike;
  /** τ. @defaultValue 30 */
  readonly temperature?: number;
  /** α in [0, 1]. @defaultValue 1 */
  readonly alpha?: number;
}

/** What the objective prepares per batch outside the tape. */
type Prepared = { xAdv: tf.Tensor; teacherClean: tf.Tensor2D };

/**
 * ARD (Goldblum et al., arXiv 1905.09747): `ardLoss` with `x'` = PGD on the student's cross-entropy and the teacher's
 * clean logits `T(x)`, computed once per batch outside the tape.
 *
 * @param options - the teacher, attack settings (`eps` required), τ and α.
 * @returns the objective; terms: `ard`.
 * @throws RangeError/TypeError for invalid settings or a teacher that is not a model.
 * @example
 * await fit(student, { x, y }, ard({ teacher, eps: 8 / 255, temperature: 30 }));
 */
export function ard(options: Readonly<ArdObjectiveOptions>): Objective {
  const fn = 'ard';
  const attack = checkObjectiveOptions(fn, options, ['teacher', 'temperature', 'alpha'], { randomStart: 'uniform', steps: 10 });
  const teacher = asTeacher(fn, 'teacher', options.teacher);
  const temperature = options.temperature === undefined ? 30 : checkPositive(fn, 'temperature', options.temperature);
  const alpha = options.alpha ?? 1;
  const objective: Objective<Prepared> = {
    name: fn,
    check: (_s, c, sample) => {
      checkTeachers(fn, [['teacher', teacher]], c, sample);
    },
    prepare: (x, y, ctx) => ({
      xAdv: pgd(ctx.studentModel, x, y, { ...attack, seed: ctx.rng.nextSeed() }),
      teacherClean: teacher(x)
    }),
    loss: (p, x, y, ctx) => {
      const studentAdv = logitsOf(ctx.student, p.xAdv);
      const total = ardLoss(
        alpha < 1 ? { studentAdv, teacherClean: p.teacherClean, studentClean: logitsOf(ctx.student, x), labels: y } : { studentAdv, teacherClean: p.teacherClean },
        { temperature, alpha }
      ) as tf.Scalar;
      return { total, terms: { ard: total }, accuracyLogits: studentAdv };
    }
  };
  return objective;
}
