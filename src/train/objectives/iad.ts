import type * as tf from '@tensorflow/tfjs-core';
import { pgd } from '../../attacks/pgd.js';
import { iadLoss } from '../../losses/iad.js';
import { checkNonNegative, checkPositive } from '../../core/validate.js';
import { rangeError } from '../../core/errors.js';
import { asTeacher, type TeacherLike } from '../student.js';
import type { Objective } from '../objective.js';
import { checkObjectiveOptions, checkTeachers, logitsOf, type AttackSettings } from './common.js';

/** Options of {@link iad}. */
export interface IadObjectiveOptions extends AttackSettings {
  /** The frozen robust teacher. */
  readonly teacher: TeacherLike;
  /** τ. @defaultValue 1 */
  readonly temperature?: number;
  /** α. @defaultValue 1 */
  readonly alpha?: number;
  /** β. @defaultValue 0.1 */
  readonly beta?: number;
  /** The fraction of training after which the student introspects. @defaultValue 0.3 */
  readonly introspectionFrom?: number;
}

/** What the objective prepares per batch outside the tape. */
type Prepared = { xAdv: tf.Tensor; teacherClean: tf.Tensor2D; teacherAdv: tf.Tensor2D };

/**
 * IAD (Zhu et al., ICLR 2022): `iadLoss` with `x'` = PGD on the student's cross-entropy; the introspection term is
 * switched on after `introspectionFrom` of the epochs.
 *
 * @param options - the teacher, attack settings (`eps` required), τ, α, β and the introspection start.
 * @returns the objective; terms: `iad`.
 * @throws RangeError/TypeError for invalid settings or a teacher that is not a model.
 * @example
 * await fit(student, { x, y }, iad({ teacher, eps: 8 / 255 }), { epochs: 10 });
 */
export function iad(options: Readonly<IadObjectiveOptions>): Objective {
  const fn = 'iad';
  const attack = checkObjectiveOptions(fn, options, ['teacher', 'temperature', 'alpha', 'beta', 'introspectionFrom'], { randomStart: 'uniform', steps: 10 });
  const teacher = asTeacher(fn, 'teacher', options.teacher);
  const temperature = options.temperature === undefined ? 1 : checkPositive(fn, 'temperature', options.temperature);
  const alpha = options.alpha ?? 1;
  const beta = options.beta === undefined ? 0.1 : checkNonNegative(fn, 'beta', options.beta);
  const from = options.introspectionFrom ?? 0.3;
  if (typeof from !== 'number' || !(from >= 0 && from <= 1)) rangeError(fn, 'introspectionFrom', 'be a fraction in [0, 1]', from);
  const objective: Objective<Prepared> = {
    name: fn,
    check: (_s, c, sample) => {
      checkTeachers(fn, [['teacher', teacher]], c, sample);
    },
    prepare: (x, y, ctx) => {
      const xAdv = pgd(ctx.studentModel, x, y, { ...attack, seed: ctx.rng.nextSeed() });
      return { xAdv, teacherClean: teacher(x), teacherAdv: teacher(xAdv) };
    },
    loss: (p, x, y, ctx) => {
      const studentAdv = logitsOf(ctx.student, p.xAdv);
      const total = iadLoss(
        { studentAdv, studentClean: logitsOf(ctx.student, x), teacherClean: p.teacherClean, teacherAdv: p.teacherAdv, labels: y },
        { temperature, alpha, beta, introspection: ctx.progress >= from }
      ) as tf.Scalar;
      return { total, terms: { iad: total }, accuracyLogits: studentAdv };
    }
  };
  return objective;
}
