import * as tf from '@tensorflow/tfjs-core';
import type { Model } from '../../core/model.js';
import type { Student, StudentOutputs } from '../../core/student.js';
import { formatValue, isTensor, rangeError, typeError, named, runAs } from '../../core/errors.js';
import { custom, flag, oneOf, parseOptions, type OptionField, type OptionFields, type Parsed } from '../../core/options.js';
import { compilerFor, SUPPORTED_OPS, UnsupportedError, type Exec, type ParamRequest } from './ops.js';
import { decodeModel, type GraphProto, type ModelProto, type NodeProto } from './schema.js';
import { dataTypeName, readTensorProto, toHost, type ArrayTensor } from './tensors.js';
import { toLogicalTensor, type Value } from './values.js';

const FN = 'loadOnnx';

/** The opsets of ONNX's default domain that {@link loadOnnx} reads: 11 to 17. */
export const ONNX_OPSETS: OnnxOpsets = { min: 11, max: 17 };

/** A range of ONNX opsets. */
export interface OnnxOpsets {
  /** The oldest opset read. */
  readonly min: number;
  /** The newest opset read. */
  readonly max: number;
}

/** Options of {@link loadOnnx}. */
export interface LoadOnnxOptions {
  /**
   * The layout of the inputs the loaded model takes. `'nhwc'` (ardkit's and tfjs' convention: `[B, H, W, C]`) is
   * converted to the graph's NCHW inside; `'nchw'` passes inputs as the graph declares them.
   * @defaultValue 'nhwc'
   */
  readonly layout?: 'nhwc' | 'nchw';
  /**
   * Make the weights `tf.Variable`s, so that the network can be fine-tuned as a {@link OnnxModel.asStudent | student}:
   * convolution, Gemm and MatMul weights, their biases (Add of an initializer) and batch-norm scales and shifts are
   * trainable; batch-norm statistics and the constants of Sub, Mul and Div (a normalisation inside the model) are not.
   * Batch norm stays in inference form (running statistics). When false, batch norm is folded into one scale and
   * shift per channel.
   * @defaultValue false
   */
  readonly trainable?: boolean;
  /** The graph output that holds the logits, when the graph has several. */
  readonly output?: string;
  /** A value of the graph (e.g. the pooled representation) that the student returns as `features` (flattened to `[B, d]`). */
  readonly features?: string;
  /** The name error messages give the file (defaults to its path, or `"bytes"`). */
  readonly name?: string;
}

/** A network loaded from ONNX: a {@link Model} (`x ↦ logits`), with what is known about it. */
export interface OnnxModel extends Model {
  /** The shape of one input example in the model's layout (e.g. `[32, 32, 3]` for NHWC); `-1` where the graph leaves a dimension free. */
  readonly inputShape: readonly number[];
  /** The number of classes (the logits' last dimension). */
  readonly classes: number;
  /** The opset of ONNX's default domain the file was exported with. */
  readonly opset: number;
  /** `producer_name producer_version` from the file. */
  readonly producer: string;
  /** The operators the graph uses, sorted. */
  readonly operators: readonly string[];
  /** The layout of the inputs the model takes. */
  readonly layout: 'nhwc' | 'nchw';
  /** Every weight tensor the model owns (variables when loaded trainable). */
  readonly weights: readonly tf.Tensor[];
  /**
   * The network as a {@link Student} for `fit` (fine-tuning): `forward` gives the logits and, with the `features`
   * option, the features; its variables are the model's weights.
   * @throws Error when the model was not loaded with `trainable: true`.
   */
  asStudent(): Student;
  /** Frees the weights. Calling the model afterwards throws. */
  dispose(): void;
}

/**
 * What {@link loadOnnx} compiled, for converters (`toLayersModel`): the nodes the output needs, in order, the
 * initializers as read, and the model's current parameter tensors by key (`conv:W` `[kh, kw, I/g, O]`, `dw:W`
 * `[kh, kw, C, m]`, `raw:NAME` as in the file, `bn-scale:Y` and `bn-shift:Y` for a folded batch norm).
 * @internal
 */
