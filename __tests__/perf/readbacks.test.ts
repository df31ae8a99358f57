/**
 * Host readbacks in the hot paths. Each `dataSync`/`data` stalls webgl, webgpu and tfjs-node-gpu until the queued
 * work is done, so the attacks, `evaluate` and `fit` keep them to a fixed budget: counted here on the cpu backend by
 * wrapping the engine's `readSync` and `read` (scripts/lib/readbacks.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { apgd, pgd } from '../../src/attacks/index.js';
import { deferChecksForTesting } from '../../src/core/device-checks.js';
import { evaluate, transferability, worstCase } from '../../src/eval/index.js';
import { fit, pgdAt, type Objective } from '../../src/train/index.js';
import { readbacks } from '../../scripts/lib/readbacks.js';
import { toyProblem, useBackend } from '../helpers.js';

beforeAll(async () => {
  await useBackend('cpu');
});

/**
 * Calls `f` on fresh copies of the toy data: new tensor objects that no value check has seen (checks remember
 * what they established about a tensor), disposed after `f` and what it returns.
 */
function fresh<T>(f: (x: tf.Tensor, y: tf.Tensor1D) => T): T {
  const x = tf.clone(p.x);
  const y = tf.clone(p.y);
  const out = f(x, y);
  const release = (): void => { tf.dispose([x, y]); };
  if (out instanceof Promise) return out.finally(release) as T;
  release();
  return out;
}

let p: ReturnType<typeof toyProblem>;
beforeAll(() => {
  p = toyProblem(64, 4, 3);
});
afterAll(() => { p.dispose(); });

