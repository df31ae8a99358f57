/**
 * A tfjs-layers model's forward pass written with tfjs-core ops, layer by layer, for the layers ardkit's networks and
 * most classifiers are made of. Used in place of `model.apply` where it gives the same function:
 *
 * - `apply` fuses a convolution or a dense layer with its bias and activation (`tf.fused.conv2d`, `tf.fused.matMul`),
 *   whose gradient computes the weights' gradient on every call, also when only the input's is asked for (every
 *   attack step): about a third of an attack step's time on a convolutional network is spent on it;
 * - tfjs' batch-norm gradient tiles the scale to the input's shape (a full-size copy per layer and step); inference-mode
 *   batch norm here is `x·a + b`, with `a = γ/√(σ² + ε)` and `b = β − μ·a` computed from the layer's weights per call;
 * - `apply` checks, casts and tracks symbolic shapes per layer and call: on a small network that is most of the time.
 *
 * The compiled forward reads each layer's weights when it runs, so training and `setWeights` are seen. Any layer,
 * option or data format it does not know makes {@link compileLayersForward} return `undefined`, and the caller keeps
 * `apply`. Training mode is compiled only for networks without batch norm and dropout, whose training-mode behaviour
 * (batch statistics and their moving averages, random masks) stays with `apply`.
 */
import * as tf from '@tensorflow/tfjs-core';

/** A layer's weight as tfjs-layers keeps it. */
interface WeightLike {
  readonly name: string;
  read(): tf.Tensor;
}

/** A symbolic tensor of a tfjs-layers graph. */
interface SymbolicLike {
  readonly id: number;
  readonly shape: ReadonlyArray<number | null>;
  readonly sourceLayer: LayerLike;
  readonly nodeIndex: number;
  readonly tensorIndex: number;
}

/** A node of a tfjs-layers graph: one call of a layer. */
interface NodeLike {
  readonly inputTensors: readonly SymbolicLike[];
}

/** A tfjs-layers layer, as far as the compiler reads it. */
interface LayerLike {
  getClassName(): string;
  getConfig(): Record<string, unknown>;
  readonly weights: readonly WeightLike[];
  readonly inboundNodes: readonly NodeLike[];
}

/** A tfjs-layers model with a graph: what {@link compileLayersForward} accepts. */
interface GraphModelLike {
  readonly inputs: readonly SymbolicLike[];
  readonly outputs: readonly SymbolicLike[];
}

/** One compiled layer: its inputs' values to its output. */
type Op = (inputs: readonly tf.Tensor[]) => tf.Tensor;

/** A compiled forward pass: the model's output for `x`. */
export type CompiledForward = (x: tf.Tensor) => tf.Tensor;

/** What a compiled model can run: inference mode, and training mode where it is the same function. */
export interface CompiledLayersModel {
  /** The forward pass in inference mode. */
  readonly inference: CompiledForward;
  /** Whether training mode computes the same function (no batch norm, no dropout), so `inference` serves for it. */
  readonly sameInTraining: boolean;
}

/** The activations tfjs-layers names in its configs, as tfjs-layers computes them. */
const ACTIVATIONS: Readonly<Record<string, (x: tf.Tensor) => tf.Tensor>> = {
  linear: (x) => x,
  relu: (x) => tf.relu(x),
  // tfjs-layers' relu6 is min(6, relu(x)): the same form keeps the gradient at the boundaries.
  relu6: (x) => tf.minimum(6, tf.relu(x)),
  sigmoid: (x) => tf.sigmoid(x),
  tanh: (x) => tf.tanh(x),
  softmax: (x) => tf.softmax(x, -1),
  selu: (x) => tf.selu(x),
  softplus: (x) => tf.softplus(x)
};

function activation(name: unknown): ((x: tf.Tensor) => tf.Tensor) | undefined {
  return typeof name === 'string' ? ACTIVATIONS[name] : undefined;
}

/**
 * The layer's weight kept in its property `property` (tfjs-layers' `kernel`, `bias`, `depthwiseKernel`, `gamma`, …),
 * when it is one of the layer's weights.
 */
