"""Writes `__tests__/fixtures/onnx/preact_layers.onnx` and `.json`, the fixture of `onnxToLayers` (committed).

Run from the repository root with Debian's PyTorch and ONNX (`apt-get install python3-torch python3-onnx`):

    /usr/bin/python3 scripts/torch/onnx_layers_fixture.py [OUT_DIR]

OUT_DIR defaults to `__tests__/fixtures/onnx`. The JSON has the format of onnx_common.py (NCHW input in [0, 1],
eval-mode logits, seeded gradient weights and the input gradient). Seeded and single-threaded: a re-run rewrites
identical files.

`PreActNet` (input 2x3x16x16, 10 classes, opset 13, constant folding on and a dynamic batch axis, as a user exports)
is a small pre-activation ResNet with every construct that converts to standard tfjs-layers layers:

- `(x - mean) / std` with buffers (Sub, Div of initializers) and `x * 2 - 1` with constants (Mul, Sub of Constant
  nodes): per-channel affine maps;
- pre-activation blocks: BatchNormalization nodes that stay in the graph (after the input and after a residual Add;
  PyTorch fuses the ones that follow a Conv), ReLU, 3x3 convolutions padded by 1 with stride 1 (tfjs' 'same') and
  stride 2 (explicit zero padding), a 1x1 stride-2 shortcut, the residual Add;
- a squeeze-and-excitation gate: GlobalAveragePool, 1x1 convolutions on [B, C, 1, 1], Sigmoid, Mul broadcast over
  H and W;
- a depthwise convolution with bias, ReLU6 (Clip), a max pool padded by 1 after it (zero padding, the input is >= 0),
  an average pool with count_include_pad (zero padding), a channel Concat, LeakyReLU, a Sub of two tensors;
- two heads summed: `x.view(x.size(0), -1)` of a 16x2x2 map (Shape, Gather, Unsqueeze, Concat, Reshape; flattened in
  C·H·W order) into a Linear (Gemm), and a global average pool with flatten(1) into another Linear.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_common import PRODUCER, Normalize, export, generator, randomise_batchnorm, reference, uniform, write_pair  # noqa: E402


class PreActBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride, bias=False) if stride != 1 or cin != cout else None

    def forward(self, x):
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class PreActNet(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.normalize = Normalize((0.5, 0.45, 0.4), (0.25, 0.2, 0.3))
        self.conv1 = nn.Conv2d(3, 8, 3, 1, 1, bias=False)
        self.block1 = PreActBlock(8, 8, 1)
        self.block2 = PreActBlock(8, 16, 2)
        self.bn = nn.BatchNorm2d(16)
        self.se_reduce = nn.Conv2d(16, 4, 1)
        self.se_expand = nn.Conv2d(4, 16, 1)
        self.dw = nn.Conv2d(16, 16, 3, 1, 1, groups=16)
        self.mix = nn.Conv2d(32, 16, 1)
        self.fc_map = nn.Linear(16 * 2 * 2, classes)
        self.fc_pool = nn.Linear(16, classes)

    def forward(self, x):
        x = self.normalize(x) * 2 - 1                                      # Sub, Div, Mul, Sub: one affine map
        x = self.block2(self.block1(self.conv1(x)))                        # [B, 16, 8, 8]
        x = F.relu(self.bn(x))
        gate = torch.sigmoid(self.se_expand(F.relu(self.se_reduce(F.adaptive_avg_pool2d(x, 1)))))
        x = x * gate                                                       # Mul, broadcast over H, W
        d = F.relu6(self.dw(x))                                            # depthwise with bias, Clip(0, 6)
        m = F.max_pool2d(d, 3, 2, 1)                                       # [B, 16, 4, 4]: padded, input >= 0
        a = F.avg_pool2d(x, 3, 2, 1)                                       # [B, 16, 4, 4]: count_include_pad
        y = F.leaky_relu(torch.cat([m, a], 1), 0.2)                        # [B, 32, 4, 4]
        y = F.avg_pool2d(self.mix(y) - a, 2)                               # Sub of two tensors; [B, 16, 2, 2]
        head_map = self.fc_map(y.view(y.size(0), -1))                      # Shape, Gather, Unsqueeze, Concat, Reshape
        pooled = F.adaptive_avg_pool2d(x, 1).flatten(1)                    # GlobalAveragePool, Flatten
        return head_map + self.fc_pool(pooled)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join('__tests__', 'fixtures', 'onnx')
    torch.manual_seed(41)
    model = PreActNet()
    gen = generator(42)
    x = torch.rand((2, 3, 16, 16), generator=gen, dtype=torch.float32)
    grad_weights = uniform((2, 10), -1.0, 1.0, gen)
    calibration = torch.rand((64, 3, 16, 16), generator=gen, dtype=torch.float32)
    randomise_batchnorm(model, calibration, 43)
    logits, grad = reference(model, x, grad_weights)
    proto, sizes = write_pair(out_dir, 'preact_layers', export(model, x, 13, True), PRODUCER, x, logits, grad_weights,
                              grad)
    ops = sorted({n.op_type for n in proto.graph.node})
    print(f'preact_layers: {sizes[0]} B onnx + {sizes[1]} B json; '
          f'{sum(p.numel() for p in model.parameters())} parameters')
    print('  ops:', ' '.join(ops))
    print('  logits:', [round(v, 3) for v in logits[0].tolist()])


if __name__ == '__main__':
    main()
