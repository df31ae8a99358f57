import { named } from '../core/errors.js';
import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../core/model.js';
import { readWithChecks } from '../core/device-checks.js';
import { probing } from '../core/probabilities.js';
import { checkFiniteExamples, checkFunction, checkInput, checkLabels, checkLabelsAsync, checkLogits, checkedSlice, optionKeys } from '../core/validate.js';
import { callable, custom, flag, integer, parseOptions, type OptionField, type OptionFields } from '../core/options.js';
import type { Attack, AttackFunction } from '../attacks/types.js';
import { attackEntries } from '../attacks/attack.js';
import { runSequence } from '../attacks/multi-attack.js';
import { byName, share, type EvaluationResult } from './result.js';

export type { EvaluationMode, EvaluationResult } from './result.js';

/** Progress of {@link evaluate}, reported after each batch. */
export interface EvaluateProgress {
  /** Examples processed so far. */
  readonly done: number;
  /** Examples in total. */
  readonly total: number;
}

/** Options of {@link evaluate}; `K` is the attacks' names. */
export interface EvaluateOptions<K extends string = string> {
  /**
   * Attacks by name: attacks made by factories (`pgdAttack(…)`, `autoAttackSuite(…)`'s members, …) or plain functions
   * `(model, x, y) ↦ x'`. The result's `attacks` has these keys. @defaultValue {} (clean accuracy only)
   */
  readonly attacks?: Readonly<Record<K, AttackFunction>>;
  /** Examples per batch; bounds memory, not the result. @defaultValue 256 */
  readonly batchSize?: number;
  /** Called after each batch. */
  readonly onProgress?: (progress: EvaluateProgress) => void;
  /**
   * Run the attacks AutoAttack-style: in order, each only on the points of the batch that every earlier attack
   * failed on (see `multiAttack` in `ardkit/attacks`, and `worstCase`). Cheaper, with the same worst case; `attacks` then reports the
   * accuracy after each attack and every attack before it, not each attack alone.
   * @defaultValue false
   */
  readonly sequential?: boolean;
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
 * @throws the promise rejects with a RangeError/TypeError for invalid inputs or options, an unbounded attack (a
 * minimum-norm attack made without `eps`), a plain attack function that returns the wrong shape or dtype, or any error
 * an attack throws.
 * @example
 * const r = await evaluate(model, xTest, yTest, {
 *   attacks: { fgsm: fgsmAttack({ eps: 0.1 }), pgd20: pgdAttack({ eps: 0.1, steps: 20 }) },
 *   batchSize: 500,
 * });
 * console.log(r.clean, r.attacks.pgd20, r.worstCase); // r.attacks: Record<'fgsm' | 'pgd20', number>
 */
export async function evaluate<K extends string = string>(
  model: Model,
  x: tf.Tensor,
  y: tf.Tensor1D,
  options: Readonly<EvaluateOptions<K>> = {}
): Promise<EvaluationResult<K>> {
  return named('evaluate', async () => {
    return runEvaluation(model, x, y, resolveEvaluate<K>(options));
  });
}

/** {@link EvaluateOptions} checked once: the attacks taken (plain functions wrapped), the defaults filled in. Internal. */
export interface EvaluateConfig<K extends string = string> {
  readonly entries: ReadonlyArray<readonly [K, Attack]>;
  readonly batchSize: number;
  readonly sequential: boolean;
  readonly onProgress: ((progress: EvaluateProgress) => void) | undefined;
}

/**
 * How each of {@link EvaluateOptions} is checked and defaulted, in the order they are checked: the attacks are taken
 * (plain functions wrapped; `null` counts as none, as it always has), `onProgress` stays undefined when left out.
 */
const EVALUATE_FIELDS: OptionFields<Omit<EvaluateOptions, 'attacks' | 'onProgress'>> & {
  readonly attacks: OptionField<ReadonlyArray<readonly [string, Attack]>>;
  readonly onProgress: OptionField<((progress: EvaluateProgress) => void) | undefined>;
} = {
  batchSize: /* @__PURE__ */ integer(1, 256),
  attacks: /* @__PURE__ */ custom((_arg, value) => attackEntries<string>(value ?? {}, true), []),
  onProgress: /* @__PURE__ */ callable<(progress: EvaluateProgress) => void>(),
  sequential: /* @__PURE__ */ flag(false)
};

/** The keys of {@link EvaluateOptions}, in the order an unknown key's message names them. */
const EVALUATE_KEYS = optionKeys<EvaluateOptions>()('attacks', 'batchSize', 'onProgress', 'sequential');

/** Checks {@link evaluate}'s options once, with errors naming the function the user called. Internal. */
export function resolveEvaluate<K extends string>(options: Readonly<EvaluateOptions<K>>): EvaluateConfig<K> {
  const { attacks, ...config } = parseOptions(options, EVALUATE_FIELDS, EVALUATE_KEYS);
  // The entries are named by the keys of `attacks`, which are K.
  return { ...config, entries: attacks as ReadonlyArray<readonly [K, Attack]> };
}

/**
 * An evaluation with options resolved by {@link resolveEvaluate}: checks the call's inputs (errors naming the function the user called), then
 * runs the batches. Internal; {@link evaluate} and `robustnessCurve` run it.
 */
export async function runEvaluation<K extends string>(model: Model, x: tf.Tensor, y: tf.Tensor1D, config: EvaluateConfig<K>): Promise<EvaluationResult<K>> {
  const { entries, batchSize, sequential } = config;
  checkFunction('model', model);
  const input = checkInput('x', x);
  const n = input.shape[0] ?? 0;
  checkLabels('y', y, n);
  checkFiniteExamples('x', input);
  // The model's first output is looked at for probabilities where logits belong (a warning, read with the masks).
  const probed = probing(model);
  // On webgl and webgpu the checks above are queued on the device: read now, in one readback, before any attack runs.
  const maxLabel = await checkLabelsAsync('y', y, n);

  const names = entries.map(([name]) => name);
  const clean = new Uint8Array(n);
  const perAttack = byName(names, () => new Uint8Array(n));
  const seconds = byName(names, () => 0);

  /** `[B]` int32, 1 where `model(xs)` predicts `ys`, left on the device. */
  const correct = (xs: tf.Tensor, ys: tf.Tensor1D, size: number): tf.Tensor =>
    tf.tidy(() => {
      const logits = checkLogits(probed(xs), size, maxLabel);
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
      for (const [name, attack] of entries) {
        const t0 = performance.now();
        const xAdv = attack(model, xb, yb);
        try {
          masks.push(correct(xAdv, yb, size));
        } finally {
          if (xAdv !== xb) xAdv.dispose();
        }
        seconds[name] += (performance.now() - t0) / 1000;
      }
      const stacked = tf.stack(masks);
      let all: Float32Array;
      try {
        [all = new Float32Array(0)] = await readWithChecks([stacked]);
      } finally {
        stacked.dispose();
      }
      clean.set(all.subarray(0, size), start);
      names.forEach((name, i) => { perAttack[name].set(all.subarray((i + 1) * size, (i + 2) * size), start); });
    } finally {
      tf.dispose(masks);
    }
  };
  /** The attacks in order, each on the points of the batch still robust. */
  const runBatchSequentially = async (xb: tf.Tensor, yb: tf.Tensor1D, start: number): Promise<void> => {
    const run = await runSequence(model, xb, yb, maxLabel, entries, false);
    clean.set(run.clean, start);
    names.forEach((name, i) => {
      perAttack[name].set(run.after[i] ?? run.clean, start);
      seconds[name] += run.seconds[i] ?? 0;
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
    config.onProgress?.({ done: start + size, total: n });
  }

  const worst = Uint8Array.from(clean);
  for (const name of names) {
    const robust = perAttack[name];
    for (let i = 0; i < n; i++) {
      // A point is robust to an attack only if it was also classified correctly to begin with.
      robust[i] = (robust[i] ?? 0) & (clean[i] ?? 0);
      worst[i] = (worst[i] ?? 0) & (robust[i] ?? 0);
    }
  }
  return {
    n,
    mode: sequential ? 'sequential' : 'independent',
    clean: share(clean),
    attacks: byName(names, (name) => share(perAttack[name])),
    worstCase: share(worst),
    perPoint: { clean, attacks: perAttack, worstCase: worst },
    seconds
  };
}
