import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';
import { createRandom, type Random } from '../core/random.js';
import { checkGradientsRegistered, optionKeys, checkLogits, type Bounds } from '../core/validate.js';
import { integer, oneOf, parseOptions, resolveFields, type OptionFields } from '../core/options.js';
import { rangeError, typeError, named, argumentError } from '../core/errors.js';
import { checksReadAtOnce } from '../core/device-checks.js';
import { crossEntropyPerExample } from '../losses/cross-entropy.js';
import { dlrPerExample, targetedDlrPerExample } from '../losses/dlr.js';
import { perExampleL2, type Norm } from './norms.js';
import { resolveThreat } from './options.js';
import { checkAttackInputs } from './runner.js';
import { ballProjector } from './projections.js';
import { safeLossAndGradient } from './loss-and-gradient.js';
import { correctOnDevice, gatherRows, indicesWhere, scatterRows } from './rows.js';
import { tensorSlots } from './slots.js';
import { makeAttack } from './attack.js';
import type { Attack } from './types.js';

/** The losses APGD maximises: cross-entropy or the Difference of Logits Ratio. */
export type ApgdLoss = 'ce' | 'dlr';

/** The allowed {@link ApgdLoss} values. */
export const APGD_LOSSES: readonly ApgdLoss[] = ['ce', 'dlr'];

/** Options shared by {@link apgd} and {@link apgdTargeted}. */
export interface ApgdBaseOptions {
  /** The radius ε of the threat model, in input units. Required. */
  readonly eps: number;
  /** @defaultValue 'linf' */
  readonly norm?: Norm;
  /** Iterations per run, a positive integer. @defaultValue 100 */
  readonly steps?: number;
  /** Runs from new random starts, each on the points no earlier run has fooled. @defaultValue 1 */
  readonly restarts?: number;
  /** The valid input box `[lo, hi]`; inputs outside it are an error. @defaultValue [0, 1] */
  readonly bounds?: Bounds;
  /** Seed of the random starts; the same seed gives the same result on the same backend. */
  readonly seed?: number;
  /**
   * Expectation over Transformation for randomised models: the gradient of every iteration is the mean of this many
   * gradients, each from its own forward pass (the reference's `eot_iter`; AutoAttack's `'rand'` version uses 20).
   * The loss and the prediction of an iteration are those of its last pass. @defaultValue 1
   */
  readonly eotSamples?: number;
}

/** Options of {@link apgd}. */
export interface ApgdOptions extends ApgdBaseOptions {
  /** `'ce'` (APGD-CE) or `'dlr'` (APGD-DLR, see `dlrLoss`, needs ≥ 3 classes). @defaultValue 'ce' */
  readonly loss?: ApgdLoss;
}

/** Options of {@link apgdTargeted}. */
export interface ApgdTargetedOptions extends ApgdBaseOptions {
  /**
   * How many target classes to try per point: the classes with the largest clean logits other than the
   * label, most likely first (capped at C − 1). @defaultValue 9
   */
  readonly targetClasses?: number;
}

/** Momentum α of the APGD update (Croce & Hein 2020, Sec. 3.2). */
const MOMENTUM = 0.75;
/** ρ of condition 1: halve the step when fewer than ρ of the steps since the last checkpoint raised the loss. */
const RHO = 0.75;

/** Validated options with defaults filled in. */
interface ApgdConfig {
  readonly eps: number;
  readonly norm: Norm;
  readonly steps: number;
  readonly restarts: number;
  readonly bounds: Bounds;
  readonly seed: number | undefined;
  readonly eotSamples: number;
}

const BASE_KEYS = optionKeys<ApgdBaseOptions>()('eps', 'norm', 'steps', 'restarts', 'bounds', 'seed', 'eotSamples');

/** How the options both APGD variants share are checked and defaulted, besides the threat model (`resolveThreat`). */
const BASE_FIELDS: OptionFields<Pick<ApgdBaseOptions, 'steps' | 'restarts' | 'eotSamples'>> = {
  steps: /* @__PURE__ */ integer(1, 100),
  restarts: /* @__PURE__ */ integer(1, 1),
  eotSamples: /* @__PURE__ */ integer(1, 1)
};

