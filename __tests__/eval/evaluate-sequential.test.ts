/** evaluate's sequential (AutoAttack-style) mode gives worstCase's per-point results, in batches. */
import * as tf from '@tensorflow/tfjs-core';
import { type AttackFunction } from '../../src/attacks/index.js';
import type { Model } from '../../src/core/index.js';
import { evaluate, worstCase } from '../../src/eval/index.js';
import { expectRejectsNoLeak, useBackend } from '../helpers.js';
import { SCRIPTED_LABELS, SCRIPTED_SCORES, readsFeatures } from '../scripted.js';

/** Logits are the first 3 features; feature 3 is the example's id/10. Example 5 is misclassified. */
const scores = SCRIPTED_SCORES.map((row) => [...row]);
const labels = [...SCRIPTED_LABELS];
const model: Model = readsFeatures(0);

/** Breaks the examples `ids`; records the ids it was given. */
function breaking(ids: number[], seen: number[]): AttackFunction {
  return (_m, x, y) => {
    const xs = x.arraySync() as number[][];
    const ys = Array.from(y.dataSync());
    return tf.tensor2d(
      xs.map((row, i) => {
        const id = Math.round((row[3] ?? 0) * 10);
        seen.push(id);
        if (!ids.includes(id)) return row;
        const wrong = ((ys[i] ?? 0) + 1) % 3;
        return row.map((v, c) => (c === 3 ? v : c === wrong ? 1 : 0));
      })
    );
  };
}

describe('evaluate with sequential: true', () => {
  let x: tf.Tensor2D;
  let y: tf.Tensor1D;
  beforeAll(async () => {
    await useBackend('cpu');
    x = tf.tensor2d(scores.map((row, i) => [...row, i / 10]));
    y = tf.tensor1d(labels, 'int32');
  });
  afterAll(() => { tf.dispose([x, y]); });

  it.each([1, 4, 6])('runs each attack only on the points still robust, batch size %d', async (batchSize) => {
    const seenA: number[] = [];
    const seenB: number[] = [];
    const before = tf.memory().numTensors;
    const progress: number[] = [];
    const r = await evaluate(model, x, y, {
      attacks: { A: breaking([0, 1, 5], seenA), B: breaking([1, 2], seenB) },
      batchSize,
      sequential: true,
      onProgress: ({ done }) => progress.push(done)
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(seenA.sort()).toEqual([0, 1, 2, 3, 4]); // not 5: misclassified at x
    expect(seenB.sort()).toEqual([2, 3, 4]);
    expect(r.clean).toBeCloseTo(5 / 6, 12);
    expect(r.attacks).toEqual({ A: 3 / 6, B: 2 / 6 });
    expect(r.worstCase).toBeCloseTo(2 / 6, 12);
    expect(Array.from(r.perPoint.attacks.A ?? [])).toEqual([0, 0, 1, 1, 1, 0]);
    expect(Array.from(r.perPoint.attacks.B ?? [])).toEqual([0, 0, 0, 1, 1, 0]);
    expect(Array.from(r.perPoint.worstCase)).toEqual([0, 0, 0, 1, 1, 0]);
    expect(progress[progress.length - 1]).toBe(6);
    // The same per-point results as worstCase on the whole set.
    const w = await worstCase(model, x, y, { A: breaking([0, 1, 5], []), B: breaking([1, 2], []) });
    expect(r.perPoint.attacks).toEqual(w.perPoint.attacks);
    w.xAdv.dispose();
  });

  it('rejects a non-boolean sequential, and a wrong-shaped attack output leaks nothing', async () => {
    await expectRejectsNoLeak(() => evaluate(model, x, y, { sequential: 'yes' as never }), /^evaluate: sequential must be a boolean \(got "yes"\)/, TypeError);
    await expectRejectsNoLeak(
      () => evaluate(model, x, y, { attacks: { half: (_m, xb) => tf.slice(xb, 0, 1) }, sequential: true, batchSize: 3 }),
      /^evaluate: attacks.half must return adversarial inputs of the batch's shape \[3, 4\]/
    );
  });
});
