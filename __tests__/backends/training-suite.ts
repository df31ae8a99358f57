/**
 * The training checks every wasm configuration must pass (single- and multi-threaded): whole-model weight
 * and input gradients equal the cpu backend's, a tfjs-layers `fit` lowers the loss, and training steps leak
 * nothing. Not a test file itself: training.test.ts and wasm-threads.test.ts run it.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { smallCnn } from '../../src/models/index.js';
import { fromLayersModel } from '../../src/core/index.js';
import { pgd } from '../../src/attacks/index.js';
import { crossEntropy } from '../../src/losses/index.js';
import { testRandom, useBackend } from '../helpers.js';

/** A net with every layer kind whose gradient ardkit adds: strided and dilated-free convs, depthwise, separable, max-pool. */
function mixedNet(): tfl.Sequential {
  const init = (s: number): ReturnType<typeof tfl.initializers.glorotUniform> => tfl.initializers.glorotUniform({ seed: s });
  return tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [12, 12, 2], filters: 6, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: init(1) }),
      tfl.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same', activation: 'relu', depthwiseInitializer: init(2) }),
      tfl.layers.separableConv2d({ filters: 5, kernelSize: 2, padding: 'valid', depthwiseInitializer: init(3), pointwiseInitializer: init(4) }),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 3, kernelInitializer: init(5) })
    ]
  });
}

/** Images `[n, h, w, c]` in [0, 1] whose class (0…k−1) is the brightest horizontal band. */
function bands(n: number, h: number, w: number, c: number, k: number, seed: number): { x: tf.Tensor4D; y: tf.Tensor1D } {
  const r = testRandom(seed);
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < n; i++) {
    const cls = i % k;
    ys.push(cls);
    for (let row = 0; row < h; row++) {
      const bright = Math.floor((row * k) / h) === cls;
      for (let j = 0; j < w * c; j++) xs.push(Math.min(1, (bright ? 0.6 : 0.1) + 0.3 * r()));
    }
  }
  return { x: tf.tensor4d(xs, [n, h, w, c]), y: tf.tensor1d(ys, 'int32') };
}

/** Every weight gradient and the input gradient of the CE loss of `net`, as plain numbers. */
function gradients(net: tfl.Sequential, x: tf.Tensor, y: tf.Tensor1D): number[][] {
  return tf.tidy(() => {
    const model = fromLayersModel(net);
    // Without a variable list, variableGrads differentiates every trainable variable alive: this net's only.
    const { grads } = tf.variableGrads(() => crossEntropy(model(x), y));
    const dx = tf.grad((xa: tf.Tensor) => crossEntropy(model(xa), y))(x);
    expect(Object.keys(grads)).toHaveLength(net.trainableWeights.length);
    return [...net.trainableWeights.map((w) => Array.from(grads[w.name]?.dataSync() ?? [NaN])), Array.from(dx.dataSync())];
  });
}

function maxRelError(a: number[], b: number[]): number {
  const diff = Math.max(...a.map((v, i) => Math.abs(v - (b[i] ?? NaN))));
  return diff / Math.max(...b.map(Math.abs), 1e-12);
}

export function trainingSuite(title: string, setup: () => Promise<void>): void {
  describe(title, () => {
    beforeAll(setup);

    it('gives the cpu backend’s weight and input gradients for conv, depthwise, separable and pooling layers', async () => {
      const grads: Record<string, number[][]> = {};
      for (const backend of ['cpu', 'wasm'] as const) {
        await useBackend(backend);
        const net = mixedNet();
        const { x, y } = bands(9, 12, 12, 2, 3, 1);
        grads[backend] = gradients(net, x, y);
        tf.dispose([x, y]);
        net.dispose();
      }
      const cpu = grads['cpu'] ?? [];
      const wasm = grads['wasm'] ?? [];
      expect(wasm).toHaveLength(cpu.length);
      cpu.forEach((g, i) => {
        expect(maxRelError(wasm[i] ?? [], g)).toBeLessThanOrEqual(1e-4);
      });
    });

    it('gives the cpu backend’s input gradient for the small CNN (what one PGD step needs)', async () => {
      const dx: Record<string, number[]> = {};
      for (const backend of ['cpu', 'wasm'] as const) {
        await useBackend(backend);
        const net = smallCnn({ filters: [4, 8], hidden: 16, seed: 3 });
        const { x, y } = bands(4, 28, 28, 1, 4, 2);
        dx[backend] = gradients(net, x, y).at(-1) ?? [];
        tf.dispose([x, y]);
        net.dispose();
      }
      expect(maxRelError(dx['wasm'] ?? [], dx['cpu'] ?? [])).toBeLessThanOrEqual(1e-4);
    });

    it('fits a tfjs-layers conv net: the loss decreases', async () => {
      await useBackend('wasm');
      const net = smallCnn({ filters: [4, 8], hidden: 16, numClasses: 4, seed: 1 });
      const { x, y } = bands(64, 28, 28, 1, 4, 3);
      const target = tf.oneHot(y, 4);
      // The model outputs logits; softmax makes the layers loss a proper cross-entropy.
      const probs = tfl.sequential({ layers: [net, tfl.layers.softmax()] });
      probs.compile({ optimizer: tf.train.adam(3e-3), loss: 'categoricalCrossentropy' });
      const history = await probs.fit(x, target, { epochs: 6, batchSize: 16, shuffle: false });
      const losses = history.history['loss'] as number[];
      expect(losses.at(-1)).toBeLessThan(0.7 * (losses[0] ?? 0));
      tf.dispose([x, y, target]);
      probs.dispose();
    });

    it('leaks no tensor over adversarial-training steps (PGD then a weight update)', async () => {
      await useBackend('wasm');
      const net = smallCnn({ filters: [4, 8], hidden: 16, numClasses: 4, seed: 2 });
      const model = fromLayersModel(net);
      const optimizer = tf.train.sgd(0.05);
      const { x, y } = bands(8, 28, 28, 1, 4, 4);
      const step = (): void => {
        const xAdv = pgd(model, x, y, { eps: 0.1, steps: 2, seed: 1 });
        optimizer.minimize(() => crossEntropy(model(xAdv), y));
        xAdv.dispose();
      };
      step();
      const tensors = tf.memory().numTensors;
      const buffers = tf.engine().backend.numDataIds();
      step();
      step();
      expect(tf.memory().numTensors).toBe(tensors);
      expect(tf.engine().backend.numDataIds()).toBe(buffers);
      tf.dispose([x, y]);
      optimizer.dispose();
      net.dispose();
    });
  });
}
