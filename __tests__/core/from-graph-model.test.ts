/**
 * fromGraphModel on real tfjs-converter GraphModels, loaded from a TF GraphDef written here by hand in the JSON format
 * tensorflowjs_converter writes (`model.json`: `modelTopology.node`, `weightsManifest`; one binary weight file), with
 * both the plain ops (Conv2D, BiasAdd, Relu, Reshape, MatMul) and the fused one the converter emits (_FusedConv2D).
 * The same network written in tfjs-core ops with the same weights is the independent reference.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { GraphModel, loadGraphModel } from '@tensorflow/tfjs-converter';
import { type GraphModelLike, type Model, type Student, fromGraphModel } from '../../src/core/index.js';
import { pgd } from '../../src/attacks/index.js';
import { crossEntropy, rsladLoss } from '../../src/losses/index.js';
import { fit, rslad } from '../../src/train/index.js';
import { fileSystem } from '../../src/io/index.js';
import { expectNoLeak, expectThrowsNoLeak, maxDistance, testRandom, useBackend } from '../helpers.js';

const H = 6;
const CHANNELS = 2;
const CLASSES = 3;

/** The weights of the network, as plain numbers (tfjs' NHWC layout: kernels [kh, kw, in, out], dense [in, out]). */
interface Weights {
  readonly conv1: number[];
  readonly bias1: number[];
  readonly conv2: number[];
  readonly bias2: number[];
  readonly dense: number[];
  readonly bias3: number[];
}

function randomWeights(seed: number): Weights {
  const r = testRandom(seed);
  const values = (n: number, scale: number, offset = 0): number[] => Array.from({ length: n }, () => offset + (r() - 0.5) * scale);
  return {
    conv1: values(3 * 3 * CHANNELS * 4, 0.8),
    bias1: values(4, 0.2, 0.05),
    conv2: values(3 * 3 * 4 * 4, 0.8),
    bias2: values(4, 0.2, 0.05),
    dense: values(16 * CLASSES, 1.2),
    bias3: values(CLASSES, 0.2)
  };
}

/** The reference: the network in tfjs-core ops. */
function referenceModel(w: Weights): { model: Model; dispose(): void } {
  const k1 = tf.tensor4d(w.conv1, [3, 3, CHANNELS, 4]);
  const b1 = tf.tensor1d(w.bias1);
  const k2 = tf.tensor4d(w.conv2, [3, 3, 4, 4]);
  const b2 = tf.tensor1d(w.bias2);
  const k3 = tf.tensor2d(w.dense, [16, CLASSES]);
  const b3 = tf.tensor1d(w.bias3);
  const model: Model = (x) =>
    tf.tidy(() => {
      const h1 = tf.relu(tf.add(tf.conv2d(x as tf.Tensor4D, k1, 1, 'same'), b1));
      const h2 = tf.relu(tf.add(tf.conv2d(h1 as tf.Tensor4D, k2, 2, 'valid'), b2));
      return tf.add<tf.Tensor2D>(tf.matMul(tf.reshape(h2, [-1, 16]), k3), b3);
    });
  return { model, dispose: () => { tf.dispose([k1, b1, k2, b2, k3, b3]); } };
}

// ---- the GraphDef JSON, as tensorflowjs_converter writes it --------------------------------------------------------

type Attr = Record<string, unknown>;
interface NodeDef { name: string; op: string; input?: string[]; attr?: Attr }
interface Weight { name: string; shape: number[]; dtype: 'float32' | 'int32' | 'bool'; values: number[] }

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const T = { T: { type: 'DT_FLOAT' } };
const ints = (...v: number[]): Attr => ({ list: { i: v.map(String) } });
const DT = { float32: 'DT_FLOAT', int32: 'DT_INT32', bool: 'DT_BOOL' } as const;

function constNode(w: Weight): NodeDef {
  const dtype = DT[w.dtype];
  return {
    name: w.name,
    op: 'Const',
    attr: { value: { tensor: { dtype, tensorShape: { dim: w.shape.map((d) => ({ size: String(d) })) } } }, dtype: { type: dtype } }
  };
}

