import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';
import { createRandom, type Random } from '../core/random.js';
import { checkInteger, checkKnownKeys, optionKeys, checkLogits, type Bounds } from '../core/validate.js';
import { rangeError, typeError } from '../core/errors.js';
import { marginPerExample } from '../losses/cw-margin.js';
import { checkAttackInputs } from './runner.js';
import { gatherRows, indicesWhere } from './rows.js';
import { resolveThreat } from './options.js';
import { attackValue, type AttackValue } from './attack-value.js';

/** Options of {@link square}. */
export interface SquareOptions {
  /** The L∞ radius ε, in input units. Required. */
  readonly eps: number;
  /**
   * Model queries allowed per point, all included: one at `x`, one at the stripe initialisation, then one per
   * proposed square. @defaultValue 5000
   */
  readonly queries?: number;
  /** The initial fraction `p` of the input a square covers, in (0, 1]. @defaultValue 0.8 */
  readonly pInit?: number;
  /** The valid input box `[lo, hi]`; inputs outside it are an error. @defaultValue [0, 1] */
  readonly bounds?: Bounds;
  /** Seed of the random stripes, squares and signs. */
  readonly seed?: number;
}

/** What {@link square} returns. */
export interface SquareResult {
  /** `x'`, same shape as `x`, inside the ε-ball and the bounds; the caller disposes it. */
  readonly xAdv: tf.Tensor;
  /** Model queries spent on each point (at most `queries`; fewer when the point was fooled early). */
  readonly queries: Int32Array;
  /** 1 where `x'` is misclassified (margin `z_y − max_{j≠y} z_j < 0`). */
  readonly success: Uint8Array;
}

/**
 * The square-size schedule of Square Attack (Andriushchenko et al. 2020, arXiv 1912.00049): `p` starts at
 * `pInit` and halves after iterations 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 of a 10 000-query run;
 * for another budget the iteration is first rescaled to `⌊iteration/queries·10 000⌋`. Internal; exported for tests.
 */
export function squareSchedule(iteration: number, queries: number, pInit: number): number {
  const it = Math.floor((iteration / queries) * 10000);
  const thresholds = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000];
  const halvings = thresholds.filter((t) => it > t).length;
  return pInit / 2 ** halvings;
}

/** The layout of one example: `height × width` positions of `channels` values each (NHWC order). */
interface Geometry {
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly size: number;
}

/** `[B, D]` vectors are one row of D positions; `[B, H, W]` one channel; `[B, H, W, C, …]` NHWC with the tail as channels. */
function geometry(shape: readonly number[]): Geometry {
  const [, a = 1, b, ...rest] = shape;
  const height = b === undefined ? 1 : a;
  const width = b ?? a;
  const channels = rest.reduce((p, d) => p * d, 1);
  return { height, width, channels, size: height * width * channels };
}

/** The window of one update: `p·n/c` positions, a square (or a segment of a 1-row input), inside the image. */
function windowSize(g: Geometry, p: number): { h: number; w: number } {
  const positions = (p * g.size) / g.channels;
  if (g.height === 1) return { h: 1, w: Math.min(g.width, Math.max(1, Math.round(positions))) };
  const s = Math.min(g.height, g.width, Math.max(1, Math.round(Math.sqrt(positions))));
  return { h: s, w: s };
}

