/**
 * A model that returns probabilities (a final softmax) where ardkit takes logits: the attacks, evaluations, fit and the
 * losses warn once, naming the function called, in a readback they make anyway; logits never warn.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import fc from 'fast-check';
import { pgd, pgdAttack } from '../../src/attacks/index.js';
import { evaluate, transferability } from '../../src/eval/index.js';
import { kdLoss as kd, klDivergence } from '../../src/losses/index.js';
import { ard, fit, pgdAt } from '../../src/train/index.js';
import { deferChecksForTesting, flushChecks, pendingChecks } from '../../src/core/device-checks.js';
import { looksLikeProbabilities, resetProbesForTesting } from '../../src/core/probabilities.js';
import { readbacks } from '../../scripts/lib/readbacks.js';
import { expectThrowsNoLeak, useBackend } from '../helpers.js';

const SOFTMAX_WARNING = /look like probabilities \(every value in \[0, 1\], each row summing to 1\), not logits\..*Drop the final softmax \(give the last layer activation: 'linear'\), or pass \(x\) => tf\.log\(model\(x\)\)\.$/s;

describe('probability outputs where logits go', () => {
  let warn: jest.SpyInstance;
  beforeAll(async () => useBackend('cpu'));
  beforeEach(() => {
    resetProbesForTesting();
    warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => {
    warn.mockRestore();
    deferChecksForTesting(undefined);
  });

  const weights = (): tf.Tensor2D => tf.tensor2d([[1, -1, 0.5], [0.2, 0.3, -0.4], [-1, 0.5, 0.1], [0.3, -0.2, 0.7]]);
  const logitsModel = (w: tf.Tensor2D) => (x: tf.Tensor): tf.Tensor2D => tf.matMul(x, w);
  const softmaxModel = (w: tf.Tensor2D) => (x: tf.Tensor): tf.Tensor2D => tf.softmax(tf.matMul(x as tf.Tensor2D, w)) as tf.Tensor2D;
  const data = (): { x: tf.Tensor2D; y: tf.Tensor1D } => ({
    x: tf.tensor2d([[0.1, 0.9, 0.4, 0.2], [0.7, 0.3, 0.5, 0.6], [0.2, 0.2, 0.8, 0.1], [0.5, 0.5, 0.5, 0.5], [0.9, 0.1, 0.3, 0.7]]),
    y: tf.tensor1d([0, 1, 2, 0, 1], 'int32')
  });
  const messages = (): string[] => warn.mock.calls.map((c: unknown[]) => String(c[0]));

  it('pgd warns once per model, naming pgd, and never for logits', () => {
    const w = weights();
    const { x, y } = data();
    const soft = softmaxModel(w);
    tf.dispose(pgd(soft, x, y, { eps: 0.1, steps: 2 }));
    tf.dispose(pgd(soft, x, y, { eps: 0.1, steps: 2 }));
    expect(messages()).toHaveLength(1);
    expect(messages()[0]).toMatch(/^ardkit: pgd: the model's outputs look like probabilities/);
    expect(messages()[0]).toMatch(SOFTMAX_WARNING);
    tf.dispose(pgd(logitsModel(w), x, y, { eps: 0.1, steps: 2 }));
    tf.dispose(pgdAttack({ eps: 0.1, steps: 2 })(logitsModel(w), x, y));
    expect(messages()).toHaveLength(1);
    tf.dispose([w, x, y]);
  });

  it('no extra model call; one small readback the first time on cpu, none where checks wait on the device', async () => {
    const w = weights();
    const model = softmaxModel(w);
    let calls = 0;
    const counted = (x: tf.Tensor): tf.Tensor2D => {
      calls++;
      return model(x);
    };
    // Fresh tensors each time, so that the input checks read back both times.
    const once = async (): Promise<number> => {
      const { x, y } = data();
      try {
        return await readbacks(() => pgd(counted, x, y, { eps: 0.1, steps: 2 }));
      } finally {
        tf.dispose([x, y]);
      }
    };
    expect(await once()).toBe(3);
    expect(calls).toBe(2);
    expect(await once()).toBe(2);
    expect(calls).toBe(4);
    // On webgl and webgpu the probe waits with the other checks for the next readback: none is added.
    resetProbesForTesting();
    deferChecksForTesting(true);
    expect(await once()).toBe(0);
    expect(await readbacks(() => flushChecks())).toBe(1);
    expect(messages()).toHaveLength(2);
    w.dispose();
  });

  it('no tensor is left behind, also when the call throws after the probe', () => {
    const w = weights();
    const { x, y } = data();
    const before = tf.memory().numTensors;
    tf.dispose(pgd(softmaxModel(w), x, y, { eps: 0.1, steps: 2 }));
    expect(tf.memory().numTensors).toBe(before);
    const outside = tf.mul(x, 3);
    // Refused before the model runs: no probe, no warning.
    expectThrowsNoLeak(() => pgd(softmaxModel(w), outside, y, { eps: 0.1 }), /^pgd: x must lie inside bounds \[0, 1\]/);
    expect(messages()).toHaveLength(1);
    // A model that fails after its first output: the probe read, the error passed on, nothing held.
    let n = 0;
    const failing = (x: tf.Tensor): tf.Tensor2D => {
      if (n++ > 0) throw new Error('the second call fails');
      return softmaxModel(w)(x);
    };
    expectThrowsNoLeak(() => pgd(failing, x, y, { eps: 0.1, steps: 2 }), /the second call fails/, Error);
    expect(messages()).toHaveLength(2);
    tf.dispose([w, x, y, outside]);
  });

  it('on a device that queues its checks, the warning comes with the next readback, and nothing leaks', async () => {
    deferChecksForTesting(true);
    const w = weights();
    const { x, y } = data();
    const before = tf.memory().numTensors;
    tf.dispose(pgd(softmaxModel(w), x, y, { eps: 0.1, steps: 2 }));
    expect(messages()).toHaveLength(0);
    expect(pendingChecks()).toBeGreaterThan(0);
    await flushChecks();
    expect(messages()).toHaveLength(1);
    expect(messages()[0]).toMatch(/^ardkit: pgd: the model's outputs look like/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([w, x, y]);
  });

  it('evaluate warns in the readback of its data checks, naming evaluate', async () => {
    const w = weights();
    const { x, y } = data();
    const before = tf.memory().numTensors;
    await evaluate(softmaxModel(w), x, y, { attacks: { pgd: pgdAttack({ eps: 0.1, steps: 2 }) } });
    expect(messages()).toEqual([expect.stringMatching(/^ardkit: evaluate: the model's outputs look like probabilities/)]);
    await evaluate(logitsModel(w), x, y);
    expect(messages()).toHaveLength(1);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([w, x, y]);
  });

  it('transferability warns about a model that returns probabilities, even one it only evaluates', async () => {
    const w = weights();
    const { x, y } = data();
    await transferability({ source: logitsModel(w), target: softmaxModel(w) }, x, y, pgdAttack({ eps: 0.1, steps: 2 }), { batchSize: 5 });
    expect(messages()).toEqual([expect.stringMatching(/^ardkit: transferability: the model's outputs look like probabilities/)]);
    tf.dispose([w, x, y]);
  });

  it('fit warns about a student built with a final softmax, and about a teacher that returns probabilities', async () => {
    const student = (activation: 'softmax' | 'linear'): tfl.Sequential =>
      tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [4], units: 3, activation, kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }) })] });
    const w = weights();
    const { x, y } = data();
    const soft = student('softmax');
    await fit(soft, { x, y }, pgdAt({ eps: 0.1, steps: 1 }), { epochs: 1, batchSize: 5, seed: 1 });
    expect(messages()).toEqual([expect.stringMatching(/^ardkit: fit: the student's outputs look like probabilities/)]);
    const plain = student('linear');
    await fit(plain, { x, y }, ard({ teacher: softmaxModel(w), eps: 0.1, steps: 1 }), { epochs: 1, batchSize: 5, seed: 1 });
    expect(messages()).toHaveLength(2);
    expect(messages()[1]).toMatch(/^ardkit: ard: teacher's outputs look like probabilities/);
    const before = tf.memory().numTensors;
    await fit(student('linear'), { x, y }, ard({ teacher: logitsModel(w), eps: 0.1, steps: 1 }), { epochs: 1, batchSize: 5, seed: 1 });
    expect(messages()).toHaveLength(2);
    // The new student's weights are the only tensors added.
    expect(tf.memory().numTensors).toBe(before + 2);
    tf.dispose([w, x, y]);
    soft.dispose();
    plain.dispose();
  });

  it("a loss warns on its first call, naming the loss and the argument; klDivergence's probability targets do not", () => {
    const z = tf.tensor2d([[2, -1, 0.5], [0.1, 0.4, -2]]);
    const p = tf.softmax(z);
    tf.dispose(kd(p, z));
    tf.dispose(kd(p, z));
    expect(messages()).toEqual([expect.stringMatching(/^ardkit: kdLoss: studentLogits look like probabilities/)]);
    tf.dispose(klDivergence(p, z, { targetType: 'probabilities' }));
    expect(messages()).toHaveLength(1);
    // Each argument is probed on its loss's first call only: start afresh for the next one.
    resetProbesForTesting();
    tf.dispose(klDivergence(z, p));
    expect(messages()[1]).toMatch(/^ardkit: klDivergence: inputLogits look like probabilities/);
    tf.dispose([z, p]);
  });

  it('softmax outputs always look like probabilities; logits with a negative entry or a row sum off 1 never do', () => {
    const codes = (m: number[][]): number[] => {
      const rows = m.map((r) => r.reduce((a, b) => a + b, 0));
      return [Math.min(...m.flat()), Math.max(...m.flat()), Math.max(...rows.map((s) => Math.abs(s - 1)))];
    };
    const matrix = fc.integer({ min: 2, max: 12 }).chain((c) => fc.array(fc.array(fc.double({ min: -20, max: 20, noNaN: true }), { minLength: c, maxLength: c }), { minLength: 1, maxLength: 6 }));
    fc.assert(
      fc.property(matrix, (m) => {
        const soft = tf.tidy(() => tf.softmax(tf.tensor2d(m)).arraySync());
        expect(looksLikeProbabilities(codes(soft))).toBe(true);
        const shifted = m.map((r) => r.map((v) => v + 0.01));
        if (Math.min(...m.flat()) < 0 || Math.abs(codes(m)[2] ?? 0) > 1e-3) expect(looksLikeProbabilities(codes(m))).toBe(false);
        expect(looksLikeProbabilities(codes(shifted.map((r) => r.map((v) => Math.abs(v) + 1))))).toBe(false);
      })
    );
  });
});