export interface OnnxInternals {
  readonly nodes: readonly NodeProto[];
  readonly initializers: ReadonlyMap<string, ArrayTensor>;
  readonly params: ReadonlyMap<string, tf.Tensor>;
  readonly opset: number;
  readonly input: string;
  /** The graph input's dimensions (NCHW; -1 where free). */
  readonly inputDims: readonly number[];
  readonly output: string;
  readonly trainable: boolean;
}

/** The key under which an {@link OnnxModel} keeps its {@link OnnxInternals}. @internal */
export const ONNX_INTERNALS: unique symbol = /* @__PURE__ */ Symbol('ardkit.onnx.internals');

/** The internals of a model {@link loadOnnx} made, or undefined. @internal */
export function onnxInternals(model: unknown): OnnxInternals | undefined {
  if (typeof model !== 'function') return undefined;
  return (model as unknown as Record<symbol, OnnxInternals | undefined>)[ONNX_INTERNALS];
}

/** `field`, its messages naming the option `options.<key>` (as {@link loadOnnx}'s have always named them). */
function inOptions<T>(field: OptionField<T>): OptionField<T> {
  return { parse: (arg, value) => field.parse(`options.${arg}`, value) };
}

/** A non-empty string (a value of the graph, a name). */
function checkNonEmptyString(arg: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') typeError(arg, 'be a non-empty string', value);
  return value;
}

/**
 * How each of {@link LoadOnnxOptions} is checked and defaulted, in the order they are checked (`output`, `features`
 * and `name` stay undefined when left out: the graph's only output, no features, the file's path).
 */
const LOAD_ONNX_FIELDS: OptionFields<Pick<LoadOnnxOptions, 'layout' | 'trainable'>> & {
  readonly [K in 'output' | 'features' | 'name']-?: OptionField<LoadOnnxOptions[K]>;
} = {
  layout: /* @__PURE__ */ inOptions(/* @__PURE__ */ oneOf(['nhwc', 'nchw'], 'nhwc')),
  trainable: /* @__PURE__ */ inOptions(/* @__PURE__ */ flag(false)),
  output: /* @__PURE__ */ inOptions(/* @__PURE__ */ custom(checkNonEmptyString)),
  features: /* @__PURE__ */ inOptions(/* @__PURE__ */ custom(checkNonEmptyString)),
  name: /* @__PURE__ */ inOptions(/* @__PURE__ */ custom(checkNonEmptyString))
};

/** {@link LoadOnnxOptions} resolved. */
type LoadOnnxConfig = Parsed<typeof LOAD_ONNX_FIELDS>;

let loads = 0;

/** Reads the bytes of a path (Node), a URL (fetch) or a buffer. */
async function readSource(source: unknown): Promise<{ bytes: Uint8Array; label: string }> {
  if (source instanceof Uint8Array) return { bytes: source, label: 'bytes' };
  if (source instanceof ArrayBuffer) return { bytes: new Uint8Array(source), label: 'bytes' };
  if (typeof source !== 'string' || source === '') {
    typeError('source', 'be a file path, a URL, a Uint8Array or an ArrayBuffer holding an ONNX model', source);
  }
  if (/^(https?|blob|data):/i.test(source)) {
    const response = await fetch(source);
    if (!response.ok) throw new Error(`${FN}: cannot fetch ${source}: HTTP ${String(response.status)} ${response.statusText}`);
    return { bytes: new Uint8Array(await response.arrayBuffer()), label: source };
  }
  const { readFile } = await import('node:fs/promises');
  try {
    return { bytes: new Uint8Array(await readFile(source)), label: source };
  } catch (error) {
    throw new Error(`${FN}: cannot read ${JSON.stringify(source)}: ${(error as Error).message}`, { cause: error });
  }
}

