import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { optionKeys } from '../core/validate.js';
import { custom, integer, type OptionFields, type Parsed } from '../core/options.js';
import { nullAsLeftOut } from '../core/options.js';
import { rangeError } from '../core/errors.js';
import { checkNormalization, type NormalizationOptions } from '../core/normalization.js';

/**
 * Options shared by the CIFAR networks of `ardkit/models` ({@link resNet18}, {@link preActResNet18},
 * {@link wideResNet}, {@link mobileNetV2}).
 */
export interface CifarNetOptions {
  /**
   * Input shape `[height, width, channels]`, NHWC. Any size works (the head pools globally); at 32×32 the global
   * average pool is the reference code's `avg_pool2d` and the network is the PyTorch one.
   * @defaultValue [32, 32, 3]
   */
  readonly inputShape?: readonly [number, number, number];
  /** Number of classes: the units of the last layer, which outputs logits. @defaultValue 10 */
  readonly classes?: number;
  /** Seed of the weight initialisers: the same seed gives the same initial weights. @defaultValue 0 */
  readonly seed?: number;
  /**
   * A per-channel normalisation `(x − mean)/std` built in as the first layer (`normalize`, a 1×1 depthwise convolution
   * with fixed, non-trainable weights `1/std` and bias `−mean/std`), so that the model takes inputs in `[0, 1]` and is
   * saved and loaded with its normalisation by plain `tf.loadLayersModel`. One entry per input channel. Without it
   * the network sees its inputs as given (use `withNormalization` from `ardkit/core` to normalise outside the model).
   */
  readonly normalization?: NormalizationOptions;
}

/** The checked common options. */
export interface CheckedCifarOptions {
  readonly inputShape: [number, number, number];
  readonly classes: number;
  readonly seed: number;
  readonly normalization: { mean: number[]; std: number[] } | undefined;
}

/** An input shape `[height, width, channels]` of positive integers. */
function checkInputShape(arg: string, value: unknown): readonly [number, number, number] {
  if (!Array.isArray(value) || value.length !== 3 || !value.every((d) => Number.isInteger(d) && (d as number) >= 1)) {
    rangeError(arg, 'be [height, width, channels] of positive integers', value);
  }
  return value as unknown as readonly [number, number, number];
}

/** The keys of {@link CifarNetOptions}, in the order the message for an unknown key names them. */
export const CIFAR_NET_KEYS = optionKeys<CifarNetOptions>()('inputShape', 'classes', 'seed', 'normalization');

/**
 * How each of {@link CifarNetOptions} but `normalization` is checked and defaulted (`null` counts as left out).
 * `normalization` is checked after them, by {@link cifarNetConfig}: its rule depends on the input's channels.
 */
export const CIFAR_NET_FIELDS: OptionFields<Omit<CifarNetOptions, 'normalization'>> = {
  inputShape: /* @__PURE__ */ nullAsLeftOut(/* @__PURE__ */ custom(checkInputShape, [32, 32, 3])),
  classes: /* @__PURE__ */ nullAsLeftOut(/* @__PURE__ */ integer(2, 10)),
  seed: /* @__PURE__ */ nullAsLeftOut(/* @__PURE__ */ integer(0, 0))
};

/**
 * The common options of a CIFAR builder: `net`, its {@link CIFAR_NET_FIELDS} as parsed, and the `normalization`
 * option as given, checked here against the input's channels (the caller has checked the keys).
 *
 * @throws TypeError or RangeError when `normalization` is not one finite mean and one std > 0 per input channel.
 * @example
 * const net = parseOptions(options, CIFAR_NET_FIELDS, CIFAR_NET_KEYS);
 * const g = new GraphBuilder(cifarNetConfig(net, options.normalization));
 */
export function cifarNetConfig(net: Parsed<typeof CIFAR_NET_FIELDS>, normalization: unknown): CheckedCifarOptions {
  const inputShape = [...net.inputShape] as [number, number, number];
  return {
    inputShape,
    classes: net.classes,
    seed: net.seed,
    normalization: normalization === undefined ? undefined : checkNormalization('normalization', normalization, inputShape[2])
  };
}

type Sym = tfl.SymbolicTensor;

/**
 * Builds a functional tfjs-layers graph with PyTorch-compatible layers: convolutions without bias, padded like
 * PyTorch's `padding=1` (an explicit zero padding before stride-2 3×3 convolutions, where TensorFlow's `same` would pad
 * only bottom/right), batch norm with PyTorch's ε = 1e-5 and momentum 0.1 (Keras momentum 0.9), seeded initialisers.
 */
