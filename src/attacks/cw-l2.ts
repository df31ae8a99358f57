import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';
import { checkGradientsRegistered, checkKnownKeys, checkLogits, optionKeys, type Bounds } from '../core/validate.js';
import { finite, flag, inputBounds, integer, nonNegative, positive, resolveFields, type OptionField, type OptionFields } from '../core/options.js';
import { typeError, named } from '../core/errors.js';
import { checksReadAtOnce } from '../core/device-checks.js';
import { marginPerExample } from '../losses/cw-margin.js';
import { makeAttack } from './attack.js';
import type { Attack, AttackOutput } from './types.js';
import { safeLossAndGradient } from './loss-and-gradient.js';
import { checkAttackInputs } from './runner.js';
import { tensorSlots } from './slots.js';
import { resolveTargeting, selectTargets, type TargetSelection } from './targets.js';

/** Options of {@link cwL2} and {@link cwL2Attack}. */
export interface CwL2Options {
  /**
   * When true, `y` holds target classes and the attack minimises `max(max_{j≠t} z_j − z_t, −κ)`. Leave it out with
   * `target`. @defaultValue false
   */
  readonly targeted?: boolean;
  /**
   * Makes the attack targeted with targets it picks itself from the clean logits: `y` holds the **true** labels
   * (`'random'`: uniform over the other classes, seeded by `seed`; `'leastLikely'`; or your function, see
   * {@link TargetSelection}). `targeted` must be left out with it.
   * @defaultValue undefined (y is attacked as `targeted` says)
   */
  readonly target?: TargetSelection;
  /**
   * Confidence κ ≥ 0: a point counts as broken once `max_{j≠y} z_j − z_y > κ` (targeted: `z_t − max_{j≠t} z_j > κ`),
   * and `f` stops rewarding a larger margin past κ. @defaultValue 0
   */
  readonly kappa?: number;
  /** Rounds of the binary search over the constant c, each a fresh optimisation from `x`. @defaultValue 9 */
  readonly binarySearchSteps?: number;
  /** The constant c of the first round (every point starts with it). @defaultValue 1e-3 */
  readonly initialConst?: number;
  /** Adam iterations per round, at most (see `abortEarly`). @defaultValue 1000 */
  readonly steps?: number;
  /** Adam's learning rate, in tanh space. @defaultValue 0.01 */
  readonly learningRate?: number;
  /**
   * Stop a point's round when its objective has not fallen by 0.01 % over the last ⌈steps/10⌉ iterations.
   * @defaultValue true
   */
  readonly abortEarly?: boolean;
  /**
   * An L2 radius: when given, a point counts as broken only if its smallest adversarial perturbation found has
   * `‖x' − x‖₂ ≤ eps`; points whose perturbation is larger are returned as `x`, so that accuracy on `x'` is the robust
   * accuracy at ε. Without it every adversarial point found is returned, however far (threat model ε = ∞, which
   * `evaluate` and `worstCase` refuse).
   */
  readonly eps?: number;
  /** The valid input box `[lo, hi]`; inputs outside it are an error. @defaultValue [0, 1] */
  readonly bounds?: Bounds;
  /** Seed of `target: 'random'` (the attack itself draws nothing); the same seed gives the same targets. */
  readonly seed?: number;
}

/** {@link CwL2Options} checked, with the defaults filled in. Internal. */
interface CwL2Config {
  readonly targeted: boolean;
  readonly target: TargetSelection | undefined;
  readonly kappa: number;
  readonly binarySearchSteps: number;
  readonly initialConst: number;
  readonly steps: number;
  readonly learningRate: number;
  readonly abortEarly: boolean;
  /** Infinity when not given. */
  readonly eps: number;
  readonly bounds: Bounds;
  readonly seed: number | undefined;
}

const CW_L2_KEYS = optionKeys<CwL2Options>()(
  'targeted',
  'target',
  'kappa',
  'binarySearchSteps',
  'initialConst',
  'steps',
  'learningRate',
  'abortEarly',
  'eps',
  'bounds',
  'seed'
);

/**
 * How {@link cwL2}'s options are checked and defaulted, in the order they are checked; `targeted` and `target` have
 * their resolver (`resolveTargeting`: each rules on the other), which runs first.
 */