/**
 * Square Attack, L∞ (Andriushchenko et al. 2020, arXiv 1912.00049): a score-based black-box attack that only
 * queries the model's logits, never its gradient. Points the model misclassifies at `x` are returned unchanged
 * (one query). The others start from vertical stripes (`x + ε·s`, one random sign `s` per column and channel),
 * then each iteration proposes, per point, a random square window of side
 * `≈ √(p·n/c)` (n input values, c channels) whose values are set to `x ± ε` with one random sign per
 * channel, and keeps the proposal only if it lowers the margin loss
 * `z_y − max_{j≠y} z_j`. `p` starts at `pInit` and halves after iterations 10, 50, 200, 500, 1000, 2000, 4000,
 * 6000 and 8000 of a 10 000-query run, rescaled to the budget. A point stops (and stops costing queries) once its
 * margin is below 0.
 *
 * Inputs `[B, H, W, C]` (NHWC, tfjs' layout) or `[B, H, W]`; `[B, D]` vectors are treated as one row, where the
 * square becomes a segment of `p·D` values.
 *
 * @param model - a {@link Model} returning logits `[B, C]`; only called forward.
 * @param x - clean inputs inside `bounds`.
 * @param y - `[B]` int32 true labels.
 * @param options - see {@link SquareOptions}; defaults: 5000 queries, pInit 0.8.
 * @returns a {@link SquareResult}: `x'`, the queries spent per point and the per-point success.
 * @throws RangeError when eps is missing, negative or NaN, queries is not a positive integer, pInit is not in (0, 1],
 * labels are invalid, x lies outside bounds or the model returns the wrong shape; TypeError when model is not a function.
 * @example
 * const { xAdv, queries, success } = square(model, x, y, { eps: 0.3, queries: 1000, seed: 0 });
 * xAdv.dispose();
 */
export function square(model: Model, x: tf.Tensor, y: tf.Tensor1D, options: Readonly<SquareOptions>): SquareResult {
  const fn = 'square';
  return runSquare(fn, model, x, y, resolveSquare(fn, options));
}

const SQUARE_KEYS = optionKeys<SquareOptions>()('eps', 'queries', 'pInit', 'bounds', 'seed');

interface SquareConfig {
  readonly eps: number;
  readonly budget: number;
  readonly pInit: number;
  readonly bounds: Bounds;
  readonly seed: number | undefined;
}

function resolveSquare(fn: string, options: Readonly<SquareOptions>): SquareConfig {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) typeError(fn, 'options', 'be an object with at least eps', options);
  checkKnownKeys(fn, options, SQUARE_KEYS);
  const { eps, bounds, seed } = resolveThreat(fn, options);
  const budget = options.queries === undefined ? 5000 : checkInteger(fn, 'queries', options.queries, 1);
  const pInit = options.pInit ?? 0.8;
  if (typeof pInit !== 'number' || !(pInit > 0 && pInit <= 1)) rangeError(fn, 'pInit', 'be a number in (0, 1]', pInit);
  return { eps, budget, pInit, bounds, seed };
}

/**
 * {@link square} as an attack value (see `pgdAttack`): options checked once, errors of its calls name
 * `squareAttack`; a call's seed overrides `options.seed`. {@link AttackValue.detailed} also returns the queries spent
 * and the success per point.
 *
 * @param options - see {@link SquareOptions}; `eps` is required.
 * @returns an {@link AttackValue} (L∞).
 * @throws RangeError/TypeError for invalid options, when made; for invalid inputs, when called.
 * @example
 * const sq = squareAttack({ eps: 0.3, queries: 1000, seed: 0 });
 * const { xAdv, queries } = sq.detailed(model, x, y);
 */
export function squareAttack(options: Readonly<SquareOptions>): AttackValue {
  return squareAttackAs('squareAttack', options);
}

/** {@link squareAttack} whose errors name `as`. Internal. */
export function squareAttackAs(as: string, options: Readonly<SquareOptions>): AttackValue {
  const cfg = resolveSquare(as, options);
  return attackValue(as, { eps: cfg.eps, norm: 'linf', bounds: cfg.bounds }, cfg.seed, (model, x, y, seed) => runSquare(as, model, x, y, { ...cfg, seed }));
}