function weight(layer: LayerLike, property: string): WeightLike | undefined {
  const w = (layer as unknown as Record<string, unknown>)[property];
  return layer.weights.includes(w as WeightLike) ? (w as WeightLike) : undefined;
}

const isPair = (v: unknown): v is [number, number] => Array.isArray(v) && v.length === 2 && v.every((n) => Number.isInteger(n) && (n as number) > 0);

function pair(v: unknown): [number, number] | undefined {
  if (typeof v === 'number' && Number.isInteger(v) && v > 0) return [v, v];
  return isPair(v) ? v : undefined;
}

function padding(v: unknown): 'same' | 'valid' | undefined {
  return v === 'same' || v === 'valid' ? v : undefined;
}

/** The bias (when the layer has one) and the activation, after the layer's linear part. */
function biasActivation(layer: LayerLike, config: Record<string, unknown>): ((y: tf.Tensor) => tf.Tensor) | undefined {
  const act = activation(config['activation'] ?? 'linear');
  if (act === undefined) return undefined;
  const bias = config['useBias'] === false ? undefined : weight(layer, 'bias');
  if (config['useBias'] !== false && bias === undefined) return undefined;
  return (y) => act(bias === undefined ? y : tf.add(y, bias.read()));
}

/** Compiles one layer, given its input shapes; `undefined` when it is not one the compiler knows exactly. */
function compileLayer(layer: LayerLike, inputShapes: ReadonlyArray<ReadonlyArray<number | null>>): Op | undefined {
  const config = layer.getConfig();
  const cls = layer.getClassName();
  const rank = inputShapes[0]?.length;
  const channelsLast = config['dataFormat'] === undefined || config['dataFormat'] === 'channelsLast';
  switch (cls) {
    case 'InputLayer':
    case 'Dropout':
      return ([x]) => x as tf.Tensor;
    case 'Dense': {
      const kernel = weight(layer, 'kernel');
      const after = biasActivation(layer, config);
      if (kernel === undefined || after === undefined || rank !== 2) return undefined;
      return ([x]) => after(tf.matMul(x as tf.Tensor2D, kernel.read()));
    }
    case 'Conv2D':
    case 'DepthwiseConv2D': {
      const depthwise = cls === 'DepthwiseConv2D';
      const kernel = weight(layer, depthwise ? 'depthwiseKernel' : 'kernel');
      const after = biasActivation(layer, config);
      const strides = pair(config['strides']);
      const dilations = pair(config['dilationRate'] ?? 1);
      const pad = padding(config['padding']);
      // tfjs has no gradient for a dilated conv2d (apply's fails the same way): such layers stay with apply.
      const dilated = dilations !== undefined && (dilations[0] !== 1 || dilations[1] !== 1);
      if (kernel === undefined || after === undefined || strides === undefined || dilations === undefined || pad === undefined) return undefined;
      if ((dilated && !depthwise) || rank !== 4 || !channelsLast) return undefined;
      return depthwise
        ? ([x]) => after(tf.depthwiseConv2d(x as tf.Tensor4D, kernel.read() as tf.Tensor4D, strides, pad, 'NHWC', dilations))
        : ([x]) => after(tf.conv2d(x as tf.Tensor4D, kernel.read() as tf.Tensor4D, strides, pad, 'NHWC'));
    }
    case 'BatchNormalization': {
      const axis = config['axis'];
      const epsilon = config['epsilon'];
      const gamma = config['scale'] === false ? undefined : weight(layer, 'gamma');
      const beta = config['center'] === false ? undefined : weight(layer, 'beta');
      const mean = weight(layer, 'movingMean');
      const variance = weight(layer, 'movingVariance');
      const lastAxis = rank !== undefined && (axis === -1 || axis === rank - 1);
      if (!lastAxis || typeof epsilon !== 'number' || mean === undefined || variance === undefined) return undefined;
      if ((config['scale'] !== false && gamma === undefined) || (config['center'] !== false && beta === undefined)) return undefined;
      return ([x]) => {
        const inv = tf.rsqrt(tf.add(variance.read(), epsilon));
        const a = gamma === undefined ? inv : tf.mul(gamma.read(), inv);
        const shift = tf.neg(tf.mul(mean.read(), a));
        const b = beta === undefined ? shift : tf.add(beta.read(), shift);
        return tf.add(tf.mul(x as tf.Tensor, a), b);
      };
    }
    case 'Activation': {
      const act = activation(config['activation']);
      return act === undefined ? undefined : ([x]) => act(x as tf.Tensor);
    }
    case 'ReLU': {
      const max = config['maxValue'];
      if (max !== undefined && max !== null && typeof max !== 'number') return undefined;
      return ([x]) => (typeof max === 'number' ? tf.clipByValue(tf.relu(x as tf.Tensor), 0, max) : tf.relu(x as tf.Tensor));
    }
    case 'LeakyReLU': {
      const alpha = config['alpha'];
      return typeof alpha === 'number' ? ([x]) => tf.leakyRelu(x as tf.Tensor, alpha) : undefined;
    }
    case 'Add':
      return inputShapes.length >= 2 ? (xs) => xs.slice(1).reduce((s, t) => tf.add(s, t), xs[0] as tf.Tensor) : undefined;
    case 'Concatenate': {
      const axis = config['axis'];
      return typeof axis === 'number' ? (xs) => tf.concat(xs as tf.Tensor[], axis) : undefined;
    }
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      const size = pair(config['poolSize']);
      const strides = pair(config['strides'] ?? config['poolSize']);
      const pad = padding(config['padding']);
      if (size === undefined || strides === undefined || pad === undefined || rank !== 4 || !channelsLast) return undefined;
      return cls === 'MaxPooling2D'
        ? ([x]) => tf.maxPool(x as tf.Tensor4D, size, strides, pad)
        : ([x]) => tf.avgPool(x as tf.Tensor4D, size, strides, pad);
    }
    case 'GlobalAveragePooling2D':
      return rank === 4 && channelsLast ? ([x]) => tf.mean(x as tf.Tensor, [1, 2]) : undefined;
    case 'GlobalMaxPooling2D':
      return rank === 4 && channelsLast ? ([x]) => tf.max(x as tf.Tensor, [1, 2]) : undefined;
    case 'Flatten':
      // tfjs-layers flattens channels-last tensors in memory order (it transposes channels-first ones first).
      return channelsLast ? ([x]) => tf.reshape(x as tf.Tensor, [(x as tf.Tensor).shape[0] ?? -1, -1]) : undefined;
    case 'Rescaling': {
      // x·scale + offset, as tfjs-layers computes it (e.g. withTemperatureLayer's z/τ, Keras' input rescaling).
      const scale = config['scale'];
      const offset = config['offset'] ?? 0;
      if (typeof scale !== 'number' || typeof offset !== 'number') return undefined;
      return ([x]) => tf.add(tf.mul(tf.cast(x as tf.Tensor, 'float32'), scale), offset);
    }
    case 'ZeroPadding2D': {
      const p = config['padding'];
      const ok = Array.isArray(p) && p.length === 2 && p.every((q) => Array.isArray(q) && q.length === 2 && q.every((n) => Number.isInteger(n) && (n as number) >= 0));
      if (!ok || rank !== 4 || !channelsLast) return undefined;
      const [[top, bottom], [left, right]] = p as [[number, number], [number, number]];
      return ([x]) => tf.pad(x as tf.Tensor4D, [[0, 0], [top, bottom], [left, right], [0, 0]]);
    }
    default:
      return undefined;
  }
}

