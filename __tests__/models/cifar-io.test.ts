/**
 * The CIFAR builders as users keep and train them: saved with `ardkit/io`'s `fileSystem` and loaded by plain
 * `tf.loadLayersModel` (no ardkit layer in the file) with identical predictions, normalisation included; and trained
 * by `fit` with `cifarAugment`, the batch norms' moving statistics updated.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { cifarAugment } from '../../src/data/index.js';
import { fileSystem } from '../../src/io/index.js';
import { registerWasmTrainingKernels } from '../../src/backends/index.js';
import { mobileNetV2, preActResNet18, resNet18, studentFromLayers, wideResNet } from '../../src/models/index.js';
import { fit, pgdAt } from '../../src/train/index.js';
import { useBackend } from '../helpers.js';

const CIFAR = { mean: [0.4914, 0.4822, 0.4465], std: [0.2471, 0.2435, 0.2616] };

/** Classes a model.json of these builders may name: tfjs-layers' layers and initializers. */
const TFJS_CLASSES = new Set(['Functional', 'Model', 'InputLayer', 'Conv2D', 'DepthwiseConv2D', 'BatchNormalization', 'ReLU', 'Activation', 'Add',
  'ZeroPadding2D', 'GlobalAveragePooling2D', 'Dense', 'Dropout', 'Flatten', 'VarianceScaling', 'Zeros', 'Ones', 'Constant', 'GlorotUniform', 'HeUniform', 'HeNormal', 'RandomUniform', 'RandomNormal', 'TruncatedNormal', 'Rescaling', 'Normalization', 'Layer']);

beforeAll(async () => useBackend('cpu'));

describe('CIFAR networks through ardkit/io and tf.loadLayersModel', () => {
  it.each([
    ['resNet18', (): tfl.LayersModel => resNet18({ seed: 1, normalization: CIFAR })],
    ['preActResNet18', (): tfl.LayersModel => preActResNet18({ seed: 2, normalization: CIFAR })],
    ['wideResNet 16-4', (): tfl.LayersModel => wideResNet({ depth: 16, widthFactor: 4, seed: 3, normalization: CIFAR })],
    ['mobileNetV2', (): tfl.LayersModel => mobileNetV2({ seed: 4, normalization: CIFAR })]
  ] as const)('%s: saved to disk and loaded back by tf.loadLayersModel, the same logits bit for bit', async (_, build) => {
    const net = build();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ardkit-cifar-io-'));
    await net.save(fileSystem(dir));
    const topology = fs.readFileSync(path.join(dir, 'model.json'), 'utf8');
    // Layers of tfjs-layers only (ardkit registers no class of its own): a page loads the file without ardkit.
    const layerClasses = new Set([...topology.matchAll(/"class_name":\s*"([A-Za-z0-9]+)"/g)].map((m) => m[1]));
    expect([...layerClasses].filter((c) => !TFJS_CLASSES.has(c ?? ''))).toEqual([]);
    const loaded = await tfl.loadLayersModel(fileSystem(dir));
    const x = tf.randomUniform([2, 32, 32, 3], 0, 1, 'float32', 9);
    const [a, b] = [net.predict(x) as tf.Tensor, loaded.predict(x) as tf.Tensor];
    expect(Array.from(await b.data())).toEqual(Array.from(await a.data()));
    tf.dispose([x, a, b]);
    net.dispose();
    loaded.dispose();
    fs.rmSync(dir, { recursive: true });
  });
});

describe('CIFAR networks under fit with cifarAugment (wasm with ardkit\'s training kernels, as useBestBackend sets it up)', () => {
  beforeAll(async () => {
    await useBackend('wasm');
    registerWasmTrainingKernels();
  });
  afterAll(async () => useBackend('cpu'));

  it.each([
    ['mobileNetV2', (): tfl.LayersModel => mobileNetV2({ seed: 5, normalization: CIFAR }), 'features_0_1'],
    ['preActResNet18', (): tfl.LayersModel => preActResNet18({ seed: 6, normalization: CIFAR }), 'bn']
  ] as const)('%s trains a PGD-AT step on augmented batches: weights and moving statistics move, the loss is finite', async (_, build, bnName) => {
    const net = build();
    const student = studentFromLayers(net);
    const bn = net.getLayer(bnName);
    const before = await Promise.all([...student.trainableVariables.slice(0, 3), ...bn.getWeights().slice(2)].map((v) => v.data()));
    const data = tf.tidy(() => ({ x: tf.randomUniform<tf.Rank.R4>([4, 32, 32, 3], 0, 1, 'float32', 11), y: tf.tensor1d([0, 1, 2, 3], 'int32') }));
    const history = await fit(student, data, pgdAt({ eps: 8 / 255, steps: 1 }), { epochs: 1, batchSize: 4, seed: 0, augment: cifarAugment(), optimizer: tf.train.momentum(0.01, 0.9) });
    expect(Number.isFinite(history.epochs[0]?.loss)).toBe(true);
    const after = await Promise.all([...student.trainableVariables.slice(0, 3), ...bn.getWeights().slice(2)].map((v) => v.data()));
    after.forEach((a, i) => { expect(Array.from(a)).not.toEqual(Array.from(before[i] ?? [])); });
    tf.dispose([data.x, data.y]);
    net.dispose();
  });
});