/**
 * Validates the options shared by both APGD variants; throws before any tensor exists. Their values are checked
 * before the keys (each variant then checks its keys with its own options), as they always were.
 */
function resolveApgd(options: Readonly<ApgdBaseOptions>): ApgdConfig {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) typeError('options', 'be an object with at least eps', options);
  const { eps, norm, bounds, seed } = resolveThreat(options);
  return { eps, norm, bounds, seed, ...resolveFields(options, BASE_FIELDS) };
}

/**
 * The iterations after which APGD checks its step size, `w_j = ⌈p_j·N⌉` for `p₀ = 0`, `p₁ = 0.22`,
 * `p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06)`, kept while `w_j ≤ N` (duplicates removed).
 * For N = 100: 22, 41, 57, 70, 80, 87, 93, 99. Internal; exported for tests.
 */
export function apgdCheckpoints(steps: number): number[] {
  // In hundredths, so the recursion is exact integer arithmetic.
  const p = [0, 22];
  while ((p[p.length - 1] ?? 0) < 100) {
    const last = p[p.length - 1] ?? 0;
    const before = p[p.length - 2] ?? 0;
    p.push(last + Math.max(last - before - 3, 6));
  }
  const out: number[] = [];
  for (const pj of p.slice(1)) {
    const w = Math.ceil((pj * steps) / 100);
    if (w >= 1 && w <= steps && w > (out[out.length - 1] ?? 0)) out.push(w);
  }
  return out;
}

/** The per-example objective of one APGD run, given the logits. */
type RunLoss = (logits: tf.Tensor2D, labels: tf.Tensor1D, targets: tf.Tensor1D | undefined) => tf.Tensor;

/** What one APGD run found, for the points it ran on: tensors that stay on the device, owned by the caller. */
interface RunResult {
  /** The point with the highest loss seen, per example; the shape of the run's `x`. */
  readonly best: tf.Tensor;
  /** The highest loss seen, per example, `[B]`. */
  readonly bestLoss: tf.Tensor;
  /** The last misclassified iterate, per example (meaningful where `success`); the shape of the run's `x`. */
  readonly found: tf.Tensor;
  /** `[B]` bool, true where some iterate was misclassified. */
  readonly success: tf.Tensor;
}

/** A {@link RunResult} read back to the host (host-subset path only). */
interface HostRunResult {
  readonly best: Float32Array;
  readonly bestLoss: Float32Array;
  readonly found: Float32Array;
  readonly success: Uint8Array;
}

/**
 * The random start: uniform in the L∞ ball, or on the L2 sphere of radius ε; projected on the box. It differs from
 * PGD's L2 start (a radius uniform in [0, ε], as torchattacks' PGDL2) on purpose: AutoAttack's reference APGD starts
 * on the sphere, and ardkit's APGD follows its trajectories.
 */
function randomStart(x: tf.Tensor, cfg: ApgdConfig, rng: Random, project: (v: tf.Tensor) => tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    if (cfg.norm === 'linf') return project(tf.add(x, rng.uniform(x.shape, -cfg.eps, cfg.eps)));
    const direction = rng.normal(x.shape, 0, 1);
    return project(tf.add(x, tf.mul(tf.div(direction, tf.maximum(perExampleL2(direction), 1e-12)), cfg.eps)));
  });
}

/**
 * One APGD run (Croce & Hein 2020, Algorithm 1) on validated inputs: step size 2ε per example, momentum
 * 0.75 from the second step on, checkpoints where a point's step is halved and the point restarted from
 * its best iterate when condition 1 or condition 2 holds. All per-point bookkeeping (best loss and iterate,
 * step sizes, the counts of the two conditions, successes) stays on the device, and so does what the run returns:
 * it reads nothing back, so a GPU backend never stalls inside the loop.
 */
