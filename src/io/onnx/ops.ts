import * as tf from '@tensorflow/tfjs-core';
import { AttributeType, type NodeProto } from './schema.js';
import { attribute, attrFloat, attrInt, attrInts, attrString } from './attributes.js';
import { readTensorProto, toHost, type ArrayTensor } from './tensors.js';
import {
  TO_NCHW,
  TO_NHWC,
  alignedToNhwc,
  host,
  hostBinary,
  hostInts,
  hostNumbers,
  hostTranspose,
  logical,
  logicalShape,
  sizeOf,
  stridesOf,
  toLogicalTensor,
  toNhwcTensor,
  type HostValue,
  type TensorValue,
  type Value
} from './values.js';

/** Runs one compiled node on its input values (undefined for an omitted optional input). */
export type Exec = (inputs: readonly (Value | undefined)[], param: (key: string) => tf.Tensor) => Value[];

/** A parameter a node asks for: tensors prepared once at load from initializers (a transposed filter, a folded batch norm). */
export interface ParamRequest {
  /** Unique key. */
  readonly key: string;
  /** The initializers it is made from. */
  readonly sources: readonly string[];
  /** Builds its values from the initializers' arrays. */
  readonly prepare: (arrays: readonly ArrayTensor[]) => { readonly shape: number[]; readonly data: Float32Array };
  /** Whether fine-tuning updates it (when the network is loaded trainable). */
  readonly trainable: boolean;
}

/** What a node's compiler may ask of the graph. */
export interface CompileContext {
  readonly opset: number;
  /** Whether the network is loaded for fine-tuning (batch norm kept unfolded). */
  readonly trainable: boolean;
  /** The initializer of that name, if the input is one. */
  initializer(name: string): ArrayTensor | undefined;
  /** Registers a prepared parameter; returns its key. */
  param(request: ParamRequest): string;
}

/** Thrown when a node's attributes or inputs are outside what ardkit supports; the loader adds node and file. */
export class UnsupportedError extends Error {}

/** The operators ardkit runs, in ONNX's default domain. */
export const SUPPORTED_OPS = [
  'Add', 'AveragePool', 'BatchNormalization', 'Cast', 'Clip', 'Concat', 'Constant', 'ConstantOfShape', 'Conv', 'Div',
  'Dropout', 'Flatten', 'Gather', 'Gemm', 'GlobalAveragePool', 'GlobalMaxPool', 'Identity', 'LeakyRelu', 'MatMul',
  'MaxPool', 'Mul', 'Pad', 'ReduceMean', 'Relu', 'Reshape', 'Shape', 'Sigmoid', 'Slice', 'Softmax', 'Squeeze', 'Sub',
  'Tanh', 'Transpose', 'Unsqueeze'
] as const;

// ---------------------------------------------------------------------------------------------------------------
// Attributes

function unsupported(rule: string): never {
  throw new UnsupportedError(rule);
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers

function tensorOf(v: Value | undefined, what: string): Value {
  if (v === undefined) throw new Error(`${what} is missing`);
  return v;
}

/** A value of a node that only uses ONNX's order. */
function logicalTensor(v: Value | undefined, what: string): tf.Tensor {
  return toLogicalTensor(tensorOf(v, what));
}

/** Normalises a possibly negative axis. */
function axisOf(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new Error(`axis ${String(axis)} is out of range for rank ${String(rank)}`);
  return a;
}

/** Where logical axis `a` of a rank-4 tensor sits in channels-last storage. */
function nhwcAxis(a: number): number {
  return [0, 3, 1, 2][a] ?? a;
}

/** Window geometry of a convolution or pool along one spatial axis. */
interface Window {
  readonly begin: number;
  /** Padding at the end, ceil_mode's extension included. */
  readonly end: number;
  /** ceil_mode's extension alone (windows that run past the padded input). */
  readonly extra: number;
}

/** Explicit begin/end padding per spatial axis from `pads` or `auto_pad`, PyTorch's `ceil_mode` included. */
function windows(
  node: NodeProto,
  size: readonly [number, number],
  kernel: readonly [number, number],
  strides: readonly [number, number],
  dilations: readonly [number, number],
  ceil: boolean
): [Window, Window] {
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  const pads = attrInts(node, 'pads') ?? [0, 0, 0, 0];
  const out: Window[] = [];
  for (let d = 0; d < 2; d++) {
    const n = size[d] ?? 0;
    const k = ((kernel[d] ?? 1) - 1) * (dilations[d] ?? 1) + 1;
    const s = strides[d] ?? 1;
    let begin = pads[d] ?? 0;
    let end = pads[d + 2] ?? 0;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      const total = Math.max(0, (Math.ceil(n / s) - 1) * s + k - n);
      const small = Math.floor(total / 2);
      begin = autoPad === 'SAME_UPPER' ? small : total - small;
      end = total - begin;
    } else if (autoPad === 'VALID') {
      begin = 0;
      end = 0;
    } else if (autoPad !== 'NOTSET') {
      unsupported(`auto_pad must be NOTSET, SAME_UPPER, SAME_LOWER or VALID (got ${autoPad})`);
    }
    let extra = 0;
    if (ceil) {
      // ceil_mode: one more window where the floor division leaves a remainder, unless it would start in the end padding.
      let outSize = Math.ceil((n + begin + end - k) / s) + 1;
      if ((outSize - 1) * s >= n + begin) outSize -= 1;
      extra = Math.max(0, (outSize - 1) * s + k - (n + begin + end));
    }
    out.push({ begin, end: end + extra, extra });
  }
  return out as [Window, Window];
}

