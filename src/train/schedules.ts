import { checkInteger, checkPositive } from '../core/validate.js';
import { finite, nonNegative, parseOptions, positive, type OptionField, type OptionFields } from '../core/options.js';
import { rangeError, typeError, named } from '../core/errors.js';

/** Where training is when a {@link Schedule} is asked for the learning rate. */
export interface ScheduleContext {
  /** 0-based epoch. */
  readonly epoch: number;
  /** 0-based batch within the epoch. */
  readonly batch: number;
  /** Batches per epoch (for iterable data: as counted in the previous epoch, or 1 in the first). */
  readonly batchesPerEpoch: number;
  /** Total epochs of the run. */
  readonly epochs: number;
}

/** A learning-rate schedule: the rate for the coming update, from the base rate and the position in training. */
export type Schedule = (baseRate: number, at: ScheduleContext) => number;

/** Milestones: increasing epochs (non-negative integers), copied. Required: `multiStep` has made sure of an array. */
const MILESTONES_FIELD: OptionField<readonly number[]> = {
  parse: (arg, value) => {
    const given = value as readonly number[];
    given.forEach((m, i) => {
      checkInteger(`${arg}[${String(i)}]`, m, 0);
      if (i > 0 && m <= (given[i - 1] ?? -1)) rangeError(arg, 'be increasing', given);
    });
    return Array.from(given);
  }
};

/** How each option of {@link multiStep} is checked and defaulted. */
const MULTI_STEP_FIELDS: OptionFields<Parameters<typeof multiStep>[0]> = {
  milestones: MILESTONES_FIELD,
  gamma: /* @__PURE__ */ positive(0.1)
};

/**
 * Multi-step decay: `base · gamma^k`, `k` the number of milestones (epochs) already reached. The usual adversarial
 * training schedule (e.g. milestones [100, 150] of 200 epochs, gamma 0.1).
 *
 * @param options - `milestones` (increasing epochs), `gamma` (default 0.1).
 * @returns the schedule.
 * @throws RangeError when milestones are not increasing non-negative integers or gamma is not a finite number > 0.
 * @example
 * fit(student, data, objective, { epochs: 200, schedule: multiStep({ milestones: [100, 150] }) });
 */
export function multiStep(options: { readonly milestones: readonly number[]; readonly gamma?: number }): Schedule {
  return named('multiStep', () => {
    if (typeof options !== 'object' || !Array.isArray(options.milestones)) typeError('milestones', 'be an array of epochs', options);
    const { milestones, gamma } = parseOptions(options, MULTI_STEP_FIELDS);
    return (base, at) => base * gamma ** milestones.filter((m) => at.epoch >= m).length;
  });
}

/** How each option of {@link cosine} is checked and defaulted. */
const COSINE_FIELDS: OptionFields<NonNullable<Parameters<typeof cosine>[0]>> = { min: /* @__PURE__ */ nonNegative(0) };

/**
 * Cosine annealing per batch from the base rate to `min` over the run (Loshchilov & Hutter, arXiv 1608.03983,
 * without restarts): `min + (base − min)·(1 + cos(π·t))/2`, `t` the fraction of training done.
 *
 * @param options - `min` (default 0).
 * @returns the schedule.
 * @throws RangeError when `min` is negative or not finite.
 * @example
 * fit(student, data, objective, { epochs: 30, schedule: cosine() });
 */
export function cosine(options: { readonly min?: number } = {}): Schedule {
  return named('cosine', () => {
    const { min } = parseOptions(options, COSINE_FIELDS);
    return (base, at) => {
      const t = (at.epoch * at.batchesPerEpoch + at.batch) / Math.max(1, at.epochs * at.batchesPerEpoch);
      return min + ((base - min) * (1 + Math.cos(Math.PI * Math.min(1, t)))) / 2;
    };
  });
}

/** The schedule a warm-up ends in when none is given: the base rate. */
const constant: Schedule = (base) => base;

/** How each option of {@link linearWarmup} is checked and defaulted (`null` counts as no `then`, as it always has). */
const LINEAR_WARMUP_FIELDS: OptionFields<Parameters<typeof linearWarmup>[0]> = {
  // Required: no default, so `undefined` is checked (and rejected) like any other value.
  epochs: { parse: checkPositive },
  start: /* @__PURE__ */ finite(0),
  then: {
    parse: (arg, value) => {
      const then = value ?? constant;
      if (typeof then !== 'function') typeError(arg, 'be a schedule function', then);
      return then as Schedule;
    }
  }
};

/**
 * Linear warm-up: the rate rises linearly from `start·base` to the schedule's value over the first `epochs` epochs
 * (per batch), then follows `then` (default: constant).
 *
 * @param options - `epochs` of warm-up (> 0), `start` fraction (default 0), `then` schedule.
 * @returns the schedule.
 * @throws RangeError when `epochs` is not a finite number > 0 or `start` is not finite; TypeError when `then` is not a function.
 * @example
 * const schedule = linearWarmup({ epochs: 5, then: cosine() });
 */
export function linearWarmup(options: { readonly epochs: number; readonly start?: number; readonly then?: Schedule }): Schedule {
  return named('linearWarmup', () => {
    const { epochs, start, then } = parseOptions(options, LINEAR_WARMUP_FIELDS);
    return (base, at) => {
      const target = then(base, at);
      const done = at.epoch + at.batch / Math.max(1, at.batchesPerEpoch);
      return done >= epochs ? target : target * (start + (1 - start) * (done / epochs));
    };
  });
}