/** What to put after the logits: nothing, a softmax and a pooled feature head (two outputs), or a Keras-style cond. */
type Head = 'logits' | 'two-outputs' | 'cond';

/** How the dense layer is written: MatMul then BiasAdd, or the converter's fused `_FusedMatMul` (linear activation). */
type Dense = 'MatMul' | '_FusedMatMul';

/** The `model.json` object and its one weight file for the network, with `head` after the logits. */
function graphModelFiles(w: Weights, head: Head, dense: Dense = 'MatMul'): { modelJson: Record<string, unknown>; weightData: ArrayBuffer } {
  const weights: Weight[] = [
    { name: 'conv1/kernel', shape: [3, 3, CHANNELS, 4], dtype: 'float32', values: w.conv1 },
    { name: 'conv1/bias', shape: [4], dtype: 'float32', values: w.bias1 },
    { name: 'conv2/kernel', shape: [3, 3, 4, 4], dtype: 'float32', values: w.conv2 },
    { name: 'conv2/bias', shape: [4], dtype: 'float32', values: w.bias2 },
    { name: 'flatten/shape', shape: [2], dtype: 'int32', values: [-1, 16] },
    { name: 'dense/kernel', shape: [16, CLASSES], dtype: 'float32', values: w.dense },
    { name: 'dense/bias', shape: [CLASSES], dtype: 'float32', values: w.bias3 }
  ];
  const nodes: NodeDef[] = [
    {
      name: 'x',
      op: 'Placeholder',
      attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: { dim: [-1, H, H, CHANNELS].map((d) => ({ size: String(d) })) } } }
    },
    {
      name: 'conv1/Conv2D',
      op: 'Conv2D',
      input: ['x', 'conv1/kernel'],
      attr: { ...T, strides: ints(1, 1, 1, 1), padding: { s: b64('SAME') }, data_format: { s: b64('NHWC') }, dilations: ints(1, 1, 1, 1), use_cudnn_on_gpu: { b: true } }
    },
    { name: 'conv1/BiasAdd', op: 'BiasAdd', input: ['conv1/Conv2D', 'conv1/bias'], attr: { ...T, data_format: { s: b64('NHWC') } } },
    { name: 'conv1/Relu', op: 'Relu', input: ['conv1/BiasAdd'], attr: T },
    {
      // What the converter makes of Conv2D + BiasAdd + Relu (grappler's remapper), named after the last op.
      name: 'conv2/Relu',
      op: '_FusedConv2D',
      input: ['conv1/Relu', 'conv2/kernel', 'conv2/bias'],
      attr: {
        ...T,
        num_args: { i: '1' },
        strides: ints(1, 2, 2, 1),
        padding: { s: b64('VALID') },
        data_format: { s: b64('NHWC') },
        dilations: ints(1, 1, 1, 1),
        fused_ops: { list: { s: [b64('BiasAdd'), b64('Relu')] } },
        epsilon: { f: 0 }
      }
    },
    { name: 'flatten/Reshape', op: 'Reshape', input: ['conv2/Relu', 'flatten/shape'], attr: { ...T, Tshape: { type: 'DT_INT32' } } },
    ...(dense === 'MatMul'
      ? [
        { name: 'dense/MatMul', op: 'MatMul', input: ['flatten/Reshape', 'dense/kernel'], attr: { ...T, transpose_a: { b: false }, transpose_b: { b: false } } },
        { name: 'logits', op: 'BiasAdd', input: ['dense/MatMul', 'dense/bias'], attr: { ...T, data_format: { s: b64('NHWC') } } }
      ]
      : [
        {
          name: 'logits',
          op: '_FusedMatMul',
          input: ['flatten/Reshape', 'dense/kernel', 'dense/bias'],
          attr: { ...T, num_args: { i: '1' }, fused_ops: { list: { s: [b64('BiasAdd')] } }, transpose_a: { b: false }, transpose_b: { b: false }, epsilon: { f: 0 } }
        }
      ])
  ];
  if (head === 'two-outputs') {
    weights.push({ name: 'pool/axes', shape: [2], dtype: 'int32', values: [1, 2] });
    nodes.push(
      { name: 'probs', op: 'Softmax', input: ['logits'], attr: T },
      { name: 'features', op: 'Mean', input: ['conv2/Relu', 'pool/axes'], attr: { ...T, Tidx: { type: 'DT_INT32' }, keep_dims: { b: false } } }
    );
  }
  if (head === 'cond') {
    // A TF1 tf.cond on Keras' learning phase, as graphs frozen with dropout in them have.
    weights.push({ name: 'keras_learning_phase', shape: [], dtype: 'bool', values: [0] });
    nodes.push(
      { name: 'cond/Switch', op: 'Switch', input: ['logits', 'keras_learning_phase'], attr: T },
      { name: 'cond/Merge', op: 'Merge', input: ['cond/Switch', 'cond/Switch:1'], attr: { ...T, N: { i: '2' } } }
    );
  }
  nodes.push(...weights.map(constNode));
  const bytes = weights.map((v) =>
    v.dtype === 'float32' ? new Uint8Array(new Float32Array(v.values).buffer) : v.dtype === 'int32' ? new Uint8Array(new Int32Array(v.values).buffer) : new Uint8Array(v.values)
  );
  const weightData = new Uint8Array(bytes.reduce((n, b) => n + b.length, 0));
  bytes.reduce((offset, b) => { weightData.set(b, offset); return offset + b.length; }, 0);
  const modelJson = {
    format: 'graph-model',
    generatedBy: '2.15.0',
    convertedBy: 'TensorFlow.js Converter v4.22.0',
    modelTopology: { node: nodes, library: {}, versions: { producer: 1645 } },
    weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: weights.map(({ name, shape, dtype }) => ({ name, shape, dtype })) }]
  };
  return { modelJson, weightData: weightData.buffer };
}