/** The compiled graph: nodes in order with their executors, and the parameters they asked for. */
interface Program {
  readonly steps: readonly { readonly node: NodeProto; readonly exec: Exec }[];
  readonly constants: ReadonlyMap<string, Value>;
  /** Every initializer, read. */
  readonly initializers: ReadonlyMap<string, ArrayTensor>;
  readonly requests: readonly ParamRequest[];
  readonly input: string;
  readonly inputDims: readonly number[];
  readonly output: string;
}

function nodeLabel(node: NodeProto, index: number): string {
  return `node ${JSON.stringify(node.name === '' ? `#${String(index)}` : node.name)} (${node.opType})`;
}

function compile(graph: GraphProto, opset: number, where: string, config: LoadOnnxConfig): Program {
  const trainable = config.trainable;
  const initializers = new Map<string, ArrayTensor>();
  for (const init of graph.initializer) {
    try {
      initializers.set(init.name, readTensorProto(init));
    } catch (error) {
      throw new Error(`${FN}: ${where}: initializer ${JSON.stringify(init.name)} cannot be read: ${(error as Error).message}`, { cause: error });
    }
  }
  const inputs = graph.input.filter((i) => !initializers.has(i.name));
  if (inputs.length !== 1) {
    throw new Error(`${FN}: ${where}: the graph must have exactly one input besides its initializers (got ${String(inputs.length)}: ${formatValue(inputs.map((i) => i.name))})`);
  }
  const input = inputs[0] as (typeof inputs)[number];
  const tensorType = input.type?.tensorType;
  if (tensorType === undefined || tensorType === null) throw new Error(`${FN}: ${where}: the graph input ${JSON.stringify(input.name)} must be a tensor`);
  if (tensorType.elemType !== 1) {
    throw new Error(`${FN}: ${where}: the graph input ${JSON.stringify(input.name)} must be FLOAT (got ${dataTypeName(tensorType.elemType)})`);
  }
  const inputDims = (tensorType.shape?.dim ?? []).map((d) => (d.dimParam !== undefined && d.dimParam !== '') || !d.dimValue ? -1 : d.dimValue);

  const outputs = graph.output.map((o) => o.name);
  let output: string;
  if (config.output !== undefined) {
    if (!outputs.includes(config.output)) rangeError('options.output', `name one of the graph's outputs ${formatValue(outputs)}`, config.output);
    output = config.output;
  } else {
    if (outputs.length !== 1) rangeError('options.output', `name the logits output: the graph has ${String(outputs.length)} outputs ${formatValue(outputs)}`, undefined);
    output = outputs[0] as string;
  }

  // Keep only the nodes the output (and the features) depend on.
  const producer = new Map<string, number>();
  graph.node.forEach((node, i) => { node.output.forEach((o) => producer.set(o, i)); });
  const needed = new Set<number>();
  const wanted = [output, ...(config.features === undefined ? [] : [config.features])];
  if (config.features !== undefined && !producer.has(config.features) && config.features !== input.name) {
    rangeError('options.features', 'name a value that a node of the graph computes', config.features);
  }
  while (wanted.length > 0) {
    const name = wanted.pop() as string;
    const i = producer.get(name);
    if (i === undefined || needed.has(i)) continue;
    needed.add(i);
    wanted.push(...(graph.node[i]?.input.filter((n) => n !== '') ?? []));
  }

  const requests = new Map<string, ParamRequest>();
  const available = new Set<string>([input.name, ...initializers.keys()]);
  const steps: { node: NodeProto; exec: Exec }[] = [];
  graph.node.forEach((node, index) => {
    if (!needed.has(index)) return;
    const label = nodeLabel(node, index);
    if (node.domain !== '' && node.domain !== 'ai.onnx') {
      throw new Error(`${FN}: ${where}: ${label} is in the operator domain ${JSON.stringify(node.domain)}, which ardkit does not support (only ONNX's default domain)`);
    }
    const compiler = compilerFor(node.opType);
    if (compiler === undefined) {
      throw new Error(`${FN}: ${where}: ${label} uses the operator ${node.opType}, which ardkit does not support (it runs ${SUPPORTED_OPS.join(', ')})`);
    }
    for (const name of node.input) {
      if (name !== '' && !available.has(name)) {
        throw new Error(`${FN}: ${where}: ${label} reads ${JSON.stringify(name)}, which no earlier node, initializer or input defines (the file is not a valid, sorted ONNX graph)`);
      }
    }
    try {
      const exec = compiler(node, {
        opset,
        trainable,
        initializer: (name) => initializers.get(name),
        param: (request) => {
          requests.set(request.key, request);
          return request.key;
        }
      });
      steps.push({ node, exec });
    } catch (error) {
      if (error instanceof UnsupportedError) throw new Error(`${FN}: ${where}: ${label}: ${error.message}`, { cause: error });
      throw new Error(`${FN}: ${where}: ${label} cannot be loaded: ${(error as Error).message}`, { cause: error });
    }
    node.output.forEach((o) => available.add(o));
  });
  if (!available.has(output)) throw new Error(`${FN}: ${where}: no node computes the graph output ${JSON.stringify(output)}`);

  // Initializers read as values (shapes, indices, small constants) stay on the host.
  const constants = new Map<string, Value>();
  for (const [name, array] of initializers) if (array.dtype !== 'float32' || array.data.length <= 64) constants.set(name, toHost(array));
  return { steps, constants, initializers, requests: [...requests.values()], input: input.name, inputDims, output };
}