function pair(values: number[] | undefined, fallback: number, what: string): [number, number] {
  if (values === undefined) return [fallback, fallback];
  if (values.length !== 2) unsupported(`${what} must have 2 values (2-D ${what === 'kernel_shape' ? 'kernels' : 'windows'} only; got [${values.join(', ')}])`);
  return [values[0] ?? fallback, values[1] ?? fallback];
}

/** Pads a channels-last tensor's spatial axes (no-op without padding). */
function padSpatial(x: tf.Tensor4D, [h, w]: readonly [Window, Window], value: number): tf.Tensor4D {
  if (h.begin === 0 && h.end === 0 && w.begin === 0 && w.end === 0) return x;
  return tf.pad(x, [[0, 0], [h.begin, h.end], [w.begin, w.end], [0, 0]], value);
}

// ---------------------------------------------------------------------------------------------------------------
// Operators

/** Turns a node into its executor, checking its attributes once. */
export type Compiler = (node: NodeProto, ctx: CompileContext) => Exec;

const unary =
  (fn: (x: tf.Tensor) => tf.Tensor): Compiler =>
    () =>
      ([x]) => {
        const v = tensorOf(x, 'input');
        if (v.kind === 'host') return [logical(fn(toLogicalTensor(v)))];
        return [{ kind: 'tensor', t: fn(v.t), nhwc: v.nhwc }];
      };

const HOST_BINARY: Record<string, (a: number, b: number) => number> = {
  Add: (a, b) => a + b,
  Sub: (a, b) => a - b,
  Mul: (a, b) => a * b,
  Div: (a, b) => a / b
};

const TENSOR_BINARY: Record<string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor> = {
  Add: tf.add,
  Sub: tf.sub,
  Mul: tf.mul,
  Div: tf.div
};

/** Add, Sub, Mul, Div with numpy broadcasting, in channels-last storage where an operand is stored so. */
const binary =
  (op: 'Add' | 'Sub' | 'Mul' | 'Div'): Compiler =>
    (node, ctx) => {
    // An initializer operand is a parameter: Add's (a bias) is fine-tuned, the others (normalisation) are not.
      const keys = node.input.map((name) => {
        const init = name === '' ? undefined : ctx.initializer(name);
        if (init === undefined || init.dtype !== 'float32') return undefined;
        return ctx.param({ key: `raw:${name}`, sources: [name], prepare: ([a]) => ({ shape: [...(a?.shape ?? [])], data: a?.data as Float32Array }), trainable: op === 'Add' });
      });
      return (inputs, param) => {
        const values = inputs.map((v, i) => {
          const key = keys[i];
          return key === undefined ? tensorOf(v, `input ${String(i)}`) : logical(param(key));
        }) as [Value, Value];
        const [a, b] = values;
        if (a.kind === 'host' && b.kind === 'host') {
          const fn = HOST_BINARY[op] ?? ((x: number) => x);
          const intOut = a.dtype !== 'float32' && b.dtype !== 'float32';
          return [hostBinary(a, b, intOut && op === 'Div' ? (x, y) => Math.trunc(x / y) : fn, intOut ? 'int32' : 'float32')];
        }
        const fn = TENSOR_BINARY[op] ?? tf.add;
        const nhwc = (a.kind === 'tensor' && a.nhwc) || (b.kind === 'tensor' && b.nhwc);
        if (nhwc) {
          const ra = logicalShape(a).length;
          const rb = logicalShape(b).length;
          // A channels-last operand is rank 4; the other must broadcast to rank 4 to be aligned.
          if (ra <= 4 && rb <= 4) return [{ kind: 'tensor', t: fn(alignedToNhwc(a), alignedToNhwc(b)), nhwc: true }];
        }
        return [logical(fn(toLogicalTensor(a), toLogicalTensor(b)))];
      };
    };

