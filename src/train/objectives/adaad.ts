import { named } from '../../core/errors.js';
import type * as tf from '@tensorflow/tfjs-core';
import { klFromLogits } from '../../losses/kl-divergence.js';
import { ADAAD_FIELDS, adaadLossCore, type AdaadConfig } from '../../losses/adaad.js';
import { asTeacher, type TeacherLike } from '../student.js';
import type { Objective } from '../objective.js';
import { adversarial, ownAscent, checkObjectiveOptions, checkTeachers, logitsOf, teacherLogits, type AttackSettings, userAttack } from './common.js';

/** Options of {@link adaad}. */
export interface AdaadObjectiveOptions extends AttackSettings {
  /** The frozen robust teacher. */
  readonly teacher: TeacherLike;
  /** α. @defaultValue 1 */
  readonly alpha?: number;
  /**
   * How the KL terms are scaled, passed to `adaadLoss`: `'batchmean'` (ardkit's convention, each KL summed over
   * classes) or `'classMean'` (divided by the number of classes C: the authors' CIFAR-10 code, boyellow/AdaAD
   * `main.py`, uses PyTorch's element-mean `nn.KLDivLoss()`; their CIFAR-100 branch uses the batch mean of the class
   * sums, `'batchmean'`). The paper's learning rates and weight decay carry over only with the authors' reduction. The
   * attack's objective is unaffected (a positive factor does not move a sign-gradient step).
   * @defaultValue 'batchmean'
   */
  readonly klReduction?: 'batchmean' | 'classMean';
}

/** What the objective prepares per batch outside the tape. */
type Prepared = { xAdv: tf.Tensor; teacherAdv: tf.Tensor2D; teacherClean?: tf.Tensor2D };

/**
 * AdaAD (Huang et al., CVPR 2023, "Boosting accuracy and robustness of student models via adaptive adversarial
 * distillation"): `x'` maximises the teacher–student disagreement `KL(σ(T(x')) ‖ σ(S(x')))` from `x + 0.001·N(0, 1)`
 * (gradients through both networks), then `adaadLoss`, whose KL terms are class sums unless
 * `klReduction: 'classMean'` (the authors' CIFAR-10 code).
 *
 * @param options - the teacher, attack settings (`eps` required), α and the KL reduction.
 * @returns the objective; terms: `adaad`.
 * @throws RangeError/TypeError, when it is made, for invalid settings (the loss's α outside [0, 1] included), an unknown
 * `klReduction`, or a teacher that is not a model.
 * @example
 * await fit(student, { x, y }, adaad({ teacher, eps: 8 / 255 }));
 */
export function adaad(options: Readonly<AdaadObjectiveOptions>): Objective {
  return named('adaad', () => {
    const { attack, config } = checkObjectiveOptions(
      options,
      ['teacher', 'alpha', 'klReduction'],
      { alpha: ADAAD_FIELDS.alpha, klReduction: ADAAD_FIELDS.klReduction },
      { randomStart: 'normal', steps: 10 }
    );
    const custom = userAttack(options, attack);
    const own = ownAscent(attack);
    const teacher = asTeacher('teacher', options.teacher);
    const { alpha } = config;
    const loss: AdaadConfig = { alpha, klReduction: config.klReduction, reduction: 'mean' };
    const objective: Objective<Prepared> = {
      name: 'adaad',
      bounds: attack.bounds,
      check: (_s, c, sample) => {
        named('adaad', () => {
          checkTeachers([['teacher', teacher]], c, sample);
        });
      },
      prepare: (x, y, ctx) => {
        return named('adaad', () => {
          const xAdv = adversarial(custom, ctx, ctx.studentModel, x, y, (seed) => own((xa) => klFromLogits(teacher(xa), ctx.studentModel(xa)), x, seed));
          const teacherAdv = teacherLogits('teacher', teacher, xAdv);
          return alpha < 1 ? { xAdv, teacherAdv, teacherClean: teacherLogits('teacher', teacher, x) } : { xAdv, teacherAdv };
        });
      },
      loss: (p, x, _y, ctx) => {
        const studentAdv = logitsOf(ctx.student, p.xAdv);
        const total = adaadLossCore(
        p.teacherClean === undefined
          ? { studentAdv, teacherAdv: p.teacherAdv }
          : { studentAdv, teacherAdv: p.teacherAdv, studentClean: logitsOf(ctx.student, x), teacherClean: p.teacherClean },
        loss
        ) as tf.Scalar;
        return { total, terms: { adaad: total }, accuracyLogits: studentAdv };
      }
    };
    return objective;
  });
}
