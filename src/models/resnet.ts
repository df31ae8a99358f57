import { named } from '../core/errors.js';
import type * as tfl from '@tensorflow/tfjs-layers';
import { parseOptions } from '../core/options.js';
import { type CifarNetOptions, CIFAR_NET_FIELDS, CIFAR_NET_KEYS, cifarNetConfig, GraphBuilder } from './cifar-layers.js';

const PLANES = [64, 128, 256, 512] as const;

type Sym = tfl.SymbolicTensor;

/** kuangliu's `BasicBlock`: conv–bn–ReLU–conv–bn, plus the input (or a 1×1 conv–bn projection), then ReLU. */
function basicBlock(g: GraphBuilder, x: Sym, name: string, inPlanes: number, planes: number, stride: 1 | 2): Sym {
  let out = g.act(g.bn(g.conv(x, `${name}_conv1`, planes, 3, stride), `${name}_bn1`), `${name}_relu1`);
  out = g.bn(g.conv(out, `${name}_conv2`, planes, 3), `${name}_bn2`);
  const shortcut = stride !== 1 || inPlanes !== planes ? g.bn(g.conv(x, `${name}_shortcut_0`, planes, 1, stride), `${name}_shortcut_1`) : x;
  return g.act(g.add(out, shortcut, `${name}_add`), `${name}_relu2`);
}

/** The pre-activation block of Rice et al.: BN–ReLU feeds both the 3×3 path and the (projection) shortcut. */
function preActBlock(g: GraphBuilder, x: Sym, name: string, inPlanes: number, planes: number, stride: 1 | 2): Sym {
  const pre = g.act(g.bn(x, `${name}_bn1`), `${name}_relu1`);
  const shortcut = stride !== 1 || inPlanes !== planes ? g.conv(pre, `${name}_shortcut_0`, planes, 1, stride) : x;
  let out = g.conv(pre, `${name}_conv1`, planes, 3, stride);
  out = g.conv(g.act(g.bn(out, `${name}_bn2`), `${name}_relu2`), `${name}_conv2`, planes, 3);
  return g.add(out, shortcut, `${name}_add`);
}

function resNet(options: Readonly<CifarNetOptions>, preact: boolean): tfl.LayersModel {
  const net = parseOptions(options, CIFAR_NET_FIELDS, CIFAR_NET_KEYS);
  const g = new GraphBuilder(cifarNetConfig(net, options.normalization));
  let x = g.conv(g.start, 'conv1', 64, 3);
  if (!preact) x = g.act(g.bn(x, 'bn1'), 'relu');
  let inPlanes = 64;
  PLANES.forEach((planes, stage) => {
    for (let i = 0; i < 2; i++) {
      const stride = stage > 0 && i === 0 ? 2 : 1;
      x = (preact ? preActBlock : basicBlock)(g, x, `layer${stage + 1}_${i}`, inPlanes, planes, stride);
      inPlanes = planes;
    }
  });
  if (preact) x = g.act(g.bn(x, 'bn'), 'relu');
  return g.head(x, 'linear', preact ? 'preact_resnet18' : 'resnet18');
}

