/**
 * The method benchmark's evaluation, cached: clean, PGD-20, CW-20 and AutoAttack (standard) accuracy on held-out
 * test images, with `sanityChecks`' flags.
 */
import * as tf from '@tensorflow/tfjs-core';
import { cwLinf, pgd } from 'ardkit/attacks';
import { autoAttack, evaluate, sanityChecks } from 'ardkit/eval';
import type { Model } from 'ardkit/core';
import type { Run } from './methods-cli.js';
import { testSizeOf, type Data, type Family } from './methods-models.js';

/** Test points `sanityChecks` looks at, once per method (seed 0) and teacher. */
export const SANITY_POINTS = 50;

/** One model's scores (accuracies in [0, 1]). */
export interface Scores {
  clean: number;
  pgd20: number;
  cw20: number;
  autoAttack: number | null;
  flags: string[];
  trainSeconds: number;
  evalSeconds: number;
}

const familyData = new Map<string, Data>();
/** The data with the test set cut to the family's size (the shared candidates use the MLPs'). */
export function forFamily(run: Run, data: Data, family: Family): Data {
  const n = Math.min(testSizeOf(run.settings, family), data.test.x.shape[0] ?? 0);
  if (n === (data.test.x.shape[0] ?? 0)) return data;
  const key = `${family}-${String(n)}`;
  let d = familyData.get(key);
  if (d === undefined) {
    d = { ...data, test: { x: tf.slice(data.test.x, 0, n), y: tf.slice(data.test.y, 0, n) } };
    familyData.set(key, d);
  }
  return d;
}

/** Evaluates `model` on `data`'s test images, or returns the scores cached under `key`. */
export async function evaluateModel(run: Run, key: string, model: Model, data: Data, withAutoAttack: boolean, trainSeconds: number, withSanity = true): Promise<Scores> {
  const { cache } = run;
  const cached = cache.read<Scores>(`${key}.scores`);
  if (cached !== undefined) {
    cache.computed.set(`${key}.scores`, cached.evalSeconds);
    return cached;
  }
  const t0 = performance.now();
  const { eps } = data;
  const r = await evaluate(model, data.test.x, data.test.y, {
    attacks: {
      pgd20: (m, x, y) => pgd(m, x, y, { eps, steps: 20, seed: 0 }),
      cw20: (m, x, y) => cwLinf(m, x, y, { eps, steps: 20, seed: 0 })
    },
    batchSize: 500
  });
  const aa = withAutoAttack ? (await autoAttack(model, data.test.x, data.test.y, { eps, seed: 0 })).worstCase : null;
  let flags: string[] = [];
  if (withSanity) {
    const n = Math.min(SANITY_POINTS, data.test.x.shape[0] ?? 0);
    const xs = tf.slice(data.test.x, 0, n);
    const ys = tf.slice(data.test.y, 0, n);
    flags = (await sanityChecks(model, xs, ys, { eps, seed: 0 })).map((f) => f.id);
    tf.dispose([xs, ys]);
  }
  const scores: Scores = { clean: r.clean, pgd20: r.attacks.pgd20 ?? NaN, cw20: r.attacks.cw20 ?? NaN, autoAttack: aa, flags, trainSeconds, evalSeconds: (performance.now() - t0) / 1000 };
  cache.write(`${key}.scores`, scores);
  cache.computed.set(`${key}.scores`, scores.evalSeconds);
  return scores;
}

/**
 * Evaluates once: the cached scores if there are any; in a worker, undefined when another worker has claimed the
 * evaluation (workers write no report, so they need no row).
 */
export async function evaluateClaimed(run: Run, key: string, model: () => Model, data: Data, withAutoAttack: boolean, trainSeconds: number, withSanity = true): Promise<Scores | undefined> {
  const { cache } = run;
  const cached = cache.read<Scores>(`${key}.scores`);
  if (cached !== undefined || run.settings.worker === undefined) return evaluateModel(run, key, model(), data, withAutoAttack, trainSeconds, withSanity);
  if (!cache.claim(key)) return undefined;
  try {
    return await evaluateModel(run, key, model(), data, withAutoAttack, trainSeconds, withSanity);
  } finally {
    cache.unclaim(key);
  }
}
