/**
 * Gradients of 2-D convolutions computed with the backend's fast forward convolution on rearranged
 * tensors (see DESIGN.md, "Backends"). Everything is NHWC, as tfjs' wasm backend requires.
 *
 * Notation: x `[B, H, W, Ci]`, filter `[kh, kw, Ci, Co]` (depthwise: `[kh, kw, Ci, M]`), dy `[B, oh, ow, Co]`,
 * stride `s`, dilation `d`, padding before `p` (top/left) as tfjs computes it for the forward convolution.
 */
import * as tf from '@tensorflow/tfjs-core';
import { formatValue } from '../core/errors.js';
import { derivedFilter } from './derived-cache.js';
import { withScope, type Info, type KernelScope } from './kernel-scope.js';

type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
type Rounding = 'floor' | 'round' | 'ceil' | undefined;

/** Spatial amounts `[before, after]` per axis, which may be negative (a crop). */
type Pads2 = readonly [readonly [number, number], readonly [number, number]];

function checkNhwc(kernelName: string, dataFormat: unknown): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC') {
    throw new Error(`ardkit ${kernelName}: only dataFormat 'NHWC' is supported on the wasm backend (got ${formatValue(dataFormat)})`);
  }
}

/**
 * Crops the spatial axes of an NHWC tensor where a padding amount is negative, and returns the
 * remaining non-negative amounts as an explicit padding for Conv2D (which pads without copying).
 */
function cropThenPad(s: KernelScope, x: Info, pads: Pads2): { x: Info; pad: tf.backend_util.ExplicitPadding } {
  const [[top, bottom], [left, right]] = pads;
  const [b = 0, h = 0, w = 0, c = 0] = x.shape;
  const cropTop = Math.max(0, -top);
  const cropLeft = Math.max(0, -left);
  const rows = h - cropTop - Math.max(0, -bottom);
  const cols = w - cropLeft - Math.max(0, -right);
  const cropped = cropTop > 0 || cropLeft > 0 || rows < h || cols < w ? s.slice(x, [0, cropTop, cropLeft, 0], [b, rows, cols, c]) : x;
  const pad: tf.backend_util.ExplicitPadding = [
    [0, 0],
    [Math.max(0, top), Math.max(0, bottom)],
    [Math.max(0, left), Math.max(0, right)],
    [0, 0]
  ];
  return { x: cropped, pad };
}

/** Inserts `s − 1` zeros after every row and column of dy (`[B, oh, ow, C]` → `[B, oh·sh, ow·sw, C]`). */
function zeroDilate(s: KernelScope, dy: Info, sh: number, sw: number): Info {
  if (sh === 1 && sw === 1) return dy;
  const [b = 0, oh = 0, ow = 0, c = 0] = dy.shape;
  const six = s.reshape(dy, [b, oh, 1, ow, 1, c]);
  const padded = s.pad(six, [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]]);
  return s.reshape(padded, [b, oh * sh, ow * sw, c]);
}

interface GeometryIn {
  readonly inSize: number;
  readonly outSize: number;
  readonly filterSize: number;
  readonly stride: number;
  readonly dilation: number;
  readonly padBefore: number;
}

/**
 * Padding of the zero-dilated dy (length `out·s`) for the full correlation that gives the input gradient:
 * `dx[y] = Σ_i dyd[y + p − i·d]·w[i]`, i.e. a correlation with the flipped filter, dilation d, of dyd padded
 * by `(k−1)·d − p` before; the amount after makes the output exactly `inSize` long.
 */
function inputGradPads(g: GeometryIn): [number, number] {
  const before = (g.filterSize - 1) * g.dilation - g.padBefore;
  const length = g.outSize * g.stride;
  const after = g.inSize + (g.filterSize - 1) * g.dilation - length - before;
  return [before, after];
}

/**
 * Padding of x for the correlation that gives the filter gradient: `dw[i] = Σ_y x[i·d + y·s − p]·dy[y]`,
 * a correlation of x (padded by p before) with dy as the filter at dilation s, evaluated at output
 * positions `i·d`; the amount after makes the last needed position exactly reachable.
 */
function filterGradPads(g: GeometryIn): [number, number] {
  const before = g.padBefore;
  const needed = (g.filterSize - 1) * g.dilation + (g.outSize - 1) * g.stride + 1;
  return [before, needed - g.inSize - before];
}

function convInfo(
  xShape: number[],
  filterShape: number[],
  strides: [number, number] | number,
  dilations: [number, number] | number,
  pad: Pad,
  rounding: Rounding,
  depthwise: boolean
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    dilations,
    pad,
    rounding,
    depthwise,
    'channelsLast'
  );
}

