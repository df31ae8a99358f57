import { named } from '../../core/errors.js';
import type * as tf from '@tensorflow/tfjs-core';
import { IAD_FIELDS, iadLossCore, type IadConfig } from '../../losses/iad.js';
import { fraction } from '../../core/options.js';
import { asTeacher, type TeacherLike } from '../student.js';
import type { Objective } from '../objective.js';
import { adversarial, ownPgd, batchProgress, checkObjectiveOptions, checkTeachers, logitsOf, teacherLogits, type AttackSettings, userAttack } from './common.js';
import { ATTACK_MODE_FIELD, attackModelFor } from './ard.js';

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
  /**
   * The mode of the student while the attack runs: `'inference'` (ardkit's default, `ctx.studentModel`) or
   * `'training'`, the authors' choice (ZFancy/IAD `IAD-I.py`: `AttackPGD` runs the student after `net.train()`), which
   * matters for students with batch normalisation or dropout. In `'training'` mode the attack calls
   * `student.forward(x, true)` at every step: for a tfjs-layers student each such BatchNormalization pass updates the
   * moving mean and variance (as PyTorch does in the authors' code), `steps` more updates per batch than in
   * `'inference'` mode, and dropout draws a fresh mask at every step (as for `ard`).
   * @defaultValue 'inference'
   */
  readonly attackMode?: 'inference' | 'training';
}

/** What the objective prepares per batch outside the tape. */
type Prepared = { xAdv: tf.Tensor; teacherClean: tf.Tensor2D; teacherAdv: tf.Tensor2D };

/**
 * IAD (Zhu et al., ICLR 2022): `iadLoss` with `x'` = PGD on the student's cross-entropy, the student in inference mode
 * unless `attackMode: 'training'` (the authors' code); the introspection term is switched on after `introspectionFrom`
 * of the epochs. The KL terms are class sums per example averaged over the batch, as in the authors' code.
 *
 * @param options - the teacher, attack settings (`eps` required), τ, α, β, the introspection start and the attack mode.
 * @returns the objective; terms: `iad`.
 * @throws RangeError/TypeError, when it is made, for invalid settings (the loss's τ ≤ 0, α outside [0, 1] and β < 0
 * included), an unknown `attackMode`, or a teacher that is not a model.
 * @example
 * await fit(student, { x, y }, iad({ teacher, eps: 8 / 255 }), { epochs: 10 });
 */
export function iad(options: Readonly<IadObjectiveOptions>): Objective {
  return named('iad', () => {
    const { attack, config } = checkObjectiveOptions(
      options,
      ['teacher', 'temperature', 'alpha', 'beta', 'introspectionFrom', 'attackMode'],
      {
        temperature: IAD_FIELDS.temperature,
        alpha: IAD_FIELDS.alpha,
        beta: IAD_FIELDS.beta,
        introspectionFrom: fraction(0.3),
        attackMode: ATTACK_MODE_FIELD
      },
      { randomStart: 'uniform', steps: 10 }
    );
    const custom = userAttack(options, attack);
    const own = ownPgd(attack);
    const teacher = asTeacher('teacher', options.teacher);
    const { introspectionFrom: from, attackMode } = config;
    const loss: IadConfig = { temperature: config.temperature, alpha: config.alpha, beta: config.beta, introspection: true, reduction: 'mean' };
    const objective: Objective<Prepared> = {
      name: 'iad',
      bounds: attack.bounds,
      check: (_s, c, sample) => {
        named('iad', () => {
          checkTeachers([['teacher', teacher]], c, sample);
        });
      },
      prepare: (x, y, ctx) => {
        return named('iad', () => {
          const xAdv = adversarial(custom, ctx, attackModelFor(attackMode, ctx), x, y, (seed) => own(attackModelFor(attackMode, ctx), x, y, seed));
          return { xAdv, teacherClean: teacherLogits('teacher', teacher, x), teacherAdv: teacherLogits('teacher', teacher, xAdv) };
        });
      },
      loss: (p, x, y, ctx) => {
        const studentAdv = logitsOf(ctx.student, p.xAdv);
        const total = iadLossCore(
          { studentAdv, studentClean: logitsOf(ctx.student, x), teacherClean: p.teacherClean, teacherAdv: p.teacherAdv, labels: y },
          { ...loss, introspection: batchProgress(ctx) >= from }
        ) as tf.Scalar;
        return { total, terms: { iad: total }, accuracyLogits: studentAdv };
      }
    };
    return objective;
  });
}
