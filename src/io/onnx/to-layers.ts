import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { typeError, named } from '../../core/errors.js';
import { onnxInternals, type OnnxInternals, type OnnxModel } from './load.js';
import { compilerFor, type CompileContext } from './ops.js';
import type { NodeProto } from './schema.js';
import { attribute, attrFloat, attrInt, attrInts, attrString } from './attributes.js';
import { toHost, type ArrayTensor } from './tensors.js';
import { hostBinary, sizeOf, type HostValue, type Value } from './values.js';

const FN = 'onnxToLayers';

/**
 * Stands for the batch size where the host computes a shape (`Shape` of a tensor): the chains `x.view(x.size(0), -1)`
 * exports to carry it through Gather, Unsqueeze and Concat unchanged, and any arithmetic on it shows.
 */
const BATCH = -987_654_321;

type Sym = tfl.SymbolicTensor;
type Layer = tfl.layers.Layer;

/** A tensor of the graph, computed by the layers model. */
interface LayerValue {
  readonly kind: 'layer';
  readonly t: Sym;
  /** The ONNX (logical) dimensions, batch excluded: `[C, H, W]` for an image tensor, `[N]` for a matrix. */
  readonly dims: readonly number[];
  /**
   * True: `t` is `[B, H, W, C]` for logical `[B, C, H, W]` (what tfjs' convolutions take). False: `t` is
   * `[B, prod(dims)]`, the logical tensor flattened in ONNX's row-major order, so that a reshape that keeps the batch
   * axis is a relabelling.
   */
  readonly nhwc: boolean;
  /** Known to be ≥ 0 (after a ReLU), where zero padding before a max pool equals ONNX's −∞ padding. */
  readonly nonNegative: boolean;
}

/** A small array known when converting: constants, initializers read as values, shapes. */
interface HostVal {
  readonly kind: 'host';
  readonly v: HostValue;
}

/** An initializer of the graph, read lazily (its current value may be a fine-tuned variable). */
interface InitVal {
  readonly kind: 'init';
  readonly name: string;
  readonly array: ArrayTensor;
}

type Val = LayerValue | HostVal | InitVal;

/** A constant operand of an elementwise op: its ONNX shape and its current value as a tensor. */
interface Constant {
  readonly shape: readonly number[];
  readonly tensor: () => tf.Tensor;
}

/** One `x ↦ x op c` (or `c op x`) of a per-channel affine map. */
interface AffineStep {
  readonly op: 'Add' | 'Sub' | 'Mul' | 'Div';
  readonly c: Constant;
  readonly constFirst: boolean;
}

/** Explicit `[[top, bottom], [left, right]]` zero padding. */
type Pads2d = [[number, number], [number, number]];

/** How a window op's ONNX padding maps onto tfjs. */
type PaddingPlan = { readonly mode: 'valid' | 'same' } | { readonly mode: 'explicit'; readonly pads: Pads2d };

/** Thrown for a node that has no exact tfjs-layers form; the message says why, the caller adds node and operator. */
class Unconvertible extends Error {}

function unconvertible(reason: string): never {
  throw new Unconvertible(reason);
}

// ---------------------------------------------------------------------------------------------------------------
// Attributes

function pair(values: readonly number[] | undefined, fallback: number): [number, number] {
  return [values?.[0] ?? fallback, values?.[1] ?? fallback];
}

/** A shape for messages, the batch placeholder written as `batch`. */
function formatDims(dims: readonly number[]): string {
  return `[${dims.map((d) => (d === BATCH ? 'batch' : String(d))).join(', ')}]`;
}

// ---------------------------------------------------------------------------------------------------------------
// Window geometry

/** ONNX's begin and end padding of a window op along each spatial axis; `end` includes ceil_mode's extra windows. */
interface Windows {
  readonly begin: [number, number];
  readonly end: [number, number];
  readonly extra: [number, number];
}

/** Explicit padding from `pads` or `auto_pad` (kernel sizes already dilated), and ceil_mode's extension, as ONNX counts them. */
function windowPads(node: NodeProto, size: readonly [number, number], kernel: readonly [number, number], strides: readonly [number, number], ceil: boolean): Windows {
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  const pads = attrInts(node, 'pads') ?? [0, 0, 0, 0];
  const begin: [number, number] = [0, 0];
  const end: [number, number] = [0, 0];
  const extra: [number, number] = [0, 0];
  for (const d of [0, 1] as const) {
    const n = size[d];
    const k = kernel[d];
    const s = strides[d];
    let b = pads[d] ?? 0;
    let e = pads[d + 2] ?? 0;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      const total = Math.max(0, (Math.ceil(n / s) - 1) * s + k - n);
      const small = Math.floor(total / 2);
      b = autoPad === 'SAME_UPPER' ? small : total - small;
      e = total - b;
    } else if (autoPad === 'VALID') {
      b = 0;
      e = 0;
    }
    let more = 0;
    if (ceil) {
      // PyTorch's ceil_mode: one more window where the division leaves a remainder, unless it would start in the end padding.
      let out = Math.ceil((n + b + e - k) / s) + 1;
      if ((out - 1) * s >= n + b) out -= 1;
      more = Math.max(0, (out - 1) * s + k - (n + b + e));
    }
    begin[d] = b;
    end[d] = e + more;
    extra[d] = more;
  }
  return { begin, end, extra };
}

/** Whether tfjs' `'same'` padding (begin ⌊total/2⌋, ⌈n/s⌉ outputs) places the windows where ONNX does. */
function sameAsTfjs(w: Windows, size: readonly [number, number], kernel: readonly [number, number], strides: readonly [number, number]): boolean {
  return ([0, 1] as const).every((d) => {
    const n = size[d];
    const k = kernel[d];
    const s = strides[d];
    const out = Math.ceil(n / s);
    const total = Math.max(0, (out - 1) * s + k - n);
    return w.begin[d] === Math.floor(total / 2) && Math.floor((n + w.begin[d] + w.end[d] - k) / s) + 1 === out;
  });
}

function noPadding(w: Windows): boolean {
  return w.begin.every((p) => p === 0) && w.end.every((p) => p === 0);
}

function explicitPads(w: Windows): PaddingPlan {
  return { mode: 'explicit', pads: [[w.begin[0], w.end[0]], [w.begin[1], w.end[1]]] };
}

function describePads(w: Windows): string {
  return `[top ${String(w.begin[0])}, left ${String(w.begin[1])}, bottom ${String(w.end[0])}, right ${String(w.end[1])}]`;
}