describe('readbacks', () => {
  it("a model ardkit meets for the first time: one readback more, once (its first output's probe for probabilities)", async () => {
    const model = (x: tf.Tensor): tf.Tensor2D => p.model(x);
    const first = await readbacks(() => fresh((x, y) => pgd(model, x, y, { eps: 0.1, steps: 2 })));
    const later = await readbacks(() => fresh((x, y) => pgd(model, x, y, { eps: 0.1, steps: 2 })));
    expect(first).toBe(later + 1);
  });

  it('pgd: at most 2 per call, whatever the step count', async () => {
    // The model's probe, once (see above).
    tf.dispose(pgd(p.model, p.x, p.y, { eps: 0.1, steps: 1 }));
    const few = await readbacks(() => fresh((x, y) => pgd(p.model, x, y, { eps: 0.1, steps: 2 })));
    const many = await readbacks(() => fresh((x, y) => pgd(p.model, x, y, { eps: 0.1, steps: 50 })));
    expect(many).toBeLessThanOrEqual(2);
    expect(many).toBe(few);
  });

  it('apgd with 100 steps: at most 20', async () => {
    const n = await readbacks(() => fresh((x, y) => apgd(p.model, x, y, { eps: 0.1, steps: 100, seed: 0 })));
    expect(n).toBeLessThanOrEqual(20);
  });

  it('evaluate: at most 1 per batch and attack', async () => {
    const attacks = {
      a: (m: typeof p.model, x: tf.Tensor, y: tf.Tensor1D) => pgd(m, x, y, { eps: 0.1, steps: 3 }),
      b: (m: typeof p.model, x: tf.Tensor, y: tf.Tensor1D) => pgd(m, x, y, { eps: 0.05, steps: 3 })
    };
    const n = await readbacks(() => fresh((x, y) => evaluate(p.model, x, y, { attacks, batchSize: 16 })));
    // 4 batches: clean and 2 attacks each.
    expect(n).toBeLessThanOrEqual(4 * 3);
  });

  it('evaluate, worstCase and transferability on the queued path (webgl, webgpu): one for the checks, then one per batch (per attack for worstCase)', async () => {
    const attack = (m: typeof p.model, x: tf.Tensor, y: tf.Tensor1D): tf.Tensor => pgd(m, x, y, { eps: 0.1, steps: 3 });
    deferChecksForTesting(true);
    try {
      // 4 batches; the attacks' own checks ride with the masks.
      expect(await readbacks(() => fresh((x, y) => evaluate(p.model, x, y, { attacks: { a: attack, b: attack }, batchSize: 16 })))).toBeLessThanOrEqual(1 + 4);
      // The clean mask, then one mask per attack; x' is assembled on the device.
      expect(await readbacks(() => fresh(async (x, y) => { (await worstCase(p.model, x, y, [attack, attack])).xAdv.dispose(); }))).toBeLessThanOrEqual(1 + 1 + 2);
      // Every model's masks of a batch in one readback, whatever the number of models.
      expect(await readbacks(() => fresh((x, y) => transferability([p.model, p.model, p.model], x, y, attack, { batchSize: 16 })))).toBeLessThanOrEqual(1 + 4);
    } finally {
      deferChecksForTesting(undefined);
    }
  });

  it('worstCase and transferability on cpu: x\' assembled on the device, and one mask readback per batch', async () => {
    const attack = (m: typeof p.model, x: tf.Tensor, y: tf.Tensor1D): tf.Tensor => pgd(m, x, y, { eps: 0.1, steps: 3 });
    // The labels, the clean mask, and per attack its mask and its bounds check (worstCase does not check the box).
    expect(await readbacks(() => fresh(async (x, y) => { (await worstCase(p.model, x, y, [attack, attack])).xAdv.dispose(); }))).toBeLessThanOrEqual(2 + 2 * 2);
    // The labels, and per batch the masks and the attack's bounds check (once per batch: the batch's facts are shared).
    expect(await readbacks(() => fresh((x, y) => transferability([p.model, p.model, p.model], x, y, attack, { batchSize: 16 })))).toBeLessThanOrEqual(1 + 4 * 2);
  });

  it('fit with pgdAt: at most 1 per batch (the data checks run once per call)', async () => {
    const net = tfl.sequential({ layers: [tfl.layers.flatten({ inputShape: p.x.shape.slice(1) }), tfl.layers.dense({ units: 4 })] });
    const run = (epochs: number): Promise<number> => readbacks(() => fresh((x, y) => fit(net, { x, y }, pgdAt({ eps: 0.1, steps: 3 }), { epochs, batchSize: 16, seed: 0 })));
    const one = await run(1);
    const three = await run(3);
    net.dispose();
    // 4 batches per epoch.
    expect(three - one).toBeLessThanOrEqual(2 * 4);
    expect(one).toBeLessThanOrEqual(4 + 3);
  });

  it('fit with batches from an iterable: at most 1 per batch in every epoch, and 0 between logs (the checks ride with the loss)', async () => {
    const net = tfl.sequential({ layers: [tfl.layers.flatten({ inputShape: p.x.shape.slice(1) }), tfl.layers.dense({ units: 4 })] });
    const iterable = {
      async *[Symbol.asyncIterator](): AsyncGenerator<{ x: tf.Tensor; y: tf.Tensor1D }> {
        for (let i = 0; i < 4; i++) {
          await Promise.resolve();
          yield { x: tf.slice(p.x, i * 16, 16), y: tf.slice(p.y, i * 16, 16) };
        }
      }
    };
    const run = (epochs: number, logEvery: number): Promise<number> => readbacks(() => fit(net, iterable, pgdAt({ eps: 0.1, steps: 3 }), { epochs, seed: 0, logEvery }));
    const one = await run(1, 1);
    const three = await run(3, 1);
    // 4 batches per epoch: one readback each after the first epoch too (the attack's checks read nothing).
    expect(three - one).toBeLessThanOrEqual(2 * 4);
    expect(one).toBeLessThanOrEqual(4 + 3);
    const groupedOne = await run(1, 4);
    const grouped = await run(3, 4);
    expect(grouped - groupedOne).toBeLessThanOrEqual(2);
    net.dispose();
  });

  it('fit with logEvery: no readback between logs, the same history, every batch reported', async () => {
    const make = (): tfl.Sequential =>
      tfl.sequential({ layers: [tfl.layers.flatten({ inputShape: p.x.shape.slice(1) }), tfl.layers.dense({ units: 4, kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) })] });
    const histories: Array<{ losses: number[]; reported: number[] }> = [];
    const counts: number[] = [];
    for (const [logEvery, epochs] of [[1, 3], [4, 1], [4, 3]] as const) {
      const net = make();
      const reported: number[] = [];
      let losses: number[] = [];
      counts.push(
        await readbacks(() =>
          fresh(async (x, y) => {
            const h = await fit(net, { x, y }, pgdAt({ eps: 0.1, steps: 3 }), { epochs, batchSize: 16, seed: 0, logEvery, onBatchEnd: (b) => void reported.push(b.loss) });
            losses = h.epochs.map((e) => e.loss);
          })
        )
      );
      histories.push({ losses, reported });
      net.dispose();
    }
    const [every, groupedOne, grouped] = histories;
    // One readback per epoch (4 batches per epoch, logged every 4) between 1 and 3 epochs.
    expect((counts[2] ?? 0) - (counts[1] ?? 0)).toBeLessThanOrEqual(2);
    expect(groupedOne?.reported).toHaveLength(4);
    expect(grouped?.reported).toEqual(every?.reported);
    expect(grouped?.losses).toEqual(every?.losses);
  });

  it('fit with logEvery reports a non-finite loss at the next read, naming the batch', async () => {
    const net = tfl.sequential({ layers: [tfl.layers.flatten({ inputShape: p.x.shape.slice(1) }), tfl.layers.dense({ units: 4 })] });
    const before = tf.memory().numTensors;
    const bad: Objective = { name: 'nan', prepare: () => ({}), loss: (_p, x) => ({ total: tf.div<tf.Scalar>(tf.mul(tf.sum(net.apply(x) as tf.Tensor), 0), 0), terms: {} }) };
    await expect(fresh((x, y) => fit(net, { x, y }, bad, { epochs: 1, batchSize: 16, logEvery: 3 }))).rejects.toThrow(/fit: the loss became non-finite at epoch 1, batch 1 \(term "total" = NaN\) with objective nan/);
    expect(tf.memory().numTensors).toBe(before);
    net.dispose();
  });

  it('fit checks logEvery', async () => {
    const net = tfl.sequential({ layers: [tfl.layers.flatten({ inputShape: p.x.shape.slice(1) }), tfl.layers.dense({ units: 4 })] });
    await expect(fit(net, { x: p.x, y: p.y }, pgdAt({ eps: 0.1 }), { logEvery: 0 })).rejects.toThrow(/fit: logEvery must be an integer >= 1 \(got 0\)/);
    net.dispose();
  });
});
