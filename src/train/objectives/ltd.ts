import { named } from '../../core/errors.js';
import * as tf from '@tensorflow/tfjs-core';
import { kdLossCore, type KdConfig } from '../../losses/kd.js';
import { TRADES_FIELDS } from '../../losses/trades.js';
import { oneOf, positive } from '../../core/options.js';
import { withTemperature, type Model } from '../../core/model.js';
import { asTeacher, type TeacherLike } from '../student.js';
import type { Objective } from '../objective.js';
import { adversarial, ownPgd, ownTradesAttack, checkObjectiveOptions, checkTeachers, logitsOf, teacherLogits, type AttackSettings, userAttack } from './common.js';

/** Options of {@link ltd}. */
export interface LtdObjectiveOptions extends AttackSettings {
  /** The frozen teacher. */
  readonly teacher: TeacherLike;
  /** The adversarial-training objective LTD's soft labels plug into. @defaultValue 'pgdAt' */
  readonly base?: 'pgdAt' | 'trades';
  /**
   * `τ_T`, the teacher's (low) temperature. The paper's values were not readable; the defaults come from a measured
   * sweep on MNIST, τ_T ∈ {0.5, 1, 2} × τ_S ∈ {1, 2, 5}, 3 seeds each, chosen on held-out training images
   * (`examples/ltd-sweep.ts`; table in the LTD guide): τ_S = 2 is best for every τ_T (by about the seed spread), while
   * τ_T = 0.5 and 2 tie (68.2 ± 1.4 against 68.0 ± 0.6 % CW-20 at ε = 0.1); `sanityChecks` flags no masking at τ_T < 1.
   * @defaultValue 0.5
   */
  readonly teacherTemperature?: number;
  /** `τ_S`, the student's fixed temperature, kept at inference (see `teacherTemperature` for the sweep). @defaultValue 2 */
  readonly studentTemperature?: number;
  /** β of the TRADES base. @defaultValue 6 */
  readonly beta?: number;
}

/** The LTD objective, with how to deploy the student it trains. */
export interface LtdObjective extends Objective {
  /** `τ_S`. */
  readonly studentTemperature: number;
  /** The deployed student: its logits divided by `τ_S`, as LTD evaluates and ships it. */
  deploy(student: Model): Model;
}

/** What the objective prepares per batch outside the tape. */
type Prepared = { xAdv: tf.Tensor; teacherClean: tf.Tensor2D };

/**
 * Low temperature distillation (Chen & Lee, arXiv 2111.02331): soft labels from the teacher at a low temperature
 * `τ_T` replace the one-hot labels of an adversarial-training objective, and the student trains at a fixed `τ_S`
 * that it **keeps at inference** (`deploy`). On PGD-AT: `KL(σ(T(x)/τ_T) ‖ σ(S(x')/τ_S))`, `x'` = PGD on the deployed
 * student. On TRADES: `KL(σ(T(x)/τ_T) ‖ σ(S(x)/τ_S)) + β·KL(σ(S(x)/τ_S) ‖ σ(S(x')/τ_S))`, `x'` = the TRADES-KL attack
 * on the deployed student. Both KLs are `kdLoss` with `scale: 1`.
 *
 * @param options - the teacher, the base objective, the two temperatures, β and the attack settings (`eps` required).
 * @returns the objective, with `deploy(student)`; terms: `kd` (and `kl` on TRADES).
 * @throws RangeError/TypeError for invalid settings or a teacher that is not a model.
 * @example
 * const objective = ltd({ teacher, eps: 0.3, teacherTemperature: 1, studentTemperature: 2 });
 * await fit(net, { x, y }, objective);
 * const deployed = objective.deploy(fromLayersModel(net));
 */
export function ltd(options: Readonly<LtdObjectiveOptions>): LtdObjective {
  return named('ltd', () => {
    const { attack, config } = checkObjectiveOptions(
      options,
      ['teacher', 'base', 'teacherTemperature', 'studentTemperature', 'beta'],
      { base: oneOf(['pgdAt', 'trades'], 'pgdAt'), teacherTemperature: positive(0.5), studentTemperature: positive(2), beta: TRADES_FIELDS.beta },
      (c) => ({ randomStart: c.base === 'trades' ? 'normal' : 'uniform', steps: 10 })
    );
    const custom = userAttack(options, attack);
    const ownPgdAttack = ownPgd(attack);
    const ownKlAttack = ownTradesAttack(attack);
    const teacher = asTeacher('teacher', options.teacher);
    const { base, teacherTemperature: tauT, studentTemperature: tauS, beta } = config;
    // Both KLs are kdLoss with scale 1: the teacher's soft labels at τ_T, and TRADES' clean prediction at τ_S.
    const kd: KdConfig = { studentTemperature: tauS, teacherTemperature: tauT, scale: 1, reduction: 'mean' };
    const kl: KdConfig = { studentTemperature: tauS, teacherTemperature: tauS, scale: 1, reduction: 'mean' };
    const objective: Objective<Prepared> & { studentTemperature: number; deploy(student: Model): Model } = {
      name: 'ltd',
      bounds: attack.bounds,
      studentTemperature: tauS,
      deploy: (student) => withTemperature(student, tauS),
      check: (_s, c, sample) => {
        named('ltd', () => {
          checkTeachers([['teacher', teacher]], c, sample);
        });
      },
      prepare: (x, y, ctx) => {
        return named('ltd', () => {
          const deployed = withTemperature(ctx.studentModel, tauS);
          const xAdv = adversarial(custom, ctx, deployed, x, y, (seed) => (base === 'pgdAt' ? ownPgdAttack(deployed, x, y, seed) : ownKlAttack(deployed, x, seed)));
          return { xAdv, teacherClean: teacherLogits('teacher', teacher, x) };
        });
      },
      loss: (p, x, _y, ctx) => {
        const studentAdv = logitsOf(ctx.student, p.xAdv);
        if (base === 'pgdAt') {
          const kdTerm = kdLossCore(studentAdv, p.teacherClean, kd) as tf.Scalar;
          return { total: kdTerm, terms: { kd: kdTerm }, accuracyLogits: studentAdv };
        }
        const studentClean = logitsOf(ctx.student, x);
        const kdTerm = kdLossCore(studentClean, p.teacherClean, kd) as tf.Scalar;
        // KL(σ(S(x)/τ_S) ‖ σ(S(x')/τ_S)): the clean prediction is the target, as in TRADES.
        const klTerm = kdLossCore(studentAdv, studentClean, kl) as tf.Scalar;
        return { total: tf.add<tf.Scalar>(kdTerm, tf.mul(klTerm, beta)), terms: { kd: kdTerm, kl: klTerm }, accuracyLogits: studentAdv };
      }
    };
    return objective;
  });
}
