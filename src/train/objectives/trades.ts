import { named } from '../../core/errors.js';
import type * as tf from '@tensorflow/tfjs-core';
import { crossEntropyCore } from '../../losses/cross-entropy.js';
import { klDivergenceCore } from '../../losses/kl-divergence.js';
import { TRADES_FIELDS, tradesLossCore, type TradesConfig } from '../../losses/trades.js';
import type { Objective } from '../objective.js';
import { adversarial, ownTradesAttack, checkObjectiveOptions, KL_MEAN, logitsOf, MEAN, type AttackSettings, userAttack } from './common.js';

/** Options of {@link trades}. */
export interface TradesObjectiveOptions extends AttackSettings {
  /** β. @defaultValue 6 (1 is the paper's MNIST value) */
  readonly beta?: number;
}

/** What the objective prepares per batch outside the tape. */
type Prepared = { xAdv: tf.Tensor };

/**
 * TRADES (Zhang et al., arXiv 1901.08573): `CE(S(x), y) + β·KL(σ(S(x)) ‖ σ(S(x')))`, `x'` = the TRADES-KL attack
 * (start `x + 0.001·N(0, 1)`). The loss is `tradesLoss` from `ardkit/losses`.
 *
 * @param options - attack settings (`eps` required) and β.
 * @returns the objective; terms: `ce`, `kl`.
 * @throws RangeError for invalid settings.
 * @example
 * await fit(net, { x, y }, trades({ eps: 0.3, beta: 1, steps: 40, stepSize: 0.01 }));
 */
export function trades(options: Readonly<TradesObjectiveOptions>): Objective {
  return named('trades', () => {
    const { attack, config } = checkObjectiveOptions(options, ['beta'], { beta: TRADES_FIELDS.beta }, { randomStart: 'normal', steps: 10 });
    const custom = userAttack(options, attack);
    const own = ownTradesAttack(attack);
    const loss: TradesConfig = { beta: config.beta, reduction: 'mean' };
    const objective: Objective<Prepared> = {
      name: 'trades',
      bounds: attack.bounds,
      prepare: (x, y, ctx) => ({ xAdv: adversarial(custom, ctx, ctx.studentModel, x, y, (seed) => own(ctx.studentModel, x, seed)) }),
      loss: (p, x, y, ctx) => {
        const clean = logitsOf(ctx.student, x);
        const adv = logitsOf(ctx.student, p.xAdv);
        const total = tradesLossCore({ clean, adv, labels: y }, loss) as tf.Scalar;
        const ce = crossEntropyCore(clean, y, MEAN) as tf.Scalar;
        return { total, terms: { ce, kl: klDivergenceCore(clean, adv, KL_MEAN) as tf.Scalar }, accuracyLogits: adv };
      }
    };
    return objective;
  });
}