const CW_L2_FIELDS: OptionFields<Omit<CwL2Options, 'targeted' | 'target' | 'seed'>> & { readonly seed: OptionField<number | undefined> } = {
  kappa: /* @__PURE__ */ nonNegative(0),
  binarySearchSteps: /* @__PURE__ */ integer(1, 9),
  initialConst: /* @__PURE__ */ positive(1e-3),
  steps: /* @__PURE__ */ integer(1, 1000),
  learningRate: /* @__PURE__ */ positive(0.01),
  abortEarly: /* @__PURE__ */ flag(true),
  // No radius: every adversarial point found counts, however far.
  eps: /* @__PURE__ */ nonNegative(Infinity),
  bounds: /* @__PURE__ */ inputBounds([0, 1]),
  seed: /* @__PURE__ */ finite()
};

/** Adam's β₁, β₂ and ε (Kingma & Ba, arXiv 1412.6980; PyTorch's defaults). */
const BETA1 = 0.9;
const BETA2 = 0.999;
const ADAM_EPS = 1e-8;
/** The upper bound of c while no round has succeeded: below it the search bisects, at it c grows tenfold. */
const NO_UPPER_BOUND = 1e10;
/** `x` is scaled by this before `atanh`, so that points on the box's faces map to finite w. */
const TANH_SHRINK = 1 - 1e-6;
/** The relative decrease of the objective a point needs between two checks to keep going (Carlini's 0.9999). */
const MIN_DECREASE = 1e-4;

/**
 * Checks {@link cwL2}'s options once, with errors naming the function the user called, and fills in the defaults. Internal.
 *
 * @throws TypeError/RangeError for invalid options, as {@link cwL2}.
 */
function resolveCwL2(options: Readonly<CwL2Options>): CwL2Config {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) typeError('options', 'be an object', options);
  checkKnownKeys(options, CW_L2_KEYS);
  const { targeted, target } = resolveTargeting(options.target, options.targeted);
  return { targeted, target, ...resolveFields(options, CW_L2_FIELDS) };
}

/** What one call returns: `x'` and the per-point success (`[B]` bool), owned by the caller. */
interface CwL2Result {
  readonly xAdv: tf.Tensor;
  readonly success: tf.Tensor1D;
}

/**
 * The attack on validated options: checks the call's inputs, picks the targets when `target` is set (from the clean
 * logits, seeded by `seed`), then runs the binary search. Internal.
 */
function runCwL2(model: Model, x: unknown, y: unknown, cfg: CwL2Config, seed: number | undefined): CwL2Result {
  const inputs = checkAttackInputs(model, x, y, cfg.bounds);
  // The model as the attack calls it (the first call looks for probability outputs).
  model = inputs.model;
  checkGradientsRegistered();
  const selection = cfg.target;
  if (selection === undefined) return binarySearch(model, inputs.x, inputs.y, inputs.maxLabel, cfg);
  const batch = inputs.x.shape[0] ?? 0;
  const targets = tf.tidy(() => selectTargets(selection, checkLogits(model(inputs.x), batch, inputs.maxLabel, inputs.y), inputs.y, seed));
  try {
    // The targets were checked against the model's classes when they were picked.
    return binarySearch(model, inputs.x, targets, -1, cfg);
  } finally {
    targets.dispose();
  }
}

/** The state one call carries across iterations and rounds. */
type Slot =
  | 'w0'
  | 'w'
  | 'm'
  | 'v'
  | 'c'
  | 'cLow'
  | 'cHigh'
  | 'best'
  | 'bestDistance'
  | 'roundSuccess'
  | 'active'
  | 'previousLoss';

/**
 * The binary search over c on checked inputs: `labels` are the true labels, or the targets when `cfg.targeted`.
 * Every per-point quantity (c and its bounds, the best point and its distance, Adam's moments, which points still
 * run) stays on the device. Internal.
 */
