import { named } from '../../core/errors.js';
import type * as tf from '@tensorflow/tfjs-core';
import { crossEntropyCore } from '../../losses/cross-entropy.js';
import { parseOptions, type OptionFields } from '../../core/options.js';
import type { Objective } from '../objective.js';
import { logitsOf, MEAN } from './common.js';

/** What the objective prepares per batch outside the tape. */
type Prepared = Record<string, never>;

/** The options of {@link natural}: none yet, so any key is unknown. */
const NATURAL_FIELDS: OptionFields<Readonly<Record<string, never>>> = {};

/**
 * Standard ("natural") training: `CE(S(x), y)` on clean inputs. What teachers and ARREST's standard model start
 * from, and the baseline every robust method is compared with.
 *
 * @param options - none yet (an empty object is accepted).
 * @returns the objective; terms: `ce`.
 * @throws RangeError for unknown option keys.
 * @example
 * await fit(teacherNet, { x, y }, natural(), { epochs: 5 });
 */
export function natural(options: Readonly<Record<string, never>> = {}): Objective {
  return named('natural', () => {
    parseOptions(options, NATURAL_FIELDS);
    const objective: Objective<Prepared> = {
      name: 'natural',
      prepare: () => ({}),
      loss: (_p, x, y, ctx) => {
        const z = logitsOf(ctx.student, x);
        const ce = crossEntropyCore(z, y, MEAN) as tf.Scalar;
        return { total: ce, terms: { ce }, accuracyLogits: z };
      }
    };
    return objective;
  });
}
