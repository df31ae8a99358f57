/**
 * `onnxToLayers`: a model from `loadOnnx` as a tfjs-layers model of standard layers, with the same logits (1e-5
 * relative), saved with `fileSystem` and loaded by plain `tf.loadLayersModel`, exporting fine-tuned weights, and
 * failing with an error that names the node, the operator and the reason for graphs it cannot convert, with nothing
 * leaked. Fixtures: `preact_layers` (scripts/torch/onnx_layers_fixture.py), `cifar_teacher`, `ops_opset13` and
 * `handmade_opset13` (scripts/torch/onnx_fixtures.py).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { fileSystem, loadOnnx, onnxToLayers, type OnnxModel } from '../../src/io/index.js';
import { useBackend } from '../helpers.js';
import { removeTempDirs, tempDir } from './fixtures.js';
import { fixturePath, nhwcInput, reference, relativeError, tinySpec, writeGraph } from './onnx-graphs.js';

beforeAll(async () => useBackend('cpu'));
afterEach(() => {
  removeTempDirs();
});

/** The layer classes of tfjs-layers that the converter may emit (all registered by tfjs-layers itself). */
const STANDARD = new Set([
  'InputLayer', 'Conv2D', 'DepthwiseConv2D', 'BatchNormalization', 'ReLU', 'LeakyReLU', 'Activation', 'Softmax', 'Add',
  'Multiply', 'Concatenate', 'MaxPooling2D', 'AveragePooling2D', 'GlobalAveragePooling2D', 'GlobalMaxPooling2D',
  'Dense', 'Flatten', 'Reshape', 'Permute', 'ZeroPadding2D'
]);

function classNames(model: tfl.LayersModel): string[] {
  return model.layers.map((l) => l.getClassName());
}

async function values(t: tf.Tensor): Promise<Float32Array> {
  const data = (await t.data()) as Float32Array;
  t.dispose();
  return data;
}

/** The OnnxModel's and the layers model's logits on the same input. */
async function bothLogits(model: OnnxModel, layers: tfl.LayersModel, x: tf.Tensor): Promise<{ onnx: number[]; layers: Float32Array }> {
  const onnx = Array.from(await values(model(x)));
  return { onnx, layers: await values(layers.predict(x) as tf.Tensor) };
}

/** Saves with ardkit/io's fileSystem and loads with tfjs-layers alone. */
async function roundTrip(layers: tfl.LayersModel): Promise<{ loaded: tfl.LayersModel; json: { modelTopology: { class_name: string; config: { layers: { class_name: string }[] } } } }> {
  const dir = tempDir();
  await layers.save(fileSystem(dir));
  const loaded = await tfl.loadLayersModel(fileSystem(dir));
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as Awaited<ReturnType<typeof roundTrip>>['json'];
  return { loaded, json };
}

/** A random NHWC batch in [0, 1]. */
function randomInput(shape: readonly number[], seed: number): tf.Tensor {
  return tf.randomUniform([3, ...shape], 0, 1, 'float32', seed);
}

