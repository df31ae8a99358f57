import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { mobileNetV2, preActResNet18, resNet18, studentFromLayers, wideResNet } from '../../src/models/index.js';
import { useBackend } from '../helpers.js';

/** PyTorch's `sum(p.numel() for p in model.parameters())`: the trainable weights (BN moving statistics are buffers). */
function trainableCount(model: tfl.LayersModel): number {
  return model.trainableWeights.reduce((sum, w) => sum + w.read().size, 0);
}

const CIFAR = { mean: [0.4914, 0.4822, 0.4465], std: [0.2471, 0.2435, 0.2616] };

describe('CIFAR networks', () => {
  beforeAll(async () => useBackend('cpu'));

  // The counts of scripts/torch/param_counts.py (PyTorch 1.13). Each network is built once; the big ones are disposed
  // at once.
  it.each([
    ['ResNet-18', (): tfl.LayersModel => resNet18(), 11_173_962, 512, 'linear'],
    ['PreAct-ResNet-18', (): tfl.LayersModel => preActResNet18(), 11_172_170, 512, 'linear'],
    ['WRN-34-10', (): tfl.LayersModel => wideResNet({ depth: 34, widthFactor: 10 }), 46_160_474, 640, 'fc'],
    ['WRN-28-10', (): tfl.LayersModel => wideResNet({ depth: 28, widthFactor: 10 }), 36_479_194, 640, 'fc'],
    ['WRN-16-4', (): tfl.LayersModel => wideResNet({ depth: 16, widthFactor: 4 }), 2_748_890, 256, 'fc'],
    ['MobileNetV2', (): tfl.LayersModel => mobileNetV2(), 2_236_682, 1280, 'classifier_1']
  ] as const)('%s has PyTorch\'s trainable parameter count, a features layer and logits', (_, build, count, width, last) => {
    const net = build();
    expect(trainableCount(net)).toBe(count);
    // Non-trainable: exactly the batch norms' moving mean and variance (PyTorch's running_* buffers).
    const bnChannels = net.layers.filter((l) => l.getClassName() === 'BatchNormalization').reduce((s, l) => s + (l.getWeights()[0]?.size ?? 0), 0);
    expect(net.countParams() - count).toBe(2 * bnChannels);
    expect(net.inputs[0]?.shape).toEqual([null, 32, 32, 3]);
    expect(net.getLayer('features').outputShape).toEqual([null, width]);
    expect(net.layers[net.layers.length - 1]?.name).toBe(last);
    expect(net.outputShape).toEqual([null, 10]);
    net.dispose();
  });

  it('names layers after the PyTorch module paths', () => {
    const names = (net: tfl.LayersModel): string[] => net.weights.map((w) => w.originalName);
    const r = resNet18({ classes: 3 });
    expect(names(r)).toEqual(expect.arrayContaining(['conv1/kernel', 'bn1/gamma', 'bn1/moving_variance', 'layer2_0_shortcut_0/kernel', 'layer2_0_shortcut_1/beta', 'layer4_1_conv2/kernel', 'linear/kernel', 'linear/bias']));
    expect(r.getLayer('layer2_0_conv1').getWeights()[0]?.shape).toEqual([3, 3, 64, 128]);
    expect(r.getLayer('linear').getWeights()[0]?.shape).toEqual([512, 3]);
    r.dispose();
    const w = wideResNet({ depth: 10, widthFactor: 2 });
    expect(names(w)).toEqual(expect.arrayContaining(['conv1/kernel', 'block1_layer_0_bn1/gamma', 'block1_layer_0_convShortcut/kernel', 'block3_layer_0_conv2/kernel', 'bn1/beta', 'fc/kernel', 'fc/bias']));
    w.dispose();
    const m = mobileNetV2();
    expect(names(m)).toEqual(expect.arrayContaining(['features_0_0/kernel', 'features_1_conv_0_0/depthwise_kernel', 'features_1_conv_1/kernel', 'features_2_conv_0_0/kernel', 'features_2_conv_1_0/depthwise_kernel', 'features_17_conv_3/gamma', 'features_18_0/kernel', 'classifier_1/kernel']));
    expect(m.getLayer('features_2_conv_1_0').getWeights()[0]?.shape).toEqual([3, 3, 96, 1]);
    m.dispose();
  });

  it('gives logits and features through studentFromLayers, and leaves no tensor after dispose', () => {
    const before = tf.memory().numTensors;
    const x = tf.randomUniform([2, 32, 32, 3], 0, 1, 'float32', 1);
    const resnet = resNet18({ seed: 1 });
    const student = studentFromLayers(resnet, { featuresLayer: 'features' });
    const out = student.forward(x, false);
    expect(out.logits.shape).toEqual([2, 10]);
    expect(out.features?.shape).toEqual([2, 512]);
    tf.dispose([out.logits, out.features]);
    const net = mobileNetV2({ seed: 2, classes: 4, normalization: CIFAR });
    const s2 = studentFromLayers(net, { featuresLayer: 'features' });
    const o2 = s2.forward(x, false);
    expect(o2.logits.shape).toEqual([2, 4]);
    expect(o2.features?.shape).toEqual([2, 1280]);
    tf.dispose([o2.logits, o2.features, x]);
    resnet.dispose();
    net.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('builds the same weights from the same seed, other weights from another', () => {
    // Every weight's bytes, compared as buffers (jest's deep equality is slow on millions of numbers).
    const bytes = (net: tfl.LayersModel): Buffer => Buffer.concat(net.getWeights().map((w) => Buffer.from((w.dataSync() as Float32Array).buffer)));
    for (const build of [(seed: number) => mobileNetV2({ seed }), (seed: number) => wideResNet({ depth: 10, widthFactor: 2, seed })]) {
      const [a, b, c] = [build(3), build(3), build(4)];
      expect(bytes(a).equals(bytes(b))).toBe(true);
      expect(bytes(a).equals(bytes(c))).toBe(false);
      for (const n of [a, b, c]) n.dispose();
    }
  });

  it('builds the normalisation in as a fixed layer: (x − mean)/std, no trainable weight', () => {
    const plain = wideResNet({ depth: 10, widthFactor: 1, seed: 5, inputShape: [8, 8, 3] });
    const normed = wideResNet({ depth: 10, widthFactor: 1, seed: 5, inputShape: [8, 8, 3], normalization: CIFAR });
    const layer = normed.getLayer('normalize');
    expect(layer.trainable).toBe(false);
    expect(trainableCount(normed)).toBe(trainableCount(plain));
    const [kernel, bias] = layer.getWeights();
    expect(Array.from(kernel?.dataSync() ?? [])).toEqual(CIFAR.std.map((s) => Math.fround(1 / s)));
    expect(Array.from(bias?.dataSync() ?? [])).toEqual(CIFAR.mean.map((m, i) => Math.fround(-m / (CIFAR.std[i] ?? 1))));
    const x = tf.randomUniform([2, 8, 8, 3], 0, 1, 'float32', 6);
    const [a, b] = tf.tidy(() => [normed.predict(x) as tf.Tensor, plain.predict(tf.div(tf.sub(x, CIFAR.mean), CIFAR.std)) as tf.Tensor]);
    expect(Math.max(...Array.from(tf.tidy(() => tf.abs(tf.sub(a, b))).dataSync()))).toBeLessThan(1e-4);
    tf.dispose([x, a, b]);
    plain.dispose();
    normed.dispose();
  });

  it('round-trips through tf.io memory handlers with identical predictions (WRN-16-4, normalised)', async () => {
    const net = wideResNet({ depth: 16, widthFactor: 4, seed: 7, normalization: CIFAR });
    let saved: tf.io.ModelArtifacts | undefined;
    await net.save(
      tf.io.withSaveHandler((artifacts) => {
        saved = artifacts;
        return Promise.resolve({ modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } });
      })
    );
    if (saved === undefined) throw new Error('nothing saved');
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(saved));
    expect(trainableCount(loaded)).toBe(2_748_890);
    expect(loaded.getLayer('normalize').trainable).toBe(false);
    const x = tf.randomUniform([2, 32, 32, 3], 0, 1, 'float32', 8);
    const a = net.predict(x) as tf.Tensor;
    const b = loaded.predict(x) as tf.Tensor;
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([x, a, b]);
    net.dispose();
    loaded.dispose();
  });

  it('rejects bad options naming the function, the argument, the rule and the value, before making a tensor', () => {
    const before = tf.memory().numTensors;
    expect(() => wideResNet({ depth: 33 })).toThrow(/^wideResNet: depth must be an integer 6n \+ 4 >= 10 .*\(got 33\)$/);
    expect(() => wideResNet({ depth: 4 })).toThrow(/^wideResNet: depth must be an integer 6n \+ 4 >= 10 .*\(got 4\)$/);
    expect(() => wideResNet({ widthFactor: 0 })).toThrow(/^wideResNet: widthFactor must be an integer >= 1 \(got 0\)$/);
    expect(() => resNet18({ inputShape: [32, 32] as unknown as [number, number, number] })).toThrow(
      /^resNet18: inputShape must be \[height, width, channels\] of positive integers \(got \[32, 32\]\)$/
    );
    expect(() => preActResNet18({ classes: 1 })).toThrow(/^preActResNet18: classes must be an integer >= 2 \(got 1\)$/);
    expect(() => mobileNetV2({ seed: -1 })).toThrow(/^mobileNetV2: seed must be an integer >= 0 \(got -1\)$/);
    expect(() => mobileNetV2({ numClasses: 10 } as object)).toThrow(/^mobileNetV2: options must only have the keys inputShape, classes, seed, normalization \(got "numClasses"\)$/);
    expect(() => resNet18({ normalization: { mean: [0.5], std: [0.5] } })).toThrow(
      /^resNet18: normalization.mean must have one entry per input channel \(3\) \(got \[0.5\]\)$/
    );
    expect(() => resNet18({ normalization: { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5] } })).toThrow(
      /^resNet18: normalization.std must be an array of the length of normalization.mean \(3\) \(got \[0.5, 0.5\]\)$/
    );
    expect(() => wideResNet({ normalization: { mean: [0, 0, 0], std: [1, 0, 1] } })).toThrow(
      /^wideResNet: normalization.std must hold finite numbers > 0 \(got \[1, 0, 1\]\)$/
    );
    expect(tf.memory().numTensors).toBe(before);
  });
});
