import { named } from '../../core/errors.js';
import type * as tf from '@tensorflow/tfjs-core';
import { MART_FIELDS, martLossCore, type MartConfig } from '../../losses/mart.js';
import { fraction } from '../../core/options.js';
import type { Objective } from '../objective.js';
import { adversarial, ownPgd, batchProgress, checkObjectiveOptions, logitsOf, type AttackSettings, userAttack } from './common.js';

/** Options of {@link mart}. */
export interface MartObjectiveOptions extends AttackSettings {
  /** β. @defaultValue 6 (the paper's CIFAR-10 value) */
  readonly beta?: number;
  /** The misclassification boost, as in `martLoss`. @defaultValue 'reference' (the authors' bounded form) */
  readonly boost?: 'reference' | 'exact';
  /**
   * The fraction of training over which β rises linearly from 0 to its value (counted in batches), ardkit's guard
   * against a collapse that the authors' schedule (`betaWarmup: 0`) runs into on small networks without batch norm:
   * at initialisation the clean and PGD predictions disagree strongly, and the fastest way to shrink
   * `β·KL(σ(S(x)) ‖ σ(S(x')))` is a constant prediction, which the first updates reach by silencing every ReLU. The
   * network then never recovers (its loss stays at `ln C + ln(C/(C−1))`, 2.41 for 10 classes). Measured on MNIST
   * with a 784-64-10 MLP: the authors' PyTorch code and ardkit's both end at chance with β = 6 and no warm-up.
   * @defaultValue 0.1
   */
  readonly betaWarmup?: number;
}

/** What the objective prepares per batch outside the tape. */
type Prepared = { xAdv: tf.Tensor };

/**
 * MART (Wang et al., ICLR 2020): `martLoss` on `x'` = PGD on the student's cross-entropy, started, as in the
 * authors' code, from `x + 0.001·N(0, 1)`; steps of `2.5·ε/steps` unless `stepSize` is given. β rises from 0 over
 * the first `betaWarmup` of training (see that option for why).
 *
 * @param options - attack settings (`eps` required), β, the boost and the warm-up.
 * @returns the objective; terms: `mart`.
 * @throws RangeError for invalid settings.
 * @example
 * await fit(net, { x, y }, mart({ eps: 8 / 255 }));
 */
export function mart(options: Readonly<MartObjectiveOptions>): Objective {
  return named('mart', () => {
    const { attack, config } = checkObjectiveOptions(
      options,
      ['beta', 'boost', 'betaWarmup'],
      { beta: MART_FIELDS.beta, boost: MART_FIELDS.boost, betaWarmup: fraction(0.1) },
      { randomStart: 'normal', steps: 10 }
    );
    const custom = userAttack(options, attack);
    const own = ownPgd(attack);
    const { beta, betaWarmup: warmup } = config;
    const loss: MartConfig = { beta, boost: config.boost, reduction: 'mean' };
    const objective: Objective<Prepared> = {
      name: 'mart',
      bounds: attack.bounds,
      prepare: (x, y, ctx) => ({ xAdv: adversarial(custom, ctx, ctx.studentModel, x, y, (seed) => own(ctx.studentModel, x, y, seed)) }),
      loss: (p, x, y, ctx) => {
        const adv = logitsOf(ctx.student, p.xAdv);
        const ramp = warmup === 0 ? 1 : Math.min(1, batchProgress(ctx) / warmup);
        const total = martLossCore({ clean: logitsOf(ctx.student, x), adv, labels: y }, { ...loss, beta: beta * ramp }) as tf.Scalar;
        return { total, terms: { mart: total }, accuracyLogits: adv };
      }
    };
    return objective;
  });
}