function binarySearch(model: Model, x: tf.Tensor, labels: tf.Tensor1D, maxLabel: number, cfg: CwL2Config): CwL2Result {
  const batch = x.shape[0] ?? 0;
  const perRow = (v: tf.Tensor): tf.Tensor => tf.reshape(v, [batch, ...new Array<number>(x.rank - 1).fill(1)]);
  const [lo, hi] = cfg.bounds;
  /** x' = lo + (hi − lo)·(tanh(w) + 1)/2, clipped against float rounding at the faces. */
  const toBox = (w: tf.Tensor): tf.Tensor => tf.clipByValue(tf.add(tf.mul(tf.add(tf.tanh(w), 1), (hi - lo) / 2), lo), lo, hi);
  /** ‖x' − x‖₂² per point, `[B]`. */
  const squaredDistance = (xa: tf.Tensor): tf.Tensor => tf.sum(tf.reshape(tf.square(tf.sub(xa, x)), [batch, -1]), 1);
  /** f(x') = max(z_y − max_{j≠y} z_j, −κ); targeted, max(max_{j≠t} z_j − z_t, −κ). */
  const f = (z: tf.Tensor2D): tf.Tensor => {
    const margin = marginPerExample(z, labels);
    return tf.maximum(cfg.targeted ? tf.neg(margin) : margin, -cfg.kappa);
  };
  /** Whether the logits make a point adversarial with confidence κ: argmax(z + κ·e_y) ≠ y (targeted: argmax(z − κ·e_t) = t). */
  const adversarial = (z: tf.Tensor2D): tf.Tensor => {
    const shift = tf.mul(tf.oneHot(labels, z.shape[1]), cfg.targeted ? -cfg.kappa : cfg.kappa);
    const predicted = tf.argMax(tf.add(z, shift), 1);
    return cfg.targeted ? tf.equal(predicted, labels) : tf.notEqual(predicted, labels);
  };
  const state = tensorSlots<Slot>();
  const objective = safeLossAndGradient((w) => {
    const xa = toBox(w);
    const logits = checkLogits(model(xa), batch, maxLabel, labels);
    return { loss: tf.add(squaredDistance(xa), tf.mul(state.get('c'), f(logits))), logits };
  });
  // The host path may stop a round once every point has stopped (one scalar readback per check); the device path
  // never reads back and runs the remaining iterations, which change nothing for stopped points.
  const stopWhenAllStopped = cfg.abortEarly && checksReadAtOnce();
  const period = Math.ceil(cfg.steps / 10);

  /**
   * One iteration at the current w: keep x' where it is adversarial and closer than the best so far, check for a
   * stall at a checkpoint, then take an Adam step (Kingma & Ba, arXiv 1412.6980) on `‖x' − x‖₂² + c·f(x')`. Stopped
   * points keep their state.
   */
  const iterate = (k: number, checkpoint: boolean): void => {
    const w = state.get('w');
    const r = objective(w);
    try {
      tf.tidy(() => {
        const xa = toBox(w);
        const distance = squaredDistance(xa);
        const success = tf.logicalAnd(state.get('active'), adversarial(r.logits));
        const closer = tf.logicalAnd(success, tf.less(distance, state.get('bestDistance')));
        state.set('bestDistance', tf.where(closer, distance, state.get('bestDistance')));
        state.set('best', tf.where(perRow(closer), xa, state.get('best')));
        state.set('roundSuccess', tf.logicalOr(state.get('roundSuccess'), success));
        if (checkpoint) {
          const previous = state.get('previousLoss');
          if (k > 0) {
            const stalled = tf.greater(r.loss, tf.sub(previous, tf.mul(tf.abs(previous), MIN_DECREASE)));
            state.set('active', tf.logicalAnd(state.get('active'), tf.logicalNot(stalled)));
          }
          state.set('previousLoss', tf.where(state.get('active'), r.loss, previous));
        }
        const active = perRow(state.get('active'));
        const t = k + 1;
        const m = tf.add(tf.mul(state.get('m'), BETA1), tf.mul(r.grad, 1 - BETA1));
        const v = tf.add(tf.mul(state.get('v'), BETA2), tf.mul(tf.square(r.grad), 1 - BETA2));
        const step = tf.mul(tf.div(tf.div(m, 1 - BETA1 ** t), tf.add(tf.sqrt(tf.div(v, 1 - BETA2 ** t)), ADAM_EPS)), cfg.learningRate);
        state.set('m', tf.where(active, m, state.get('m')));
        state.set('v', tf.where(active, v, state.get('v')));
        state.set('w', tf.where(active, tf.sub(w, step), w));
      });
    } finally {
      tf.dispose([r.grad, r.loss, r.logits]);
    }
  };

  /** Whether any point is still running this round: one scalar readback (host path only). */
  const anyActive = (): boolean => {
    const any = tf.tidy(() => tf.any(state.get('active')));
    try {
      return any.dataSync()[0] !== 0;
    } finally {
      any.dispose();
    }
  };

  /**
   * The binary search over c, per point: after a round that broke the point, `c_hi = min(c_hi, c)`; after one that
   * did not, `c_lo = max(c_lo, c)`; then c is the midpoint when an upper bound is known, else 10·c.
   */
  const updateConstants = (): void => {
    tf.tidy(() => {
      const c = state.get('c');
      const success = state.get('roundSuccess');
      const high = tf.where(success, tf.minimum(state.get('cHigh'), c), state.get('cHigh'));
      const low = tf.where(success, state.get('cLow'), tf.maximum(state.get('cLow'), c));
      state.set('c', tf.where(tf.less(high, NO_UPPER_BOUND), tf.div(tf.add(low, high), 2), tf.mul(c, 10)));
      state.set('cHigh', high);
      state.set('cLow', low);
    });
  };

  try {
    state.set('w0', tf.tidy(() => {
      const unit = tf.sub(tf.mul(tf.div(tf.sub(x, lo), hi - lo), 2), 1);
      return tf.atanh(tf.mul(tf.clipByValue(unit, -1, 1), TANH_SHRINK));
    }));
    state.set('c', tf.fill([batch], cfg.initialConst));
    state.set('cLow', tf.zeros([batch]));
    state.set('cHigh', tf.fill([batch], NO_UPPER_BOUND));
    state.set('best', tf.clone(x));
    state.set('bestDistance', tf.fill([batch], Infinity));

    for (let round = 0; round < cfg.binarySearchSteps; round++) {
      // Each round starts afresh from x, with Adam's state reset (as Carlini's code does).
      state.set('w', tf.clone(state.get('w0')));
      state.set('m', tf.zerosLike(x));
      state.set('v', tf.zerosLike(x));
      state.set('active', tf.ones([batch], 'bool'));
      state.set('previousLoss', tf.zeros([batch]));
      state.set('roundSuccess', tf.zeros([batch], 'bool'));
      for (let k = 0; k < cfg.steps; k++) {
        const checkpoint = cfg.abortEarly && k % period === 0;
        iterate(k, checkpoint);
        if (stopWhenAllStopped && checkpoint && k > 0 && !anyActive()) break;
      }
      updateConstants();
    }
    return tf.tidy(() => {
      const distance = state.get('bestDistance');
      // Infinity where no adversarial point was found (then √∞ ≤ ε = ∞ would hold).
      const found = tf.logicalAnd<tf.Tensor1D>(tf.less(distance, Infinity), tf.lessEqual(tf.sqrt(distance), cfg.eps));
      return { xAdv: tf.where(perRow(found), state.get('best'), x), success: found };
    });
  } finally {
    state.dispose();
  }
}