function geometry(info: tf.backend_util.Conv2DInfo): [GeometryIn, GeometryIn] {
  return [
    {
      inSize: info.inHeight,
      outSize: info.outHeight,
      filterSize: info.filterHeight,
      stride: info.strideHeight,
      dilation: info.dilationHeight,
      padBefore: info.padInfo.top
    },
    {
      inSize: info.inWidth,
      outSize: info.outWidth,
      filterSize: info.filterWidth,
      stride: info.strideWidth,
      dilation: info.dilationWidth,
      padBefore: info.padInfo.left
    }
  ];
}

/** Input gradient of Conv2D: a stride-1 convolution of the zero-dilated dy with the flipped, transposed filter. */
export function conv2dBackpropInput(s: KernelScope, dy: Info, filter: Info, info: tf.backend_util.Conv2DInfo, backend: object): Info {
  const [gh, gw] = geometry(info);
  if (info.inChannels <= FEW_CHANNELS) return conv2dBackpropInputFewChannels(s, dy, filter, info);
  if (gh.stride > 1 || gw.stride > 1) return conv2dBackpropInputStrided(s, dy, filter, info, backend);
  // [kh, kw, Ci, Co] → flipped [kh, kw, Co, Ci]
  const flipped = derivedFilter(s, backend, 'conv2d-input', filter, () => s.transpose(s.run('Reverse', { x: filter }, { dims: [0, 1] }), [0, 1, 3, 2]));
  const dyd = zeroDilate(s, dy, gh.stride, gw.stride);
  const { x, pad } = cropThenPad(s, dyd, [inputGradPads(gh), inputGradPads(gw)]);
  return s.run('Conv2D', { x, filter: flipped }, { strides: 1, pad, dilations: [gh.dilation, gw.dilation], dataFormat: 'NHWC' });
}

/** One axis of {@link conv2dBackpropInputStrided}: the phases' shared output length and where the input starts in it. */
interface PhaseAxis {
  /** Taps of the filter in phase `r` (rows `r, r + s, …`). */
  readonly taps: readonly number[];
  /** Length of each phase's output. */
  readonly length: number;
  /** `q_lo`: the first output index, in units of the stride. */
  readonly first: number;
  /** Where `dx[0]` lies in the interleaved phases. */
  readonly start: number;
}

/**
 * One axis of the polyphase input gradient. With `t = n + p = q·s + r`, `dx[q·s + r − p] = Σ_j dy[q − j]·w[r + s·j]`:
 * phase `r` is a full correlation of dy with the flipped taps `w[r], w[r + s], …`, at every `q` from `q_lo = ⌊p/s⌋`.
 */
function phaseAxis(g: GeometryIn): PhaseAxis {
  const s = g.stride;
  const taps = Array.from({ length: s }, (_, r) => Math.max(0, Math.ceil((g.filterSize - r) / s)));
  const first = Math.floor(g.padBefore / s);
  const start = g.padBefore - first * s;
  return { taps, length: Math.ceil((start + g.inSize) / s), first, start };
}

/** Padding of dy for phase `r` of an axis: before `k_r − 1 − q_lo`, after what makes the output `length` long. */
function phasePads(a: PhaseAxis, r: number, outSize: number): [number, number] {
  const k = a.taps[r] ?? 0;
  const before = k - 1 - a.first;
  return [before, a.length + k - 1 - outSize - before];
}

/**
 * Input gradient of a strided Conv2D as `sh·sw` stride-1 convolutions of dy, one per output phase (polyphase
 * decomposition), interleaved: the same arithmetic as the forward convolution, where convolving the zero-dilated dy
 * does `sh·sw` times as much (4× for stride 2), three quarters of it on zeros. Each phase's flipped sub-filter is
 * derived once per filter buffer.
 */