/** Loads the graph as `tf.loadGraphModel` does for a converted model, from memory. */
async function loadGraph(w: Weights, head: Head, dense: Dense = 'MatMul'): Promise<GraphModel> {
  const { modelJson, weightData } = graphModelFiles(w, head, dense);
  const weightSpecs = (modelJson.weightsManifest as tf.io.WeightsManifestConfig).flatMap((g) => g.weights);
  return loadGraphModel(tf.io.fromMemory({ modelTopology: modelJson.modelTopology as object, weightSpecs, weightData, format: 'graph-model' }));
}

describe('fromGraphModel', () => {
  const w = randomWeights(3);
  let graph: GraphModel;
  let reference: ReturnType<typeof referenceModel>;
  let x: tf.Tensor4D;
  let y: tf.Tensor1D;

  beforeAll(async () => {
    await useBackend('cpu');
    graph = await loadGraph(w, 'logits');
    reference = referenceModel(w);
    x = tf.randomUniform([5, H, H, CHANNELS], 0, 1, 'float32', 4);
    // Labels the reference network predicts, so that an attack has something to lower.
    y = tf.tidy(() => tf.cast(tf.argMax<tf.Tensor1D>(reference.model(x), 1), 'int32'));
  });
  afterAll(() => {
    graph.dispose();
    reference.dispose();
    tf.dispose([x, y]);
  });

  it('computes the logits [B, C] of the network, as the same ops written in tfjs-core do', () => {
    const model = fromGraphModel(graph);
    const logits = model(x);
    const expected = reference.model(x);
    expect(logits.shape).toEqual([5, CLASSES]);
    expect(logits.dtype).toBe('float32');
    expect(maxDistance(logits, expected, 'linf')).toBeLessThan(1e-5);
    // The network is not degenerate: the logits differ between examples and classes.
    expect(tf.tidy(() => tf.moments(logits).variance.dataSync()[0] ?? 0)).toBeGreaterThan(1e-3);
    tf.dispose([logits, expected]);
  });

  it.each(['MatMul', '_FusedMatMul'] as const)('lets input gradients flow through execute (dense layer as %s): ∇x Σ(logits·v) equals the reference', async (dense) => {
    const net = dense === 'MatMul' ? graph : await loadGraph(w, 'logits', dense);
    const model = fromGraphModel(net);
    const v = tf.randomNormal([5, CLASSES], 0, 1, 'float32', 5);
    const objective = (m: Model) => (t: tf.Tensor): tf.Scalar => tf.sum(tf.mul(m(t), v));
    const g = tf.grad(objective(model))(x);
    const gRef = tf.grad(objective(reference.model))(x);
    expect(g.shape).toEqual(x.shape);
    const scale = tf.tidy(() => tf.max(tf.abs(gRef)).dataSync()[0] ?? 0);
    expect(scale).toBeGreaterThan(1e-3);
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(g, gRef))).dataSync()[0] ?? Infinity)).toBeLessThan(1e-5 * Math.max(1, scale));
    tf.dispose([v, g, gRef]);
    if (net !== graph) net.dispose();
  });

  it('is attacked by pgd: the perturbation stays in the ε-ball and the box, and the loss rises', () => {
    const model = fromGraphModel(graph);
    const eps = 0.1;
    const xAdv = pgd(model, x, y, { eps, steps: 5, seed: 1 });
    expect(xAdv.shape).toEqual(x.shape);
    expect(maxDistance(xAdv, x, 'linf')).toBeLessThanOrEqual(eps * (1 + 1e-5) + 1e-6);
    expect(tf.tidy(() => tf.min(xAdv).dataSync()[0] ?? -1)).toBeGreaterThanOrEqual(0);
    expect(tf.tidy(() => tf.max(xAdv).dataSync()[0] ?? 2)).toBeLessThanOrEqual(1);
    const loss = (t: tf.Tensor): number => tf.tidy(() => crossEntropy(model(t), y).dataSync()[0] ?? NaN);
    expect(loss(xAdv)).toBeGreaterThan(loss(x) + 0.01);
    xAdv.dispose();
  });

  it('serves as a teacher: rsladLoss on its logits, and one epoch of fit with the rslad objective', async () => {
    const teacher = fromGraphModel(graph);
    const student = referenceModel(randomWeights(9));
    const loss = tf.tidy(() => rsladLoss({ studentAdv: student.model(x), studentClean: student.model(x), teacherClean: teacher(x) }).dataSync()[0] ?? NaN);
    expect(Number.isFinite(loss)).toBe(true);
    expect(loss).toBeGreaterThan(0);
    student.dispose();

    // A trainable student (variables), distilled from the graph teacher for one epoch.
    const r = testRandom(10);
    const kernel = tf.variable(tf.tensor2d(Array.from({ length: H * H * CHANNELS * CLASSES }, () => (r() - 0.5) * 0.2), [H * H * CHANNELS, CLASSES]));
    const bias = tf.variable(tf.zeros([CLASSES]));
    const studentModel: Model = (t) => tf.tidy(() => tf.add<tf.Tensor2D>(tf.matMul(tf.reshape(t, [-1, H * H * CHANNELS]), kernel), bias));
    const before = tf.tidy(() => Array.from(kernel.dataSync()));
    const tensorsBefore = tf.memory().numTensors;
    const trainable: Student = { forward: (t) => ({ logits: studentModel(t) }), trainableVariables: [kernel, bias], variables: [kernel, bias] };
    const history = await fit(trainable, { x, y }, rslad({ teacher, eps: 0.05, steps: 2, stepSize: 0.03 }), { epochs: 1, batchSize: 5, learningRate: 0.1, seed: 2 });
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    expect(history.epochs.length).toBe(1);
    expect(Array.from(kernel.dataSync())).not.toEqual(before);
    tf.dispose([kernel, bias]);
  });

  it('loads from the files tensorflowjs_converter writes, through ardkit/io in Node', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ardkit-graph-'));
    try {
      const { modelJson, weightData } = graphModelFiles(w, 'logits');
      fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(modelJson));
      fs.writeFileSync(path.join(dir, 'group1-shard1of1.bin'), new Uint8Array(weightData));
      const fromDisk = await loadGraphModel(fileSystem(path.join(dir, 'model.json')));
      const logits = fromGraphModel(fromDisk)(x);
      const expected = reference.model(x);
      expect(maxDistance(logits, expected, 'linf')).toBeLessThan(1e-5);
      tf.dispose([logits, expected]);
      fromDisk.dispose();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('takes the logits from a named node when the graph has several outputs (e.g. the input of its Softmax)', async () => {
    const twoHeads = await loadGraph(w, 'two-outputs');
    try {
      expect([...twoHeads.outputNodes].sort()).toEqual(['features', 'probs']);
      const logits = fromGraphModel(twoHeads, { outputName: 'logits' })(x);
      const expected = reference.model(x);
      expect(maxDistance(logits, expected, 'linf')).toBeLessThan(1e-5);
      // The Mean head is a [B, 4] output too, and its gradient flows through Mean.
      const features = fromGraphModel(twoHeads, { outputName: 'features', inputName: 'x' });
      const g = tf.grad((t: tf.Tensor) => tf.sum(features(t)))(x);
      expect(g.shape).toEqual(x.shape);
      expect(tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0] ?? 0)).toBeGreaterThan(0);
      tf.dispose([logits, expected, g]);
    } finally {
      twoHeads.dispose();
    }
  });

  it('leaves no tensor behind, on success, under tf.grad and on the error paths', async () => {
    const model = fromGraphModel(graph);
    expectNoLeak(() => model(x));
    expectNoLeak(() => tf.grad((t: tf.Tensor) => tf.sum(model(t)))(x));
    expectNoLeak(() => pgd(model, x, y, { eps: 0.05, steps: 2, seed: 0 }));
    const small = tf.zeros([2, H - 1, H - 1, CHANNELS]);
    expectThrowsNoLeak(() => model(small), /^fromGraphModel: x must have the shape of the graph's input "x", \[-1, 6, 6, 2\] \(-1: any size\) \(got a float32 tensor of shape \[2, 5, 5, 2\]\)$/);
    tf.dispose(small);
    const rank4 = fromGraphModel(graph, { outputName: 'conv2/Relu' });
    expectThrowsNoLeak(() => rank4(x), /^fromGraphModel: the output "conv2\/Relu" must be logits of shape \[B, C\], with B = 5 as in x \(got a float32 tensor of shape \[5, 2, 2, 4\]\)$/);
    const cond = await loadGraph(w, 'cond');
    try {
      expectThrowsNoLeak(() => fromGraphModel(cond)(x), /^fromGraphModel: model must run with the synchronous execute\(\)/, TypeError);
    } finally {
      cond.dispose();
    }
  });

  it('rejects a graph that needs executeAsync, naming the node and op and saying what to do, also under tf.grad', async () => {
    const cond = await loadGraph(w, 'cond');
    try {
      const model = fromGraphModel(cond);
      const message =
        /^fromGraphModel: model must run with the synchronous execute\(\), which input gradients need, so its graph must have no control-flow or dynamic-shape op \(got the node "cond\/Merge" with the op Merge\); convert a graph without them/;
      expect(() => model(x)).toThrow(TypeError);
      expect(() => model(x)).toThrow(message);
      expect(() => tf.grad((t: tf.Tensor) => tf.sum(model(t)))(x)).toThrow(message);
      expect(() => pgd(model, x, y, { eps: 0.05, steps: 2 })).toThrow(message);
    } finally {
      cond.dispose();
    }
  });

  it('keeps @tensorflow/tfjs-converter an optional peer: no source file of ardkit imports it', () => {
    const src = path.join(__dirname, '..', '..', 'src');
    const files = (fs.readdirSync(src, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(20);
    const importing = files.filter((f) => /^\s*(?:import|export)\b[^;]*from '@tensorflow\/tfjs-converter'|\bimport\('@tensorflow\/tfjs-converter'\)/m.test(fs.readFileSync(path.join(src, f), 'utf8')));
    expect(importing).toEqual([]);
  });

  it('rejects bad arguments naming fromGraphModel, the argument, the rule and the value', async () => {
    expect(() => fromGraphModel(null as never)).toThrow(/^fromGraphModel: model must be a loaded tf.GraphModel, with execute, inputNodes and outputNodes \(got null\)$/);
    expect(() => fromGraphModel((() => 0) as never)).toThrow(TypeError);
    expect(() => fromGraphModel({ execute: () => 0 } as never)).toThrow(/^fromGraphModel: model must be a loaded tf.GraphModel, .* \(got an object\)$/);
    // A tfjs-layers model has execute too, but no graph nodes: the message points to fromLayersModel.
    expect(() => fromGraphModel({ execute: () => 0, apply: () => 0 } as never)).toThrow(/\(a tfjs-layers model goes through fromLayersModel\) \(got an object\)$/);
    // A GraphModel constructed but never loaded.
    expect(() => fromGraphModel(new GraphModel('https://example.com/model.json'))).toThrow(/^fromGraphModel: model must be a loaded tf.GraphModel, .* \(got a model whose graph cannot be read: .*\); load it with tf.loadGraphModel$/);

    const twoHeads = await loadGraph(w, 'two-outputs');
    try {
      expect(() => fromGraphModel(twoHeads)).toThrow(RangeError);
      expect(() => fromGraphModel(twoHeads)).toThrow(/^fromGraphModel: outputName must name the output that holds the logits, since the graph does not have exactly one \(it has "probs", "features"\) \(got undefined\)$/);
    } finally {
      twoHeads.dispose();
    }
    const noInput: GraphModelLike = { inputNodes: [], outputNodes: ['logits'], execute: () => tf.zeros([1, 1]) };
    expect(() => fromGraphModel(noInput)).toThrow(/^fromGraphModel: inputName must name the input that receives x, since the graph does not have exactly one \(it has none\) \(got undefined\)$/);
    expect(() => fromGraphModel(graph, { outputName: 3 as never })).toThrow(/^fromGraphModel: outputName must be a string naming a node of the graph \(got 3\)$/);
    expect(() => fromGraphModel(graph, { inputName: '' })).toThrow(/^fromGraphModel: inputName must be a string naming a node of the graph \(got ""\)$/);
    expect(() => fromGraphModel(graph, { output: 'logits' } as never)).toThrow(/^fromGraphModel: options must only have the keys inputName, outputName \(got "output"\)$/);

    const model = fromGraphModel(graph);
    expect(() => model([1, 2] as never)).toThrow(/^fromGraphModel: x must be a tf.Tensor \(got \[1, 2\]\)$/);
    const ints = tf.zeros([1, H, H, CHANNELS], 'int32');
    expectThrowsNoLeak(() => model(ints), /^fromGraphModel: x must have the dtype of the graph's input "x", float32 \(got an int32 tensor of shape \[1, 6, 6, 2\]\)$/, TypeError);
    ints.dispose();
    expectThrowsNoLeak(() => fromGraphModel(graph, { outputName: 'nope' })(x), /^fromGraphModel: outputName must name a node of the graph \(got "nope"\)$/);
    expectThrowsNoLeak(() => fromGraphModel(graph, { inputName: 'nope' })(x), /^fromGraphModel: inputName must name a node of the graph \(got "nope"\)$/);
    // Several tensors back (a model that is only GraphModel-like): released before the error.
    const several: GraphModelLike = { inputNodes: ['x'], outputNodes: ['a'], execute: () => [tf.zeros([5, 3]), tf.zeros([5, 3])] };
    expectThrowsNoLeak(() => fromGraphModel(several)(x), /^fromGraphModel: the output "a" must be a single tensor of logits \(got \[a float32 tensor of shape \[5, 3\], a float32 tensor of shape \[5, 3\]\]\)$/, TypeError);
  });
});