/**
 * Carlini & Wagner's L2 attack (Carlini & Wagner 2017, "Towards Evaluating the Robustness of Neural Networks",
 * arXiv 1608.04644), the minimal-perturbation attack: per point, it minimises
 * `‖x' − x‖₂² + c·f(x')` with `f(x') = max(z_y − max_{j≠y} z_j, −κ)` (targeted: `max(max_{j≠t} z_j − z_t, −κ)`) over
 * `w`, where `x' = lo + (hi − lo)·(tanh(w) + 1)/2` keeps `x'` inside the box, by Adam from `w₀ = atanh(x)`; and it
 * keeps the adversarial `x'` of smallest `‖x' − x‖₂` seen in any iteration of any round.
 *
 * The constant c is set per point by a binary search, as in the paper's code, ART's `CarliniL2Method` and foolbox:
 * `binarySearchSteps` rounds, c starting at `initialConst`; after a round that broke the point `c_hi = min(c_hi, c)`,
 * otherwise `c_lo = max(c_lo, c)`; then `c = (c_lo + c_hi)/2` once an upper bound is known, else `10·c`. (torchattacks'
 * `CW` instead runs one round with a fixed c = 1; `{ binarySearchSteps: 1, initialConst: 1 }` does the same.)
 *
 * Early abort, as in the paper's code: every ⌈steps/10⌉ iterations, a point whose objective has not fallen by 0.01 %
 * since the last check stops for the rest of the round. The paper checks the batch's total objective and stops the
 * whole batch; ardkit checks per point, so that a point's result does not depend on the batch it is in.
 *
 * Readbacks: on cpu, wasm and tensorflow, at most `⌊(steps − 1)/⌈steps/10⌉⌋` per round (≤ 9; 0 without
 * `abortEarly`), one scalar per check, to end a round once every point has stopped; plus the input checks. On webgl
 * and webgpu the attack reads nothing back: it runs every iteration, stopped points frozen, so the result is the same.
 *
 * Points never broken (or, with `eps`, broken only beyond it) are returned as `x`. Distance: L2. The defaults follow
 * the paper's code (9 rounds, c₀ = 10⁻³, learning rate 0.01, κ = 0) except the iterations per round: at most 1000
 * (as cleverhans) where the paper allows 10 000; early abort ends most rounds sooner. Far fewer do not suffice: a
 * pixel at 0 or 1 sits at `w ≈ ∓7.25`, where tanh is flat, and Adam moves w by about the learning rate per step, so on
 * MNIST 100 steps broke 58 % of the points of an MLP that 1000 steps broke entirely (scripts/compare-cw-l2.ts).
 *
 * @param model - a {@link Model} returning logits `[B, C]`.
 * @param x - clean inputs `[B, ...]` of any rank, inside `bounds`.
 * @param y - `[B]` int32 true labels (target labels when `targeted`; true labels again with `target`).
 * @param options - see {@link CwL2Options}; every option has a default.
 * @returns `x'`, same shape as `x`, inside `bounds`: per point the adversarial point of smallest L2 distortion found
 * (within `eps` when given), else `x`; the caller disposes it.
 * @throws RangeError when kappa or eps is negative or not finite, binarySearchSteps or steps is not a positive integer,
 * initialConst or learningRate is not a finite number > 0, bounds or seed are invalid, an option is unknown, `target`
 * is not a selection or comes with `targeted`, labels are invalid, x lies outside bounds, or the model returns the
 * wrong shape; TypeError when options is not an object, targeted or abortEarly is not a boolean, or model is not a
 * function; any error the model throws (nothing leaks).
 * @example
 * const xAdv = cwL2(model, x, y);                                         // 9 rounds of at most 1000 Adam steps
 * const strong = cwL2(model, x, y, { binarySearchSteps: 5, steps: 5000, kappa: 10 });
 * const within = cwL2(model, x, y, { eps: 1.5 });                         // x where no x' with ‖δ‖₂ ≤ 1.5 was found
 */