/** Layers whose training mode differs from their inference mode. */
const TRAINING_DEPENDENT = new Set(['BatchNormalization', 'Dropout']);

function isGraphModel(model: unknown): model is GraphModelLike {
  const m = model as Partial<GraphModelLike> | null;
  return typeof model === 'object' && m !== null && Array.isArray(m.inputs) && Array.isArray(m.outputs);
}

/** Compiled models, by model: a model is compiled once (its layers do not change once built). */
const cache = new WeakMap<object, CompiledLayersModel | null>();

/**
 * Compiles a tfjs-layers model's forward pass into tfjs-core ops (see the module's comment), or returns `undefined`
 * when the model has a layer, an option or a shape the compiler does not handle exactly, several inputs or outputs,
 * or no graph: callers then use `apply`. The result is cached per model.
 *
 * @param model - a tfjs-layers `LayersModel` (Sequential or functional).
 * @returns the compiled forward passes, or `undefined`.
 */
export function compileLayersForward(model: unknown): CompiledLayersModel | undefined {
  if (typeof model !== 'object' || model === null) return undefined;
  const known = cache.get(model);
  if (known !== undefined) return known ?? undefined;
  let compiled: CompiledLayersModel | undefined;
  try {
    compiled = compile(model);
  } catch {
    // A model shaped unlike tfjs-layers' (a subclass, another version): `apply` it is.
    compiled = undefined;
  }
  cache.set(model, compiled ?? null);
  return compiled;
}

