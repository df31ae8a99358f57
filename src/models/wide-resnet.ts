import type * as tfl from '@tensorflow/tfjs-layers';
import { optionKeys } from '../core/validate.js';
import { custom, integer, parseOptions, type OptionFields } from '../core/options.js';
import { nullAsLeftOut } from '../core/options.js';
import { rangeError, named } from '../core/errors.js';
import { type CifarNetOptions, CIFAR_NET_FIELDS, CIFAR_NET_KEYS, cifarNetConfig, GraphBuilder } from './cifar-layers.js';

/** Options of {@link wideResNet}. */
export interface WideResNetOptions extends CifarNetOptions {
  /** Depth `6n + 4` (n blocks per stage): 34, 28, 16, … @defaultValue 34 */
  readonly depth?: number;
  /** Width factor k: the stages have 16k, 32k and 64k channels. @defaultValue 10 */
  readonly widthFactor?: number;
}

const KEYS = optionKeys<WideResNetOptions>()(...CIFAR_NET_KEYS, 'depth', 'widthFactor');

/** A WRN depth: an integer `6n + 4 >= 10`. */
function checkDepth(arg: string, value: unknown): number {
  if (!Number.isInteger(value) || (value as number) < 10 || ((value as number) - 4) % 6 !== 0) {
    rangeError(arg, 'be an integer 6n + 4 >= 10 (10, 16, 22, 28, 34, …)', value);
  }
  return value as number;
}

/**
 * How each of {@link WideResNetOptions} but `normalization` is checked and defaulted, in the order they are checked
 * (`null` counts as left out); `normalization` follows, in {@link cifarNetConfig}.
 */
const WIDE_RESNET_FIELDS: OptionFields<Omit<WideResNetOptions, 'normalization'>> = {
  depth: /* @__PURE__ */ nullAsLeftOut(/* @__PURE__ */ custom(checkDepth, 34)),
  widthFactor: /* @__PURE__ */ nullAsLeftOut(/* @__PURE__ */ integer(1, 10)),
  ...CIFAR_NET_FIELDS
};

type Sym = tfl.SymbolicTensor;

/**
 * TRADES' `BasicBlock`: where the channels change, `x ← ReLU(bn1(x))` feeds both the 3×3 path and the 1×1
 * `convShortcut`; otherwise the 3×3 path starts from `ReLU(bn1(x))` and the shortcut is `x`.
 */
function block(g: GraphBuilder, x: Sym, name: string, inPlanes: number, outPlanes: number, stride: 1 | 2): Sym {
  const equalInOut = inPlanes === outPlanes;
  const pre = g.act(g.bn(x, `${name}_bn1`), `${name}_relu1`);
  let out = g.act(g.bn(g.conv(pre, `${name}_conv1`, outPlanes, 3, stride), `${name}_bn2`), `${name}_relu2`);
  out = g.conv(out, `${name}_conv2`, outPlanes, 3);
  return g.add(equalInOut ? x : g.conv(pre, `${name}_convShortcut`, outPlanes, 1, stride), out, `${name}_add`);
}

/**
 * Wide residual network WRN-depth-k for CIFAR (Zagoruyko & Komodakis, arXiv 1605.07146) in the layout of TRADES'
 * `wideresnet.py` (Zhang et al., arXiv 1901.08573), the teacher of ARD, RSLAD and most robust-distillation papers:
 * a 3×3 stem, three stages of `n = (depth − 4)/6` pre-activation blocks, a final batch norm and ReLU, global average
 * pooling and a linear layer. Trainable parameters with 10 classes, as in PyTorch: WRN-34-10 46 160 474, WRN-28-10
 * 36 479 194, WRN-16-4 2 748 890. On `[32, 32, 3]` inputs, with `c = [16, 16k, 32k, 64k]`:
 *
 * | layer (name) | output |
 * | --- | --- |
 * | `normalize` (only with `normalization`; fixed) | 32×32×3 |
 * | `conv1` 3×3, 16 | 32×32×16 |
 * | `block1_layer_0` … `block1_layer_{n−1}`: blocks, 16k | 32×32×16k |
 * | `block2_layer_0` (stride 2) … : 32k | 16×16×32k |
 * | `block3_layer_0` (stride 2) … : 64k | 8×8×64k |
 * | `bn1`; ReLU | 8×8×64k |
 * | `features`: global average pool | 64k |
 * | `fc` (logits) | 10 |
 *
 * A block `blockS_layer_I` has `bn1`, `conv1` (3×3, with the stage's stride in the first block), `bn2`, `conv2`
 * (3×3), and, in the first block of each stage when the channels change (the first stage's too, 16 → 16k, for k > 1),
 * a 1×1 `convShortcut` without bias, fed by `ReLU(bn1(x))` as in TRADES. TRADES' unused `sub_block1` (never called in
 * `forward`, though PyTorch counts its parameters) is left out, and so is its dropout (rate 0 there). Layer names are the
 * PyTorch module paths with `.` written `_` (`block1.layer.0.convShortcut` is `block1_layer_0_convShortcut`); the
 * `ardkit/models` module page maps the weights. The penultimate representation is the layer `features`.
 * Convolutions have no bias and are He-uniform initialised; batch norm uses PyTorch's ε and momentum.
 *
 * @param options - see {@link WideResNetOptions}.
 * @returns a new, unfitted tfjs-layers `LayersModel` that outputs logits `[B, classes]`; the caller disposes it.
 * @throws RangeError when `depth` is not an integer `6n + 4 ≥ 10`, `widthFactor` not an integer ≥ 1, `inputShape` not
 * three positive integers, `classes` not an integer ≥ 2, `seed` not an integer ≥ 0, `normalization` not one finite mean
 * and one std > 0 per input channel, or an unknown option is given.
 * @example
 * const teacher = wideResNet({ depth: 34, widthFactor: 10 }); // WRN-34-10, 46.2M parameters
 * const small = wideResNet({ depth: 16, widthFactor: 4, classes: 100 });
 */
export function wideResNet(options: Readonly<WideResNetOptions> = {}): tfl.LayersModel {
  return named('wideResNet', () => {
    const { depth, widthFactor: k, ...net } = parseOptions(options, WIDE_RESNET_FIELDS, KEYS);
    const g = new GraphBuilder(cifarNetConfig(net, options.normalization));
    const n = (depth - 4) / 6;
    const channels = [16 * k, 32 * k, 64 * k];
    let x = g.conv(g.start, 'conv1', 16, 3);
    let inPlanes = 16;
    channels.forEach((planes, stage) => {
      for (let i = 0; i < n; i++) {
        const stride = stage > 0 && i === 0 ? 2 : 1;
        x = block(g, x, `block${stage + 1}_layer_${i}`, inPlanes, planes, stride);
        inPlanes = planes;
      }
    });
    x = g.act(g.bn(x, 'bn1'), 'relu');
    return g.head(x, 'fc', `wrn_${depth}_${k}`);
  });
}