function apgdRun(
  model: Model,
  x: tf.Tensor,
  y: tf.Tensor1D,
  targets: tf.Tensor1D | undefined,
  cfg: ApgdConfig,
  loss: RunLoss,
  rng: Random
): RunResult {
  const batch = x.shape[0] ?? 0;
  const rank = x.rank;
  const evaluate = safeLossAndGradient((xa) => {
    const logits = checkLogits(model(xa), batch, -1, y);
    return { loss: loss(logits, y, targets), logits };
  });
  const projector = ballProjector(x, cfg.eps, cfg.norm, cfg.bounds);
  const project = projector.project;
  const direction = (g: tf.Tensor): tf.Tensor => (cfg.norm === 'linf' ? tf.sign(g) : tf.div(g, tf.maximum(perExampleL2(g), 1e-12)));
  /** A per-point `[B]` vector broadcast against the rows of `x`. */
  const rows = (v: tf.Tensor): tf.Tensor => tf.reshape(v, [batch, ...new Array<number>(rank - 1).fill(1)]);

  const live: Record<string, tf.Tensor | undefined> = {};
  /** Replaces a named state tensor, disposing the one it replaces. */
  const set = (name: string, t: tf.Tensor): tf.Tensor => {
    const old = live[name];
    if (old !== undefined && old !== t) old.dispose();
    live[name] = tf.keep(t);
    return t;
  };
  const get = (name: string): tf.Tensor => {
    const t = live[name];
    if (t === undefined) throw argumentError(Error, `internal state ${name} missing`);
    return t;
  };
  /** Loss, gradient and misclassification `[B]` (bool) at an iterate; the gradient becomes the state `grad`. */
  const measure = (at: tf.Tensor): { loss: tf.Tensor; fooled: tf.Tensor } => {
    let r = evaluate(at);
    if (cfg.eotSamples > 1) {
      // EoT: the mean gradient over the draws; the loss and logits of the last draw.
      let sum = r.grad;
      try {
        for (let k = 1; k < cfg.eotSamples; k++) {
          tf.dispose([r.loss, r.logits]);
          r = evaluate(at);
          const next = tf.add(sum, r.grad);
          tf.dispose([sum, r.grad]);
          sum = next;
        }
      } catch (error) {
        sum.dispose();
        throw error;
      }
      const mean = tf.div(sum, cfg.eotSamples);
      sum.dispose();
      r = { ...r, grad: mean };
    }
    set('grad', r.grad);
    try {
      return { loss: tf.keep(r.loss), fooled: tf.keep(tf.tidy(() => tf.notEqual(tf.argMax(r.logits, 1), y))) };
    } finally {
      r.logits.dispose();
    }
  };

  try {
    set('eta', tf.fill([batch, ...new Array<number>(rank - 1).fill(1)], 2 * cfg.eps));
    set('x', randomStart(x, cfg, rng, project));
    const first = measure(get('x'));
    set('success', first.fooled);
    set('bestLoss', first.loss);
    set('previousLoss', tf.clone(first.loss));
    set('bestLossAtLastCheck', tf.clone(first.loss));
    set('best', tf.clone(get('x')));
    set('gradBest', tf.clone(get('grad')));
    set('found', tf.clone(get('x')));
    set('increases', tf.zeros([batch]));
    set('reducedAtLastCheck', tf.zeros([batch], 'bool'));
    const checkpoints = apgdCheckpoints(cfg.steps);
    let lastCheckpoint = 0;

    for (let k = 0; k < cfg.steps; k++) {
      const current = get('x');
      const previous = live.previous;
      const next = tf.tidy(() => {
        const z = project(tf.add(current, tf.mul(direction(get('grad')), get('eta'))));
        if (previous === undefined) return z;
        // x_{k+1} = P(x_k + α(z − x_k) + (1 − α)(x_k − x_{k−1})).
        return project(tf.add(current, tf.add(tf.mul(tf.sub(z, current), MOMENTUM), tf.mul(tf.sub(current, previous), 1 - MOMENTUM))));
      });
      if (previous !== undefined) previous.dispose();
      live.previous = current;
      live.x = tf.keep(next);
      const step = measure(next);
      tf.tidy(() => {
        set('found', tf.where(rows(step.fooled), next, get('found')));
        set('success', tf.logicalOr(get('success'), step.fooled));
        set('increases', tf.add(get('increases'), tf.cast(tf.greater(step.loss, get('previousLoss')), 'float32')));
        const improved = tf.greater(step.loss, get('bestLoss'));
        set('bestLoss', tf.where(improved, step.loss, get('bestLoss')));
        const mask = rows(improved);
        set('best', tf.where(mask, next, get('best')));
        set('gradBest', tf.where(mask, get('grad'), get('gradBest')));
        set('previousLoss', step.loss);
      });
      step.fooled.dispose();

      const iteration = k + 1;
      if (checkpoints.includes(iteration) && iteration < cfg.steps) {
        const window = iteration - lastCheckpoint;
        tf.tidy(() => {
          // Condition 1: fewer than ρ of the steps since the last checkpoint increased the loss.
          const oscillating = tf.less(get('increases'), RHO * window);
          // Condition 2: the step size was not reduced at the last checkpoint and the best loss has not moved since.
          const stalled = tf.logicalAnd(tf.logicalNot(get('reducedAtLastCheck')), tf.greaterEqual(get('bestLossAtLastCheck'), get('bestLoss')));
          const halve = tf.logicalOr(oscillating, stalled);
          const mask = rows(halve);
          set('eta', tf.where(mask, tf.div(get('eta'), 2), get('eta')));
          set('reducedAtLastCheck', halve);
          set('bestLossAtLastCheck', tf.clone(get('bestLoss')));
          set('increases', tf.zerosLike(get('increases')));
          // Restart the halved points from their best iterate (with the gradient there).
          set('x', tf.where(mask, get('best'), get('x')));
          set('grad', tf.where(mask, get('gradBest'), get('grad')));
        });
        lastCheckpoint = iteration;
      }
    }
    // Handed over to the caller: out of `live`, which the finally below releases.
    const result: RunResult = { best: get('best'), bestLoss: get('bestLoss'), found: get('found'), success: get('success') };
    for (const name of ['best', 'bestLoss', 'found', 'success']) live[name] = undefined;
    return result;
  } finally {
    tf.dispose(Object.values(live).filter((t): t is tf.Tensor => t !== undefined));
    projector.dispose();
  }
}