const conv: Compiler = (node, ctx) => {
  const weightName = node.input[1] ?? '';
  const weight = ctx.initializer(weightName);
  if (weight === undefined) unsupported('its weight (input 1) must be an initializer of the graph');
  if (weight.shape.length !== 4) unsupported(`only 2-D convolutions are supported (weight of shape [${weight.shape.join(', ')}])`);
  const [outChannels, inPerGroup, kh, kw] = weight.shape as [number, number, number, number];
  const group = attrInt(node, 'group', 1);
  if (outChannels % group !== 0) unsupported(`group ${String(group)} must divide the ${String(outChannels)} output channels`);
  const kernel = pair(attrInts(node, 'kernel_shape'), 0, 'kernel_shape');
  if ((kernel[0] !== 0 && kernel[0] !== kh) || (kernel[1] !== 0 && kernel[1] !== kw)) unsupported(`kernel_shape [${kernel.join(', ')}] must match the weight's [${String(kh)}, ${String(kw)}]`);
  const strides = pair(attrInts(node, 'strides'), 1, 'strides');
  const dilations = pair(attrInts(node, 'dilations'), 1, 'dilations');
  const inChannels = inPerGroup * group;
  const depthwise = group > 1 && inPerGroup === 1 && group === inChannels;
  const multiplier = outChannels / group;
  const filterKey = ctx.param({
    key: `${depthwise ? 'dw' : 'conv'}:${weightName}`,
    sources: [weightName],
    trainable: true,
    prepare: ([w]) => {
      const data = w?.data as Float32Array;
      // ONNX [O, I/g, kh, kw] to tfjs [kh, kw, I/g, O]; depthwise: O = c·m + j to [kh, kw, C, m] (the same order).
      const out = new Float32Array(data.length);
      for (let o = 0; o < outChannels; o++) {
        for (let i = 0; i < inPerGroup; i++) {
          for (let y = 0; y < kh; y++) {
            for (let x = 0; x < kw; x++) {
              out[((y * kw + x) * inPerGroup + i) * outChannels + o] = data[((o * inPerGroup + i) * kh + y) * kw + x] ?? 0;
            }
          }
        }
      }
      return { shape: depthwise ? [kh, kw, inChannels, multiplier] : [kh, kw, inPerGroup, outChannels], data: out };
    }
  });
  const biasName = node.input[2] ?? '';
  let biasKey: string | undefined;
  if (biasName !== '') {
    if (ctx.initializer(biasName) === undefined) unsupported('its bias (input 2) must be an initializer of the graph');
    biasKey = ctx.param({ key: `raw:${biasName}`, sources: [biasName], trainable: true, prepare: ([b]) => ({ shape: [...(b?.shape ?? [])], data: b?.data as Float32Array }) });
  }
  return ([input], param) => {
    const x = toNhwcTensor(tensorOf(input, 'input'));
    const [, height, width, channels] = x.shape;
    if (channels !== inChannels) throw new Error(`its input has ${String(channels)} channels where the weight takes ${String(inChannels)}`);
    const win = windows(node, [height, width], [kh, kw], strides, dilations, false);
    const symmetric = win[0].begin === win[0].end && win[1].begin === win[1].end && win[0].begin === win[1].begin;
    const padded = symmetric ? x : padSpatial(x, win, 0);
    const pad = symmetric ? win[0].begin : 0;
    // tfjs has no gradient for dilated convolutions: the filter is dilated instead (zeros between its taps).
    const filter = dilateFilter(param(filterKey) as tf.Tensor4D, dilations);
    let y: tf.Tensor4D;
    if (group === 1) y = tf.conv2d(padded, filter, strides, pad, 'NHWC');
    else if (depthwise) y = tf.depthwiseConv2d(padded, filter, strides, pad, 'NHWC');
    else {
      // Grouped convolution: tfjs has none, so each group is a convolution of its channel slice.
      const perOut = outChannels / group;
      const parts: tf.Tensor4D[] = [];
      for (let g = 0; g < group; g++) {
        const xs = tf.slice(padded, [0, 0, 0, g * inPerGroup], [-1, -1, -1, inPerGroup]);
        const fs = tf.slice(filter, [0, 0, 0, g * perOut], [-1, -1, -1, perOut]);
        parts.push(tf.conv2d(xs, fs, strides, pad, 'NHWC'));
      }
      y = tf.concat(parts, 3);
    }
    if (biasKey !== undefined) y = tf.add(y, param(biasKey));
    return [{ kind: 'tensor', t: y, nhwc: true }];
  };
};

/** A `[kh, kw, I, O]` filter with `d − 1` zeros between its taps: a dilated convolution as a plain one, differentiably. */
function dilateFilter(filter: tf.Tensor4D, [dh, dw]: readonly [number, number]): tf.Tensor4D {
  if (dh === 1 && dw === 1) return filter;
  const [kh, kw, i, o] = filter.shape;
  // Rank 4 at most throughout (webgpu's pad has no rank-6 shader): rows first, then columns.
  const rows = tf.reshape(tf.pad(tf.reshape(filter, [kh, 1, kw * i * o]), [[0, 0], [0, dh - 1], [0, 0]]), [kh * dh, kw, i, o]);
  const tallH = (kh - 1) * dh + 1;
  const tall = tf.slice(rows, [0, 0, 0, 0], [tallH, kw, i, o]);
  const cols = tf.reshape(tf.pad(tf.reshape(tall, [tallH, kw, 1, i * o]), [[0, 0], [0, 0], [0, dw - 1], [0, 0]]), [tallH, kw * dw, i, o]);
  return tf.slice(cols, [0, 0, 0, 0], [tallH, (kw - 1) * dw + 1, i, o]) as tf.Tensor4D;
}

