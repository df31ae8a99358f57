import { named } from '../../core/errors.js';
import * as tf from '@tensorflow/tfjs-core';
import { klDivergenceCore, klFromLogits } from '../../losses/kl-divergence.js';
import { RSLAD_FIELDS, rsladLossCore, type RsladConfig } from '../../losses/rslad.js';
import { klFactor } from '../../losses/kl.js';
import { asTeacher, type TeacherLike } from '../student.js';
import type { Objective } from '../objective.js';
import { adversarial, ownAscent, checkObjectiveOptions, checkTeachers, KL_MEAN, logitsOf, teacherLogits, type AttackSettings, userAttack } from './common.js';

/** Options of {@link rslad}. */
export interface RsladObjectiveOptions extends AttackSettings {
  /** The frozen robust teacher. */
  readonly teacher: TeacherLike;
  /**
   * How the KL terms (of the loss and of the reported `klAdv`, `klClean`) are scaled, passed to `rsladLoss`:
   * `'batchmean'` (ardkit's convention, each KL summed over classes) or `'classMean'` (divided by the number of classes
   * C: the authors' CIFAR-10 code, zibojia/RSLAD `resnet18_rslad_cifar10.py`, averages an element-wise KL with
   * `torch.mean`). The paper's learning rates and weight decay carry over only with `'classMean'`. The attack's
   * objective is unaffected (a positive factor does not move a sign-gradient step).
   * @defaultValue 'batchmean'
   */
  readonly klReduction?: 'batchmean' | 'classMean';
}

/** What the objective prepares per batch outside the tape. */
type Prepared = { xAdv: tf.Tensor; teacherClean: tf.Tensor2D };

/**
 * RSLAD (Zi et al., arXiv 2108.07969): `rsladLoss`, with `x'` maximising `KL(σ(T(x)) ‖ σ(S(x')))` from
 * `x + 0.001·N(0, 1)` — the teacher's soft labels replace the hard labels in the attack too. The KL terms are class
 * sums unless `klReduction: 'classMean'` (the authors' code).
 *
 * @param options - the teacher, attack settings (`eps` required) and the KL reduction.
 * @returns the objective; terms: `klAdv`, `klClean`.
 * @throws RangeError/TypeError for invalid settings, an unknown `klReduction`, or a teacher that is not a model.
 * @example
 * await fit(student, { x, y }, rslad({ teacher, eps: 8 / 255, stepSize: 2 / 255 }));
 */
export function rslad(options: Readonly<RsladObjectiveOptions>): Objective {
  return named('rslad', () => {
    const { attack, config } = checkObjectiveOptions(options, ['teacher', 'klReduction'], { klReduction: RSLAD_FIELDS.klReduction }, { randomStart: 'normal', steps: 10 });
    const custom = userAttack(options, attack);
    const own = ownAscent(attack);
    const teacher = asTeacher('teacher', options.teacher);
    const { klReduction } = config;
    // The paper's weights, rsladLoss's defaults.
    const loss: RsladConfig = { advWeight: 5 / 6, cleanWeight: 1 / 6, reduction: 'mean', klReduction };
    const objective: Objective<Prepared> = {
      name: 'rslad',
      bounds: attack.bounds,
      check: (_s, c, sample) => {
        named('rslad', () => {
          checkTeachers([['teacher', teacher]], c, sample);
        });
      },
      prepare: (x, y, ctx) => {
        return named('rslad', () => {
          const teacherClean = teacherLogits('teacher', teacher, x);
          const xAdv = adversarial(custom, ctx, ctx.studentModel, x, y, (seed) => own((xa) => klFromLogits(teacherClean, ctx.studentModel(xa)), x, seed));
          return { xAdv, teacherClean };
        });
      },
      loss: (p, x, _y, ctx) => {
        const studentAdv = logitsOf(ctx.student, p.xAdv);
        const studentClean = logitsOf(ctx.student, x);
        const total = rsladLossCore({ studentAdv, studentClean, teacherClean: p.teacherClean }, loss) as tf.Scalar;
        const scale = klFactor(klReduction, studentAdv);
        const kl = (target: tf.Tensor2D, input: tf.Tensor2D): tf.Scalar => tf.mul<tf.Scalar>(klDivergenceCore(target, input, KL_MEAN), scale);
        return {
          total,
          terms: { klAdv: kl(p.teacherClean, studentAdv), klClean: kl(p.teacherClean, studentClean) },
          accuracyLogits: studentAdv
        };
      }
    };
    return objective;
  });
}