/** One round of runs: an optional target class per point (by rank among the other classes). */
interface Round {
  /** 1-based rank of the target among the classes other than the label, by clean logit; undefined = untargeted. */
  readonly targetRank?: number;
}

/**
 * Runs APGD rounds on the points still classified correctly, keeping per point the first adversarial example
 * found, else the highest-loss point. Points misclassified at `x` are returned unchanged.
 *
 * Where value checks read at once (cpu, wasm, tensorflow: synchronous readback is available and cheap) each run
 * works on the subset of points still robust, selected on the host. Elsewhere (webgl, webgpu) nothing is read back:
 * see {@link runApgdOnDevice}.
 */
function runApgd(
  model: Model,
  x: tf.Tensor,
  y: tf.Tensor1D,
  cfg: ApgdConfig,
  loss: RunLoss,
  minClasses: number,
  rounds: (classes: number) => Round[]
): tf.Tensor {
  const inputs = checkAttackInputs(model, x, y, cfg.bounds);
  // The model as the attack calls it (the first call looks for probability outputs).
  model = inputs.model;
  checkGradientsRegistered();
  const batch = inputs.x.shape[0] ?? 0;
  const logits = tf.tidy(() => {
    const z = checkLogits(model(inputs.x), batch, inputs.maxLabel, inputs.y);
    if (z.shape[1] < minClasses) {
      rangeError('model', `return logits for at least ${String(minClasses)} classes (the ${minClasses === 4 ? 'targeted ' : ''}DLR loss needs them)`, z);
    }
    // A copy: a model may return a tensor it keeps (or its input), which must not be disposed here.
    return tf.clone(z);
  });
  try {
    const run = checksReadAtOnce() ? runApgdOnHost : runApgdOnDevice;
    return run(model, inputs, logits, cfg, loss, rounds(logits.shape[1]));
  } finally {
    logits.dispose();
  }
}

/** The validated inputs of a run. */
interface ApgdInputs {
  readonly x: tf.Tensor;
  readonly y: tf.Tensor1D;
}

/**
 * The host-subset path of {@link runApgd}, for backends that read back synchronously (`checksReadAtOnce()`): the
 * clean predictions, the labels and `x` are read once, each run takes only the points still robust (gathered on the
 * device by index), and its result is read back and merged into the host copy of `x'`.
 */