const batchNorm: Compiler = (node, ctx) => {
  if (attrInt(node, 'training_mode', 0) !== 0) unsupported('training_mode must be 0: ardkit runs batch norm in inference form, on the running statistics');
  if (node.output.length > 1 && node.output.slice(1).some((o) => o !== '')) unsupported('only its first output (Y) may be used: the running-statistics outputs exist in training mode only');
  const eps = attrFloat(node, 'epsilon', 1e-5);
  const names = node.input.slice(1, 5);
  if (names.length !== 4 || names.some((n) => ctx.initializer(n) === undefined)) unsupported('its scale, bias, mean and variance must be initializers of the graph');
  const [scale, bias, mean, variance] = names as [string, string, string, string];
  const raw = (name: string, trainable: boolean): string =>
    ctx.param({ key: `raw:${name}`, sources: [name], trainable, prepare: ([a]) => ({ shape: [...(a?.shape ?? [])], data: a?.data as Float32Array }) });
  let apply: (param: (key: string) => tf.Tensor) => [tf.Tensor, tf.Tensor];
  if (ctx.trainable) {
    const keys = [raw(scale, true), raw(bias, true), raw(mean, false), raw(variance, false)] as const;
    apply = (param) => {
      const a = tf.mul(param(keys[0]), tf.rsqrt(tf.add(param(keys[3]), eps)));
      return [a, tf.sub(param(keys[1]), tf.mul(param(keys[2]), a))];
    };
  } else {
    // Folded once: y = x·a + b with a = γ/√(σ²+ε), b = β − μ·a (computed in float64, stored float32).
    const fold = (which: 'a' | 'b') => (arrays: readonly ArrayTensor[]) => {
      const [g, b, m, v] = arrays.map((x) => x.data) as [Float32Array, Float32Array, Float32Array, Float32Array];
      const out = new Float32Array(g.length);
      for (let i = 0; i < g.length; i++) {
        const a = (g[i] ?? 0) / Math.sqrt((v[i] ?? 0) + Math.fround(eps));
        out[i] = which === 'a' ? a : (b[i] ?? 0) - (m[i] ?? 0) * a;
      }
      return { shape: [g.length], data: out };
    };
    const ka = ctx.param({ key: `bn-scale:${node.output[0] ?? ''}`, sources: names, trainable: false, prepare: fold('a') });
    const kb = ctx.param({ key: `bn-shift:${node.output[0] ?? ''}`, sources: names, trainable: false, prepare: fold('b') });
    apply = (param) => [param(ka), param(kb)];
  }
  return ([input], param) => {
    const v = tensorOf(input, 'input');
    const [a, b] = apply(param);
    const rank = logicalShape(v).length;
    if (rank === 4) return [{ kind: 'tensor', t: tf.add(tf.mul(toNhwcTensor(v), a), b), nhwc: true }];
    // [N, C] or [N, C, L]: the channel axis is 1.
    const shape = [a.shape[0] ?? 1, ...Array<number>(Math.max(0, rank - 2)).fill(1)];
    return [logical(tf.add(tf.mul(toLogicalTensor(v), tf.reshape(a, shape)), tf.reshape(b, shape)))];
  };
};

const pool =
  (kind: 'max' | 'avg'): Compiler =>
    (node) => {
      const kernel = pair(attrInts(node, 'kernel_shape'), 1, 'kernel_shape');
      const strides = pair(attrInts(node, 'strides'), 1, 'strides');
      const dilations = pair(attrInts(node, 'dilations'), 1, 'dilations');
      if (dilations[0] !== 1 || dilations[1] !== 1) unsupported(`dilations must be 1 (got [${dilations.join(', ')}])`);
      if (kind === 'max' && node.output.length > 1 && node.output[1] !== '') unsupported('its Indices output is not supported');
      const ceil = attrInt(node, 'ceil_mode', 0) === 1;
      const includePad = attrInt(node, 'count_include_pad', 0) === 1;
      const area = kernel[0] * kernel[1];
      return ([input]) => {
        const x = toNhwcTensor(tensorOf(input, 'input'));
        const [, height, width] = x.shape;
        const win = windows(node, [height, width], kernel, strides, dilations, ceil);
        if (kind === 'max') {
          const y = tf.maxPool(padSpatial(x, win, -Infinity), kernel, strides, 'valid');
          return [{ kind: 'tensor', t: y, nhwc: true }];
        }
        const sum = tf.avgPool(padSpatial(x, win, 0), kernel, strides, 'valid');
        // The divisor of each window: the kernel area, less what lies outside the input (count_include_pad = 0) or
        // outside the padded input (the extra windows of ceil_mode), as ONNX and PyTorch count it.
        const outH = sum.shape[1];
        const outW = sum.shape[2];
        const counts = (d: 0 | 1, n: number, size: number): number[] => {
          const w = win[d];
          const lo = includePad ? -w.begin : 0;
          const hi = includePad ? size + w.end - w.extra : size;
          return Array.from({ length: n }, (_, i) => {
            const start = i * strides[d] - w.begin;
            return Math.max(0, Math.min(start + kernel[d], hi) - Math.max(start, lo));
          });
        };
        const ch = counts(0, outH, height);
        const cw = counts(1, outW, width);
        if (ch.every((c) => c === kernel[0]) && cw.every((c) => c === kernel[1])) return [{ kind: 'tensor', t: sum, nhwc: true }];
        const factor = ch.flatMap((a) => cw.map((b) => area / (a * b)));
        return [{ kind: 'tensor', t: tf.mul(sum, tf.tensor4d(factor, [1, outH, outW, 1])), nhwc: true }];
      };
    };

const globalPool =
  (kind: 'max' | 'avg'): Compiler =>
    () =>
      ([input]) => {
        const v = tensorOf(input, 'input');
        if (logicalShape(v).length !== 4) throw new Error('only rank-4 inputs are supported');
        const x = toNhwcTensor(v);
        return [{ kind: 'tensor', t: kind === 'avg' ? tf.mean(x, [1, 2], true) : tf.max(x, [1, 2], true), nhwc: true }];
      };