describe('onnxToLayers: the same network from standard layers', () => {
  it.each(['preact_layers', 'cifar_teacher'])('%s: logits of the OnnxModel and of PyTorch, standard layers, nothing leaked', async (name) => {
    const ref = reference(name);
    const model = await loadOnnx(fixturePath(name));
    const before = tf.memory().numTensors;
    const layers = onnxToLayers(model);
    for (const cls of classNames(layers)) expect(STANDARD).toContain(cls);
    expect(layers.inputs[0]?.shape).toEqual([null, ...model.inputShape]);
    expect(layers.outputs[0]?.shape).toEqual([null, ref.classes]);

    const x = nhwcInput(ref);
    const { onnx, layers: got } = await bothLogits(model, layers, x);
    expect(relativeError(got, onnx)).toBeLessThan(1e-5);
    expect(relativeError(got, ref.logits)).toBeLessThan(1e-4);
    const xr = randomInput(model.inputShape, 5);
    const random = await bothLogits(model, layers, xr);
    expect(relativeError(random.layers, random.onnx)).toBeLessThan(1e-5);
    tf.dispose([x, xr]);

    layers.dispose();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('preact_layers uses every construct the fixture was written for', async () => {
    const model = await loadOnnx(fixturePath('preact_layers'));
    const layers = onnxToLayers(model);
    const counts = new Map<string, number>();
    for (const cls of classNames(layers)) counts.set(cls, (counts.get(cls) ?? 0) + 1);
    // BN nodes that PyTorch keeps (after the input of each block, after the last Add) stay batch norm layers.
    expect(counts.get('BatchNormalization')).toBe(3);
    // The normalisation (x − μ)/σ·2 − 1 (Sub, Div, Mul, Sub) is one fixed layer; Sub of two tensors adds −b (one more).
    const affine = layers.layers.filter((l) => l.name.endsWith('_affine'));
    expect(affine).toHaveLength(2);
    expect(affine.every((l) => !l.trainable)).toBe(true);
    // 3×3 stride-2 convolutions and padded pools: explicit zero padding; the view of a 16×2×2 map: permute then flatten.
    expect(counts.get('ZeroPadding2D')).toBeGreaterThanOrEqual(3);
    expect(counts.get('Permute')).toBe(1);
    for (const cls of ['DepthwiseConv2D', 'Multiply', 'Concatenate', 'MaxPooling2D', 'AveragePooling2D', 'GlobalAveragePooling2D', 'LeakyReLU', 'Dense']) {
      expect(counts.get(cls)).toBeGreaterThanOrEqual(1);
    }
    expect(layers.layers.some((l) => l.getClassName() === 'ReLU' && (l.getConfig() as { maxValue?: number }).maxValue === 6)).toBe(true);
    layers.dispose();
    model.dispose();
  });

  it("layout 'nchw': the layers model takes NCHW like the OnnxModel", async () => {
    const ref = reference('preact_layers');
    const model = await loadOnnx(fixturePath('preact_layers'), { layout: 'nchw' });
    const layers = onnxToLayers(model);
    expect(layers.inputs[0]?.shape).toEqual([null, 3, 16, 16]);
    const x = tf.tensor4d(ref.input, ref.inputShape);
    const { onnx, layers: got } = await bothLogits(model, layers, x);
    expect(relativeError(got, onnx)).toBeLessThan(1e-5);
    expect(relativeError(got, ref.logits)).toBeLessThan(1e-4);
    // The weights are copies: the layers model outlives the OnnxModel.
    model.dispose();
    expect(Array.from(await values(layers.predict(x) as tf.Tensor))).toEqual(Array.from(got));
    x.dispose();
    layers.dispose();
  });

  it("converts only the nodes the logits need (not those of loadOnnx's features option)", async () => {
    const spec = tinySpec();
    const bytes = await writeGraph({ ...spec, nodes: [...spec.nodes, { op: 'Conv', inputs: ['r', 'K'], outputs: ['feat'] }], initializers: [...(spec.initializers ?? []), { name: 'K', dims: [2, 3, 1, 1], floats: [1, 2, 3, 4, 5, 6] }] });
    const model = await loadOnnx(bytes, { features: 'feat' });
    const before = tf.memory().numTensors;
    const layers = onnxToLayers(model);
    expect(classNames(layers)).toEqual(['InputLayer', 'ReLU', 'GlobalAveragePooling2D', 'Dense']);
    layers.dispose();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('a bias-free MatMul followed by Add of a vector is one dense layer with that bias', async () => {
    const w = Array.from({ length: 48 * 2 }, (_, i) => Math.sin(i));
    const bytes = await writeGraph({
      nodes: [
        { op: 'Flatten', inputs: ['input'], outputs: ['f'], attributes: [{ name: 'axis', type: 2, i: 1 }] },
        { op: 'MatMul', inputs: ['f', 'W'], outputs: ['m'] },
        { op: 'Add', inputs: ['b', 'm'], outputs: ['logits'] }
      ],
      initializers: [
        { name: 'W', dims: [48, 2], floats: w },
        { name: 'b', dims: [2], floats: [0.25, -0.5] }
      ]
    });
    const model = await loadOnnx(bytes);
    const layers = onnxToLayers(model);
    expect(classNames(layers)).toEqual(['InputLayer', 'Permute', 'Flatten', 'Dense']);
    const x = randomInput(model.inputShape, 7);
    const { onnx, layers: got } = await bothLogits(model, layers, x);
    expect(relativeError(got, onnx)).toBeLessThan(1e-5);
    x.dispose();
    layers.dispose();
    model.dispose();
  });

  it("a max pool whose padding is tfjs' 'same' converts on any input; padding otherwise needs an input ≥ 0", async () => {
    // 3×3 stride 1 pads 1 on 4×4: 'same'. The input is signed (no ReLU before the pool).
    const pooled = (pads: number[], strides: number[]): Parameters<typeof tinySpec>[0] => ({
      nodes: [
        { op: 'MaxPool', inputs: ['input'], outputs: ['mp'], attributes: [{ name: 'kernel_shape', type: 7, ints: [3, 3] }, { name: 'pads', type: 7, ints: pads }, { name: 'strides', type: 7, ints: strides }] },
        ...tinySpec().nodes.map((n) => (n.op === 'Relu' ? { ...n, op: 'Identity', inputs: ['mp'] } : n))
      ]
    });
    const same = await loadOnnx(await writeGraph(tinySpec(pooled([1, 1, 1, 1], [1, 1]))));
    const layers = onnxToLayers(same);
    expect(classNames(layers)).not.toContain('ZeroPadding2D');
    const x = tf.sub(randomInput(same.inputShape, 9), 0.5);
    const { onnx, layers: got } = await bothLogits(same, layers, x);
    expect(relativeError(got, onnx)).toBeLessThan(1e-5);
    x.dispose();
    layers.dispose();
    same.dispose();

    const strided = await loadOnnx(await writeGraph(tinySpec(pooled([1, 1, 1, 1], [2, 2]))), { name: 'strided' });
    const before = tf.memory().numTensors;
    expect(() => onnxToLayers(strided)).toThrow(/^onnxToLayers: node "MaxPool_0" \(MaxPool\): its padding \[top 1, left 1, bottom 1, right 1\] is not tfjs' 'same' padding, and zero padding equals ONNX's −∞ padding only for inputs known to be ≥ 0/);
    expect(tf.memory().numTensors).toBe(before);
    strided.dispose();
  });
});

describe('onnxToLayers: saved with ardkit/io, loaded by tf.loadLayersModel alone', () => {
  it('preact_layers: model.json holds standard classes only, and the loaded model gives the same logits', async () => {
    const ref = reference('preact_layers');
    const model = await loadOnnx(fixturePath('preact_layers'));
    const layers = onnxToLayers(model);
    const { loaded, json } = await roundTrip(layers);
    expect(json.modelTopology.class_name).toBe('Model');
    expect(json.modelTopology.config.layers.length).toBe(layers.layers.length);
    for (const l of json.modelTopology.config.layers) expect(STANDARD).toContain(l.class_name);
    const x = nhwcInput(ref);
    const { onnx, layers: got } = await bothLogits(model, loaded, x);
    expect(relativeError(got, onnx)).toBeLessThan(1e-5);
    const direct = await values(layers.predict(x) as tf.Tensor);
    expect(Array.from(got)).toEqual(Array.from(direct));
    x.dispose();
    layers.dispose();
    loaded.dispose();
    model.dispose();
  });
});

describe('onnxToLayers: a fine-tuned model exports its current weights', () => {
  it('after optimizer steps on a trainable-loaded model, the layers model (and its saved copy) follows the fine-tuned weights', async () => {
    const ref = reference('preact_layers');
    const model = await loadOnnx(fixturePath('preact_layers'), { trainable: true });
    const frozen = await loadOnnx(fixturePath('preact_layers'));
    const x = nhwcInput(ref);
    const initial = onnxToLayers(model);
    const frozenLayers = onnxToLayers(frozen);
    // Before fine-tuning, the unfolded (trainable) and folded batch norms convert to the same network.
    const a = await values(initial.predict(x) as tf.Tensor);
    const b = await values(frozenLayers.predict(x) as tf.Tensor);
    expect(relativeError(a, Array.from(b))).toBeLessThan(1e-5);

    const student = model.asStudent();
    const labels = tf.oneHot(tf.tensor1d([3, 7], 'int32'), ref.classes);
    const optimizer = tf.train.sgd(0.5);
    for (let step = 0; step < 3; step++) {
      optimizer.minimize(() => tf.losses.softmaxCrossEntropy(labels, student.forward(x, true).logits), false, [...student.trainableVariables]);
    }
    optimizer.dispose();
    const tuned = onnxToLayers(model);
    const { onnx, layers: got } = await bothLogits(model, tuned, x);
    expect(relativeError(got, onnx)).toBeLessThan(1e-5);
    // The steps moved the logits well beyond the tolerance: the export is not the file's weights.
    expect(relativeError(got, Array.from(a))).toBeGreaterThan(1e-2);
    // Batch-norm scales are among the exported fine-tuned weights.
    const [gamma, fileGamma] = [tuned, frozenLayers].map((m) => m.getLayer('bn_BatchNormalization').getWeights()[0] as tf.Tensor);
    expect((await values(tf.tidy(() => tf.max(tf.abs(tf.sub(gamma as tf.Tensor, fileGamma as tf.Tensor))))))[0]).toBeGreaterThan(1e-4);

    const { loaded } = await roundTrip(tuned);
    const reloaded = await values(loaded.predict(x) as tf.Tensor);
    expect(relativeError(reloaded, onnx)).toBeLessThan(1e-5);
    tf.dispose([x, labels]);
    for (const m of [initial, frozenLayers, tuned, loaded]) m.dispose();
    model.dispose();
    frozen.dispose();
  });
});

describe('onnxToLayers: graphs that do not convert', () => {
  it.each([
    ['ops_opset13', /^onnxToLayers: node "\/conv_g\/Conv" \(Conv\): it is a grouped convolution \(group 2 over 8 input channels\); tfjs-layers has no grouped convolution/],
    ['handmade_opset13', /^onnxToLayers: node "[^"]+" \(Reshape\): its target shape \[-1, 16\] does not keep the batch axis/]
  ])('%s: an Error naming the node, the operator and why, nothing leaked', async (name, message) => {
    const model = await loadOnnx(fixturePath(name));
    // Warm tfjs-layers' own constants before counting.
    expect(() => onnxToLayers(model)).toThrow(message);
    const before = tf.memory().numTensors;
    let caught: unknown;
    try {
      onnxToLayers(model);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(Error);
    expect((caught as Error).message).toMatch(message);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  // tinySpec's graph (Relu → GlobalAveragePool → Flatten → Gemm) with its first node replaced.
  type Spec = Parameters<typeof writeGraph>[0];
  type FirstNode = Omit<Spec['nodes'][number], 'inputs' | 'outputs' | 'name'> & { readonly inputs?: readonly string[] };
  const replaced = (first: FirstNode, initializers: NonNullable<Spec['initializers']> = []): Spec => {
    const spec = tinySpec();
    return { ...spec, nodes: [{ ...first, name: 'first', inputs: first.inputs ?? ['input'], outputs: ['r'] }, ...spec.nodes.slice(1)], initializers: [...(spec.initializers ?? []), ...initializers] };
  };
  it.each([
    ['Clip to [-1, 1]', replaced({ op: 'Clip', inputs: ['input', 'lo', 'hi'] }, [{ name: 'lo', dims: [], floats: [-1] }, { name: 'hi', dims: [], floats: [1] }]), /^onnxToLayers: node "first" \(Clip\): it clips to \[-1, 1\]; tfjs-layers clips only to \[0, max\]/],
    ['Div of two tensors', replaced({ op: 'Div', inputs: ['input', 'input'] }), /^onnxToLayers: node "first" \(Div\): it divides two tensors; tfjs-layers has no division layer$/],
    ['reflect padding', replaced({ op: 'Pad', inputs: ['input', 'pads'], attributes: [{ name: 'mode', type: 3, s: new TextEncoder().encode('reflect') }] }, [{ name: 'pads', dims: [8], ints: [0, 0, 1, 1, 0, 0, 1, 1] }]), /^onnxToLayers: node "first" \(Pad\): reflect padding has no tfjs-layers layer/],
    ['a constant that varies over H and W', replaced({ op: 'Mul', inputs: ['input', 'm'] }, [{ name: 'm', dims: [1, 1, 4, 4], floats: Array.from({ length: 16 }, (_, i) => i) }]), /^onnxToLayers: node "first" \(Mul\): its constant operand of shape \[1, 1, 4, 4\] is not one value per channel/],
    ['a Transpose of a tensor', replaced({ op: 'Transpose', attributes: [{ name: 'perm', type: 7, ints: [0, 1, 3, 2] }] }), /^onnxToLayers: node "first" \(Transpose\): a transpose of a tensor has no exact tfjs-layers form/]
  ])('%s: an Error naming the node, the operator and why, nothing leaked', async (_what, spec, message) => {
    const model = await loadOnnx(await writeGraph(spec));
    const before = tf.memory().numTensors;
    expect(() => onnxToLayers(model)).toThrow(message);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('says so when tfjs-layers is not loaded (its classes are not in tfjs-core\'s registry)', async () => {
    const model = await loadOnnx(fixturePath('cifar_teacher'));
    const registry = tf.serialization.SerializationMap.getMap();
    const registered = registry.classNameMap;
    registry.classNameMap = {};
    try {
      expect(() => onnxToLayers(model)).toThrow(/^onnxToLayers: @tensorflow\/tfjs-layers is not loaded \(no Model layer is registered with this copy of tfjs-core\): import '@tensorflow\/tfjs-layers'/);
    } finally {
      registry.classNameMap = registered;
    }
    model.dispose();
  });

  it('rejects what loadOnnx did not make, and a disposed model', async () => {
    const plain = ((x: tf.Tensor) => x) as unknown as OnnxModel;
    expect(() => onnxToLayers(plain)).toThrow(new TypeError('onnxToLayers: model must be a model made by loadOnnx (got a function)'));
    const model = await loadOnnx(fixturePath('cifar_teacher'));
    model.dispose();
    expect(() => onnxToLayers(model)).toThrow(/^onnxToLayers: the model was disposed$/);
  });
});
