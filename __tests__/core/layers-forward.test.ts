import { named } from '../../src/core/errors.js';
/**
 * The compiled forward pass of tfjs-layers models (src/core/layers-forward.ts) against `apply`: the same logits, input
 * gradients and weight gradients for every builder and for each layer kind it compiles; `apply` for what it does not
 * compile and for batch norm and dropout in training mode; no weight gradient computed for an input gradient; weights
 * read live; no tensor leaked.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { fromLayersModel } from '../../src/core/model.js';
import { compileLayersForward } from '../../src/core/layers-forward.js';
import { asVariable } from '../../src/core/student.js';
import { fit, pgdAt } from '../../src/train/index.js';
import { mobileNetV2, preActResNet18, resNet18, smallCnn, wideResNet } from '../../src/models/index.js';
import { registerWasmTrainingKernels } from '../../src/backends/index.js';
import { useBackend } from '../helpers.js';

beforeAll(async () => useBackend('cpu'));

/** Max |a − b| / (max |b| + tiny). */
function relDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]! / (tf.max(tf.abs(b)).dataSync()[0]! + 1e-12));
}

/** Logits and the input gradient of the summed log-softmax of class 0, through `model`. */
function readout(model: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor): [tf.Tensor, tf.Tensor] {
  const logits = model(x);
  const g = tf.grad((xi: tf.Tensor) => tf.sum(tf.slice(tf.logSoftmax(model(xi) as tf.Tensor2D), [0, 0], [-1, 1])))(x);
  return [logits, g];
}

function applyModel(net: tfl.LayersModel, training = false): (x: tf.Tensor) => tf.Tensor {
  return (x) => net.apply(x, { training }) as tf.Tensor;
}

const small = { inputShape: [16, 16, 3] as [number, number, number], classes: 5, seed: 3 };