const gemm: Compiler = (node, ctx) => {
  const alpha = attrFloat(node, 'alpha', 1);
  const beta = attrFloat(node, 'beta', 1);
  const transA = attrInt(node, 'transA', 0) === 1;
  const transB = attrInt(node, 'transB', 0) === 1;
  const keys = node.input.map((name, i) => {
    if (i === 0 || name === '' || ctx.initializer(name) === undefined) return undefined;
    return ctx.param({ key: `raw:${name}`, sources: [name], trainable: true, prepare: ([a]) => ({ shape: [...(a?.shape ?? [])], data: a?.data as Float32Array }) });
  });
  return (inputs, param) => {
    const get = (i: number): tf.Tensor | undefined => {
      const key = keys[i];
      if (key !== undefined) return param(key);
      const v = inputs[i];
      return v === undefined ? undefined : toLogicalTensor(v);
    };
    const a = get(0);
    const b = get(1);
    if (a === undefined || b === undefined) throw new Error('inputs A and B are required');
    let y = tf.matMul(a, b, transA, transB);
    if (alpha !== 1) y = tf.mul(y, alpha);
    const c = get(2);
    if (c !== undefined) y = tf.add(y, beta === 1 ? c : tf.mul(c, beta));
    return [logical(y)];
  };
};

const matMul: Compiler = (node, ctx) => {
  const keys = node.input.map((name) => {
    const init = ctx.initializer(name);
    if (init === undefined || init.dtype !== 'float32') return undefined;
    return ctx.param({ key: `raw:${name}`, sources: [name], trainable: true, prepare: ([a]) => ({ shape: [...(a?.shape ?? [])], data: a?.data as Float32Array }) });
  });
  return (inputs, param) => {
    const [a, b] = inputs.map((v, i) => {
      const key = keys[i];
      return key === undefined ? logicalTensor(v, `input ${String(i)}`) : param(key);
    }) as [tf.Tensor, tf.Tensor];
    if (a.rank === 2 && b.rank === 2) return [logical(tf.matMul(a, b))];
    if (b.rank === 2 && a.rank > 2) {
      // [..., K] · [K, N]: fold the leading axes into rows.
      const lead = a.shape.slice(0, -1);
      const rows = tf.reshape<tf.Rank.R2>(a, [sizeOf(lead), a.shape[a.rank - 1] ?? 1]);
      return [logical(tf.reshape(tf.matMul(rows, b as tf.Tensor2D), [...lead, b.shape[1] ?? 1]))];
    }
    return [logical(tf.matMul(a, b))];
  };
};

const clip: Compiler = (node, ctx) => {
  // Opset 11 on: min and max are optional inputs (constants); before, attributes.
  const constant = (i: number, fallback: number): number => {
    const name = node.input[i] ?? '';
    if (name === '') return fallback;
    const init = ctx.initializer(name);
    if (init === undefined) return Number.NaN;
    return init.data[0] ?? fallback;
  };
  const fixedMin = ctx.opset >= 11 ? constant(1, -Infinity) : attrFloat(node, 'min', -Infinity);
  const fixedMax = ctx.opset >= 11 ? constant(2, Infinity) : attrFloat(node, 'max', Infinity);
  return (inputs) => {
    const v = tensorOf(inputs[0], 'input');
    const lo = Number.isNaN(fixedMin) ? (hostNumbers(inputs[1], 'min')[0] ?? -Infinity) : fixedMin;
    const hi = Number.isNaN(fixedMax) ? (hostNumbers(inputs[2], 'max')[0] ?? Infinity) : fixedMax;
    const t = v.kind === 'host' ? toLogicalTensor(v) : v.t;
    const y = lo === 0 && hi === 6 ? tf.relu6(t) : lo === 0 && hi === Infinity ? tf.relu(t) : tf.clipByValue(t, lo, hi);
    return [{ kind: 'tensor', t: y, nhwc: v.kind === 'tensor' && v.nhwc }];
  };
};

/**
 * Reflect padding from slices, reversals and concatenations, whose gradients tfjs gets right: tfjs' own mirrorPad
 * gradient keeps only the centre and drops what flows through the reflected borders.
 */
function reflectPad(t: tf.Tensor, paddings: readonly (readonly [number, number])[]): tf.Tensor {
  let out = t;
  paddings.forEach(([before, after], axis) => {
    if (before === 0 && after === 0) return;
    const n = out.shape[axis] ?? 0;
    if (before >= n || after >= n) throw new Error(`reflect padding of ${String(Math.max(before, after))} needs more than ${String(n)} values along axis ${String(axis)}`);
    const part = (start: number, size: number): tf.Tensor => {
      const begin = out.shape.map((_, a) => (a === axis ? start : 0));
      const sizes = out.shape.map((d, a) => (a === axis ? size : d));
      return tf.reverse(tf.slice(out, begin, sizes), axis);
    };
    const pieces = [...(before > 0 ? [part(1, before)] : []), out, ...(after > 0 ? [part(n - 1 - after, after)] : [])];
    out = tf.concat(pieces, axis);
  });
  return out;
}

const pad: Compiler = (node, ctx) => {
  const mode = attrString(node, 'mode', 'constant');
  if (mode !== 'constant' && mode !== 'reflect') unsupported(`mode must be constant or reflect (got ${mode})`);
  const attrPads = attrInts(node, 'pads');
  const attrValue = attrFloat(node, 'value', 0);
  return (inputs) => {
    const v = tensorOf(inputs[0], 'input');
    const pads = ctx.opset >= 11 ? hostInts(inputs[1], 'pads (input 1)') : (attrPads ?? []);
    const value = ctx.opset >= 11 && inputs[2] !== undefined ? (hostNumbers(inputs[2], 'constant_value (input 2)')[0] ?? 0) : attrValue;
    const rank = logicalShape(v).length;
    if (pads.length !== 2 * rank) throw new Error(`pads must have ${String(2 * rank)} values for a rank-${String(rank)} input (got ${String(pads.length)})`);
    if (pads.some((p) => p < 0)) throw new Error(`negative pads (cropping) are not supported (got [${pads.join(', ')}])`);
    let paddings = Array.from({ length: rank }, (_, a) => [pads[a] ?? 0, pads[a + rank] ?? 0] as [number, number]);
    const nhwc = v.kind === 'tensor' && v.nhwc;
    if (nhwc) paddings = TO_NHWC.map((a) => paddings[a] ?? [0, 0]);
    const t = v.kind === 'host' ? toLogicalTensor(v) : v.t;
    const y = mode === 'reflect' ? reflectPad(t, paddings) : tf.pad(t, paddings, value);
    return [{ kind: 'tensor', t: y, nhwc }];
  };
};

