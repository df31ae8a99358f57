"""Exports the large CIFAR networks to ONNX with PyTorch references, for parity checks of `loadOnnx` (outputs are not
committed: about 55 MB in all).

Run from the repository root with Debian's PyTorch and ONNX (`apt-get install python3-torch python3-onnx`):

    /usr/bin/python3 scripts/torch/onnx_parity.py OUT_DIR [--no-constant-folding] [--skip-numpy-check] [NAME ...]

For each of PreAct-ResNet-18, WRN-16-4 and MobileNetV2, built by `param_counts.py` (the layouts ardkit's
`ardkit/models` reproduces) and wrapped with the CIFAR per-channel normalisation (mean (0.4914, 0.4822, 0.4465),
std (0.2471, 0.2435, 0.2616), Sub and Div inside the graph), it writes OUT_DIR/NAME.onnx and OUT_DIR/NAME.json
(the fixture format of onnx_common.py; batch 4, 3x32x32 inputs). Weights are PyTorch's seeded default
initialisation; every BatchNorm gets a random affine and random running statistics around those of a calibration
batch; eval mode; opset 13, dynamic batch axis, constant folding on (torch's default; --no-constant-folding turns it
off). Conv + BatchNorm pairs are fused into one Conv by torch's export in eval mode; BatchNorms that follow anything
else (the pre-activation ones) stay BatchNormalization nodes. Unless --skip-numpy-check, the numpy evaluator
(onnx_numpy.py) re-runs each graph and checks logits and a directional derivative against torch (the latter to 1%:
see check_with_numpy). It also prints how far torch's float32 input gradient is from its float64 one (a ReLU unit
whose sign differs between the two moves it by up to ~1% of its largest element in these networks): a float32
importer cannot be held closer to the reference than that.

NAME is one of preact_resnet18, wrn_16_4, mobilenet_v2 (default: all three).
"""
import argparse
import copy
import collections
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_common import (PRODUCER, Normalized, check_with_numpy, export, generator, randomise_batchnorm,  # noqa: E402
                         reference, uniform, write_pair)
from param_counts import NETWORKS, trainable  # noqa: E402

MODELS = {  # file name: (param_counts name, seed)
    'preact_resnet18': ('PreAct-ResNet-18', 101),
    'wrn_16_4': ('WRN-16-4', 102),
    'mobilenet_v2': ('MobileNetV2', 103),
}
BATCH = 4


def build(name):
    reference_name, seed = MODELS[name]
    torch.manual_seed(seed)
    model = Normalized(NETWORKS[reference_name]())
    gen = generator(seed + 1000)
    x = torch.rand((BATCH, 3, 32, 32), generator=gen, dtype=torch.float32)
    grad_weights = uniform((BATCH, 10), -1.0, 1.0, gen)
    calibration = torch.rand((32, 3, 32, 32), generator=gen, dtype=torch.float32)
    randomise_batchnorm(model, calibration, seed + 2000)
    return model, x, grad_weights


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out_dir')
    parser.add_argument('names', nargs='*', help=', '.join(MODELS))
    parser.add_argument('--no-constant-folding', action='store_true')
    parser.add_argument('--skip-numpy-check', action='store_true')
    args = parser.parse_args()
    for name in args.names:
        if name not in MODELS:
            parser.error(f'unknown network {name!r} (one of {", ".join(MODELS)})')
    for name in args.names or list(MODELS):
        start = time.time()
        model, x, grad_weights = build(name)
        logits, grad = reference(model, x, grad_weights)
        # PyTorch's float64 input gradient too: how far float32 PyTorch is from it says how far any float32
        # implementation may be (ReLU units whose sign float32 rounding flips).
        _, grad64 = reference(copy.deepcopy(model).double(), x.double(), grad_weights.double())
        data = export(model, x, 13, not args.no_constant_folding)
        proto, sizes = write_pair(args.out_dir, name, data, PRODUCER, x, logits, grad_weights, grad,
                                  extra=[('inputGradient64', grad64.float())])
        counts = collections.Counter(n.op_type for n in proto.graph.node)
        print(f'{name} ({MODELS[name][0]}): {trainable(model)} trainable parameters; '
              f'{sizes[0]} B onnx + {sizes[1]} B json; {len(proto.graph.node)} nodes')
        print('  ops:', ', '.join(f'{op} x{n}' for op, n in sorted(counts.items())))
        print('  logits[0]:', [round(v, 4) for v in logits[0].tolist()])
        if not args.skip_numpy_check:
            err, rel, f32 = check_with_numpy(proto, model, x, logits, grad_weights, grad, grad_tol=1e-2)
            print(f'  numpy check: max logit error {err:.2e}, directional derivative rel. error {rel:.2e}; '
                  f'float32 input gradient vs float64: {f32:.2e} of its max')
        print(f'  {time.time() - start:.1f} s')


if __name__ == '__main__':
    main()