function runSquare(fn: string, model: Model, x: tf.Tensor, y: tf.Tensor1D, cfg: SquareConfig): SquareResult {
  const { budget, pInit, eps } = cfg;
  const [lo, hi] = cfg.bounds;
  const inputs = checkAttackInputs(fn, model, x, y, [lo, hi]);
  const batch = inputs.x.shape[0] ?? 0;
  const g = geometry(inputs.x.shape);
  const clean = inputs.x.dataSync();
  const rng = createRandom(cfg.seed);
  const at = (h: number, w: number, c: number): number => (h * g.width + w) * g.channels + c;
  const clip = (v: number): number => Math.min(hi, Math.max(lo, v));

  /** Margins `z_y − max_{j≠y} z_j` of the candidate rows for the points `idx`: one query each. */
  const margins = (rows: Float32Array, idx: readonly number[]): Float32Array =>
    tf.tidy(() => {
      const xs = tf.tensor(rows, [idx.length, ...inputs.x.shape.slice(1)]);
      const ys = gatherRows(inputs.y, idx);
      const logits = checkLogits(fn, model(xs), idx.length, inputs.maxLabel);
      return Float32Array.from(marginPerExample(logits, ys).dataSync());
    });

  // Query 1, at x: points already misclassified are returned unchanged, as APGD does.
  const all = Array.from({ length: batch }, (_, i) => i);
  const best = Float32Array.from(clean);
  const loss = margins(best, all);
  const queries = new Int32Array(batch).fill(1);
  const success = Uint8Array.from(loss, (m) => (m < 0 ? 1 : 0));
  // Query 2: vertical stripes, one sign per column and channel, the same down every row (kept unconditionally).
  const attacked = indicesWhere(success.map((v) => 1 - v));
  if (budget >= 2 && eps > 0 && attacked.length > 0) {
    const stripes = new Float32Array(attacked.length * g.size);
    attacked.forEach((b, k) => {
      for (let w = 0; w < g.width; w++) {
        for (let c = 0; c < g.channels; c++) {
          const delta = rng.next() < 0.5 ? -eps : eps;
          for (let h = 0; h < g.height; h++) {
            const j = at(h, w, c);
            stripes[k * g.size + j] = clip((clean[b * g.size + j] ?? 0) + delta);
          }
        }
      }
    });
    const striped = margins(stripes, attacked);
    attacked.forEach((b, k) => {
      queries[b] = 2;
      loss[b] = striped[k] ?? Infinity;
      best.set(stripes.subarray(k * g.size, (k + 1) * g.size), b * g.size);
      if ((striped[k] ?? Infinity) < 0) success[b] = 1;
    });
  }

  for (let iteration = 0; iteration < budget - 2 && eps > 0; iteration++) {
    const idx = indicesWhere(success.map((s) => 1 - s));
    if (idx.length === 0) break;
    const win = windowSize(g, squareSchedule(iteration, budget, pInit));
    const candidates = new Float32Array(idx.length * g.size);
    idx.forEach((b, k) => {
      candidates.set(best.subarray(b * g.size, (b + 1) * g.size), k * g.size);
      proposeSquare(candidates, k * g.size, clean, b * g.size, g, win, eps, clip, at, rng);
    });
    const proposed = margins(candidates, idx);
    idx.forEach((b, k) => {
      queries[b] = (queries[b] ?? 0) + 1;
      const m = proposed[k] ?? Infinity;
      if (m < (loss[b] ?? -Infinity)) {
        loss[b] = m;
        best.set(candidates.subarray(k * g.size, (k + 1) * g.size), b * g.size);
        if (m < 0) success[b] = 1;
      }
    });
  }
  return { xAdv: tf.tensor(best, inputs.x.shape), queries, success };
}

/**
 * Writes one random square into the candidate row at `offset`: a random window position, one random sign per
 * channel, values `clip(x ± ε)`. As in the paper's code, the signs are redrawn (up to 10 times) while the
 * proposal would leave the window unchanged, so that queries are not spent on no-ops.
 */
function proposeSquare(
  row: Float32Array,
  offset: number,
  clean: ArrayLike<number>,
  cleanOffset: number,
  g: Geometry,
  win: { h: number; w: number },
  eps: number,
  clip: (v: number) => number,
  at: (h: number, w: number, c: number) => number,
  rng: Random
): void {
  const top = rng.nextInt(g.height - win.h + 1);
  const left = rng.nextInt(g.width - win.w + 1);
  for (let attempt = 0; attempt < 10; attempt++) {
    const signs = Array.from({ length: g.channels }, () => (rng.next() < 0.5 ? -eps : eps));
    let changed = false;
    for (let h = top; h < top + win.h; h++) {
      for (let w = left; w < left + win.w; w++) {
        for (let c = 0; c < g.channels; c++) {
          const j = at(h, w, c);
          const v = Math.fround(clip((clean[cleanOffset + j] ?? 0) + (signs[c] ?? 0)));
          if (v !== row[offset + j]) changed = true;
          row[offset + j] = v;
        }
      }
    }
    if (changed) return;
  }
}