const concat: Compiler = (node) => {
  const axis = attrInt(node, 'axis', Number.NaN);
  if (Number.isNaN(axis)) unsupported('its axis attribute is required');
  return (inputs) => {
    const values = inputs.filter((v): v is Value => v !== undefined);
    const first = values[0];
    if (first === undefined) throw new Error('it has no inputs');
    const rank = logicalShape(first).length;
    const a = axisOf(axis, rank);
    if (values.every((v) => v.kind === 'host')) {
      const hosts = values;
      const head = hosts[0] as HostValue;
      const outer = sizeOf(head.shape.slice(0, a));
      const data: number[] = [];
      for (let o = 0; o < outer; o++) {
        for (const h of hosts) {
          const inner = sizeOf(h.shape.slice(a));
          data.push(...h.data.slice(o * inner, (o + 1) * inner));
        }
      }
      const shape = [...head.shape];
      shape[a] = hosts.reduce((s, h) => s + (h.shape[a] ?? 0), 0);
      return [host(hosts.some((h) => h.dtype === 'float32') ? 'float32' : head.dtype, shape, data)];
    }
    if (rank === 4 && values.some((v) => v.kind === 'tensor' && v.nhwc)) {
      return [{ kind: 'tensor', t: tf.concat(values.map(toNhwcTensor), nhwcAxis(a)), nhwc: true }];
    }
    return [logical(tf.concat(values.map(toLogicalTensor), a))];
  };
};

const flatten: Compiler = (node) => {
  const axis = attrInt(node, 'axis', 1);
  return ([input]) => {
    const v = tensorOf(input, 'input');
    const shape = logicalShape(v);
    const a = axis < 0 ? axis + shape.length : axis;
    const target = [sizeOf(shape.slice(0, a)), sizeOf(shape.slice(a))];
    if (v.kind === 'host') return [host(v.dtype, target, v.data)];
    return [logical(tf.reshape(flatLogical(v), target))];
  };
};

/**
 * A tensor in ONNX's order, for reshapes: channels-last storage needs a transpose, except where the spatial axes or
 * the channels are 1 (then the orders agree and a reshape is enough).
 */
function flatLogical(v: TensorValue): tf.Tensor {
  if (!v.nhwc) return v.t;
  const [n, h, w, c] = v.t.shape as [number, number, number, number];
  if (h * w === 1 || c === 1) return tf.reshape(v.t, [n, c, h, w]);
  return tf.transpose(v.t, [...TO_NCHW]);
}

function reshapeTarget(shape: readonly number[], requested: readonly number[], allowZero: boolean): number[] {
  const out = requested.map((d, i) => (d === 0 && !allowZero ? (shape[i] ?? 0) : d));
  const known = out.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const total = sizeOf(shape);
  const inferred = out.indexOf(-1);
  if (inferred >= 0) out[inferred] = known === 0 ? 0 : total / known;
  if (sizeOf(out) !== total || out.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new Error(`cannot reshape [${shape.join(', ')}] to [${requested.join(', ')}]`);
  }
  return out;
}

const reshape: Compiler = (node) => {
  const allowZero = attrInt(node, 'allowzero', 0) === 1;
  return ([input, shapeValue]) => {
    const v = tensorOf(input, 'input');
    const target = reshapeTarget(logicalShape(v), hostInts(shapeValue, 'its shape (input 1)'), allowZero);
    if (v.kind === 'host') return [host(v.dtype, target, v.data)];
    return [logical(tf.reshape(flatLogical(v), target))];
  };
};

const transpose: Compiler = (node) => {
  const permAttr = attrInts(node, 'perm');
  return ([input]) => {
    const v = tensorOf(input, 'input');
    const rank = logicalShape(v).length;
    const perm = permAttr ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
    if (v.kind === 'host') return [hostTranspose(v, perm)];
    if (!v.nhwc) return [logical(tf.transpose(v.t, perm))];
    // Stored channels-last: compose the storage permutation with the requested one.
    return [logical(tf.transpose(v.t, perm.map(nhwcAxis)))];
  };
};

/** Axes from the attribute (before opset 13) or from input 1 (13 on). */
function axesOf(node: NodeProto, ctx: CompileContext, inputs: readonly (Value | undefined)[], since: number): number[] | undefined {
  if (ctx.opset >= since) return inputs[1] === undefined ? undefined : hostInts(inputs[1], 'axes (input 1)');
  return attrInts(node, 'axes');
}

const unsqueeze: Compiler = (node, ctx) => (inputs) => {
  const v = tensorOf(inputs[0], 'input');
  const shape = logicalShape(v);
  const axes = axesOf(node, ctx, inputs, 13);
  if (axes === undefined) throw new Error('its axes are required');
  const rank = shape.length + axes.length;
  const normalised = axes.map((a) => axisOf(a, rank)).sort((x, y) => x - y);
  const out = [...shape];
  for (const a of normalised) out.splice(a, 0, 1);
  if (v.kind === 'host') return [host(v.dtype, out, v.data)];
  return [logical(tf.reshape(flatLogical(v), out))];
};