export class GraphBuilder {
  private count = 0;
  readonly input: Sym;
  private readonly normalizeLayer: tfl.layers.Layer | undefined;
  /** The input after the optional normalisation. */
  readonly start: Sym;

  constructor(private readonly options: CheckedCifarOptions) {
    this.input = tfl.input({ shape: [...options.inputShape], name: 'input' });
    if (options.normalization === undefined) {
      this.normalizeLayer = undefined;
      this.start = this.input;
    } else {
      this.normalizeLayer = tfl.layers.depthwiseConv2d({
        kernelSize: 1,
        depthMultiplier: 1,
        useBias: true,
        trainable: false,
        depthwiseInitializer: 'ones',
        biasInitializer: 'zeros',
        name: 'normalize'
      });
      this.start = this.normalizeLayer.apply(this.input) as Sym;
    }
  }

  private seed(): number {
    return this.options.seed * 1000 + ++this.count;
  }

  /** A convolution without bias, PyTorch's `Conv2d(k, stride, padding=(k−1)/2, bias=False)`; with `depthwise`, `groups=channels`. */
  conv(x: Sym, name: string, filters: number, kernelSize: 1 | 3, strides: 1 | 2 = 1, depthwise = false): Sym {
    let input = x;
    let padding: 'same' | 'valid' = kernelSize === 1 ? 'valid' : 'same';
    if (kernelSize === 3 && strides === 2) {
      input = tfl.layers.zeroPadding2d({ padding: 1, name: `${name}_pad` }).apply(x) as Sym;
      padding = 'valid';
    }
    // He-uniform, variance 2/fan-in (fan-in in·k·k, or k·k for a depthwise kernel, as PyTorch counts fans for grouped
    // convolutions). Uniform rather than normal: tfjs draws uniform numbers many times faster than (truncated) normal
    // ones, which matters for the 46M weights of WRN-34-10.
    const initializer = tfl.initializers.varianceScaling({ scale: 2, mode: depthwise ? 'fanOut' : 'fanIn', distribution: 'uniform', seed: this.seed() });
    const layer = depthwise
      ? tfl.layers.depthwiseConv2d({ kernelSize, strides, padding, depthMultiplier: 1, useBias: false, depthwiseInitializer: initializer, name })
      : tfl.layers.conv2d({ filters, kernelSize, strides, padding, useBias: false, kernelInitializer: initializer, name });
    return layer.apply(input) as Sym;
  }

  /** PyTorch's `BatchNorm2d` (ε = 1e-5, momentum 0.1) on the channel axis. */
  bn(x: Sym, name: string): Sym {
    return tfl.layers.batchNormalization({ axis: -1, epsilon: 1e-5, momentum: 0.9, name }).apply(x) as Sym;
  }

  /** An activation layer. */
  act(x: Sym, name: string, activation: 'relu' | 'relu6' = 'relu'): Sym {
    return tfl.layers.activation({ activation, name }).apply(x) as Sym;
  }

  /** An element-wise sum. */
  add(a: Sym, b: Sym, name: string): Sym {
    return tfl.layers.add({ name }).apply([a, b]) as Sym;
  }

  /**
   * The head: global average pooling (`features`, the penultimate representation) and a linear layer with bias
   * (`name`) giving the logits; PyTorch's default `Linear` initialisation `U(±1/√fan_in)` for the kernel, zero bias.
   * Returns the model, with the normalisation weights set.
   */
  head(x: Sym, name: string, modelName: string): tfl.LayersModel {
    const features = tfl.layers.globalAveragePooling2d({ name: 'features' }).apply(x) as Sym;
    const fanIn = features.shape[1] ?? 1;
    const logits = tfl.layers
      .dense({
        units: this.options.classes,
        kernelInitializer: tfl.initializers.randomUniform({ minval: -1 / Math.sqrt(fanIn), maxval: 1 / Math.sqrt(fanIn), seed: this.seed() }),
        biasInitializer: 'zeros',
        name
      })
      .apply(features) as Sym;
    const model = tfl.model({ inputs: this.input, outputs: logits, name: modelName });
    const norm = this.options.normalization;
    if (this.normalizeLayer !== undefined && norm !== undefined) {
      const layer = this.normalizeLayer;
      const channels = norm.mean.length;
      tf.tidy(() => {
        layer.setWeights([
          tf.tensor4d(norm.std.map((s) => 1 / s), [1, 1, channels, 1]),
          tf.tensor1d(norm.mean.map((m, i) => -m / (norm.std[i] ?? 1)))
        ]);
      });
    }
    return model;
  }
}
