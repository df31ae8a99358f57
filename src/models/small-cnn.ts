import * as tfl from '@tensorflow/tfjs-layers';
import { checkInteger } from '../core/validate.js';
import { custom, integer, parseOptions, type OptionFields } from '../core/options.js';
import { nullAsLeftOut } from '../core/options.js';
import { rangeError, named } from '../core/errors.js';

/** Options of {@link smallCnn}. */
export interface SmallCnnOptions {
  /**
   * Input shape `[height, width, channels]`, NHWC; each side must leave at least 1 pixel after the two
   * conv–conv–pool blocks (at least 16).
   * @defaultValue [28, 28, 1]
   */
  readonly inputShape?: readonly [number, number, number];
  /** Number of classes (units of the last layer, which outputs logits). @defaultValue 10 */
  readonly numClasses?: number;
  /** Filters of the two convolution blocks (two convolutions each). @defaultValue [32, 64] */
  readonly filters?: readonly [number, number];
  /** Units of the two hidden dense layers. @defaultValue 200 */
  readonly hidden?: number;
  /** Seed of the weight initialisers: the same seed gives the same initial weights. @defaultValue 0 */
  readonly seed?: number;
}

/** Spatial size after two blocks of two valid 3×3 convolutions and a 2×2 pool. */
function outputSide(side: number): number {
  return Math.floor((Math.floor((side - 4) / 2) - 4) / 2);
}

/** An input shape of positive integers that leaves at least 1 pixel after the two blocks. */
function checkInputShape(arg: string, value: unknown): readonly [number, number, number] {
  if (!Array.isArray(value) || value.length !== 3 || !value.every((d) => Number.isInteger(d) && (d as number) >= 1)) {
    rangeError(arg, 'be [height, width, channels] of positive integers', value);
  }
  const shape = value as unknown as readonly [number, number, number];
  if (outputSide(shape[0]) < 1 || outputSide(shape[1]) < 1) rangeError(arg, 'have height and width >= 16 (two conv-conv-pool blocks)', shape);
  return shape;
}

/** A pair of positive integers. */
function checkFilters(arg: string, value: unknown): readonly [number, number] {
  if (!Array.isArray(value) || value.length !== 2) rangeError(arg, 'be a pair of positive integers', value);
  return [checkInteger(`${arg}[0]`, value[0]), checkInteger(`${arg}[1]`, value[1])];
}

/** How each of {@link SmallCnnOptions} is checked and defaulted (`null` counts as left out). */
const SMALL_CNN_FIELDS: OptionFields<SmallCnnOptions> = {
  inputShape: /* @__PURE__ */ nullAsLeftOut(/* @__PURE__ */ custom(checkInputShape, [28, 28, 1])),
  numClasses: /* @__PURE__ */ nullAsLeftOut(/* @__PURE__ */ integer(2, 10)),
  filters: /* @__PURE__ */ nullAsLeftOut(/* @__PURE__ */ custom(checkFilters, [32, 64])),
  hidden: /* @__PURE__ */ nullAsLeftOut(/* @__PURE__ */ integer(1, 200)),
  seed: /* @__PURE__ */ nullAsLeftOut(/* @__PURE__ */ integer(0, 0))
};

/**
 * The small MNIST CNN of the adversarial-robustness literature (the "SmallCNN" of Madry et al.'s MNIST
 * challenge and of TRADES, Zhang et al., arXiv 1901.08573, without its dropout), as a tfjs-layers model
 * that outputs logits. With the defaults, on `[28, 28, 1]` inputs (312 202 parameters):
 *
 * | layer | output |
 * | --- | --- |
 * | conv 3×3, 32 filters, ReLU | 26×26×32 |
 * | conv 3×3, 32 filters, ReLU | 24×24×32 |
 * | max-pool 2×2 | 12×12×32 |
 * | conv 3×3, 64 filters, ReLU | 10×10×64 |
 * | conv 3×3, 64 filters, ReLU | 8×8×64 |
 * | max-pool 2×2 | 4×4×64 |
 * | flatten, dense 200, ReLU | 200 |
 * | dense 200, ReLU | 200 |
 * | dense 10 (logits) | 10 |
 *
 * Convolutions are `valid`, He-normal initialised; it trains on every tfjs backend, on wasm once
 * `registerWasmTrainingKernels` (from `ardkit/backends`) has added the convolution gradients. The examples and the benchmark
 * (`npm run bench`) use it. This entry point imports `@tensorflow/tfjs-layers`, an optional peer dependency.
 *
 * @param options - see {@link SmallCnnOptions}.
 * @returns a new, unfitted `tf.Sequential`; the caller disposes it (`model.dispose()`).
 * @throws RangeError when an option is not a positive integer, the input is too small for the two blocks,
 * or an unknown option key is given.
 * @example
 * const net = smallCnn(); // MNIST-sized
 * const model = fromLayersModel(net);
 * const xAdv = pgd(model, x, y, { eps: 0.3 });
 */
export function smallCnn(options: Readonly<SmallCnnOptions> = {}): tfl.Sequential {
  return named('smallCnn', () => {
    const { inputShape, numClasses, filters: [f1, f2], hidden, seed } = parseOptions(options, SMALL_CNN_FIELDS);

    let layer = 0;
    const init = (): ReturnType<typeof tfl.initializers.heNormal> => tfl.initializers.heNormal({ seed: seed * 100 + ++layer });
    const conv = (filtersOut: number, first = false): ReturnType<typeof tfl.layers.conv2d> =>
      tfl.layers.conv2d({
        ...(first ? { inputShape: [...inputShape] } : {}),
        filters: filtersOut,
        kernelSize: 3,
        activation: 'relu',
        kernelInitializer: init()
      });
    const dense = (units: number, activation: 'relu' | 'linear'): ReturnType<typeof tfl.layers.dense> =>
      tfl.layers.dense({ units, activation, kernelInitializer: init() });
    return tfl.sequential({
      layers: [
        conv(f1, true),
        conv(f1),
        tfl.layers.maxPooling2d({ poolSize: 2 }),
        conv(f2),
        conv(f2),
        tfl.layers.maxPooling2d({ poolSize: 2 }),
        tfl.layers.flatten(),
        dense(hidden, 'relu'),
        dense(hidden, 'relu'),
        dense(numClasses, 'linear')
      ]
    });
  });
}