/** Every kind of layer the compiler knows, in one functional network. */
function everyLayer(): tfl.LayersModel {
  const input = tfl.input({ shape: [12, 12, 3] });
  const he = (seed: number): ReturnType<typeof tfl.initializers.heNormal> => tfl.initializers.heNormal({ seed });
  let x = tfl.layers.zeroPadding2d({ padding: [[1, 0], [0, 2]] }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.conv2d({ filters: 6, kernelSize: 3, strides: [1, 2], dilationRate: 1, activation: 'relu6', kernelInitializer: he(1), biasInitializer: 'randomNormal' }).apply(x) as tfl.SymbolicTensor;
  const a = tfl.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', depthMultiplier: 2, activation: 'tanh', depthwiseInitializer: he(2), biasInitializer: 'randomNormal' }).apply(x) as tfl.SymbolicTensor;
  const b = tfl.layers.conv2d({ filters: 12, kernelSize: 1, useBias: false, activation: 'sigmoid', kernelInitializer: he(3) }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.add().apply([a, b]) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ axis: -1, epsilon: 1e-3, gammaInitializer: 'randomNormal', betaInitializer: 'randomNormal', movingMeanInitializer: 'randomNormal', movingVarianceInitializer: 'ones' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.leakyReLU({ alpha: 0.2 }).apply(x) as tfl.SymbolicTensor;
  const p = tfl.layers.maxPooling2d({ poolSize: 2, padding: 'same' }).apply(x) as tfl.SymbolicTensor;
  const q = tfl.layers.averagePooling2d({ poolSize: 2, strides: 2, padding: 'same' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.concatenate({ axis: -1 }).apply([p, q]) as tfl.SymbolicTensor;
  x = tfl.layers.reLU({ maxValue: 4 }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'selu', kernelInitializer: he(4) }).apply(x) as tfl.SymbolicTensor;
  const g = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  const m = tfl.layers.globalMaxPooling2d({}).apply(x) as tfl.SymbolicTensor;
  const f = tfl.layers.flatten().apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.concatenate().apply([g, m, f]) as tfl.SymbolicTensor;
  x = tfl.layers.dropout({ rate: 0.5 }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.dense({ units: 8, activation: 'softplus', kernelInitializer: he(5) }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.activation({ activation: 'relu' }).apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 3, kernelInitializer: he(6) }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

describe('compiled forward pass vs tfjs-layers apply', () => {
  const compare = (build: () => tfl.LayersModel, shape: number[], tolerance: number): void => {
    const net = build();
    expect(compileLayersForward(net)).toBeDefined();
    const x = tf.randomUniform(shape, 0, 1, 'float32', 7);
    const [l1, g1] = readout(fromLayersModel(net), x);
    const [l2, g2] = readout(applyModel(net), x);
    expect(relDiff(l1, l2)).toBeLessThan(1e-5);
    expect(relDiff(g1, g2)).toBeLessThan(tolerance);
    tf.dispose([x, l1, g1, l2, g2]);
    net.dispose();
  };

  test('every compiled layer kind (cpu): logits and input gradient as apply gives, to float32 rounding', () => {
    compare(everyLayer, [3, 12, 12, 3], 1e-5);
  });

  test('smallCnn (cpu): logits and input gradient as apply gives', () => {
    compare(() => smallCnn({ seed: 1 }), [2, 28, 28, 1], 1e-5);
  });

  describe('the CIFAR builders, on wasm with ardkit\'s kernels (the cpu backend takes minutes on them)', () => {
    beforeAll(async () => {
      await useBackend('wasm');
      registerWasmTrainingKernels();
    });
    afterAll(async () => useBackend('cpu'));
    test.each<[string, () => tfl.LayersModel]>([
      ['resNet18', () => resNet18(small)],
      ['preActResNet18', () => preActResNet18(small)],
      ['wideResNet-10-2', () => wideResNet({ ...small, depth: 10, widthFactor: 2 })],
      ['mobileNetV2 with normalisation', () => mobileNetV2({ ...small, normalization: { mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3] } })]
    ])('%s: logits and input gradient as apply gives', (_, build) => {
      // Eval-mode batch norm folded into x·a + b rounds differently from tfjs' (x − μ)/√(σ² + ε)·γ + β.
      compare(build, [2, 16, 16, 3], 1e-4);
    });
  });

  test('a dense network compiles for training too, with the weight gradients apply gives', () => {
    const net = tfl.sequential({
      layers: [
        tfl.layers.flatten({ inputShape: [6, 6, 1] }),
        tfl.layers.dense({ units: 16, activation: 'relu', kernelInitializer: tfl.initializers.heNormal({ seed: 1 }) }),
        tfl.layers.dense({ units: 4, kernelInitializer: tfl.initializers.heNormal({ seed: 2 }) })
      ]
    });
    expect(compileLayersForward(net)?.sameInTraining).toBe(true);
    const x = tf.randomUniform([5, 6, 6, 1], 0, 1, 'float32', 2);
    const weights = net.trainableWeights.map((w) => named('test', () => asVariable(w.read())));
    const loss = (m: (x: tf.Tensor) => tf.Tensor) => (): tf.Scalar => tf.sum<tf.Scalar>(tf.square(m(x)));
    const a = tf.variableGrads(loss(fromLayersModel(net, { training: true })), weights);
    const b = tf.variableGrads(loss(applyModel(net, true)), weights);
    expect(Math.abs(a.value.dataSync()[0]! - b.value.dataSync()[0]!) / b.value.dataSync()[0]!).toBeLessThan(1e-6);
    for (const w of weights) expect(relDiff(a.grads[w.name]!, b.grads[w.name]!)).toBeLessThan(1e-5);
    tf.dispose([x, a.value, b.value, ...Object.values(a.grads), ...Object.values(b.grads)]);
    net.dispose();
  });

  test('batch norm in training mode stays with apply: batch statistics, and the moving averages move', () => {
    const net = wideResNet({ ...small, depth: 10, widthFactor: 1 });
    expect(compileLayersForward(net)?.sameInTraining).toBe(false);
    const bn = net.layers.find((l) => l.getClassName() === 'BatchNormalization')!;
    const before = bn.getWeights()[2]!.dataSync().slice();
    const x = tf.randomUniform([4, 16, 16, 3], 0, 1, 'float32', 5);
    const a = fromLayersModel(net, { training: true })(x);
    const after = bn.getWeights()[2]!.dataSync();
    expect(Array.from(after)).not.toEqual(Array.from(before));
    // The same call through apply on the same (updated) weights agrees: apply ran.
    const b = net.apply(x, { training: true }) as tf.Tensor;
    expect(relDiff(a, b)).toBeLessThan(1e-5);
    tf.dispose([x, a, b]);
    net.dispose();
  });

  test('an input gradient computes no weight gradient (apply does: tfjs fuses a convolution without activation)', async () => {
    const net = wideResNet({ ...small, depth: 10, widthFactor: 1 });
    const x = tf.randomUniform([2, 16, 16, 3], 0, 1, 'float32', 1);
    const kernels = async (m: (x: tf.Tensor) => tf.Tensor): Promise<string[]> => {
      const info = await tf.profile(() => tf.grad((xi: tf.Tensor) => tf.sum(m(xi)))(x));
      return info.kernels.map((k) => k.name);
    };
    const compiled = await kernels(fromLayersModel(net));
    const applied = await kernels(applyModel(net));
    expect(applied).toContain('Conv2DBackpropFilter');
    expect(compiled).not.toContain('Conv2DBackpropFilter');
    expect(compiled).toContain('Conv2DBackpropInput');
    x.dispose();
    net.dispose();
  });

  test('weights are read when the pass runs: setWeights and training are seen', () => {
    const net = smallCnn({ seed: 4 });
    const model = fromLayersModel(net);
    const x = tf.randomUniform([2, 28, 28, 1], 0, 1, 'float32', 3);
    const before = model(x);
    net.setWeights(net.getWeights().map((w) => tf.mul(w, 1.1)));
    const after = model(x);
    const applied = net.apply(x) as tf.Tensor;
    expect(relDiff(after, applied)).toBeLessThan(1e-5);
    expect(relDiff(after, before)).toBeGreaterThan(1e-2);
    tf.dispose([x, before, after, applied]);
    net.dispose();
  });

  test('layers it does not compile, several inputs and nested models: apply, with the same results', () => {
    const inner = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [4], units: 3 })] });
    const input = tfl.input({ shape: [4] });
    const nested = tfl.model({ inputs: input, outputs: inner.apply(input) as tfl.SymbolicTensor });
    const permuted = tfl.sequential({ layers: [tfl.layers.permute({ inputShape: [2, 2], dims: [2, 1] }), tfl.layers.flatten(), tfl.layers.dense({ units: 2 })] });
    const channelsFirst = tfl.sequential({ layers: [tfl.layers.conv2d({ inputShape: [1, 4, 4], filters: 2, kernelSize: 3, dataFormat: 'channelsFirst' }), tfl.layers.flatten(), tfl.layers.dense({ units: 2 })] });
    const a = tfl.input({ shape: [3] });
    const b = tfl.input({ shape: [3] });
    const twoInputs = tfl.model({ inputs: [a, b], outputs: tfl.layers.add().apply([a, b]) as tfl.SymbolicTensor });
    // tfjs has no gradient for a dilated conv2d: apply's fails, and the compiler leaves it to apply.
    const dilated = tfl.sequential({ layers: [tfl.layers.conv2d({ inputShape: [6, 6, 1], filters: 2, kernelSize: 3, dilationRate: 2 }), tfl.layers.flatten(), tfl.layers.dense({ units: 2 })] });
    for (const m of [nested, permuted, channelsFirst, twoInputs, dilated]) expect(compileLayersForward(m)).toBeUndefined();
    const x = tf.randomUniform([3, 4], 0, 1, 'float32', 9);
    const y1 = fromLayersModel(nested)(x);
    const y2 = nested.apply(x) as tf.Tensor;
    expect(relDiff(y1, y2)).toBe(0);
    tf.dispose([x, y1, y2]);
    for (const m of [nested, permuted, channelsFirst, twoInputs, dilated]) m.dispose();
  });

  test("a wrong input shape is apply's error, as before", () => {
    const net = smallCnn({ seed: 1 });
    const x = tf.zeros([2, 27, 28, 1]);
    expect(() => fromLayersModel(net)(x)).toThrow(/expected.*shape|Input 0 is incompatible/i);
    x.dispose();
    net.dispose();
  });

  test('no tensor leaked: calls, gradients, and a call that throws', () => {
    const net = smallCnn({ seed: 5 });
    const model = fromLayersModel(net);
    const x = tf.randomUniform([2, 28, 28, 1], 0, 1, 'float32', 2);
    model(x).dispose(); // compiles
    const before = tf.memory().numTensors;
    model(x).dispose();
    tf.grad((xi: tf.Tensor) => tf.sum(model(xi)))(x).dispose();
    const bad = tf.zeros([2, 27, 28, 1]);
    expect(() => model(bad)).toThrow();
    bad.dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    net.dispose();
  });

  test('fit trains a compiled student (dense) to the same weights as before, on the compiled and the apply path', async () => {
    const make = (): tfl.Sequential =>
      tfl.sequential({
        layers: [
          tfl.layers.flatten({ inputShape: [4, 4, 1] }),
          tfl.layers.dense({ units: 8, activation: 'relu', kernelInitializer: tfl.initializers.heNormal({ seed: 1 }) }),
          tfl.layers.dense({ units: 3, kernelInitializer: tfl.initializers.heNormal({ seed: 2 }) })
        ]
      });
    const x = tf.randomUniform([16, 4, 4, 1], 0, 1, 'float32', 4);
    const y = tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0], 'int32');
    const compiled = make();
    // The same network behind an object with only apply and weights: fit cannot compile it, so it runs apply.
    const plain = make();
    const applyOnly = { apply: plain.apply.bind(plain), trainableWeights: plain.trainableWeights, weights: plain.weights };
    const opts = { epochs: 2, batchSize: 8, seed: 3 };
    await fit(compiled, { x, y }, pgdAt({ eps: 0.1, steps: 2 }), { ...opts, optimizer: tf.train.sgd(0.1) });
    await fit(applyOnly, { x, y }, pgdAt({ eps: 0.1, steps: 2 }), { ...opts, optimizer: tf.train.sgd(0.1) });
    compiled.getWeights().forEach((w, i) => {
      expect(relDiff(w, plain.getWeights()[i]!)).toBeLessThan(1e-5);
    });
    tf.dispose([x, y]);
    compiled.dispose();
    plain.dispose();
  });
});