function conv2dBackpropInputStrided(s: KernelScope, dy: Info, filter: Info, info: tf.backend_util.Conv2DInfo, backend: object): Info {
  const [gh, gw] = geometry(info);
  const [kh = 0, kw = 0, ci = 0, co = 0] = filter.shape;
  const [b = 0, oh = 0, ow = 0] = dy.shape;
  const ah = phaseAxis(gh);
  const aw = phaseAxis(gw);
  const rows: Info[] = [];
  for (let rh = 0; rh < gh.stride; rh++) {
    const cols: Info[] = [];
    for (let rw = 0; rw < gw.stride; rw++) {
      const th = ah.taps[rh] ?? 0;
      const tw = aw.taps[rw] ?? 0;
      let phase: Info;
      if (th === 0 || tw === 0) {
        phase = s.run('Fill', {}, { shape: [b, ah.length, aw.length, ci], value: 0, dtype: 'float32' });
      } else {
        const sub = derivedFilter(s, backend, `conv2d-input-phase-${String(gh.stride)}x${String(gw.stride)}-${String(rh)}-${String(rw)}`, filter, () => {
          // Rows rh, rh + sh, … and columns rw, rw + sw, … of the filter: pad it to whole strides, view the taps as
          // [kh/sh, sh, kw/sw, sw, Ci, Co], take phase (rh, rw), then flip and transpose to [th, tw, Co, Ci].
          const ph = Math.ceil(kh / gh.stride) * gh.stride - kh;
          const pw = Math.ceil(kw / gw.stride) * gw.stride - kw;
          const padded = ph > 0 || pw > 0 ? s.pad(filter, [[0, ph], [0, pw], [0, 0], [0, 0]]) : filter;
          const view = s.reshape(padded, [(kh + ph) / gh.stride, gh.stride, (kw + pw) / gw.stride, gw.stride, ci, co]);
          const taps = s.reshape(s.slice(view, [0, rh, 0, rw, 0, 0], [th, 1, tw, 1, ci, co]), [th, tw, ci, co]);
          return s.transpose(s.run('Reverse', { x: taps }, { dims: [0, 1] }), [0, 1, 3, 2]);
        });
        const { x, pad } = cropThenPad(s, dy, [phasePads(ah, rh, oh), phasePads(aw, rw, ow)]);
        phase = s.run('Conv2D', { x, filter: sub }, { strides: 1, pad, dilations: 1, dataFormat: 'NHWC' });
      }
      cols.push(s.reshape(phase, [b, ah.length, aw.length, 1, ci]));
    }
    const row = cols.length === 1 ? (cols[0] as Info) : s.run('Concat', cols as unknown as tf.NamedTensorInfoMap, { axis: 3 });
    rows.push(s.reshape(row, [b, ah.length, 1, aw.length * gw.stride, ci]));
  }
  const all = rows.length === 1 ? (rows[0] as Info) : s.run('Concat', rows as unknown as tf.NamedTensorInfoMap, { axis: 2 });
  const full = s.reshape(all, [b, ah.length * gh.stride, aw.length * gw.stride, ci]);
  return s.slice(full, [0, ah.start, aw.start, 0], [b, gh.inSize, gw.inSize, ci]);
}

/**
 * Up to this many input channels (a grey or RGB first layer), the input gradient is a depthwise convolution
 * of dy followed by a sum over its channels: a dense convolution with so few output channels leaves most of
 * XNNPACK's vector lanes idle (6× slower for one channel).
 */
const FEW_CHANNELS = 4;

/** {@link conv2dBackpropInput} for few input channels: `dx[…, c] = Σ_o corr(dyd[…, o], flip(w)[…, c, o])`. */
function conv2dBackpropInputFewChannels(s: KernelScope, dy: Info, filter: Info, info: tf.backend_util.Conv2DInfo): Info {
  const [gh, gw] = geometry(info);
  const [kh = 0, kw = 0, ci = 0, co = 0] = filter.shape;
  // [kh, kw, Ci, Co] → [kh, kw, Co, Ci]: depthwise filter with channel multiplier Ci.
  const flipped = s.transpose(s.run('Reverse', { x: filter }, { dims: [0, 1] }), [0, 1, 3, 2]);
  const dyd = zeroDilate(s, dy, gh.stride, gw.stride);
  const { x, pad } = cropThenPad(s, dyd, [inputGradPads(gh), inputGradPads(gw)]);
  const perChannel = s.run('DepthwiseConv2dNative', { x, filter: s.reshape(flipped, [kh, kw, co, ci]) }, { strides: 1, pad, dilations: 1 });
  const [b = 0, h = 0, w = 0] = perChannel.shape;
  return s.run('Sum', { x: s.reshape(perChannel, [b, h, w, co, ci]) }, { axis: [3], keepDims: false });
}

/**
 * Filter gradient of Conv2D: batch and channels swapped, x `[Ci, H, W, B]` correlated with dy `[oh, ow, B, Co]`
 * as the filter, strides becoming dilations; the result `[Ci, kh, kw, Co]` is transposed back.
 */
export function conv2dBackpropFilter(s: KernelScope, x: Info, dy: Info, info: tf.backend_util.Conv2DInfo): Info {
  const [gh, gw] = geometry(info);
  if (gh.dilation !== 1 || gw.dilation !== 1) {
    throw new Error('ardkit Conv2DBackpropFilter: dilations > 1 are not supported');
  }
  const xt = s.transpose(x, [3, 1, 2, 0]);
  const dyt = s.transpose(dy, [1, 2, 0, 3]);
  const { x: xp, pad } = cropThenPad(s, xt, [filterGradPads(gh), filterGradPads(gw)]);
  const dw = s.run('Conv2D', { x: xp, filter: dyt }, { strides: 1, pad, dilations: [gh.stride, gw.stride], dataFormat: 'NHWC' });
  return s.transpose(dw, [1, 2, 0, 3]);
}