const squeeze: Compiler = (node, ctx) => (inputs) => {
  const v = tensorOf(inputs[0], 'input');
  const shape = logicalShape(v);
  const axes = axesOf(node, ctx, inputs, 13)?.map((a) => axisOf(a, shape.length));
  const out = shape.filter((d, i) => (axes === undefined ? d !== 1 : !axes.includes(i)));
  if (v.kind === 'host') return [host(v.dtype, out, v.data)];
  return [logical(tf.reshape(flatLogical(v), out))];
};

const shapeOp: Compiler = (node) => {
  const start = attrInt(node, 'start', 0);
  const endAttr = attribute(node, 'end');
  return ([input]) => {
    const shape = logicalShape(tensorOf(input, 'input'));
    const rank = shape.length;
    const clampIndex = (i: number): number => Math.max(0, Math.min(rank, i < 0 ? i + rank : i));
    const end = endAttr === undefined ? rank : endAttr.i;
    const dims = shape.slice(clampIndex(start), clampIndex(end));
    return [host('int32', [dims.length], dims)];
  };
};

const gather: Compiler = (node) => {
  const axis = attrInt(node, 'axis', 0);
  return ([input, indicesValue]) => {
    const v = tensorOf(input, 'input');
    const indices = tensorOf(indicesValue, 'indices (input 1)');
    const shape = logicalShape(v);
    const a = axisOf(axis, shape.length);
    const dim = shape[a] ?? 0;
    if (v.kind === 'host' && indices.kind === 'host') {
      const idx = indices.data.map((i) => (i < 0 ? i + dim : i));
      const outer = sizeOf(shape.slice(0, a));
      const inner = sizeOf(shape.slice(a + 1));
      const data: number[] = [];
      for (let o = 0; o < outer; o++) for (const i of idx) data.push(...v.data.slice((o * dim + i) * inner, (o * dim + i + 1) * inner));
      return [host(v.dtype, [...shape.slice(0, a), ...indices.shape, ...shape.slice(a + 1)], data)];
    }
    const idx = indices.kind === 'host' ? tf.tensor(indices.data.map((i) => (i < 0 ? i + dim : i)), [...indices.shape], 'int32') : tf.cast(indices.t, 'int32');
    return [logical(tf.gather(toLogicalTensor(v), idx, a))];
  };
};

const cast: Compiler = (node) => {
  const to = attrInt(node, 'to', 1);
  const dtype: HostValue['dtype'] = to === 1 || to === 10 || to === 11 ? 'float32' : to === 9 ? 'bool' : 'int32';
  return ([input]) => {
    const v = tensorOf(input, 'input');
    if (v.kind === 'host') return [host(dtype, v.shape, dtype === 'float32' ? v.data : v.data.map((d) => (dtype === 'bool' ? Number(d !== 0) : Math.trunc(d))))];
    return [{ kind: 'tensor', t: tf.cast(v.t, dtype), nhwc: v.nhwc }];
  };
};

const slice: Compiler = (node, ctx) => (inputs) => {
  const v = tensorOf(inputs[0], 'input');
  const shape = logicalShape(v);
  const rank = shape.length;
  const starts = ctx.opset >= 10 ? hostInts(inputs[1], 'starts (input 1)') : (attrInts(node, 'starts') ?? []);
  const ends = ctx.opset >= 10 ? hostInts(inputs[2], 'ends (input 2)') : (attrInts(node, 'ends') ?? []);
  const axesIn = ctx.opset >= 10 ? (inputs[3] === undefined ? undefined : hostInts(inputs[3], 'axes (input 3)')) : attrInts(node, 'axes');
  const steps = ctx.opset >= 10 && inputs[4] !== undefined ? hostInts(inputs[4], 'steps (input 4)') : undefined;
  const axes = (axesIn ?? starts.map((_, i) => i)).map((a) => axisOf(a, rank));
  const begin = new Array<number>(rank).fill(0);
  const stride = new Array<number>(rank).fill(1);
  const size = [...shape];
  axes.forEach((a, i) => {
    const dim = shape[a] ?? 0;
    const step = steps?.[i] ?? 1;
    if (step === 0) throw new Error('a step of 0 is not allowed');
    const wrap = (x: number): number => (x < 0 ? x + dim : x);
    // ONNX's clamping: [0, dim] for positive steps, [-1, dim - 1] for negative ones.
    const lo = step > 0 ? 0 : -1;
    const hi = step > 0 ? dim : dim - 1;
    const b = Math.max(step > 0 ? 0 : 0, Math.min(hi, wrap(starts[i] ?? 0)));
    const e = Math.max(lo, Math.min(hi, wrap(ends[i] ?? dim)));
    begin[a] = b;
    stride[a] = step;
    size[a] = Math.max(0, Math.ceil((e - b) / step));
  });
  const coordinate = (d: number, k: number): number => (begin[d] ?? 0) + k * (stride[d] ?? 1);
  if (v.kind === 'host') {
    const inStrides = stridesOf(shape);
    const outStrides = stridesOf(size);
    const data: number[] = [];
    for (let i = 0; i < sizeOf(size); i++) {
      let offset = 0;
      for (let d = 0; d < rank; d++) offset += coordinate(d, Math.floor(i / (outStrides[d] ?? 1)) % (size[d] ?? 1)) * (inStrides[d] ?? 0);
      data.push(v.data[offset] ?? 0);
    }
    return [host(v.dtype, size, data)];
  }
  const t = toLogicalTensor(v);
  if (stride.every((st) => st === 1)) return [logical(tf.slice(t, begin, size))];
  const endIndex = size.map((n, d) => coordinate(d, n));
  // A negative end in stridedSlice counts from the back: an end before index 0 is given through the end mask.
  const endMask = endIndex.reduce((m, e, d) => (e < 0 ? m | (1 << d) : m), 0);
  return [logical(tf.stridedSlice(t, begin, endIndex.map((e) => Math.max(e, 0)), stride, 0, endMask))];
};