function compile(model: object): CompiledLayersModel | undefined {
  if (!isGraphModel(model) || model.inputs.length !== 1 || model.outputs.length !== 1) return undefined;
  const input = model.inputs[0] as SymbolicLike;
  const output = model.outputs[0] as SymbolicLike;
  // Topological order from the output back to the input; each step runs one layer call (a node).
  const steps: Array<{ id: number; op: Op; inputs: number[] }> = [];
  const done = new Set<number>([input.id]);
  let trainingDependent = false;
  const visit = (t: SymbolicLike, depth: number): boolean => {
    if (done.has(t.id)) return true;
    if (depth > 10_000) return false;
    const layer = t.sourceLayer;
    const node = layer.inboundNodes[t.nodeIndex];
    if (node === undefined || t.tensorIndex !== 0 || node.inputTensors.length === 0) return false;
    for (const i of node.inputTensors) if (!visit(i, depth + 1)) return false;
    const op = compileLayer(layer, node.inputTensors.map((i) => i.shape));
    if (op === undefined) return false;
    if (TRAINING_DEPENDENT.has(layer.getClassName())) trainingDependent = true;
    steps.push({ id: t.id, op, inputs: node.inputTensors.map((i) => i.id) });
    done.add(t.id);
    return true;
  };
  if (!visit(output, 0)) return undefined;
  const inference: CompiledForward = (x) =>
    tf.tidy(() => {
      const values = new Map<number, tf.Tensor>([[input.id, x]]);
      for (const s of steps) values.set(s.id, s.op(s.inputs.map((i) => values.get(i) as tf.Tensor)));
      return values.get(output.id) as tf.Tensor;
    });
  return { inference, sameInTraining: !trainingDependent };
}

/** Whether `x` has the shape the model's input declares (`null`: any size), so that the compiled pass applies. */
export function fitsInput(model: unknown, x: tf.Tensor): boolean {
  if (!isGraphModel(model)) return false;
  const shape = model.inputs[0]?.shape;
  return shape !== undefined && shape.length === x.rank && shape.every((d, i) => d === null || d === x.shape[i]) && x.dtype === 'float32';
}

/**
 * `x ↦ model.apply(x, { training })`, through the compiled forward pass when the model compiles, the mode allows it
 * and `x` fits the model's input (`apply` then reports the mismatch in its own words).
 *
 * @param model - a tfjs-layers model, or anything with `apply`.
 * @param training - the mode `apply` would be given.
 * @returns the forward pass; its output is whatever `apply` returns.
 */
export function layersForward(model: { apply(inputs: tf.Tensor, kwargs?: { training?: boolean }): unknown }, training: boolean): (x: tf.Tensor) => unknown {
  return (x) => {
    const compiled = compileLayersForward(model);
    if (compiled !== undefined && (!training || compiled.sameInTraining) && fitsInput(model, x)) return compiled.inference(x);
    return model.apply(x, { training });
  };
}
