import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';
import { readWithChecks } from '../core/device-checks.js';
import {
  checkBoolean,
  checkFiniteExamples,
  checkFunction,
  checkInput,
  checkInteger,
  checkKnownKeys,
  checkLabels,
  checkLabelsAsync,
  checkLogits,
  checkedSlice,
  optionKeys
} from '../core/validate.js';
import { rangeError, typeError } from '../core/errors.js';
import type { Attack } from '../attacks/types.js';
import { checkBoundedAttack, runSequential } from './worst-case.js';

/** Progress of {@link evaluate}, reported after each batch. */
export interface EvaluateProgress {
  /** Examples processed so far. */
  readonly done: number;
  /** Examples in total. */
  readonly total: number;
}

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  /** Attacks by name, each `(model, x, y) ↦ x'`. @defaultValue {} (clean accuracy only) */
  readonly attacks?: Readonly<Record<string, Attack>>;
  /** Examples per batch; bounds memory, not the result. @defaultValue 256 */
  readonly batchSize?: number;
  /** Called after each batch. */
  readonly onProgress?: (progress: EvaluateProgress) => void;
  /**
   * Run the attacks AutoAttack-style: in order, each only on the points of the batch that every earlier attack
   * failed on (see `worstCase` in `ardkit/attacks`). Cheaper, with the same worst case; `attacks` then reports the
   * accuracy after each attack and every attack before it, not each attack alone.
   * @defaultValue false
   */
  readonly sequential?: boolean;
}

/** How the attacks of an evaluation ran: each on every point, or in order, each on the points still robust. */
export type EvaluationMode = 'independent' | 'sequential';

/**
 * What an evaluation measured: the one result type of `evaluate`, `worstCase` and `autoAttack` (which add to it), and
 * what `fit`'s validation reports a part of. Accuracies are fractions in `[0, 1]`.
 */
export interface EvaluationResult {
  /** Number of examples. */
  readonly n: number;
  /**
   * `'independent'`: every attack ran on every point, and `attacks` holds each attack's own robust accuracy.
   * `'sequential'`: the attacks ran in order, each on the points all earlier ones failed on, and `attacks` holds the
   * accuracy after each attack and every attack before it. `worstCase` means the same in both.
   */
  readonly mode: EvaluationMode;
  /** Clean accuracy. */
  readonly clean: number;
  /**
   * Robust accuracy per attack: the share of points classified correctly on `x` **and** on the attack's `x'`
   * (AutoAttack's definition, so it never exceeds clean accuracy). With `sequential`, the accuracy after this
   * attack and every attack before it.
   */
  readonly attacks: Readonly<Record<string, number>>;
  /** Worst case: the share of points correct on `x` and on every attack's `x'`. */
  readonly worstCase: number;
  /** Per point, 1 where the point counts as correct (clean) or robust (per attack, worst case). */
  readonly perPoint: {
    /** 1 where the clean input is classified correctly. */
    readonly clean: Uint8Array;
    /** Per attack, 1 where the point is correct on `x` and on the attack's `x'` (with `sequential`: on every attack so far). */
    readonly attacks: Readonly<Record<string, Uint8Array>>;
    /** 1 where the point is correct on `x` and on every attack's `x'`. */
    readonly worstCase: Uint8Array;
  };
  /** Seconds spent in each attack (including the model calls on its outputs). */
  readonly seconds: Readonly<Record<string, number>>;
}

/**
 * Evaluates clean accuracy, robust accuracy under each attack and worst-case robust accuracy (a point is
 * robust only if it survives every attack), in batches so that large test sets fit in memory.
 *
 * Asynchronous, so that it runs on every backend: the correctness masks are read back once per batch with
 * `await data()` (on webgpu a synchronous readback throws in Node and returns zeros in the browser), together with
 * the value checks the attacks queued on the device (see `flushChecks` in `ardkit/core`). The labels and inputs are
 * checked before any attack runs.
 *
 * @param model - a {@link Model} returning logits `[B, C]`.
 * @param x - inputs `[N, ...]`.
 * @param y - `[N]` int32 labels.
 * @param options - see {@link EvaluateOptions}.
 * @returns a promise of an {@link EvaluationResult}; no tensors.
 * @throws the promise rejects with a RangeError/TypeError for invalid inputs or options, an unbounded attack value (a
 * minimum-norm attack made without `eps`), an attack that returns the wrong shape, or any error an attack throws.
 * @example
 * const r = await evaluate(model, xTest, yTest, {
 *   attacks: { fgsm: (m, x, y) => fgsm(m, x, y, { eps: 0.1 }), pgd20: (m, x, y) => pgd(m, x, y, { eps: 0.1, steps: 20 }) },
 *   batchSize: 500,
 * });
 * console.log(r.clean, r.attacks.pgd20, r.worstCase);
 */
export function evaluate(model: Model, x: tf.Tensor, y: tf.Tensor1D, options: Readonly<EvaluateOptions> = {}): Promise<EvaluationResult> {
  return evaluateAs('evaluate', model, x, y, options);
}

