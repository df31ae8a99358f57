/**
 * Value checks on webgpu, where nothing may read back synchronously: the attacks and losses queue their checks on the
 * device, and the next asynchronous boundary (`flushChecks`, `evaluate`, `fit`) throws the error that names the
 * function the user called, with nothing leaked. Also an `ardkit/io` round trip of a model trained on webgpu.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { pgd, pgdAttack } from '../../src/attacks/index.js';
import { flushChecks, type Model } from '../../src/core/index.js';
import { evaluate } from '../../src/eval/index.js';
import { crossEntropy } from '../../src/losses/index.js';
import { fileSystem } from '../../src/io/index.js';
import { fit, pgdAt } from '../../src/train/index.js';
import { syncReads, useBackend } from './webgpu.js';

const linear = (): { model: Model; dispose: () => void } => {
  const w = tf.tensor2d(Array.from({ length: 12 }, (_, i) => ((i * 7) % 5) / 5 - 0.4), [3, 4]);
  return { model: (x) => tf.tidy(() => tf.matMul(x as tf.Tensor2D, w)), dispose: () => { w.dispose(); } };
};

beforeAll(async () => {
  await useBackend('webgpu');
});

afterEach(() => {
  expect(syncReads.count).toBe(0);
});

/** Runs `f`, then expects the flush after it to reject with `message`, and no tensor left once `f`'s result is disposed. */
async function expectQueuedError(f: () => tf.TensorContainer, message: RegExp): Promise<void> {
  const before = tf.memory().numTensors;
  tf.dispose(f());
  await expect(flushChecks()).rejects.toThrow(message);
  expect(tf.memory().numTensors).toBe(before);
  // The queue is empty after a failed flush.
  await expect(flushChecks()).resolves.toBeUndefined();
}

describe('queued value checks on webgpu', () => {
  const x = (): tf.Tensor2D => tf.tensor2d([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.2, 0.4, 0.6], [4, 3]);

  it('pgd with a negative label: no throw at the call, the flush names pgd, the argument and the index', async () => {
    const { model, dispose } = linear();
    const xs = x();
    const ys = tf.tensor1d([0, 1, 2, -1], 'int32');
    await expectQueuedError(() => pgd(model, xs, ys, { eps: 0.1, steps: 3 }), /^pgd: y must hold class indices >= 0 \(got "-1 at index 3"\)$/);
    tf.dispose([xs, ys]);
    dispose();
  });

  it('pgd with a label beyond the model\'s classes names the model\'s class count', async () => {
    const { model, dispose } = linear();
    const xs = x();
    const ys = tf.tensor1d([0, 1, 7, 2], 'int32');
    await expectQueuedError(() => pgd(model, xs, ys, { eps: 0.1, steps: 3 }), /^pgd: y must hold class indices < 4 \(the model's number of classes\) \(got "7 at index 2"\)$/);
    tf.dispose([xs, ys]);
    dispose();
  });

  it('pgd on inputs outside the box names the values found', async () => {
    const { model, dispose } = linear();
    const xs = tf.mul(x(), 255);
    const ys = tf.tensor1d([0, 1, 2, 3], 'int32');
    await expectQueuedError(() => pgd(model, xs, ys, { eps: 0.1, steps: 3 }), /^pgd: x must lie inside bounds \[0, 1\] \(images in 0–255\? divide them by 255, or pass bounds: \[0, 255\]\) \(got "values in \[25\.5, 229\.5\]"\)$/);
    tf.dispose([xs, ys]);
    dispose();
  });

  it('a loss with a label out of range: the flush names the loss', async () => {
    const logits = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    const labels = tf.tensor1d([0, 3], 'int32');
    await expectQueuedError(() => crossEntropy(logits, labels), /^crossEntropy: labels must hold class indices < 3 \(the number of classes\) \(got "3 at index 1"\)$/);
    tf.dispose([logits, labels]);
  });

  it('valid inputs pass the flush, and the attack result matches cpu\'s', async () => {
    const { model, dispose } = linear();
    const xs = x();
    const ys = tf.tensor1d([0, 1, 2, 3], 'int32');
    const adv = pgd(model, xs, ys, { eps: 0.1, steps: 3, randomStart: 'none' });
    await flushChecks();
    const gpu = Array.from(await adv.data());
    tf.dispose([adv, xs, ys]);
    dispose();
    await useBackend('cpu');
    const c = linear();
    const xc = x();
    const yc = tf.tensor1d([0, 1, 2, 3], 'int32');
    const advCpu = pgd(c.model, xc, yc, { eps: 0.1, steps: 3, randomStart: 'none' });
    const cpu = Array.from(await advCpu.data());
    tf.dispose([advCpu, xc, yc]);
    c.dispose();
    await useBackend('webgpu');
    gpu.forEach((v, i) => { expect(Math.abs(v - (cpu[i] ?? NaN))).toBeLessThanOrEqual(1e-6); });
  });

  it('evaluate rejects a bad label before attacking, naming evaluate; nothing leaks', async () => {
    const { model, dispose } = linear();
    const xs = x();
    const ys = tf.tensor1d([0, 1, -2, 3], 'int32');
    const before = tf.memory().numTensors;
    await expect(evaluate(model, xs, ys, { attacks: { pgd: pgdAttack({ eps: 0.1, steps: 3 }) } })).rejects.toThrow(/^evaluate: y must hold class indices >= 0 \(got "-2 at index 2"\)$/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([xs, ys]);
    dispose();
  });

  it('fit rejects a label beyond the student\'s classes before training, naming fit; nothing leaks', async () => {
    const net = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [3], units: 4 })] });
    const xs = x();
    const ys = tf.tensor1d([0, 1, 9, 3], 'int32');
    const before = tf.memory().numTensors;
    const w0 = Array.from(await net.getWeights()[0]!.data());
    await expect(fit(net, { x: xs, y: ys }, pgdAt({ eps: 0.1, steps: 2 }), { epochs: 1, batchSize: 2 })).rejects.toThrow(/^fit: data\.y must hold class indices < 4 \(the number of classes\) \(got "9 at index 2"\)$/);
    expect(tf.memory().numTensors).toBe(before);
    expect(Array.from(await net.getWeights()[0]!.data())).toEqual(w0);
    tf.dispose([xs, ys]);
    net.dispose();
  });
});

test('ardkit/io: a model trained on webgpu saves, loads and predicts the same', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ardkit-gpu-io-'));
  const net = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [3], units: 8, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }), tfl.layers.dense({ units: 4 })] });
  const xs = tf.tensor2d([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.2, 0.4, 0.6], [4, 3]);
  const ys = tf.tensor1d([0, 1, 2, 3], 'int32');
  await fit(net, { x: xs, y: ys }, pgdAt({ eps: 0.1, steps: 2 }), { epochs: 2, batchSize: 2, seed: 1 });
  await net.save(fileSystem(dir));
  const again = await tfl.loadLayersModel(fileSystem(dir));
  const a = net.predict(xs) as tf.Tensor;
  const b = again.predict(xs) as tf.Tensor;
  expect(Array.from(await b.data())).toEqual(Array.from(await a.data()));
  tf.dispose([a, b, xs, ys]);
  net.dispose();
  again.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});