function runApgdOnHost(model: Model, inputs: ApgdInputs, logits: tf.Tensor2D, cfg: ApgdConfig, loss: RunLoss, rounds: readonly Round[]): tf.Tensor {
  const batch = inputs.x.shape[0] ?? 0;
  const classes = logits.shape[1];
  const cleanLogits = Array.from(logits.dataSync());
  const correctOnHost = correctOnDevice(logits, inputs.y);
  let correct: Uint8Array;
  try {
    correct = Uint8Array.from(correctOnHost.dataSync());
  } finally {
    correctOnHost.dispose();
  }
  const labels = Array.from(inputs.y.dataSync());
  const rowSize = inputs.x.size / Math.max(batch, 1);
  const rows = Float32Array.from(inputs.x.dataSync());
  if (cfg.eps === 0) return tf.tensor(rows, inputs.x.shape);
  const robust = Uint8Array.from(correct);
  const bestLoss = new Float32Array(batch).fill(-Infinity);
  const rng = createRandom(cfg.seed);

  for (const round of rounds) {
    for (let r = 0; r < cfg.restarts; r++) {
      const idx = indicesWhere(robust);
      if (idx.length === 0) break;
      const targets = round.targetRank === undefined ? undefined : idx.map((i) => targetClass(cleanLogits, classes, i, labels[i] ?? 0, round.targetRank ?? 1));
      const xs = gatherRows(inputs.x, idx);
      const ys = gatherRows(inputs.y, idx);
      const ts = targets === undefined ? undefined : tf.tensor1d(targets, 'int32');
      let result: HostRunResult;
      try {
        const run = apgdRun(model, xs, ys, ts, cfg, loss, rng);
        try {
          result = {
            best: Float32Array.from(run.best.dataSync()),
            bestLoss: Float32Array.from(run.bestLoss.dataSync()),
            found: Float32Array.from(run.found.dataSync()),
            success: Uint8Array.from(run.success.dataSync())
          };
        } finally {
          tf.dispose([run.best, run.bestLoss, run.found, run.success]);
        }
      } finally {
        tf.dispose([xs, ys, ...(ts === undefined ? [] : [ts])]);
      }
      scatterRows(rows, result.found, rowSize, idx, (k) => result.success[k] === 1);
      scatterRows(rows, result.best, rowSize, idx, (k) => result.success[k] !== 1 && (result.bestLoss[k] ?? -Infinity) > (bestLoss[idx[k] ?? 0] ?? -Infinity));
      idx.forEach((i, k) => {
        if (result.success[k] === 1) robust[i] = 0;
        else bestLoss[i] = Math.max(bestLoss[i] ?? -Infinity, result.bestLoss[k] ?? -Infinity);
      });
    }
  }
  return tf.tensor(rows, inputs.x.shape);
}

/**
 * The device path of {@link runApgd}, for backends without a cheap synchronous readback (webgl, webgpu): nothing is
 * read back. The still-robust mask, the best loss so far and `x'` are tensors; the target classes come from `tf.topk`
 * over the clean logits with the label's logit set to −∞ (rank r is column r − 1). Without a readback the batch cannot
 * shrink, so every run works on all points, and its result is merged only into the points still robust: its
 * misclassified iterate where it found one, else its best iterate where its loss beats the best loss so far. The same
 * rule as the host path, point by point; only the random starts differ (they are drawn for the whole batch).
 */
