import { named } from '../core/errors.js';
import type * as tfl from '@tensorflow/tfjs-layers';
import { parseOptions } from '../core/options.js';
import { type CifarNetOptions, CIFAR_NET_FIELDS, CIFAR_NET_KEYS, cifarNetConfig, GraphBuilder } from './cifar-layers.js';

/** `(t, c, n, s)`: expansion, output channels, blocks, stride of the first block; stage 2 has stride 1 for CIFAR. */
const STAGES: readonly (readonly [number, number, number, 1 | 2])[] = [
  [1, 16, 1, 1],
  [6, 24, 2, 1],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1]
];

type Sym = tfl.SymbolicTensor;

/** torchvision's `InvertedResidual`: [1×1 expand–bn–ReLU6] – 3×3 depthwise–bn–ReLU6 – 1×1 project–bn (+ x). */
function invertedResidual(g: GraphBuilder, x: Sym, name: string, inPlanes: number, outPlanes: number, t: number, stride: 1 | 2): Sym {
  const hidden = inPlanes * t;
  let out = x;
  let i = 0;
  if (t !== 1) {
    out = g.act(g.bn(g.conv(out, `${name}_conv_0_0`, hidden, 1), `${name}_conv_0_1`), `${name}_conv_0_2`, 'relu6');
    i = 1;
  }
  out = g.act(g.bn(g.conv(out, `${name}_conv_${i}_0`, hidden, 3, stride, true), `${name}_conv_${i}_1`), `${name}_conv_${i}_2`, 'relu6');
  out = g.bn(g.conv(out, `${name}_conv_${i + 1}`, outPlanes, 1), `${name}_conv_${i + 2}`);
  return stride === 1 && inPlanes === outPlanes ? g.add(x, out, `${name}_add`) : out;
}

/**
 * MobileNetV2 for CIFAR (Sandler et al., arXiv 1801.04381), the student of ARD, RSLAD and most robust-distillation
 * papers: torchvision's `mobilenet_v2` layout (inverted residual blocks, ReLU6, the expansion-1 block without its 1×1
 * expansion, a residual only where the stride is 1 and the channels stay) with the CIFAR strides of kuangliu's
 * `pytorch-cifar`, stride 1 in the 3×3 stem and in the second stage; 2 236 682 trainable parameters with 10 classes, as
 * in PyTorch. (kuangliu's own `Block`, with a 1×1 expansion in every block and projection shortcuts where the channels
 * change, has 2 296 922.) On `[32, 32, 3]` inputs:
 *
 * | layer (name) | output |
 * | --- | --- |
 * | `normalize` (only with `normalization`; fixed) | 32×32×3 |
 * | `features_0_0` 3×3, 32; `features_0_1` (bn); ReLU6 | 32×32×32 |
 * | `features_1`: t = 1, 16 | 32×32×16 |
 * | `features_2`, `features_3`: t = 6, 24 | 32×32×24 |
 * | `features_4` (stride 2) … `features_6`: 32 | 16×16×32 |
 * | `features_7` (stride 2) … `features_10`: 64 | 8×8×64 |
 * | `features_11` … `features_13`: 96 | 8×8×96 |
 * | `features_14` (stride 2) … `features_16`: 160 | 4×4×160 |
 * | `features_17`: 320 | 4×4×320 |
 * | `features_18_0` 1×1, 1280; `features_18_1` (bn); ReLU6 | 4×4×1280 |
 * | `features`: global average pool | 1280 |
 * | `classifier_1` (logits) | 10 |
 *
 * A block `features_I` is `conv_0_0` (1×1 expansion to `t·in` channels), `conv_0_1` (bn), ReLU6, `conv_1_0` (3×3
 * depthwise), `conv_1_1` (bn), ReLU6, `conv_2` (1×1 projection), `conv_3` (bn); the t = 1 block starts at the depthwise
 * convolution (`conv_0_0` depthwise, `conv_0_1`, `conv_1` projection, `conv_2` bn), as in torchvision. torchvision's
 * classifier dropout (`classifier.0`, p = 0.2) is left out. Layer names are the PyTorch module paths with `.` written
 * `_`; the `ardkit/models` module page maps the weights. The penultimate representation is the layer `features`
 * (the pooled 1280 channels; torchvision's `features` module is the layers `features_0` … `features_18`).
 * Convolutions have no bias and are He-uniform initialised; batch norm uses PyTorch's ε and momentum.
 *
 * @param options - see {@link CifarNetOptions}.
 * @returns a new, unfitted tfjs-layers `LayersModel` that outputs logits `[B, classes]`; the caller disposes it.
 * @throws RangeError when `inputShape` is not three positive integers, `classes` not an integer ≥ 2, `seed` not an
 * integer ≥ 0, `normalization` not one finite mean and one std > 0 per input channel, or an unknown option is given.
 * @example
 * const student = studentFromLayers(mobileNetV2(), { featuresLayer: 'features' });
 * await fit(student, { x, y }, rslad({ teacher, eps: 8 / 255 }));
 */
export function mobileNetV2(options: Readonly<CifarNetOptions> = {}): tfl.LayersModel {
  return named('mobileNetV2', () => {
    const net = parseOptions(options, CIFAR_NET_FIELDS, CIFAR_NET_KEYS);
    const g = new GraphBuilder(cifarNetConfig(net, options.normalization));
    let x = g.act(g.bn(g.conv(g.start, 'features_0_0', 32, 3), 'features_0_1'), 'features_0_2', 'relu6');
    let inPlanes = 32;
    let index = 1;
    for (const [t, c, n, s] of STAGES) {
      for (let i = 0; i < n; i++) {
        x = invertedResidual(g, x, `features_${index++}`, inPlanes, c, t, i === 0 ? s : 1);
        inPlanes = c;
      }
    }
    x = g.act(g.bn(g.conv(x, `features_${index}_0`, 1280, 1), `features_${index}_1`), `features_${index}_2`, 'relu6');
    return g.head(x, 'classifier_1', 'mobilenet_v2');
  });
}