/**
 * Loads an ONNX model (exported from PyTorch with `torch.onnx.export`, or any exporter) as a differentiable tfjs
 * network: a {@link Model} that attacks, `evaluate`, every objective's `teacher`, `transferability` and DARHT's teachers
 * take, on every tfjs backend.
 *
 * - Opsets 11 to 17 of ONNX's default domain; the operators of the CNNs robust-training code exports: Conv (groups,
 *   depthwise, dilations), BatchNormalization (inference form), Relu, LeakyRelu, Clip (ReLU6), Sigmoid, Tanh,
 *   Softmax, Add, Sub, Mul, Div, MatMul, Gemm, MaxPool, AveragePool (ceil_mode, count_include_pad),
 *   GlobalAveragePool, GlobalMaxPool, ReduceMean, Pad (constant, reflect), Flatten, Reshape, Transpose, Concat,
 *   Constant, ConstantOfShape, Identity, Dropout, and the Shape, Gather, Unsqueeze, Squeeze, Slice and Cast chains
 *   that `x.view(x.size(0), -1)` exports to (computed on the host from shapes, never read back from a device).
 * - Inputs are NHWC by default (ardkit's convention): the graph's NCHW tensors are kept channels-last inside, where
 *   tfjs' convolutions want them, and transposed only where an operator needs ONNX's order (a flatten of a spatial
 *   map, a transpose). A normalisation inside the graph (RobustBench's `(x − μ)/σ`) runs as exported, so attacks work
 *   in the `[0, 1]` box.
 * - Weights are read once into tensors, convolution filters transposed to tfjs' layout, batch norm folded (or kept
 *   as variables with `trainable`).
 * - One forward pass on a zero example runs at load, so a graph that cannot run fails here, naming its node.
 *
 * The protobuf is decoded by protobufjs from ONNX's schema.
 *
 * @param source - a file path (Node), an `http(s):` URL, or the file's bytes.
 * @param options - see {@link LoadOnnxOptions}.
 * @returns the model; call `dispose()` to free its weights.
 * @throws Error naming the file (and the node and operator where one is at fault) when the bytes are not an ONNX
 * model (a truncated or corrupted file), the opset is outside 11–17, an operator or attribute is not supported,
 * an initializer keeps its data outside the file, or the graph has no single float input; RangeError for bad
 * options. The model, when called, throws a RangeError naming the expected shape for an input of the wrong shape.
 * @example
 * import { loadOnnx } from 'ardkit/io';
 * const teacher = await loadOnnx('robust-wrn-34-10.onnx'); // exported from PyTorch, normalisation inside
 * const xAdv = pgd(teacher, x, y, { eps: 8 / 255 });      // x: [B, 32, 32, 3] in [0, 1]
 * await fit(student, data, rslad({ teacher }), { epochs: 10 });
 */