function runApgdOnDevice(model: Model, inputs: ApgdInputs, logits: tf.Tensor2D, cfg: ApgdConfig, loss: RunLoss, rounds: readonly Round[]): tf.Tensor {
  if (cfg.eps === 0) return tf.clone(inputs.x);
  const batch = inputs.x.shape[0] ?? 0;
  const classes = logits.shape[1];
  const perRow = (v: tf.Tensor): tf.Tensor => tf.reshape(v, [batch, ...new Array<number>(inputs.x.rank - 1).fill(1)]);
  const state = tensorSlots<'xAdv' | 'robust' | 'bestLoss' | 'order'>();
  const rng = createRandom(cfg.seed);
  try {
    state.set('xAdv', tf.clone(inputs.x));
    state.set('robust', correctOnDevice(logits, inputs.y));
    state.set('bestLoss', tf.fill([batch], -Infinity));
    if (rounds.some((round) => round.targetRank !== undefined)) {
      // The other classes of each point by clean logit, most likely first (the label last, at −∞, and cut off).
      state.set('order', tf.tidy(() => {
        const label = tf.cast(tf.oneHot(inputs.y, classes), 'bool');
        return tf.topk(tf.where(label, tf.fill(logits.shape, -Infinity), logits), classes - 1).indices;
      }));
    }
    for (const round of rounds) {
      const rank = round.targetRank;
      const targets = rank === undefined ? undefined : tf.tidy(() => tf.reshape<tf.Rank.R1>(tf.slice(state.get('order'), [0, rank - 1], [batch, 1]), [batch]));
      try {
        for (let r = 0; r < cfg.restarts; r++) {
          const run = apgdRun(model, inputs.x, inputs.y, targets, cfg, loss, rng);
          try {
            tf.tidy(() => {
              const robust = state.get('robust');
              const bestLoss = state.get('bestLoss');
              const fooled = tf.logicalAnd(robust, run.success);
              const missed = tf.logicalAnd(robust, tf.logicalNot(run.success));
              const higher = tf.logicalAnd(missed, tf.greater(run.bestLoss, bestLoss));
              state.set('xAdv', tf.where(perRow(fooled), run.found, tf.where(perRow(higher), run.best, state.get('xAdv'))));
              state.set('bestLoss', tf.where(missed, tf.maximum(bestLoss, run.bestLoss), bestLoss));
              state.set('robust', tf.logicalAnd(robust, tf.logicalNot(run.success)));
            });
          } finally {
            tf.dispose([run.best, run.bestLoss, run.found, run.success]);
          }
        }
      } finally {
        targets?.dispose();
      }
    }
    return state.take('xAdv');
  } finally {
    state.dispose();
  }
}

/** The class with the `rank`-th largest clean logit among the classes other than `label` (rank 1 = most likely). */
function targetClass(logits: readonly number[], classes: number, point: number, label: number, rank: number): number {
  const row = logits.slice(point * classes, (point + 1) * classes);
  const order = row
    .map((v, c) => ({ v, c }))
    .filter(({ c }) => c !== label)
    .sort((a, b) => b.v - a.v || a.c - b.c);
  return order[rank - 1]?.c ?? 0;
}

/**
 * Auto-PGD (Croce & Hein 2020, arXiv 2003.01690), the step-size-free PGD of AutoAttack, on cross-entropy
 * (APGD-CE) or the DLR loss (APGD-DLR), in L∞ or L2.
 *
 * Each run starts at a random point (uniform in the L∞ ball; on the L2 sphere of radius ε), takes a first
 * step `x₁ = P(x₀ + η·s(∇L))` with `η = 2ε` and `s = sign` (L∞) or `g/‖g‖₂` (L2), then
 * `z = P(x_k + η·s(∇L(x_k)))`, `x_{k+1} = P(x_k + 0.75(z − x_k) + 0.25(x_k − x_{k−1}))`, P the projection on
 * the ε-ball ∩ `bounds`. At the checkpoints `w_j = ⌈p_j·N⌉` (`p₀ = 0`, `p₁ = 0.22`,
 * `p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06)`) a point's step is halved and the point restarted from its
 * best iterate when (1) fewer than 75 % of the steps since the last checkpoint raised its loss, or (2) its step
 * was not halved at the last checkpoint and its best loss has not improved since. Restarts rerun from new
 * random starts on the points not fooled yet.
 *
 * Points the model already misclassifies at `x` are returned unchanged and not attacked. For the others the
 * result is an adversarial iterate where one was found, else the iterate of highest loss over all runs.
 *
 * On cpu, wasm and tensorflow each run takes only the points not fooled yet (read back between runs). On webgl and
 * webgpu the attack reads nothing back: every run covers the whole batch and its result is merged, on the device,
 * only into the points not fooled yet (the same rule), so restarts cost full-batch runs there; results agree with cpu
 * in distribution (the random starts of later runs are drawn for the whole batch).
 *
 * @param model - a {@link Model} returning logits `[B, C]` (C ≥ 3 for `'dlr'`).
 * @param x - clean inputs `[B, ...]` of any rank, inside `bounds`.
 * @param y - `[B]` int32 true labels.
 * @param options - see {@link ApgdOptions}; defaults: L∞, CE, 100 steps, 1 restart.
 * @returns `x'`, same shape as `x`, with `‖x' − x‖ ≤ ε` and `x'` inside `bounds`; the caller disposes it.
 * @throws RangeError when eps is missing, negative or NaN, steps or restarts is not a positive integer, the norm or
 * loss is unknown, labels are invalid, x lies outside bounds, the model returns the wrong shape or (DLR) fewer than
 * 3 classes; TypeError when model is not a function; any error the model throws (nothing leaks).
 * @example
 * const xAdv = apgd(model, x, y, { eps: 8 / 255 });                        // APGD-CE, L∞, 100 steps
 * const xDlr = apgd(model, x, y, { eps: 0.5, norm: 'l2', loss: 'dlr', restarts: 5, seed: 0 });
 */
