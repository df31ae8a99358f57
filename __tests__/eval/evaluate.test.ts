import * as tf from '@tensorflow/tfjs-core';
import { fgsm, pgd, type AttackFunction } from '../../src/attacks/index.js';
import type { Model } from '../../src/core/index.js';
import { evaluate } from '../../src/eval/index.js';
import { expectRejectsNoLeak, toyProblem, useBackend, type ToyProblem } from '../helpers.js';
import { SCRIPTED_LABELS, SCRIPTED_SCORES, readsFeatures } from '../scripted.js';

/**
 * A problem whose every answer is known: the model's logits are the first 3 input features; feature 3
 * is the example's id/10. Example 5 is misclassified; attack A breaks examples 0 and 1 (and 5), attack B
 * breaks 1 and 2. So clean = 5/6, A = 3/6, B = 3/6, worst case = 2/6 (examples 3 and 4).
 */
const scores = SCRIPTED_SCORES.map((row) => [...row]);
const labels = [...SCRIPTED_LABELS];
const model: Model = readsFeatures(0);

function breaking(ids: number[]): AttackFunction {
  return (_m, x, y) => {
    const rows = x.arraySync() as number[][];
    const ys = Array.from(y.dataSync());
    return tf.tensor2d(
      rows.map((row, i) => {
        const id = Math.round((row[3] ?? 0) * 10);
        if (!ids.includes(id)) return row;
        const wrong = ((ys[i] ?? 0) + 1) % 3;
        return row.map((v, c) => (c === 3 ? v : c === wrong ? 1 : 0));
      })
    );
  };
}

describe('evaluate', () => {
  let x: tf.Tensor2D;
  let y: tf.Tensor1D;
  beforeAll(async () => {
    await useBackend('cpu');
    x = tf.tensor2d(scores.map((row, i) => [...row, i / 10]));
    y = tf.tensor1d(labels, 'int32');
  });
  afterAll(() => { tf.dispose([x, y]); });

  it.each([1, 4, 6, 100])('counts clean, per-attack and worst-case accuracy exactly (batch size %d)', async (batchSize) => {
    const before = tf.memory().numTensors;
    const progress: number[] = [];
    const r = await evaluate(model, x, y, {
      attacks: { A: breaking([0, 1, 5]), B: breaking([1, 2]) },
      batchSize,
      onProgress: ({ done, total }) => {
        expect(total).toBe(6);
        progress.push(done);
      }
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(r.n).toBe(6);
    expect(r.clean).toBeCloseTo(5 / 6, 12);
    expect(r.attacks).toEqual({ A: 3 / 6, B: 3 / 6 });
    expect(r.worstCase).toBeCloseTo(2 / 6, 12);
    expect(Array.from(r.perPoint.clean)).toEqual([1, 1, 1, 1, 1, 0]);
    expect(Array.from(r.perPoint.attacks.A ?? [])).toEqual([0, 0, 1, 1, 1, 0]);
    expect(Array.from(r.perPoint.attacks.B ?? [])).toEqual([1, 0, 0, 1, 1, 0]);
    expect(Array.from(r.perPoint.worstCase)).toEqual([0, 0, 0, 1, 1, 0]);
    expect(progress[progress.length - 1]).toBe(6);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(Object.keys(r.seconds)).toEqual(['A', 'B']);
  });

  it('without attacks reports clean accuracy as the worst case', async () => {
    const r = await evaluate(model, x, y);
    expect(r.clean).toBeCloseTo(5 / 6, 12);
    expect(r.worstCase).toBeCloseTo(5 / 6, 12);
    expect(r.attacks).toEqual({});
  });

  describe('on a trained model with real attacks', () => {
    let p: ToyProblem;
    beforeAll(() => {
      p = toyProblem();
    });
    afterAll(() => { p.dispose(); });

    it('robust accuracy ≤ clean, worst case ≤ every attack, and no tensor leaks', async () => {
      const before = tf.memory().numTensors;
      const r = await evaluate(p.model, p.x, p.y, {
        attacks: {
          fgsm: (m, xb, yb) => fgsm(m, xb, yb, { eps: 0.2 }),
          pgd: (m, xb, yb) => pgd(m, xb, yb, { eps: 0.2, steps: 10, seed: 1 })
        },
        batchSize: 32
      });
      expect(tf.memory().numTensors).toBe(before);
      expect(r.clean).toBeGreaterThan(0.9);
      expect(r.attacks.fgsm).toBeLessThanOrEqual(r.clean);
      expect(r.attacks.pgd).toBeLessThan(r.clean);
      expect(r.worstCase).toBeLessThanOrEqual(Math.min(r.attacks.fgsm ?? 1, r.attacks.pgd ?? 1));
    });
  });

  it('rejects bad inputs clearly, leaking nothing', async () => {
    const short = tf.tensor1d([0, 1], 'int32');
    await expectRejectsNoLeak(() => evaluate(model, x, y, { batchSize: 0 }), /^evaluate: batchSize must be an integer >= 1 \(got 0\)/);
    await expectRejectsNoLeak(() => evaluate(model, x, y, { attacks: { bad: 3 as never } }), /^evaluate: attacks.bad must be a function/, TypeError);
    await expectRejectsNoLeak(() => evaluate(model, x, short), /^evaluate: y must have shape \[6\] to match the batch/);
    await expectRejectsNoLeak(() => evaluate('model' as never, x, y), /^evaluate: model must be a function/, TypeError);
    await expectRejectsNoLeak(
      () => evaluate(model, x, y, { attacks: { half: (_m, xb) => tf.slice(xb, 0, 1) }, batchSize: 3 }),
      /^evaluate: attacks.half must return adversarial inputs of the batch's shape \[3, 4\] \(got a float32 tensor of shape \[1, 4\]\)/
    );
    await expectRejectsNoLeak(
      () =>
        evaluate(model, x, y, {
          attacks: {
            failing: () => {
              throw new Error('attack failed');
            }
          }
        }),
      /attack failed/,
      Error
    );
    await expectRejectsNoLeak(() => evaluate(model, x, y, { batch: 3 } as never), /^evaluate: options must only have the keys/);
    short.dispose();
  });
});