export async function loadOnnx(source: string | Uint8Array | ArrayBuffer, options: Readonly<LoadOnnxOptions> = {}): Promise<OnnxModel> {
  return named('loadOnnx', async () => {
    const config = parseOptions(options, LOAD_ONNX_FIELDS);
    const { layout, trainable } = config;
    const { bytes, label } = await readSource(source);
    const where = JSON.stringify(config.name ?? label);

    let proto: ModelProto;
    try {
      proto = await decodeModel(bytes);
    } catch (error) {
      throw new Error(`${FN}: ${where} is not an ONNX model: the protobuf cannot be decoded (${(error as Error).message}); is the file complete?`, { cause: error });
    }
    const graph = proto.graph ?? undefined;
    if (graph === undefined || graph === null || graph.node.length === 0) {
      throw new Error(`${FN}: ${where} is not an ONNX model: it has no graph (${String(bytes.length)} bytes)`);
    }
    const defaultOpset = proto.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx');
    if (defaultOpset === undefined) throw new Error(`${FN}: ${where} declares no opset of ONNX's default domain`);
    const opset = defaultOpset.version;
    if (opset < ONNX_OPSETS.min || opset > ONNX_OPSETS.max) {
      throw new Error(
      `${FN}: ${where} uses opset ${String(opset)} of ONNX's operators; ardkit reads opsets ${String(ONNX_OPSETS.min)} to ${String(ONNX_OPSETS.max)} (export again with opset_version between them, e.g. torch.onnx.export(..., opset_version=13))`
      );
    }

    const program = compile(graph, opset, where, config);
    const id = ++loads;
    const params = new Map<string, tf.Tensor>();
    const arrays = program.initializers;
    try {
      for (const request of program.requests) {
        const { shape, data } = request.prepare(request.sources.map((s) => arrays.get(s) as ArrayTensor));
        const t = tf.tensor(data, shape, 'float32');
        if (!trainable) params.set(request.key, t);
        else {
          params.set(request.key, tf.variable(t, request.trainable, `onnx${String(id)}/${request.key}`));
          t.dispose();
        }
      }
    } catch (error) {
      tf.dispose([...params.values()]);
      throw error;
    }
    let disposed = false;
    const param = (key: string): tf.Tensor => params.get(key) as tf.Tensor;

    const rank = program.inputDims.length;
    const exampleDims = program.inputDims.slice(1);
    const inputShape = layout === 'nhwc' && rank === 4 ? [exampleDims[1] ?? -1, exampleDims[2] ?? -1, exampleDims[0] ?? -1] : exampleDims;
    const modelName = `model from ${FN}(${where})`;
    const expected = `[B, ${inputShape.map((d) => (d < 0 ? '?' : String(d))).join(', ')}]`;

    const run = (x: tf.Tensor, names: readonly string[]): tf.Tensor[] => {
      if (disposed) throw new Error(`${modelName}: the model was disposed`);
      if (!isTensor(x)) runAs(modelName, () => typeError('x', 'be a tensor', x));
      if (x.rank !== Math.max(rank, 1) || inputShape.some((d, i) => d >= 0 && x.shape[i + 1] !== d)) {
        runAs(modelName, () => rangeError('x', `have shape ${expected} (${layout.toUpperCase()}; the graph's input ${JSON.stringify(program.input)} is [${program.inputDims.map((d) => (d < 0 ? '?' : String(d))).join(', ')}] in NCHW)`, x));
      }
      return tf.tidy(() => {
        const values = new Map<string, Value>(program.constants);
        // A large float initializer that no operator took as a parameter is uploaded when read.
        const read = (name: string): Value | undefined => {
          const v = values.get(name);
          if (v !== undefined) return v;
          const array = arrays.get(name);
          return array === undefined ? undefined : { kind: 'tensor', t: tf.tensor(array.data, [...array.shape], array.dtype), nhwc: false };
        };
        const input = x.dtype === 'float32' ? x : tf.cast(x, 'float32');
        values.set(program.input, { kind: 'tensor', t: input, nhwc: layout === 'nhwc' && rank === 4 });
        for (const [index, { node, exec }] of program.steps.entries()) {
          let outs: Value[];
          try {
            outs = exec(
              node.input.map((n) => (n === '' ? undefined : read(n))),
              param
            );
          } catch (error) {
            const hint = program.inputDims[0] !== undefined && program.inputDims[0] > 0 && program.inputDims[0] !== x.shape[0]
            ? ` (the graph was exported for a batch of ${String(program.inputDims[0])}: export with dynamic_axes on the batch dimension)`
            : '';
            throw new Error(`${modelName}: ${nodeLabel(node, index)} failed on an input of shape [${x.shape.join(', ')}]: ${(error as Error).message}${hint}`, { cause: error });
          }
          node.output.forEach((o, i) => {
            const v = outs[i];
            if (o !== '' && v !== undefined) values.set(o, v);
          });
        }
        return names.map((name) => {
          const v = values.get(name) as Value;
          const t = toLogicalTensor(v);
          return t.rank > 2 ? tf.reshape(t, [t.shape[0] ?? 1, -1]) : t;
        });
      });
    };

    const logitsOf = (t: tf.Tensor | undefined): tf.Tensor2D => {
      if (t === undefined || t.rank !== 2) {
        const shape = t === undefined ? [] : t.shape;
        tf.dispose(t);
        throw new Error(`${modelName}: the graph's output ${JSON.stringify(program.output)} must be logits of shape [B, classes] (got shape [${shape.join(', ')}])`);
      }
      return t as tf.Tensor2D;
    };
    const model = ((x: tf.Tensor): tf.Tensor2D => logitsOf(run(x, [program.output])[0])) as Model;

    // One forward pass on a zero example: the graph runs, and the logits give the number of classes.
    let classes: number;
    if (inputShape.every((d) => d > 0)) {
      try {
        const probe = tf.tidy(() => model(tf.zeros([1, ...inputShape])));
        classes = probe.shape[1];
        probe.dispose();
      } catch (error) {
        tf.dispose([...params.values()]);
        throw error;
      }
    } else {
      const dim = graph.output.find((o) => o.name === program.output)?.type?.tensorType?.shape?.dim[1];
      classes = dim?.dimValue ? dim.dimValue : -1;
    }

    const weights = [...params.values()];
    const operators = [...new Set(program.steps.map((s) => s.node.opType))].sort();
    const onnxModel = Object.assign(model, {
      inputShape,
      classes,
      opset,
      producer: `${proto.producerName} ${proto.producerVersion}`.trim(),
      operators,
      layout,
      weights,
      asStudent: (): Student => {
        if (!trainable) throw new Error(`${modelName}: asStudent() needs the model loaded with { trainable: true }`);
        const variables = weights.filter((w): w is tf.Variable => w instanceof tf.Variable);
        return {
          forward: (x: tf.Tensor): StudentOutputs => {
            if (config.features === undefined) return { logits: model(x) };
            const [logits, features] = run(x, [program.output, config.features]);
            return { logits: logitsOf(logits), features: features as tf.Tensor2D };
          },
          trainableVariables: variables.filter((v) => v.trainable),
          variables
        };
      },
      dispose: (): void => {
        if (disposed) return;
        disposed = true;
        tf.dispose(weights);
      }
    });
    const internals: OnnxInternals = {
      nodes: program.steps.map((s) => s.node),
      initializers: program.initializers,
      params,
      opset,
      input: program.input,
      inputDims: program.inputDims,
      output: program.output,
      trainable
    };
    Object.defineProperty(onnxModel, ONNX_INTERNALS, { value: internals, enumerable: false });
    return onnxModel;
  });
}