export function cwL2<T extends tf.Tensor>(model: Model, x: T, y: tf.Tensor1D, options: Readonly<CwL2Options> = {}): T {
  return named('cwL2', () => {
    const config = resolveCwL2(options);
    const r = runCwL2(model, x, y, config, config.seed);
    r.success.dispose();
    return r.xAdv as T;
  });
}

/**
 * {@link cwL2} as an {@link Attack} (see `pgdAttack`): options checked once, when made; errors of its calls name
 * `cwL2Attack`. Its threat model is `{ eps, norm: 'l2', bounds }`, with `eps = Infinity` when no `eps` is given:
 * `evaluate` and `worstCase` take `cwL2Attack({ eps })`, next to L2 attacks of radius ε, and reject it without `eps`.
 * `detailed` also returns `success` (`[B]` bool): true where an adversarial `x'` was found (within `eps`). A call's
 * seed overrides `options.seed` (it only seeds `target: 'random'`).
 *
 * @param options - see {@link CwL2Options}; every option has a default.
 * @returns an {@link Attack}.
 * @throws RangeError/TypeError for invalid options (see {@link cwL2}), when made; for invalid inputs, when called.
 * @example
 * const r = await evaluate(model, x, y, { attacks: { cwL2: cwL2Attack({ eps: 1.5 }) } }); // robust accuracy at ‖δ‖₂ ≤ 1.5
 * const { xAdv, success } = cwL2Attack({ steps: 200 }).detailed(model, x, y);
 */
export function cwL2Attack(options: Readonly<CwL2Options> = {}): Attack {
  return named('cwL2Attack', () => {
    const config = resolveCwL2(options);
    return makeAttack('cwL2Attack', { eps: config.eps, norm: 'l2', bounds: config.bounds }, config.seed, (model, x, y, seed): AttackOutput => named('cwL2Attack', () => runCwL2(model, x, y, config, seed)));
  });
}