/**
 * ResNet-18 for CIFAR (He et al., arXiv 1512.03385), in the layout of kuangliu's `pytorch-cifar` that TRADES, ARD and
 * RSLAD code train as teachers and students: a 3×3 stem, no max-pool, four stages of two basic blocks, global average
 * pooling and a linear layer; 11 173 962 trainable parameters with 10 classes, as in PyTorch. On `[32, 32, 3]` inputs:
 *
 * | layer (name) | output |
 * | --- | --- |
 * | `normalize` (only with `normalization`; fixed) | 32×32×3 |
 * | `conv1` 3×3, 64; `bn1`; ReLU | 32×32×64 |
 * | `layer1_0`, `layer1_1`: basic blocks, 64 | 32×32×64 |
 * | `layer2_0` (stride 2, projection `shortcut_0`/`shortcut_1`), `layer2_1`: 128 | 16×16×128 |
 * | `layer3_0` (stride 2), `layer3_1`: 256 | 8×8×256 |
 * | `layer4_0` (stride 2), `layer4_1`: 512 | 4×4×512 |
 * | `features`: global average pool | 512 |
 * | `linear` (logits) | 10 |
 *
 * A basic block `layerS_I` is `conv1`–`bn1`–ReLU–`conv2`–`bn2`, plus the input or, where the shape changes, the
 * projection `shortcut_0` (1×1 conv) and `shortcut_1` (batch norm), then ReLU. Layer names are PyTorch's module paths
 * with `.` written `_` (`layer2.0.shortcut.0` is `layer2_0_shortcut_0`); the `ardkit/models` module page maps the
 * weights. The penultimate representation is the layer `features` (`studentFromLayers(net, { featuresLayer:
 * 'features' })`). Convolutions have no bias and are He-uniform initialised; batch norm uses PyTorch's ε and momentum.
 *
 * @param options - see {@link CifarNetOptions}.
 * @returns a new, unfitted tfjs-layers `LayersModel` that outputs logits `[B, classes]`; the caller disposes it.
 * @throws RangeError when `inputShape` is not three positive integers, `classes` not an integer ≥ 2, `seed` not an
 * integer ≥ 0, `normalization` not one finite mean and one std > 0 per input channel, or an unknown option is given.
 * @example
 * const teacher = resNet18({ normalization: { mean: [0.4914, 0.4822, 0.4465], std: [0.2471, 0.2435, 0.2616] } });
 * const student = studentFromLayers(resNet18({ seed: 1 }), { featuresLayer: 'features' });
 */
export function resNet18(options: Readonly<CifarNetOptions> = {}): tfl.LayersModel {
  return named('resNet18', () => {
    return resNet(options, false);
  });
}

/**
 * Pre-activation ResNet-18 for CIFAR (He et al., arXiv 1603.05027) in the layout of Rice et al.'s "Overfitting in
 * adversarially robust deep learning" (arXiv 2002.11569), the PGD-AT baseline of robust-training code: a 3×3 stem,
 * four stages of two pre-activation blocks, a final batch norm and ReLU, global average pooling and a linear layer;
 * 11 172 170 trainable parameters with 10 classes, as in PyTorch. On `[32, 32, 3]` inputs:
 *
 * | layer (name) | output |
 * | --- | --- |
 * | `normalize` (only with `normalization`; fixed) | 32×32×3 |
 * | `conv1` 3×3, 64 | 32×32×64 |
 * | `layer1_0`, `layer1_1`: pre-activation blocks, 64 | 32×32×64 |
 * | `layer2_0` (stride 2, projection `shortcut_0`), `layer2_1`: 128 | 16×16×128 |
 * | `layer3_0` (stride 2), `layer3_1`: 256 | 8×8×256 |
 * | `layer4_0` (stride 2), `layer4_1`: 512 | 4×4×512 |
 * | `bn`; ReLU | 4×4×512 |
 * | `features`: global average pool | 512 |
 * | `linear` (logits) | 10 |
 *
 * A block `layerS_I` computes `a = ReLU(bn1(x))`, then `conv2(ReLU(bn2(conv1(a))))` plus `x` or, where the shape
 * changes, the 1×1 projection `shortcut_0(a)`. Names, weights, `features` and initialisation are as in
 * {@link resNet18}.
 *
 * @param options - see {@link CifarNetOptions}.
 * @returns a new, unfitted tfjs-layers `LayersModel` that outputs logits `[B, classes]`; the caller disposes it.
 * @throws RangeError when `inputShape` is not three positive integers, `classes` not an integer ≥ 2, `seed` not an
 * integer ≥ 0, `normalization` not one finite mean and one std > 0 per input channel, or an unknown option is given.
 * @example
 * const net = preActResNet18({ classes: 100 }); // CIFAR-100
 * const model = fromLayersModel(net);
 */
export function preActResNet18(options: Readonly<CifarNetOptions> = {}): tfl.LayersModel {
  return named('preActResNet18', () => {
    return resNet(options, true);
  });
}