export function apgd<T extends tf.Tensor>(model: Model, x: T, y: tf.Tensor1D, options: Readonly<ApgdOptions>): T {
  return named('apgd', () => {
    const config = resolveApgdAttack(options);
    return runApgdAttack(model, x, y, config, config.seed) as T;
  });
}

/**
 * An APGD variant resolved once: the shared settings, the per-example loss, the fewest classes it needs and its rounds
 * (one untargeted round, or one per target class). {@link runApgdAttack} runs it without checking options again.
 */
export interface ApgdAttackConfig extends ApgdConfig {
  readonly loss: RunLoss;
  readonly minClasses: number;
  readonly rounds: (classes: number) => Round[];
}

/** Checks {@link apgd}'s options once (errors naming the function the user called) and fills in the defaults. Internal. */
export function resolveApgdAttack(options: Readonly<ApgdOptions>): ApgdAttackConfig {
  const cfg = resolveApgd(options);
  const { loss: lossName } = parseOptions(options, APGD_FIELDS, APGD_KEYS);
  const loss: RunLoss = lossName === 'ce' ? (z, labels) => crossEntropyPerExample(z, labels) : (z, labels) => dlrPerExample(z, labels);
  return { ...cfg, loss, minClasses: lossName === 'dlr' ? 3 : 2, rounds: () => [{}] };
}

/**
 * Runs a resolved APGD variant on one call's inputs (checked here), never checking options. `seed` is this call's
 * seed; it replaces `config.seed`.
 */
function runApgdAttack(model: Model, x: tf.Tensor, y: tf.Tensor1D, config: ApgdAttackConfig, seed: number | undefined): tf.Tensor {
  return runApgd(model, x, y, seed === config.seed ? config : { ...config, seed }, config.loss, config.minClasses, config.rounds);
}

const APGD_KEYS = optionKeys<ApgdOptions>()(...BASE_KEYS, 'loss');
const APGD_TARGETED_KEYS = optionKeys<ApgdTargetedOptions>()(...BASE_KEYS, 'targetClasses');
/** The option of {@link apgd} besides the shared ones, checked after every key. */
const APGD_FIELDS: OptionFields<Pick<ApgdOptions, 'loss'>> = { loss: /* @__PURE__ */ oneOf(APGD_LOSSES, 'ce') };
/** The option of {@link apgdTargeted} besides the shared ones, checked after every key. */
const APGD_TARGETED_FIELDS: OptionFields<Pick<ApgdTargetedOptions, 'targetClasses'>> = { targetClasses: /* @__PURE__ */ integer(1, 9) };