/** Numpy broadcasting of two logical shapes (batch excluded), or undefined. */
function broadcastDims(a: readonly number[], b: readonly number[]): number[] | undefined {
  if (a.length !== b.length) return undefined;
  const out: number[] = [];
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? 1;
    const y = b[i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return undefined;
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** Whether a constant of ONNX shape `shape` is one value per channel (axis 1) of a rank-`rank` tensor with `channels` channels, or a scalar. */
function isPerChannel(shape: readonly number[], rank: number, channels: number): boolean {
  if (shape.length > rank) return false;
  const padded = [...Array<number>(rank - shape.length).fill(1), ...shape];
  return padded.every((d, i) => d === 1 || (i === 1 && d === channels));
}

const HOST_OPS = /* @__PURE__ */ new Set(['Add', 'Cast', 'Concat', 'Constant', 'ConstantOfShape', 'Div', 'Dropout', 'Flatten', 'Gather', 'Identity', 'Mul', 'Reshape', 'Shape', 'Slice', 'Squeeze', 'Sub', 'Transpose', 'Unsqueeze']);

const HOST_ARITHMETIC: Record<string, (a: number, b: number) => number> = {
  Add: (a, b) => a + b,
  Sub: (a, b) => a - b,
  Mul: (a, b) => a * b,
  Div: (a, b) => a / b
};

// ---------------------------------------------------------------------------------------------------------------
// tfjs-layers' classes, from tfjs-core's serialization registry

type Factory<F extends (args: never) => unknown> = (args: Parameters<F>[0]) => ReturnType<F>;

/** The tfjs-layers constructors the converter uses, as tfjs-layers' own factory functions call them. */
interface LayerFactories {
  readonly input: (args: { readonly shape: number[]; readonly name: string }) => Sym;
  readonly model: Factory<typeof tfl.model>;
  readonly conv2d: Factory<typeof tfl.layers.conv2d>;
  readonly depthwiseConv2d: Factory<typeof tfl.layers.depthwiseConv2d>;
  readonly batchNormalization: Factory<typeof tfl.layers.batchNormalization>;
  readonly reLU: Factory<typeof tfl.layers.reLU>;
  readonly leakyReLU: Factory<typeof tfl.layers.leakyReLU>;
  readonly activation: Factory<typeof tfl.layers.activation>;
  readonly softmax: Factory<typeof tfl.layers.softmax>;
  readonly add: (args: { readonly name: string }) => Layer;
  readonly multiply: (args: { readonly name: string }) => Layer;
  readonly concatenate: (args: { readonly axis: number; readonly name: string }) => Layer;
  readonly maxPooling2d: Factory<typeof tfl.layers.maxPooling2d>;
  readonly averagePooling2d: Factory<typeof tfl.layers.averagePooling2d>;
  readonly globalAveragePooling2d: Factory<typeof tfl.layers.globalAveragePooling2d>;
  readonly globalMaxPooling2d: Factory<typeof tfl.layers.globalMaxPooling2d>;
  readonly dense: Factory<typeof tfl.layers.dense>;
  readonly flatten: Factory<typeof tfl.layers.flatten>;
  readonly reshape: Factory<typeof tfl.layers.reshape>;
  readonly permute: Factory<typeof tfl.layers.permute>;
  readonly zeroPadding2d: Factory<typeof tfl.layers.zeroPadding2d>;
}

/** Each factory's class, by the name tfjs-layers registers it under (the `class_name` of model.json). */
const CLASS_NAMES: Readonly<Record<Exclude<keyof LayerFactories, 'input'>, string>> = {
  model: 'Model',
  conv2d: 'Conv2D',
  depthwiseConv2d: 'DepthwiseConv2D',
  batchNormalization: 'BatchNormalization',
  reLU: 'ReLU',
  leakyReLU: 'LeakyReLU',
  activation: 'Activation',
  softmax: 'Softmax',
  add: 'Add',
  multiply: 'Multiply',
  concatenate: 'Concatenate',
  maxPooling2d: 'MaxPooling2D',
  averagePooling2d: 'AveragePooling2D',
  globalAveragePooling2d: 'GlobalAveragePooling2D',
  globalMaxPooling2d: 'GlobalMaxPooling2D',
  dense: 'Dense',
  flatten: 'Flatten',
  reshape: 'Reshape',
  permute: 'Permute',
  zeroPadding2d: 'ZeroPadding2D'
};

/**
 * tfjs-layers' constructors, looked up in tfjs-core's serialization registry (where tfjs-layers registers every
 * layer when it is imported, and where `tf.loadLayersModel` finds them), so that `ardkit/io` imports nothing from
 * tfjs-layers, an optional peer: importing it, or bundling `fileSystem` alone, never pulls tfjs-layers in.
 */
function layerFactories(): LayerFactories {
  const registry = tf.serialization.SerializationMap.getMap().classNameMap;
  const constructorOf = (name: string): new (args: unknown) => unknown => {
    const entry = registry[name];
    if (entry === undefined) {
      throw new Error(`${FN}: @tensorflow/tfjs-layers is not loaded (no ${name} layer is registered with this copy of tfjs-core): import '@tensorflow/tfjs-layers' or '@tensorflow/tfjs' once in your program`);
    }
    return entry[0];
  };
  const entries = Object.entries(CLASS_NAMES).map(([key, name]) => {
    const Class = constructorOf(name);
    return [key, (args: unknown) => new Class(args)] as const;
  });
  const InputLayer = constructorOf('InputLayer');
  // tf.input: an InputLayer's symbolic output.
  const input = (args: { readonly shape: number[]; readonly name: string }): Sym => {
    const layer = new InputLayer({ batchInputShape: [null, ...args.shape], name: args.name, dtype: 'float32' }) as Layer;
    return layer.inboundNodes[0]?.outputTensors[0] as Sym;
  };
  return { ...(Object.fromEntries(entries) as unknown as Omit<LayerFactories, 'input'>), input };
}

// ---------------------------------------------------------------------------------------------------------------
// The converter

/** Walks the compiled graph once, node by node, building layers. */
class Converter {
  private readonly values = new Map<string, Val>();
  private readonly consumers = new Map<string, NodeProto[]>();
  /** Nodes already converted as part of an earlier node (a fused bias, an affine chain, a Constant). */
  private readonly done = new Set<NodeProto>();
  private readonly names = new Set<string>();
  private readonly toNhwcCache = new Map<Sym, Sym>();
  private readonly toFlatCache = new Map<Sym, Sym>();
  /** Every layer made, so that their weights can be freed when the conversion fails. */
  readonly layers: Layer[] = [];
  private base = 'layer';

  constructor(
    private readonly internals: OnnxInternals,
    private readonly model: OnnxModel,
    private readonly make: LayerFactories
  ) {
    // The loader also keeps the nodes of its `features` option: only those the logits need are converted.
    const producer = new Map<string, NodeProto>();
    for (const node of internals.nodes) for (const name of node.output) producer.set(name, node);
    const needed = new Set<NodeProto>();
    const wanted = [internals.output];
    for (let name = wanted.pop(); name !== undefined; name = wanted.pop()) {
      const node = producer.get(name);
      if (node === undefined || needed.has(node)) continue;
      needed.add(node);
      wanted.push(...node.input.filter((n) => n !== ''));
    }
    for (const node of internals.nodes) {
      if (!needed.has(node)) this.done.add(node);
      else for (const name of node.input) if (name !== '') this.consumers.set(name, [...(this.consumers.get(name) ?? []), node]);
    }
  }

  /** Builds the model. */
  build(): tfl.LayersModel {
    const input = this.input();
    const host: CompileContext = this.hostContext();
    // Constant nodes first: an affine chain or a fused bias may read one that sits later in the node list.
    for (const node of this.internals.nodes) {
      if (node.opType !== 'Constant' || this.done.has(node)) continue;
      this.runHost(node, [], host);
      this.done.add(node);
    }
    this.internals.nodes.forEach((node, index) => {
      if (this.done.has(node)) return;
      this.base = this.baseName(node, index);
      try {
        this.convert(node, host);
      } catch (error) {
        const label = `node ${JSON.stringify(node.name === '' ? `#${String(index)}` : node.name)} (${node.opType})`;
        if (error instanceof Unconvertible) throw new Error(`${FN}: ${label}: ${error.message}`, { cause: error });
        throw new Error(`${FN}: ${label} cannot be converted: ${(error as Error).message}`, { cause: error });
      }
    });
    const out = this.values.get(this.internals.output);
    if (out?.kind !== 'layer') throw new Error(`${FN}: the graph output ${JSON.stringify(this.internals.output)} is a constant, not computed from the input`);
    this.base = 'logits';
    const model = this.make.model({ inputs: input, outputs: this.toFlat(out), name: 'onnx_model' });
    // A layer off the path to the logits (none is expected) would keep its weights: free them.
    const used = new Set(model.layers);
    for (const layer of this.layers) if (!used.has(layer)) for (const weight of layer.weights) weight.dispose();
    return model;
  }

  // --- values -----------------------------------------------------------------------------------------------

  private input(): Sym {
    const shape = [...this.model.inputShape];
    if (shape.some((d) => d <= 0)) {
      throw new Error(`${FN}: the model's input shape [${shape.map((d) => (d < 0 ? '?' : String(d))).join(', ')}] has free dimensions; a layers model needs them fixed (export the ONNX model with a fixed height, width and channels)`);
    }
    const t = this.make.input({ shape, name: 'input' });
    let value: LayerValue;
    if (shape.length === 3 && this.model.layout === 'nhwc') {
      value = { kind: 'layer', t, dims: [shape[2] ?? 0, shape[0] ?? 0, shape[1] ?? 0], nhwc: true, nonNegative: false };
    } else if (shape.length === 3) {
      this.base = 'input';
      const nhwc = this.apply(this.make.permute({ dims: [2, 3, 1], name: this.name('to_nhwc') }), t);
      value = { kind: 'layer', t: nhwc, dims: shape, nhwc: true, nonNegative: false };
    } else if (shape.length === 1) {
      value = { kind: 'layer', t, dims: shape, nhwc: false, nonNegative: false };
    } else {
      throw new Error(`${FN}: the graph input ${JSON.stringify(this.internals.input)} has rank ${String(shape.length + 1)}; layers models are made for images [B, C, H, W] and vectors [B, D]`);
    }
    this.values.set(this.internals.input, value);
    return t;
  }

  private valueOf(name: string | undefined): Val | undefined {
    if (name === undefined || name === '') return undefined;
    const v = this.values.get(name);
    if (v !== undefined) return v;
    const array = this.internals.initializers.get(name);
    return array === undefined ? undefined : { kind: 'init', name, array };
  }

  private layerInput(node: NodeProto, i: number): LayerValue {
    const v = this.valueOf(node.input[i]);
    if (v?.kind !== 'layer') unconvertible(`its input ${String(i)} must be a tensor computed from the model's input (it is ${v === undefined ? 'missing' : 'a constant'})`);
    return v;
  }

  private hostOf(v: Val, what: string): HostValue {
    if (v.kind === 'host') return v.v;
    if (v.kind === 'init') return toHost(v.array);
    return unconvertible(`${what} must be a constant known when the graph is converted (it is computed from the input)`);
  }

  /** The current value of an initializer: the model's (possibly fine-tuned) parameter `raw:NAME`, or the file's. */
  private current(name: string): tf.Tensor {
    const p = this.internals.params.get(`raw:${name}`);
    if (p !== undefined) return p;
    const array = this.internals.initializers.get(name);
    if (array === undefined) throw new Error(`internal: ${JSON.stringify(name)} is neither a parameter nor an initializer`);
    return tf.tensor(array.data, [...array.shape], 'float32');
  }

  private param(key: string): tf.Tensor {
    const p = this.internals.params.get(key);
    if (p === undefined) throw new Error(`internal: the model has no parameter ${JSON.stringify(key)}`);
    return p;
  }

  private constant(name: string | undefined): Constant | undefined {
    const v = this.valueOf(name);
    if (v === undefined || v.kind === 'layer') return undefined;
    if (v.kind === 'host') {
      const h = v.v;
      return { shape: h.shape, tensor: () => tf.tensor(h.data, [...h.shape], 'float32') };
    }
    return { shape: v.array.shape, tensor: () => this.current(v.name) };
  }

  /** A constant broadcast to one value per channel, `[channels]`. */
  private static perChannel(c: Constant, channels: number): tf.Tensor1D {
    return tf.add(tf.zeros([channels]), tf.reshape(c.tensor(), [-1]));
  }

  private set(name: string | undefined, value: Val): void {
    if (name !== undefined && name !== '') this.values.set(name, value);
  }

  /** The single node that reads `name`, when nothing else (and not the graph's output) does. */
  private soleConsumer(name: string | undefined): NodeProto | undefined {
    if (name === undefined || name === this.internals.output) return undefined;
    const readers = this.consumers.get(name) ?? [];
    const node = readers[0];
    return readers.length === 1 && node !== undefined && !this.done.has(node) ? node : undefined;
  }

  // --- layers -----------------------------------------------------------------------------------------------

  private baseName(node: NodeProto, index: number): string {
    const cleaned = node.name.replace(/[^A-Za-z0-9_]+/g, '_').replace(/^_+|_+$/g, '');
    return /^[A-Za-z]/.test(cleaned) ? cleaned : `${node.opType.toLowerCase()}_${String(index)}${cleaned === '' ? '' : `_${cleaned}`}`;
  }

  /** A layer name unique in the model, from the current node's. */
  private name(suffix = ''): string {
    const stem = suffix === '' ? this.base : `${this.base}_${suffix}`;
    let name = stem;
    for (let i = 1; this.names.has(name); i++) name = `${stem}_${String(i)}`;
    this.names.add(name);
    return name;
  }

  /** Applies a layer and sets its weights (built from the model's current tensors, freed afterwards). */
  private apply(layer: Layer, inputs: Sym | Sym[], weights?: () => tf.Tensor[]): Sym {
    this.layers.push(layer);
    const out = layer.apply(inputs) as Sym;
    if (weights !== undefined) tf.tidy(() => { layer.setWeights(weights()); });
    return out;
  }

  /** Logical `[B, C, H, W]` as a `[B, H, W, C]` tensor. */
  private toNhwc(v: LayerValue): Sym {
    if (v.nhwc) return v.t;
    const [c, h, w] = v.dims;
    if (v.dims.length !== 3 || c === undefined || h === undefined || w === undefined) {
      unconvertible(`it needs an image tensor [B, C, H, W] (got rank ${String(v.dims.length + 1)}, ${formatDims([BATCH, ...v.dims])})`);
    }
    const cached = this.toNhwcCache.get(v.t);
    if (cached !== undefined) return cached;
    let t: Sym;
    // The row-major orders of [C, H, W] and [H, W, C] agree when H·W = 1 or C = 1: a reshape is enough.
    if (h * w === 1) t = this.apply(this.make.reshape({ targetShape: [1, 1, c], name: this.name('to_nhwc') }), v.t);
    else if (c === 1) t = this.apply(this.make.reshape({ targetShape: [h, w, 1], name: this.name('to_nhwc') }), v.t);
    else {
      const chw = this.apply(this.make.reshape({ targetShape: [c, h, w], name: this.name('to_chw') }), v.t);
      t = this.apply(this.make.permute({ dims: [2, 3, 1], name: this.name('to_nhwc') }), chw);
    }
    this.toNhwcCache.set(v.t, t);
    return t;
  }

  /** The logical tensor flattened in ONNX's order, `[B, prod(dims)]` (NCHW's C·H·W order, not NHWC's). */
  private toFlat(v: LayerValue): Sym {
    if (!v.nhwc) return v.t;
    const cached = this.toFlatCache.get(v.t);
    if (cached !== undefined) return cached;
    const [c, h, w] = v.dims as [number, number, number];
    const chw = h * w === 1 || c === 1 ? v.t : this.apply(this.make.permute({ dims: [3, 1, 2], name: this.name('to_nchw') }), v.t);
    const t = this.apply(this.make.flatten({ name: this.name('flatten') }), chw);
    this.toFlatCache.set(v.t, t);
    return t;
  }

  private nhwcValue(t: Sym, nonNegative: boolean): LayerValue {
    const [, h, w, c] = t.shape as [null, number, number, number];
    return { kind: 'layer', t, dims: [c, h, w], nhwc: true, nonNegative };
  }

  /** A zero padding layer (no-op without padding). */
  private zeroPad(t: Sym, pads: Pads2d): Sym {
    if (pads.flat().every((p) => p === 0)) return t;
    return this.apply(this.make.zeroPadding2d({ padding: pads, name: this.name('pad') }), t);
  }

  // --- nodes ------------------------------------------------------------------------------------------------

  private convert(node: NodeProto, host: CompileContext): void {
    const inputs = node.input.map((n) => this.valueOf(n));
    if (inputs.every((v) => v === undefined || v.kind !== 'layer')) {
      if (!HOST_OPS.has(node.opType)) unconvertible('it computes on constants only, which the converter does not fold for this operator');
      this.runHost(node, inputs, host);
      return;
    }
    const handler = this.handlers[node.opType];
    if (handler === undefined) {
      unconvertible(`the operator ${node.opType} on a tensor has no tfjs-layers layer in this converter (it converts ${Object.keys(this.handlers).join(', ')}, and shape chains)`);
    }
    handler(node);
  }

  /** The converter of each operator whose input is a tensor. */
  private readonly handlers: Readonly<Record<string, ((node: NodeProto) => void) | undefined>> = {
    Conv: (node) => { this.conv(node); },
    BatchNormalization: (node) => { this.batchNorm(node); },
    Relu: (node) => { this.elementwise(node, this.make.reLU({ name: this.name() }), () => true); },
    LeakyRelu: (node) => { this.elementwise(node, this.make.leakyReLU({ alpha: attrFloat(node, 'alpha', 0.01), name: this.name() }), () => false); },
    Sigmoid: (node) => { this.elementwise(node, this.make.activation({ activation: 'sigmoid', name: this.name() }), () => true); },
    Tanh: (node) => { this.elementwise(node, this.make.activation({ activation: 'tanh', name: this.name() }), () => false); },
    Clip: (node) => { this.clip(node); },
    Softmax: (node) => { this.softmax(node); },
    Add: (node) => { this.binary(node, 'Add'); },
    Sub: (node) => { this.binary(node, 'Sub'); },
    Mul: (node) => { this.binary(node, 'Mul'); },
    Div: (node) => { this.binary(node, 'Div'); },
    MaxPool: (node) => { this.pool(node, 'max'); },
    AveragePool: (node) => { this.pool(node, 'avg'); },
    GlobalAveragePool: (node) => { this.globalPool(node, 'avg'); },
    GlobalMaxPool: (node) => { this.globalPool(node, 'max'); },
    ReduceMean: (node) => { this.reduceMean(node); },
    Gemm: (node) => { this.gemm(node); },
    MatMul: (node) => { this.matMul(node); },
    Concat: (node) => { this.concat(node); },
    Flatten: (node) => { this.flatten(node); },
    Reshape: (node) => { this.reshape(node); },
    Squeeze: (node) => { this.squeeze(node, false); },
    Unsqueeze: (node) => { this.squeeze(node, true); },
    Shape: (node) => { this.shape(node); },
    Pad: (node) => { this.pad(node); },
    Identity: (node) => { this.set(node.output[0], this.layerInput(node, 0)); },
    Dropout: (node) => { this.set(node.output[0], this.layerInput(node, 0)); },
    Cast: (node) => {
      const to = attrInt(node, 'to', 1);
      if (to !== 1 && to !== 10 && to !== 11) unconvertible('it casts a tensor to a non-float type; a layers model computes in float32');
      this.set(node.output[0], this.layerInput(node, 0));
    },
    Transpose: (node) => {
      const x = this.layerInput(node, 0);
      const perm = attrInts(node, 'perm');
      if (perm === undefined || perm.some((p, i) => p !== i)) {
        unconvertible('a transpose of a tensor has no exact tfjs-layers form here (tensors are stored channels-last); only the identity permutation converts');
      }
      this.set(node.output[0], x);
    }
  };

  private hostContext(): CompileContext {
    return {
      opset: this.internals.opset,
      trainable: false,
      initializer: (name) => this.internals.initializers.get(name),
      param: (request) => request.key
    };
  }

  /** Computes a node whose inputs are all known on the host (shape chains, constants), as the loader does. */
  private runHost(node: NodeProto, inputs: readonly (Val | undefined)[], host: CompileContext): void {
    const values = inputs.map((v, i) => (v === undefined ? undefined : this.hostOf(v, `input ${String(i)}`)));
    if (node.opType === 'ConstantOfShape' && values[0]?.data.some((d) => d < 0)) unconvertible('its shape depends on the batch size');
    let outs: Value[];
    const arithmetic = HOST_ARITHMETIC[node.opType];
    if (arithmetic !== undefined) {
      const [a, b] = values;
      if (a === undefined || b === undefined) unconvertible('it needs two inputs');
      const ints = a.dtype !== 'float32' && b.dtype !== 'float32';
      outs = [hostBinary(a, b, ints && node.opType === 'Div' ? (x, y) => Math.trunc(x / y) : arithmetic, ints ? 'int32' : 'float32')];
    } else {
      const compiler = compilerFor(node.opType);
      if (compiler === undefined) unconvertible('the loader has no host evaluation of this operator');
      outs = compiler(node, host)(values, () => unconvertible('it reads a weight where a constant was expected'));
    }
    outs.forEach((v, i) => {
      if (v.kind !== 'host') unconvertible('it was expected to compute a constant');
      this.set(node.output[i], { kind: 'host', v });
    });
  }

  private elementwise(node: NodeProto, layer: Layer, nonNegative: (x: LayerValue) => boolean): void {
    const x = this.layerInput(node, 0);
    this.set(node.output[0], { kind: 'layer', t: this.apply(layer, x.t), dims: x.dims, nhwc: x.nhwc, nonNegative: nonNegative(x) });
  }

  private clip(node: NodeProto): void {
    const bound = (i: number, attr: string, fallback: number): number => {
      if (this.internals.opset < 11) return attrFloat(node, attr, fallback);
      const v = this.valueOf(node.input[i]);
      return v === undefined ? fallback : (this.hostOf(v, `its ${attr} (input ${String(i)})`).data[0] ?? fallback);
    };
    const lo = bound(1, 'min', -Infinity);
    const hi = bound(2, 'max', Infinity);
    if (lo === -Infinity && hi === Infinity) {
      this.set(node.output[0], this.layerInput(node, 0));
      return;
    }
    if (lo !== 0 || !(hi > 0)) unconvertible(`it clips to [${String(lo)}, ${String(hi)}]; tfjs-layers clips only to [0, max] (ReLU with maxValue, e.g. ReLU6)`);
    const layer = hi === Infinity ? this.make.reLU({ name: this.name() }) : this.make.reLU({ maxValue: hi, name: this.name() });
    this.elementwise(node, layer, () => true);
  }

  private softmax(node: NodeProto): void {
    const x = this.layerInput(node, 0);
    const rank = x.dims.length + 1;
    const axis = attrInt(node, 'axis', this.internals.opset >= 13 ? -1 : 1);
    if (rank !== 2 || (axis !== 1 && axis !== -1)) unconvertible(`only a softmax over the last axis of a matrix [B, N] converts (got axis ${String(axis)} of a rank-${String(rank)} tensor)`);
    this.elementwise(node, this.make.softmax({ axis: -1, name: this.name() }), () => true);
  }

  private conv(node: NodeProto): void {
    const x = this.layerInput(node, 0);
    const weightName = node.input[1] ?? '';
    const weight = this.internals.initializers.get(weightName);
    if (weight?.shape.length !== 4) unconvertible('its weight (input 1) must be a 4-D initializer');
    const [outChannels, inPerGroup, kh, kw] = weight.shape as [number, number, number, number];
    const input = this.toNhwc(x);
    const [, height, width, channels] = input.shape as [null, number, number, number];
    const group = attrInt(node, 'group', 1);
    const depthwise = group > 1 && inPerGroup === 1 && group === channels;
    if (group > 1 && !depthwise) {
      unconvertible(`it is a grouped convolution (group ${String(group)} over ${String(channels)} input channels); tfjs-layers has no grouped convolution, only conv2d (group 1) and depthwiseConv2d (group = input channels)`);
    }
    const strides = pair(attrInts(node, 'strides'), 1);
    const dilations = pair(attrInts(node, 'dilations'), 1);
    const dilated = dilations[0] !== 1 || dilations[1] !== 1;
    if (depthwise && dilated) unconvertible(`it is a dilated depthwise convolution (dilations [${dilations.join(', ')}]); tfjs-layers' depthwiseConv2d ignores dilation`);
    if (dilated && (strides[0] !== 1 || strides[1] !== 1)) unconvertible(`it has both strides [${strides.join(', ')}] and dilations [${dilations.join(', ')}] above 1, which tfjs' conv2d does not take together`);
    const kernel: [number, number] = [(kh - 1) * dilations[0] + 1, (kw - 1) * dilations[1] + 1];
    const w = windowPads(node, [height, width], kernel, strides, false);
    const plan: PaddingPlan = noPadding(w) ? { mode: 'valid' } : sameAsTfjs(w, [height, width], kernel, strides) ? { mode: 'same' } : explicitPads(w);
    const padded = plan.mode === 'explicit' ? this.zeroPad(input, plan.pads) : input;
    const padding = plan.mode === 'same' ? 'same' : 'valid';
    const biasName = node.input[2] ?? '';
    const fused = biasName === '' ? this.fusableBias(node, 4, outChannels) : undefined;
    const useBias = biasName !== '' || fused !== undefined;
    const name = this.name();
    const layer = depthwise
      ? this.make.depthwiseConv2d({ kernelSize: [kh, kw], strides, padding, depthMultiplier: outChannels / channels, useBias, depthwiseInitializer: 'zeros', biasInitializer: 'zeros', name })
      : this.make.conv2d({ filters: outChannels, kernelSize: [kh, kw], strides, padding, dilationRate: dilations, useBias, kernelInitializer: 'zeros', biasInitializer: 'zeros', name });
    const y = this.apply(layer, padded, () => {
      // The loader keeps the filter in tfjs' layout: conv2d's [kh, kw, I, O], depthwiseConv2d's [kh, kw, C, m].
      const filter = this.param(`${depthwise ? 'dw' : 'conv'}:${weightName}`);
      if (!useBias) return [filter];
      return [filter, fused === undefined ? this.current(biasName) : fused.bias()];
    });
    this.set(fused?.output ?? node.output[0], this.nhwcValue(y, false));
  }

  /**
   * A bias-free Conv, Gemm or MatMul whose only reader is `Add` of a per-channel constant (PyTorch's `MatMul` + `Add`
   * for a Linear layer): the Add becomes the layer's bias.
   */
  private fusableBias(node: NodeProto, rank: number, channels: number): { output: string | undefined; bias: () => tf.Tensor } | undefined {
    const out = node.output[0];
    const next = this.soleConsumer(out);
    if (next?.opType !== 'Add') return undefined;
    const other = next.input[0] === out ? next.input[1] : next.input[0];
    const c = other === out ? undefined : this.constant(other);
    if (c === undefined || !isPerChannel(c.shape, rank, channels)) return undefined;
    this.done.add(next);
    return { output: next.output[0], bias: () => Converter.perChannel(c, channels) };
  }

  private batchNorm(node: NodeProto): void {
    const x = this.layerInput(node, 0);
    const rank = x.dims.length + 1;
    if (rank !== 4 && rank !== 2) unconvertible(`only batch norm of images [B, C, H, W] and matrices [B, C] converts (got rank ${String(rank)})`);
    const t = rank === 4 ? this.toNhwc(x) : x.t;
    const names = node.input.slice(1, 5);
    const layer = this.make.batchNormalization({
      axis: -1,
      epsilon: attrFloat(node, 'epsilon', 1e-5),
      momentum: attrFloat(node, 'momentum', 0.9),
      name: this.name()
    });
    // γ, β, μ, σ² in the model's current values (fine-tuned variables when loaded trainable; the file's otherwise).
    const y = this.apply(layer, t, () => names.map((n) => this.current(n)));
    this.set(node.output[0], rank === 4 ? this.nhwcValue(y, false) : { kind: 'layer', t: y, dims: x.dims, nhwc: false, nonNegative: false });
  }

  private binary(node: NodeProto, op: 'Add' | 'Sub' | 'Mul' | 'Div'): void {
    const a = this.valueOf(node.input[0]);
    const b = this.valueOf(node.input[1]);
    if (a?.kind === 'layer' && b?.kind === 'layer') {
      this.merge(node, op, a, b);
      return;
    }
    const x = (a?.kind === 'layer' ? a : b) as LayerValue;
    const constFirst = a?.kind !== 'layer';
    const c = this.constant(node.input[constFirst ? 0 : 1]);
    if (c === undefined) unconvertible('its constant operand is missing');
    if (op === 'Div' && constFirst) unconvertible('it divides a constant by a tensor, which is not an affine map and has no tfjs-layers layer');
    const steps: AffineStep[] = [{ op, c, constFirst }];
    this.checkAffine(x, c);
    // Following affine ops on the result alone (x·2 − 1, (x − μ)/σ) become one layer.
    let last = node;
    for (;;) {
      const out = last.output[0];
      const next = this.soleConsumer(out);
      if (next === undefined || !['Add', 'Sub', 'Mul', 'Div'].includes(next.opType) || next.input.filter((n) => n === out).length !== 1) break;
      const first = next.input[0] !== out;
      const nc = this.constant(next.input[first ? 0 : 1]);
      if (nc === undefined || !isPerChannel(nc.shape, x.dims.length + 1, x.dims[0] ?? 1) || (next.opType === 'Div' && first)) break;
      steps.push({ op: next.opType as AffineStep['op'], c: nc, constFirst: first });
      this.done.add(next);
      last = next;
    }
    this.set(last.output[0], this.affine(x, steps));
  }

  private checkAffine(x: LayerValue, c: Constant): void {
    const rank = x.dims.length + 1;
    if (rank !== 4 && rank !== 2) unconvertible(`an elementwise op with a constant converts on images [B, C, H, W] and matrices [B, N] only (got rank ${String(rank)})`);
    if (!isPerChannel(c.shape, rank, x.dims[0] ?? 1)) {
      unconvertible(`its constant operand of shape [${c.shape.join(', ')}] is not one value per channel (axis 1) of the tensor ${formatDims([BATCH, ...x.dims])}; only per-channel constants become layers (a fixed 1×1 depthwise convolution)`);
    }
  }

  /**
   * A per-channel affine map `x ↦ a·x + b` as a fixed (non-trainable) 1×1 depthwise convolution with bias, the layer
   * `ardkit/models` builds its input normalisation from: `(x − μ)/σ` is `a = 1/σ`, `b = −μ/σ`.
   */
  private affine(x: LayerValue, steps: readonly AffineStep[]): LayerValue {
    const channels = x.dims[0] ?? 1;
    const matrix = x.dims.length === 1;
    const input = matrix ? this.apply(this.make.reshape({ targetShape: [1, 1, channels], name: this.name('to_nhwc') }), x.t) : this.toNhwc(x);
    const layer = this.make.depthwiseConv2d({ kernelSize: 1, depthMultiplier: 1, useBias: true, trainable: false, depthwiseInitializer: 'zeros', biasInitializer: 'zeros', name: this.name('affine') });
    const y = this.apply(layer, input, () => {
      let a: tf.Tensor = tf.ones([channels]);
      let b: tf.Tensor = tf.zeros([channels]);
      for (const { op, c, constFirst } of steps) {
        const v = Converter.perChannel(c, channels);
        if (op === 'Add') b = tf.add(b, v);
        else if (op === 'Mul') [a, b] = [tf.mul(a, v), tf.mul(b, v)];
        else if (op === 'Div') [a, b] = [tf.div(a, v), tf.div(b, v)];
        else if (constFirst) [a, b] = [tf.neg(a), tf.sub(v, b)];
        else b = tf.sub(b, v);
      }
      return [tf.reshape(a, [1, 1, channels, 1]), b];
    });
    if (!matrix) return this.nhwcValue(y, false);
    const flat = this.apply(this.make.reshape({ targetShape: [channels], name: this.name('to_matrix') }), y);
    return { kind: 'layer', t: flat, dims: x.dims, nhwc: false, nonNegative: false };
  }

  /** Add, Sub or Mul of two tensors: tfjs-layers' add and multiply (which broadcast axes of size 1); Sub adds −b. */
  private merge(node: NodeProto, op: 'Add' | 'Sub' | 'Mul' | 'Div', a: LayerValue, b: LayerValue): void {
    if (op === 'Div') unconvertible('it divides two tensors; tfjs-layers has no division layer');
    const dims = broadcastDims(a.dims, b.dims);
    if (dims === undefined) unconvertible(`its operands ${formatDims([BATCH, ...a.dims])} and ${formatDims([BATCH, ...b.dims])} do not broadcast within an example (same rank, axes equal or 1)`);
    const image = dims.length === 3;
    if (!image && (a.dims.length !== 1 || b.dims.join() !== a.dims.join())) {
      unconvertible(`an elementwise op of two tensors converts on images [B, C, H, W] and on matrices [B, N] of the same shape (got ${formatDims([BATCH, ...a.dims])} and ${formatDims([BATCH, ...b.dims])})`);
    }
    const rhs = op === 'Sub' ? this.affine(b, [{ op: 'Mul', c: { shape: [], tensor: () => tf.scalar(-1) }, constFirst: false }]) : b;
    const inputs = image ? [this.toNhwc(a), this.toNhwc(rhs)] : [a.t, rhs.t];
    const layer = op === 'Mul' ? this.make.multiply({ name: this.name() }) : this.make.add({ name: this.name() });
    const t = this.apply(layer, inputs);
    const nonNegative = op !== 'Sub' && a.nonNegative && b.nonNegative;
    this.set(node.output[0], image ? this.nhwcValue(t, nonNegative) : { kind: 'layer', t, dims, nhwc: false, nonNegative });
  }

  private pool(node: NodeProto, kind: 'max' | 'avg'): void {
    const x = this.layerInput(node, 0);
    const input = this.toNhwc(x);
    const [, height, width] = input.shape as [null, number, number, number];
    const size: [number, number] = [height, width];
    const kernel = pair(attrInts(node, 'kernel_shape'), 1);
    const strides = pair(attrInts(node, 'strides'), 1);
    const w = windowPads(node, size, kernel, strides, attrInt(node, 'ceil_mode', 0) === 1);
    const includePad = attrInt(node, 'count_include_pad', 0) === 1;
    const padsOnly = w.begin.every((p) => p === 0) && w.end.every((p, d) => p === w.extra[d]);
    let plan: PaddingPlan;
    if (noPadding(w)) plan = { mode: 'valid' };
    // tfjs' 'same' leaves the padding out of a max and out of an average's count, as ONNX does without count_include_pad.
    else if ((kind === 'max' || !includePad || padsOnly) && sameAsTfjs(w, size, kernel, strides)) plan = { mode: 'same' };
    else if (kind === 'max' && x.nonNegative) plan = explicitPads(w);
    else if (kind === 'avg' && includePad && w.extra.every((e) => e === 0)) plan = explicitPads(w);
    else if (kind === 'max') {
      return unconvertible(`its padding ${describePads(w)} is not tfjs' 'same' padding, and zero padding equals ONNX's −∞ padding only for inputs known to be ≥ 0 (after a ReLU); this input is not`);
    } else {
      return unconvertible(
        includePad
          ? `its ceil_mode windows past the padding ${describePads(w)} divide by fewer elements than the kernel, which tfjs-layers' average pooling does not reproduce`
          : `with count_include_pad = 0, its padding ${describePads(w)} is not tfjs' 'same' padding, and an average over zero padding would count the padding`
      );
    }
    const padded = plan.mode === 'explicit' ? this.zeroPad(input, plan.pads) : input;
    const args = { poolSize: kernel, strides, padding: plan.mode === 'same' ? ('same' as const) : ('valid' as const), name: this.name() };
    const layer = kind === 'max' ? this.make.maxPooling2d(args) : this.make.averagePooling2d(args);
    this.set(node.output[0], this.nhwcValue(this.apply(layer, padded), x.nonNegative));
  }

  private globalPool(node: NodeProto, kind: 'max' | 'avg', keepDims = true): void {
    const x = this.layerInput(node, 0);
    const input = this.toNhwc(x);
    const channels = x.dims[0] ?? 1;
    const layer = kind === 'max' ? this.make.globalMaxPooling2d({ name: this.name() }) : this.make.globalAveragePooling2d({ name: this.name() });
    // [B, C]: the row-major storage of logical [B, C, 1, 1] as well.
    this.set(node.output[0], { kind: 'layer', t: this.apply(layer, input), dims: keepDims ? [channels, 1, 1] : [channels], nhwc: false, nonNegative: x.nonNegative });
  }

  private reduceMean(node: NodeProto): void {
    const x = this.layerInput(node, 0);
    const rank = x.dims.length + 1;
    const axes = (attrInts(node, 'axes') ?? []).map((a) => (a < 0 ? a + rank : a)).sort((p, q) => p - q);
    if (rank !== 4 || axes.join() !== '2,3') unconvertible('only a mean over the spatial axes [2, 3] of an image converts (global average pooling)');
    this.globalPool(node, 'avg', attrInt(node, 'keepdims', 1) === 1);
  }

  /** A matrix input `[B, K]` of Gemm or MatMul. */
  private matrixInput(node: NodeProto): LayerValue {
    const x = this.layerInput(node, 0);
    if (x.dims.length !== 1) unconvertible(`its input ${formatDims([BATCH, ...x.dims])} is not a matrix [B, K]; a dense layer takes [B, K] (flatten first)`);
    return x;
  }

  private gemm(node: NodeProto): void {
    if (attrInt(node, 'transA', 0) === 1) unconvertible('transA = 1 transposes the batch of inputs; a dense layer takes [B, K]');
    const transB = attrInt(node, 'transB', 0) === 1;
    const alpha = attrFloat(node, 'alpha', 1);
    const beta = attrFloat(node, 'beta', 1);
    const x = this.matrixInput(node);
    const bName = node.input[1] ?? '';
    const b = this.internals.initializers.get(bName);
    if (b?.shape.length !== 2) unconvertible('its B (input 1) must be a 2-D initializer (the weight), not a tensor computed from the input');
    const [rows, cols] = b.shape as [number, number];
    const [inputs, units] = transB ? [cols, rows] : [rows, cols];
    if (inputs !== x.dims[0]) unconvertible(`its weight takes ${String(inputs)} inputs where A has ${String(x.dims[0])}`);
    const cName = node.input[2] ?? '';
    let bias: (() => tf.Tensor) | undefined;
    let output = node.output[0];
    if (cName !== '') {
      const c = this.constant(cName);
      if (c === undefined || !isPerChannel(c.shape, 2, units)) unconvertible(`its C (input 2) must be a constant of ${String(units)} values or one (the bias)`);
      bias = () => tf.mul(Converter.perChannel(c, units), beta);
    } else {
      const fused = this.fusableBias(node, 2, units);
      bias = fused?.bias;
      output = fused?.output ?? output;
    }
    const kernel = (): tf.Tensor => {
      const w = transB ? tf.transpose(this.current(bName)) : this.current(bName);
      return alpha === 1 ? w : tf.mul(w, alpha);
    };
    this.dense(x, units, kernel, bias, output);
  }

  private matMul(node: NodeProto): void {
    const x = this.matrixInput(node);
    const bName = node.input[1] ?? '';
    const b = this.internals.initializers.get(bName);
    if (b?.shape.length !== 2) unconvertible('its second operand must be a 2-D initializer (a weight); a product of two tensors computed from the input has no tfjs-layers layer');
    const [inputs, units] = b.shape as [number, number];
    if (inputs !== x.dims[0]) unconvertible(`its weight takes ${String(inputs)} inputs where the tensor has ${String(x.dims[0])}`);
    const fused = this.fusableBias(node, 2, units);
    this.dense(x, units, () => this.current(bName), fused?.bias, fused?.output ?? node.output[0]);
  }

  private dense(x: LayerValue, units: number, kernel: () => tf.Tensor, bias: (() => tf.Tensor) | undefined, output: string | undefined): void {
    const layer = this.make.dense({ units, useBias: bias !== undefined, kernelInitializer: 'zeros', biasInitializer: 'zeros', name: this.name() });
    const t = this.apply(layer, x.t, () => (bias === undefined ? [kernel()] : [kernel(), bias()]));
    this.set(output, { kind: 'layer', t, dims: [units], nhwc: false, nonNegative: false });
  }

  private concat(node: NodeProto): void {
    const parts = node.input.filter((n) => n !== '').map((n) => this.valueOf(n));
    if (parts.some((p) => p?.kind !== 'layer')) unconvertible('it concatenates a constant with a tensor; a layers model concatenates tensors only');
    const values = parts as LayerValue[];
    const first = values[0] as LayerValue;
    const rank = first.dims.length + 1;
    const axis = attrInt(node, 'axis', 1);
    if ((axis < 0 ? axis + rank : axis) !== 1 || (rank !== 4 && rank !== 2) || values.some((v) => v.dims.length !== first.dims.length)) {
      unconvertible(`only a concatenation along the channels (axis 1) of images or matrices converts (got axis ${String(axis)} of rank-${String(rank)} tensors)`);
    }
    if (values.length === 1) {
      this.set(node.output[0], first);
      return;
    }
    const channels = values.reduce((s, v) => s + (v.dims[0] ?? 0), 0);
    const nonNegative = values.every((v) => v.nonNegative);
    // Channel vectors (rank 2, or [C, 1, 1] stored flat) concatenate as they are stored.
    const flat = values.every((v) => !v.nhwc && sizeOf(v.dims) === v.dims[0]);
    const layer = this.make.concatenate({ axis: -1, name: this.name() });
    if (flat) {
      this.set(node.output[0], { kind: 'layer', t: this.apply(layer, values.map((v) => v.t)), dims: [channels, ...first.dims.slice(1)], nhwc: false, nonNegative });
      return;
    }
    this.set(node.output[0], this.nhwcValue(this.apply(layer, values.map((v) => this.toNhwc(v))), nonNegative));
  }

  /** The same tensor under other logical dimensions (batch kept): its ONNX-order flattening, relabelled. */
  private relabel(node: NodeProto, x: LayerValue, dims: readonly number[]): void {
    if (sizeOf(dims) !== sizeOf(x.dims)) unconvertible(`it cannot reshape ${formatDims([BATCH, ...x.dims])} to ${formatDims([BATCH, ...dims])}`);
    if (dims.join() === x.dims.join()) {
      this.set(node.output[0], x);
      return;
    }
    this.set(node.output[0], { kind: 'layer', t: this.toFlat(x), dims, nhwc: false, nonNegative: x.nonNegative });
  }

  private flatten(node: NodeProto): void {
    const x = this.layerInput(node, 0);
    const rank = x.dims.length + 1;
    const axis = attrInt(node, 'axis', 1);
    if ((axis < 0 ? axis + rank : axis) !== 1) unconvertible(`only Flatten with axis 1 (one row per example) converts (got axis ${String(axis)})`);
    this.relabel(node, x, [sizeOf(x.dims)]);
  }

  private reshape(node: NodeProto): void {
    const x = this.layerInput(node, 0);
    const shapeValue = this.valueOf(node.input[1]);
    if (shapeValue === undefined) unconvertible('its shape (input 1) is missing');
    const target = this.hostOf(shapeValue, 'its shape (input 1)').data.map((d) => Math.trunc(d));
    const allowZero = attrInt(node, 'allowzero', 0) === 1;
    const total = sizeOf(x.dims);
    const [head, ...rest] = target;
    const dims = rest.map((d, i) => (d === 0 && !allowZero ? (x.dims[i] ?? 0) : d));
    if (dims.some((d) => d < -1)) unconvertible(`its target shape ${formatDims(target)} computes an example's dimension from the batch size`);
    const inferred = dims.indexOf(-1);
    const known = sizeOf(dims.filter((d) => d !== -1));
    const keepsBatch = head === BATCH || (head === 0 && !allowZero) || (head === -1 && inferred < 0 && known === total);
    if (!keepsBatch) {
      unconvertible(`its target shape ${formatDims(target)} does not keep the batch axis (it moves values between examples, or fixes the batch size); a layers model reshapes each example on its own`);
    }
    if (inferred >= 0) dims[inferred] = known === 0 ? 0 : total / known;
    this.relabel(node, x, dims);
  }

  private squeeze(node: NodeProto, unsqueeze: boolean): void {
    const x = this.layerInput(node, 0);
    const rank = x.dims.length + 1;
    const axesValue = this.internals.opset >= 13 ? this.valueOf(node.input[1]) : undefined;
    const axes = axesValue === undefined ? attrInts(node, 'axes') : this.hostOf(axesValue, 'its axes (input 1)').data.map(Math.trunc);
    const logical = [BATCH, ...x.dims];
    let out: number[];
    if (unsqueeze) {
      if (axes === undefined) unconvertible('its axes are required');
      const outRank = rank + axes.length;
      const normalised = axes.map((a) => (a < 0 ? a + outRank : a)).sort((p, q) => p - q);
      out = [...logical];
      for (const a of normalised) out.splice(a, 0, 1);
      if (out[0] !== BATCH) unconvertible('it inserts an axis before the batch axis');
    } else {
      const normalised = axes?.map((a) => (a < 0 ? a + rank : a));
      if (normalised?.includes(0)) unconvertible('it removes the batch axis');
      out = logical.filter((d, i) => i === 0 || (normalised === undefined ? d !== 1 : !normalised.includes(i)));
    }
    this.relabel(node, x, out.slice(1));
  }

  private shape(node: NodeProto): void {
    const x = this.layerInput(node, 0);
    const dims = [BATCH, ...x.dims];
    const clampIndex = (i: number): number => Math.max(0, Math.min(dims.length, i < 0 ? i + dims.length : i));
    const endAttr = attribute(node, 'end');
    const picked = dims.slice(clampIndex(attrInt(node, 'start', 0)), clampIndex(endAttr === undefined ? dims.length : endAttr.i));
    this.set(node.output[0], { kind: 'host', v: { kind: 'host', dtype: 'int32', shape: [picked.length], data: picked } });
  }

  private pad(node: NodeProto): void {
    const x = this.layerInput(node, 0);
    const mode = attrString(node, 'mode', 'constant');
    if (mode !== 'constant') unconvertible(`${mode} padding has no tfjs-layers layer (only zero padding converts, as zeroPadding2d)`);
    const padsValue = this.valueOf(node.input[1]);
    const pads = this.internals.opset >= 11 ? (padsValue === undefined ? [] : this.hostOf(padsValue, 'its pads (input 1)').data) : (attrInts(node, 'pads') ?? []);
    const valueInput = this.valueOf(node.input[2]);
    const value = this.internals.opset >= 11 ? (valueInput === undefined ? 0 : (this.hostOf(valueInput, 'its value (input 2)').data[0] ?? 0)) : attrFloat(node, 'value', 0);
    if (value !== 0) unconvertible(`it pads with ${String(value)}; tfjs-layers pads with zeros only`);
    const [, , top = 0, left = 0, , , bottom = 0, right = 0] = pads;
    if (x.dims.length !== 3 || pads.length !== 8 || [0, 1, 4, 5].some((i) => pads[i] !== 0) || pads.some((p) => p < 0)) {
      unconvertible(`only non-negative padding of the spatial axes of an image converts (got pads [${pads.join(', ')}] on a rank-${String(x.dims.length + 1)} tensor)`);
    }
    const t = this.zeroPad(this.toNhwc(x), [[top, bottom], [left, right]]);
    this.set(node.output[0], this.nhwcValue(t, x.nonNegative));
  }
}

/**
 * The same network as a tfjs-layers model (`tf.LayersModel`) built from standard layers only, so that it can be saved
 * (`model.save(fileSystem(dir))` from `ardkit/io`, or any tfjs IO handler) and loaded in a page by plain
 * `tf.loadLayersModel`, without ardkit.
 *
 * The layers model takes the {@link OnnxModel}'s input (`[B, ...model.inputShape]`: NHWC, or NCHW when loaded with
 * `layout: 'nchw'`), gives its logits (equal to float32 rounding, about 1e-6 relative), and holds the model's
 * **current** weights: a model loaded with `trainable: true` and fine-tuned exports its fine-tuned weights (batch norm
 * as γ, β and the running statistics; a model loaded without `trainable` gives its batch norms from the file). The
 * weights are copied: the two models are used and disposed independently. Nothing is read back from the device.
 *
 * What maps to what (image tensors `[B, C, H, W]` run channels-last, `[B, H, W, C]`, as tfjs' layers want them):
 *
 * | ONNX | tfjs-layers |
 * | --- | --- |
 * | Conv, group 1 | `conv2d` (dilation only with stride 1) |
 * | Conv, group = input channels | `depthwiseConv2d` (any multiplier, no dilation) |
 * | Conv `pads` | `padding: 'same'` where they equal tfjs' 'same' for that input size; else `zeroPadding2d`, `'valid'` |
 * | Conv, Gemm or MatMul without bias, read only by Add of a per-channel constant | that layer, with the Add as its bias |
 * | BatchNormalization (inference form) | `batchNormalization`: γ, β, μ, σ², ε and momentum of the graph |
 * | Relu; Clip to [0, m]; LeakyRelu; Sigmoid, Tanh; Softmax over the last axis of `[B, N]` | `reLU`; `reLU({ maxValue: m })`; `leakyReLU`; `activation`; `softmax` |
 * | a chain of Add, Sub, Mul, Div of a tensor and per-channel constants, e.g. `(x − μ)/σ` | one fixed (non-trainable) 1×1 `depthwiseConv2d` with bias: `a·x + b` |
 * | Add, Mul of two tensors (axes of size 1 broadcast); Sub `a − b` | `add`, `multiply`; `add` of `a` and `−b` (a fixed 1×1 layer) |
 * | MaxPool | `maxPooling2d`: no padding, tfjs' 'same', or `zeroPadding2d` where the input is ≥ 0 (after ReLU, ReLU6, Sigmoid) |
 * | AveragePool | `averagePooling2d`: no padding; 'same' when count_include_pad = 0; `zeroPadding2d` when it is 1 |
 * | GlobalAveragePool, GlobalMaxPool, ReduceMean over H and W | `globalAveragePooling2d`, `globalMaxPooling2d` |
 * | Gemm (transA 0, B an initializer; kernel α·B or α·Bᵀ, bias β·C); MatMul of `[B, K]` by an initializer | `dense` |
 * | Flatten (axis 1); Reshape, Squeeze, Unsqueeze that keep the batch axis, `x.view(x.size(0), -1)`'s Shape chain | `flatten`, after a `permute` to ONNX's C·H·W order when H·W > 1 and C > 1 |
 * | Concat of the channels | `concatenate` |
 * | Pad with zeros on H and W | `zeroPadding2d` |
 * | Identity, Dropout, Cast to float; Constant and shape arithmetic | nothing (passed through, or computed when converting) |
 *
 * Graphs that do **not** convert (the error names the node, its operator and why): a grouped convolution with
 * 1 < group < channels (tfjs-layers has none); a dilated depthwise convolution, or a convolution with strides and
 * dilations both above 1; a max pool whose padding is not tfjs' 'same' on an input not known to be ≥ 0; an average
 * pool with count_include_pad = 0 and padding other than 'same', or with count_include_pad = 1 and ceil_mode windows
 * past the padding; Pad in reflect mode or with a value other than 0; Clip to bounds other than [0, max]; Div of two
 * tensors or of a constant by a tensor; an elementwise op with a constant that varies along H or W; Transpose,
 * Gather or Slice of a tensor (a permute / MatMul / permute round trip); MatMul of two tensors; Gemm with transA;
 * a Reshape that moves values between examples (`[-1, 16]` of `[B, 4, 4, 4]`) or fixes the batch size; Softmax over
 * another axis; operators outside the table (e.g. ConstantOfShape or Slice of tensors); tensors of a rank other than
 * 2 or 4 where a layer needs one; and inputs with free dimensions besides the batch.
 *
 * @param model - a model from {@link loadOnnx}, not disposed.
 * @returns a new `tf.LayersModel` with its own copy of the weights; the caller disposes it (`layersModel.dispose()`).
 * @throws TypeError when `model` was not made by `loadOnnx`; Error naming `onnxToLayers`, the node and its operator
 * when a node has no exact tfjs-layers form (see above); Error when the model was disposed or its input has free
 * dimensions. Nothing stays allocated when it throws.
 * @example
 * import { fileSystem, loadOnnx, onnxToLayers } from 'ardkit/io';
 * const teacher = await loadOnnx('teacher.onnx', { trainable: true });
 * await fit(teacher.asStudent(), data, pgdAt({ eps: 8 / 255 }), { epochs: 1 }); // fine-tune in ardkit
 * const layersModel = onnxToLayers(teacher);                                    // with the fine-tuned weights
 * await layersModel.save(fileSystem('public/teacher'));
 * // in a page, without ardkit: const net = await tf.loadLayersModel('teacher/model.json');
 */
export function onnxToLayers(model: OnnxModel): tfl.LayersModel {
  return named('onnxToLayers', () => {
    const internals = onnxInternals(model);
    if (internals === undefined) typeError('model', 'be a model made by loadOnnx', model);
    if ([...internals.params.values()].some((t) => t.isDisposed)) throw new Error(`${FN}: the model was disposed`);
    const converter = new Converter(internals, model, layerFactories());
    try {
      return converter.build();
    } catch (error) {
      for (const layer of converter.layers) for (const weight of layer.weights) weight.dispose();
      throw error;
    }
  });
}