/** {@link evaluate}, with errors that name `fn`: the public function the user called (e.g. `robustnessCurve`). */
export async function evaluateAs(fn: string, model: Model, x: tf.Tensor, y: tf.Tensor1D, options: Readonly<EvaluateOptions> = {}): Promise<EvaluationResult> {
  checkKnownKeys(fn, options, optionKeys<EvaluateOptions>()('attacks', 'batchSize', 'onProgress', 'sequential'));
  checkFunction(fn, 'model', model);
  const batchSize = options.batchSize === undefined ? 256 : checkInteger(fn, 'batchSize', options.batchSize, 1);
  const attacks = options.attacks ?? {};
  if (typeof attacks !== 'object') typeError(fn, 'attacks', 'be an object of named attack functions', attacks);
  for (const [name, attack] of Object.entries(attacks)) {
    if (typeof attack !== 'function') typeError(fn, `attacks.${name}`, 'be a function (model, x, y) => xAdv', attack);
    checkBoundedAttack(fn, `attacks.${name}`, attack);
  }
  if (options.onProgress !== undefined) checkFunction(fn, 'onProgress', options.onProgress);
  const sequential = options.sequential === undefined ? false : checkBoolean(fn, 'sequential', options.sequential);
  const input = checkInput(fn, 'x', x);
  const n = input.shape[0] ?? 0;
  checkLabels(fn, 'y', y, n);
  checkFiniteExamples(fn, 'x', input);
  // On webgl and webgpu the checks above are queued on the device: read now, in one readback, before any attack runs.
  const maxLabel = await checkLabelsAsync(fn, 'y', y, n);

  const names = Object.keys(attacks);
  const clean = new Uint8Array(n);
  const perAttack: Record<string, Uint8Array> = Object.fromEntries(names.map((name) => [name, new Uint8Array(n)]));
  const seconds: Record<string, number> = Object.fromEntries(names.map((name) => [name, 0]));

  /** `[B]` int32, 1 where `model(xs)` predicts `ys`, left on the device. */
  const correct = (xs: tf.Tensor, ys: tf.Tensor1D, size: number): tf.Tensor =>
    tf.tidy(() => {
      const logits = checkLogits(fn, model(xs), size, maxLabel);
      return tf.cast(tf.equal(tf.argMax(logits, 1), ys), 'int32');
    });

  /**
   * Each attack on every point of the batch. The masks stay on the device until the batch is done and come back in
   * one readback. (Seconds per attack are then the time to queue its work, which on a GPU backend can run on.)
   */
  const runBatchIndependently = async (xb: tf.Tensor, yb: tf.Tensor1D, start: number, size: number): Promise<void> => {
    const masks: tf.Tensor[] = [];
    try {
      masks.push(correct(xb, yb, size));
      for (const name of names) {
        const attack = attacks[name];
        if (attack === undefined) continue;
        const t0 = performance.now();
        const xAdv = attack(model, xb, yb);
        try {
          if (!(xAdv instanceof tf.Tensor) || xAdv.shape.some((d, i) => d !== xb.shape[i]) || xAdv.rank !== xb.rank) {
            rangeError(fn, `attacks.${name}`, `return adversarial inputs of the batch's shape [${xb.shape.join(', ')}]`, xAdv);
          }
          masks.push(correct(xAdv, yb, size));
        } finally {
          if (xAdv instanceof tf.Tensor && xAdv !== xb) xAdv.dispose();
        }
        seconds[name] = (seconds[name] ?? 0) + (performance.now() - t0) / 1000;
      }
      const stacked = tf.stack(masks);
      let all: Float32Array;
      try {
        [all = new Float32Array(0)] = await readWithChecks([stacked]);
      } finally {
        stacked.dispose();
      }
      clean.set(all.subarray(0, size), start);
      names.forEach((name, i) => perAttack[name]?.set(all.subarray((i + 1) * size, (i + 2) * size), start));
    } finally {
      tf.dispose(masks);
    }
  };
  /** The attacks in order, each on the points of the batch still robust. */
  const runBatchSequentially = async (xb: tf.Tensor, yb: tf.Tensor1D, start: number): Promise<void> => {
    const run = await runSequential(fn, model, xb, yb, maxLabel, Object.entries(attacks), false);
    clean.set(run.clean, start);
    names.forEach((name, i) => {
      perAttack[name]?.set(run.after[i] ?? run.clean, start);
      seconds[name] = (seconds[name] ?? 0) + (run.seconds[i] ?? 0);
    });
  };

  for (let start = 0; start < n; start += batchSize) {
    const size = Math.min(batchSize, n - start);
    // What was checked of the whole set holds for its batches: the attacks' own checks read nothing back.
    const xb = checkedSlice(input, start, size);
    const yb = checkedSlice(y, start, size);
    try {
      if (sequential) await runBatchSequentially(xb, yb, start);
      else await runBatchIndependently(xb, yb, start, size);
    } finally {
      xb.dispose();
      yb.dispose();
    }
    options.onProgress?.({ done: start + size, total: n });
  }

  const worst = Uint8Array.from(clean);
  for (const name of names) {
    const robust = perAttack[name];
    if (robust === undefined) continue;
    for (let i = 0; i < n; i++) {
      // A point is robust to an attack only if it was also classified correctly to begin with.
      robust[i] = (robust[i] ?? 0) & (clean[i] ?? 0);
      worst[i] = (worst[i] ?? 0) & (robust[i] ?? 0);
    }
  }
  const share = (v: Uint8Array): number => (n === 0 ? 0 : v.reduce((s, b) => s + b, 0) / n);
  return {
    n,
    mode: sequential ? 'sequential' : 'independent',
    clean: share(clean),
    attacks: Object.fromEntries(names.map((name) => [name, share(perAttack[name] ?? new Uint8Array(0))])),
    worstCase: share(worst),
    perPoint: { clean, attacks: perAttack, worstCase: worst },
    seconds
  };
}