/**
 * Input gradient of a depthwise convolution: a depthwise convolution of the zero-dilated dy with the
 * flipped filter (one input channel per output channel), summed over the channel multiplier.
 */
export function depthwiseBackpropInput(s: KernelScope, dy: Info, filter: Info, info: tf.backend_util.Conv2DInfo): Info {
  const [gh, gw] = geometry(info);
  const [kh = 0, kw = 0, ci = 0, m = 0] = filter.shape;
  const flipped = s.reshape(s.run('Reverse', { x: filter }, { dims: [0, 1] }), [kh, kw, ci * m, 1]);
  const dyd = zeroDilate(s, dy, gh.stride, gw.stride);
  const { x, pad } = cropThenPad(s, dyd, [inputGradPads(gh), inputGradPads(gw)]);
  const dxm = s.run('DepthwiseConv2dNative', { x, filter: flipped }, { strides: 1, pad, dilations: [gh.dilation, gw.dilation] });
  if (m === 1) return dxm;
  const [b = 0, h = 0, w = 0] = dxm.shape;
  return s.run('Sum', { x: s.reshape(dxm, [b, h, w, ci, m]) }, { axis: [4], keepDims: false });
}

/**
 * Filter gradient of a depthwise convolution: each (example, channel) pair becomes a channel of one image
 * `[1, H, W, B·Ci]`, correlated depthwise with dy `[oh, ow, B·Ci, M]` as the filter (strides becoming
 * dilations), then summed over the batch.
 */
export function depthwiseBackpropFilter(s: KernelScope, x: Info, dy: Info, info: tf.backend_util.Conv2DInfo): Info {
  const [gh, gw] = geometry(info);
  const [b = 0, h = 0, w = 0, ci = 0] = x.shape;
  const [, oh = 0, ow = 0, com = 0] = dy.shape;
  const m = com / ci;
  const kh = info.filterHeight;
  const kw = info.filterWidth;
  const image = s.reshape(s.transpose(x, [1, 2, 0, 3]), [1, h, w, b * ci]);
  const filter = s.reshape(s.transpose(dy, [1, 2, 0, 3]), [oh, ow, b * ci, m]);
  const { x: xp, pad } = cropThenPad(s, image, [filterGradPads(gh), filterGradPads(gw)]);
  // Output positions i·d of the correlation: dilation d of the forward conv becomes the output stride.
  const full = s.run('DepthwiseConv2dNative', { x: xp, filter }, { strides: [gh.dilation, gw.dilation], pad, dilations: [gh.stride, gw.stride] });
  const perExample = s.reshape(full, [kh, kw, b, ci, m]);
  return s.run('Sum', { x: perExample }, { axis: [2], keepDims: false });
}

/** The kernel functions ardkit registers, by tfjs kernel name. */
export function convGradientKernels(backendName: string): Record<string, tf.KernelFunc> {
  return {
    Conv2DBackpropInput: ({ inputs, backend, attrs }) => {
      const a = attrs as unknown as tf.Conv2DBackpropInputAttrs;
      checkNhwc('Conv2DBackpropInput', a.dataFormat);
      const { dy, filter } = inputs as { dy: Info; filter: Info };
      const info = convInfo(a.inputShape, filter.shape, a.strides, 1, a.pad, a.dimRoundingMode, false);
      return withScope(backend, backendName, (s) => conv2dBackpropInput(s, dy, filter, info, backend));
    },
    Conv2DBackpropFilter: ({ inputs, backend, attrs }) => {
      const a = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
      checkNhwc('Conv2DBackpropFilter', a.dataFormat);
      const { x, dy } = inputs as { x: Info; dy: Info };
      const info = convInfo(x.shape, a.filterShape, a.strides, 1, a.pad, a.dimRoundingMode, false);
      return withScope(backend, backendName, (s) => conv2dBackpropFilter(s, x, dy, info));
    },
    DepthwiseConv2dNativeBackpropInput: ({ inputs, backend, attrs }) => {
      const a = attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
      const { dy, filter } = inputs as { dy: Info; filter: Info };
      const info = convInfo(a.inputShape, filter.shape, a.strides, a.dilations, a.pad, a.dimRoundingMode, true);
      return withScope(backend, backendName, (s) => depthwiseBackpropInput(s, dy, filter, info));
    },
    DepthwiseConv2dNativeBackpropFilter: ({ inputs, backend, attrs }) => {
      const a = attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
      const { x, dy } = inputs as { x: Info; dy: Info };
      const info = convInfo(x.shape, a.filterShape, a.strides, a.dilations, a.pad, a.dimRoundingMode, true);
      return withScope(backend, backendName, (s) => depthwiseBackpropFilter(s, x, dy, info));
    }
  };
}