/**
 * Targeted APGD on the targeted DLR loss (APGD-T; Croce & Hein 2020, arXiv 2003.01690): for each of the
 * `targetClasses` most likely other classes `t` of every point (by clean logit, most likely first), APGD
 * maximises `−(z_y − z_t)/(z_π1 − (z_π3 + z_π4)/2 + 1e−12)` on the points not fooled yet, `restarts` times per
 * target. The update, step sizes and checkpoints are those of {@link apgd}. A point counts as fooled by any
 * misclassification, not only as the target; a point never fooled gets its iterate of highest targeted DLR over
 * all targets and runs, and points misclassified at `x` are returned unchanged. On webgl and webgpu the target
 * classes are chosen on the device (`tf.topk`) and every run covers the whole batch, as in {@link apgd}.
 *
 * @param model - a {@link Model} returning logits `[B, C]`, C ≥ 4.
 * @param x - clean inputs `[B, ...]` inside `bounds`.
 * @param y - `[B]` int32 **true** labels (the targets are chosen by the attack).
 * @param options - see {@link ApgdTargetedOptions}; defaults: L∞, 100 steps, 1 restart, 9 target classes.
 * @returns `x'`, same shape as `x`, inside the ε-ball and `bounds`; the caller disposes it.
 * @throws RangeError for invalid options (as {@link apgd}, and targetClasses not a positive integer), invalid labels,
 * x outside bounds, or a model returning the wrong shape or fewer than 4 classes; TypeError when model is not a function.
 * @example
 * const xAdv = apgdTargeted(model, x, y, { eps: 0.3, targetClasses: 9, seed: 0 });
 */
export function apgdTargeted<T extends tf.Tensor>(model: Model, x: T, y: tf.Tensor1D, options: Readonly<ApgdTargetedOptions>): T {
  return named('apgdTargeted', () => {
    const config = resolveApgdTargeted(options);
    return runApgdAttack(model, x, y, config, config.seed) as T;
  });
}

/** Checks {@link apgdTargeted}'s options once (errors naming the function the user called) and fills in the defaults. Internal. */
export function resolveApgdTargeted(options: Readonly<ApgdTargetedOptions>): ApgdAttackConfig {
  const cfg = resolveApgd(options);
  const { targetClasses } = parseOptions(options, APGD_TARGETED_FIELDS, APGD_TARGETED_KEYS);
  const loss: RunLoss = (z, labels, targets) => targetedDlrPerExample(z, labels, targets ?? labels);
  const rounds = (classes: number): Round[] => Array.from({ length: Math.min(targetClasses, classes - 1) }, (_, i) => ({ targetRank: i + 1 }));
  return { ...cfg, loss, minClasses: 4, rounds };
}

/**
 * {@link apgd} as an {@link Attack} (see `pgdAttack`): APGD-CE or APGD-DLR configured, and its options checked, once, when
 * made; errors of its calls name `apgdAttack`; a call's seed overrides `options.seed`.
 *
 * @param options - see {@link ApgdOptions}; `eps` is required.
 * @returns an {@link Attack}.
 * @throws RangeError/TypeError for invalid options, when made; for invalid inputs, when called.
 * @example
 * await fit(net, data, pgdAt({ attack: apgdAttack({ eps: 0.3, steps: 10 }) }));
 */
export function apgdAttack(options: Readonly<ApgdOptions>): Attack {
  return named('apgdAttack', () => {
    return apgdAttackFrom('apgdAttack', resolveApgdAttack(options));
  });
}

/**
 * The {@link Attack} of an APGD variant resolved once (by `resolveApgdAttack` or `resolveApgdTargeted`), whose calls'
 * errors name `name`: `apgdAttack`, `apgdTargetedAttack`, or the suite that made it (`autoAttack`). Internal.
 */
export function apgdAttackFrom(name: string, config: ApgdAttackConfig): Attack {
  return makeAttack(name, { eps: config.eps, norm: config.norm, bounds: config.bounds }, config.seed, (model, x, y, seed) => ({
    xAdv: runApgdAttack(model, x, y, config, seed)
  }));
}

/**
 * {@link apgdTargeted} as an {@link Attack} (see {@link apgdAttack}); errors of its calls name `apgdTargetedAttack`.
 *
 * @param options - see {@link ApgdTargetedOptions}; `eps` is required.
 * @returns an {@link Attack}.
 * @throws RangeError/TypeError for invalid options, when made; for invalid inputs, when called.
 * @example
 * const r = await worstCase(model, x, y, [apgdAttack({ eps: 0.3 }), apgdTargetedAttack({ eps: 0.3 })]);
 */
export function apgdTargetedAttack(options: Readonly<ApgdTargetedOptions>): Attack {
  return named('apgdTargetedAttack', () => {
    return apgdAttackFrom('apgdTargetedAttack', resolveApgdTargeted(options));
  });
}
