/**
 * ONNX networks on webgpu: `loadOnnx`'s models give PyTorch's logits and input gradients there too, read nothing back
 * synchronously (the shape and pad chains run on the host), and serve as a pgd target and an RSLAD teacher.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { pgd } from '../../src/attacks/index.js';
import { loadOnnx } from '../../src/io/index.js';
import { studentFromLayers } from '../../src/models/index.js';
import { fit, rslad } from '../../src/train/index.js';
import { fixturePath, logitsAndGradient, nhwcInput, reference, relativeError } from '../io/onnx-graphs.js';
import { syncReads, useBackend } from './webgpu.js';

beforeAll(async () => {
  await useBackend('webgpu');
});

afterEach(() => {
  expect(syncReads.count).toBe(0);
});

describe('loadOnnx on webgpu', () => {
  it.each(['ops_opset17', 'cifar_teacher'])('%s: PyTorch\'s logits and input gradients within 1e-4 of the largest value', async (name) => {
    const ref = reference(name);
    const model = await loadOnnx(fixturePath(name));
    const before = tf.memory().numTensors;
    const x = nhwcInput(ref);
    const { logits, gradient } = await logitsAndGradient(model, x, ref.gradWeights);
    expect(relativeError(logits, ref.logits)).toBeLessThan(1e-4);
    expect(relativeError(gradient, ref.inputGradient)).toBeLessThan(1e-4);
    x.dispose();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('is a pgd target and an RSLAD teacher', async () => {
    const teacher = await loadOnnx(fixturePath('cifar_teacher'));
    const x = tf.randomUniform<tf.Rank.R4>([4, 32, 32, 3], 0, 1, 'float32', 5);
    const y = tf.tensor1d([0, 1, 2, 3], 'int32');
    const xAdv = pgd(teacher, x, y, { eps: 8 / 255, steps: 3 });
    const dist = tf.tidy(() => tf.max(tf.abs(tf.sub(xAdv, x))));
    expect((await dist.data())[0]).toBeLessThanOrEqual(8 / 255 + 1e-6);
    const net = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ inputShape: [32, 32, 3], filters: 4, kernelSize: 3, strides: 2, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }),
        tfl.layers.globalAveragePooling2d({}),
        tfl.layers.dense({ units: 10, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) })
      ]
    });
    const history = await fit(studentFromLayers(net), { x, y }, rslad({ teacher, eps: 8 / 255, steps: 2 }), { epochs: 1, batchSize: 4, seed: 0 });
    expect(Number.isFinite(history.epochs[0]?.loss)).toBe(true);
    tf.dispose([x, y, xAdv, dist]);
    net.dispose();
    teacher.dispose();
  });
});