const constant: Compiler = (node) => {
  const a = node.attribute[0];
  if (a === undefined) unsupported('it has no value attribute');
  let value: HostValue;
  if (a.name === 'value' && a.t != null) value = toHost(readTensorProto(a.t));
  else if (a.name === 'value_float') value = host('float32', [], [a.f]);
  else if (a.name === 'value_floats') value = host('float32', [a.floats.length], [...a.floats]);
  else if (a.name === 'value_int') value = host('int32', [], [a.i]);
  else if (a.name === 'value_ints') value = host('int32', [a.ints.length], a.ints.map(Number));
  else unsupported(`its ${a.name} attribute is not supported (value, value_float(s) and value_int(s) are)`);
  return () => [value];
};

const constantOfShape: Compiler = (node) => {
  const a = attribute(node, 'value');
  const filler = a?.t != null ? toHost(readTensorProto(a.t)) : host('float32', [1], [0]);
  return ([shapeValue]) => {
    const shape = hostInts(shapeValue, 'its shape (input 0)');
    return [host(filler.dtype, shape, new Array<number>(sizeOf(shape)).fill(filler.data[0] ?? 0))];
  };
};

const reduceMean: Compiler = (node, ctx) => {
  if (ctx.opset >= 18) unsupported('opset 18 ReduceMean (axes as an input) is not supported');
  const axesAttr = attrInts(node, 'axes');
  const keep = attrInt(node, 'keepdims', 1) === 1;
  return ([input]) => {
    const v = tensorOf(input, 'input');
    const rank = logicalShape(v).length;
    const axes = (axesAttr ?? Array.from({ length: rank }, (_, i) => i)).map((a) => axisOf(a, rank)).sort();
    if (v.kind === 'tensor' && v.nhwc && axes.length === 2 && axes[0] === 2 && axes[1] === 3) {
      const y = tf.mean(v.t, [1, 2], keep);
      return [keep ? { kind: 'tensor', t: y, nhwc: true } : logical(y)];
    }
    return [logical(tf.mean(toLogicalTensor(v), axes, keep))];
  };
};

const softmax: Compiler = (node, ctx) => {
  const axis = attrInt(node, 'axis', ctx.opset >= 13 ? -1 : 1);
  return ([input]) => {
    const t = logicalTensor(input, 'input');
    const a = axisOf(axis, t.rank);
    if (a !== t.rank - 1) throw new Error(`softmax over axis ${String(axis)} is supported only on the last axis`);
    return [logical(tf.softmax(t))];
  };
};

const identity: Compiler = (node) => {
  if (node.opType === 'Dropout' && node.output.length > 1 && node.output[1] !== '') unsupported('its mask output is not supported (ardkit runs Dropout in inference form)');
  return ([input]) => [tensorOf(input, 'input')];
};

const leakyRelu: Compiler = (node, ctx) => {
  const alpha = attrFloat(node, 'alpha', 0.01);
  return unary((x) => tf.leakyRelu(x, alpha))(node, ctx);
};

let compilers: Readonly<Record<(typeof SUPPORTED_OPS)[number], Compiler>> | undefined;

/**
 * The compiler of an operator, or undefined when ardkit does not support it. The table is built on first use, so
 * that a bundle which never loads ONNX keeps none of it.
 */
export function compilerFor(op: string): Compiler | undefined {
  compilers ??= makeCompilers();
  return (compilers as Record<string, Compiler | undefined>)[op];
}

const makeCompilers = (): Readonly<Record<(typeof SUPPORTED_OPS)[number], Compiler>> => ({
  Add: binary('Add'),
  AveragePool: pool('avg'),
  BatchNormalization: batchNorm,
  Cast: cast,
  Clip: clip,
  Concat: concat,
  Constant: constant,
  ConstantOfShape: constantOfShape,
  Conv: conv,
  Div: binary('Div'),
  Dropout: identity,
  Flatten: flatten,
  Gather: gather,
  Gemm: gemm,
  GlobalAveragePool: globalPool('avg'),
  GlobalMaxPool: globalPool('max'),
  Identity: identity,
  LeakyRelu: leakyRelu,
  MatMul: matMul,
  MaxPool: pool('max'),
  Mul: binary('Mul'),
  Pad: pad,
  ReduceMean: reduceMean,
  Relu: unary(tf.relu),
  Reshape: reshape,
  Shape: shapeOp,
  Sigmoid: unary(tf.sigmoid),
  Slice: slice,
  Softmax: softmax,
  Squeeze: squeeze,
  Sub: binary('Sub'),
  Tanh: unary(tf.tanh),
  Transpose: transpose,
  Unsqueeze: unsqueeze
});

export { AttributeType };
