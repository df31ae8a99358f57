"""Writes the small ONNX reference fixtures of `loadOnnx` into `__tests__/fixtures/onnx/` (committed).

Run from the repository root with Debian's PyTorch and ONNX (`apt-get install python3-torch python3-onnx`):

    /usr/bin/python3 scripts/torch/onnx_fixtures.py [OUT_DIR]

OUT_DIR defaults to `__tests__/fixtures/onnx`. Each fixture is NAME.onnx plus NAME.json (format in onnx_common.py:
NCHW input in [0, 1], eval-mode logits, seeded gradient weights and the input gradient of sum(logits * gradWeights),
all float32 from torch). Every model passes onnx.checker, and the numpy evaluator in onnx_numpy.py re-runs each graph
to check the logits (float32) and a directional derivative (float64 central difference) against torch's numbers.
Seeded and single-threaded: a re-run rewrites identical files.

- `ops_opset11`, `ops_opset13`, `ops_opset17`: one module (`OpsNet`, input 2x3x16x16, 10 classes) exported at three
  opsets with do_constant_folding=False and a dynamic batch axis. It has Sub/Div normalisation with buffers, convs
  with bias and without, groups=2 with dilation 2, a depthwise stride-2 conv, BatchNorm after a conv (which the export
  fuses into the Conv) and after other ops (which stay BatchNormalization nodes), ReLU, LeakyReLU, ReLU6 (nn.ReLU6:
  Clip), a sigmoid gate (Sigmoid, Mul), F.pad constant (zero and non-zero value) and reflect, max pool (with and
  without padding), avg pool with count_include_pad True and False, a channel Concat, a permute / matmul with a
  parameter / permute round trip (Transpose, MatMul), GlobalAveragePool, x.view(x.size(0), -1)
  (Shape, Gather, Unsqueeze, Concat, Reshape), flatten(1) (Flatten), and two nn.Linear (Gemm) summed (Add).
  torch 1.13 builds each F.pad's pads input from the PyTorch pad list with an int64 subgraph (Shape of a Constant,
  Gather, Mul, Sub, Cast, ConstantOfShape, Concat, Reshape, Slice with step -1, Transpose, Reshape, Cast), which
  constant folding does not remove either: the graphs also hold Cast, ConstantOfShape and Slice.
- `handmade_opset13`: built with onnx.helper for the ops PyTorch drops in eval mode: Dropout (ratio input, no
  training_mode: inference), Identity, a Constant node feeding Add, Flatten(axis=1), Reshape to [0, -1] (Constant
  shape), to [-1, 16] and [-1, 16] again (initializer shapes) that mix rows across the batch and channel axes, Gemm
  with transB=1 and Gemm with alpha=0.5 and no C. The reference runs torch functional ops on the same weights.
- `cifar_teacher`: a small CIFAR-shaped network (3x32x32 input, CIFAR per-channel normalisation inside, three conv +
  BN + ReLU stages, global average pool, Linear; 19 546 parameters), opset 13, constant folding on (as a user would
  export it), seeded weights, the last layer scaled so the logits spread over several units.
"""
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_common import (PRODUCER, Normalize, check_with_numpy, export, generator, randomise_batchnorm,  # noqa: E402
                         reference, uniform, write_pair)

BATCH = 2


class OpsNet(nn.Module):
    """Every operator the importer supports that torch.onnx.export emits, on a 3x16x16 input."""

    def __init__(self, classes=10):
        super().__init__()
        self.normalize = Normalize((0.5, 0.45, 0.4), (0.25, 0.2, 0.3))
        self.conv1 = nn.Conv2d(3, 8, 3, 1, 1, bias=True)                      # fused with bn1 at export
        self.bn1 = nn.BatchNorm2d(8)
        self.conv_g = nn.Conv2d(8, 8, 3, 1, padding=2, dilation=2, groups=2, bias=False)
        self.bn2 = nn.BatchNorm2d(8)                                          # after LeakyReLU: stays
        self.conv_dw = nn.Conv2d(8, 8, 3, 2, 1, groups=8, bias=True)          # depthwise, stride 2
        self.relu6 = nn.ReLU6()
        self.conv_gate = nn.Conv2d(8, 8, 1, bias=True)
        self.conv_r = nn.Conv2d(8, 8, 3, bias=False)                          # after a reflect pad
        self.conv_z = nn.Conv2d(8, 4, 3, bias=True)                           # after a zero pad
        self.bn3 = nn.BatchNorm2d(36)                                         # after Concat: stays
        self.mix = nn.Parameter(torch.empty(36, 16))                          # MatMul in NHWC
        self.fc1 = nn.Linear(16 * 4 * 4, classes)
        self.fc2 = nn.Linear(16, classes)
        nn.init.kaiming_uniform_(self.mix, a=5 ** 0.5)

    def forward(self, x):
        x = self.normalize(x)                                                 # Sub, Div
        x = F.relu(self.bn1(self.conv1(x)))                                   # [B, 8, 16, 16]
        x = self.bn2(F.leaky_relu(self.conv_g(x), 0.1))                       # [B, 8, 16, 16]
        d = self.conv_dw(x)                                                   # [B, 8, 8, 8]
        c = self.relu6(d)
        c = c * torch.sigmoid(self.conv_gate(c))
        r = self.conv_r(F.pad(c, (1, 1, 2, 0), mode='reflect'))              # [B, 8, 8, 8]
        z = self.conv_z(F.pad(c, (2, 0, 1, 1)))                               # [B, 4, 8, 8]
        a_t = F.avg_pool2d(c, 3, 1, 1, count_include_pad=True)                # [B, 8, 8, 8]
        a_f = F.avg_pool2d(c, 3, 1, 1, count_include_pad=False)
        m = F.max_pool2d(F.pad(d, (0, 1, 1, 0), value=-10.0), 2, 1)          # [B, 8, 8, 8]
        y = self.bn3(torch.cat([r, z, a_t, a_f, m], 1))                       # [B, 36, 8, 8]
        y = F.max_pool2d(y, 3, 2, 1)                                          # [B, 36, 4, 4]
        y = torch.matmul(y.permute(0, 2, 3, 1), self.mix).permute(0, 3, 1, 2).contiguous()
        y = F.relu(y)
        g = F.adaptive_avg_pool2d(y, 1)                                       # [B, 16, 1, 1]
        return self.fc1(y.view(y.size(0), -1)) + self.fc2(g.flatten(1))


class CifarTeacher(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.normalize = Normalize()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(32)
        self.conv3 = nn.Conv2d(32, 48, 3, 2, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(48)
        self.linear = nn.Linear(48, classes)

    def forward(self, x):
        x = self.normalize(x)
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = F.relu(self.bn3(self.conv3(x)))
        return self.linear(F.adaptive_avg_pool2d(x, 1).flatten(1))


class Handmade(nn.Module):
    """The torch twin of the handmade graph: the same weights (buffers), torch functional ops, NCHW."""

    def __init__(self, weights):
        super().__init__()
        self.names = list(weights)
        for k, v in weights.items():
            self.register_buffer(k.replace('.', '_'), v.clone())

    def forward(self, x):
        w = {k: getattr(self, k.replace('.', '_')) for k in self.names}
        h = F.conv2d(x, w['conv.weight'], w['conv.bias'], stride=2, padding=1)         # [B, 4, 4, 4]
        h = F.relu(h + w['const_bias'])                                                 # Dropout, Identity: no-ops
        g1 = F.linear(h.flatten(1), w['gemm.weight'], w['gemm.bias'])                   # Flatten, Gemm transB
        m = h.reshape(h.shape[0], -1) @ w['matmul.weight']                              # Reshape [0, -1], MatMul
        k = (h.reshape(-1, 16) @ w['mix.weight']).reshape(-1, 16)                       # [B*4, 4] -> [B, 16]
        g2 = 0.5 * (k @ w['gemm2.weight'])                                              # Gemm alpha=0.5, no C
        return g1 + m + g2


def data(shape, classes, seed):
    gen = generator(seed)
    x = torch.rand(shape, generator=gen, dtype=torch.float32)
    grad_weights = uniform((shape[0], classes), -1.0, 1.0, gen)
    calibration = torch.rand((64,) + tuple(shape[1:]), generator=gen, dtype=torch.float32)
    return x, grad_weights, calibration


def report(name, proto, sizes, errors):
    ops = sorted({n.op_type for n in proto.graph.node})
    print(f'{name}: {sizes[0]} B onnx + {sizes[1]} B json; numpy check: max logit error {errors[0]:.2e}, '
          f'directional derivative rel. error {errors[1]:.2e}; float32 input gradient vs float64: {errors[2]:.2e} '
          f'of its max')
    print('  ops:', ' '.join(ops))
    return ops


def ops_fixtures(out_dir):
    torch.manual_seed(11)
    model = OpsNet()
    x, grad_weights, calibration = data((BATCH, 3, 16, 16), 10, 12)
    randomise_batchnorm(model, calibration, 13)
    logits, grad = reference(model, x, grad_weights)
    wanted = {'Add', 'AveragePool', 'BatchNormalization', 'Clip', 'Concat', 'Constant', 'Conv', 'Div', 'Flatten',
              'Gather', 'Gemm', 'GlobalAveragePool', 'LeakyRelu', 'MatMul', 'MaxPool', 'Mul', 'Pad', 'Relu', 'Reshape',
              'Shape', 'Sigmoid', 'Sub', 'Transpose', 'Unsqueeze'}
    for opset in (11, 13, 17):
        name = f'ops_opset{opset}'
        proto, sizes = write_pair(out_dir, name, export(model, x, opset, False), PRODUCER, x, logits, grad_weights,
                                  grad)
        ops = report(name, proto, sizes, check_with_numpy(proto, model, x, logits, grad_weights, grad))
        print('  missing:', sorted(wanted - set(ops)) or 'none', '| beyond the list:', sorted(set(ops) - wanted))


def handmade_fixture(out_dir):
    gen = generator(21)
    classes = 10
    w = {
        'conv.weight': uniform((4, 3, 3, 3), -0.4, 0.4, gen),
        'conv.bias': uniform(4, -0.1, 0.1, gen),
        'const_bias': uniform((1, 4, 1, 1), -0.3, 0.3, gen),
        'gemm.weight': uniform((classes, 64), -0.2, 0.2, gen),
        'gemm.bias': uniform(classes, -0.1, 0.1, gen),
        'matmul.weight': uniform((64, classes), -0.2, 0.2, gen),
        'mix.weight': uniform((16, 4), -0.4, 0.4, gen),
        'gemm2.weight': uniform((16, classes), -0.3, 0.3, gen),
    }
    x, grad_weights, _ = data((BATCH, 3, 8, 8), classes, 22)

    model = Handmade(w)
    logits, grad = reference(model, x, grad_weights)

    def init(name, value, dtype=np.float32):
        return numpy_helper.from_array(np.asarray(value, dtype=dtype), name)

    initializers = [init(k, v.numpy()) for k, v in w.items() if k != 'const_bias']
    initializers += [init('dropout.ratio', 0.3), init('shape_rows16', [-1, 16], np.int64),
                     init('shape_batch16', [-1, 16], np.int64)]
    nodes = [
        helper.make_node('Conv', ['input', 'conv.weight', 'conv.bias'], ['conv_out'], kernel_shape=[3, 3],
                         strides=[2, 2], pads=[1, 1, 1, 1], dilations=[1, 1], group=1),
        helper.make_node('Constant', [], ['const_bias'],
                         value=numpy_helper.from_array(w['const_bias'].numpy(), 'const_bias_value')),
        helper.make_node('Add', ['conv_out', 'const_bias'], ['biased']),
        helper.make_node('Relu', ['biased'], ['relu_out']),
        helper.make_node('Dropout', ['relu_out', 'dropout.ratio'], ['dropout_out']),
        helper.make_node('Identity', ['dropout_out'], ['h']),
        helper.make_node('Flatten', ['h'], ['flat'], axis=1),
        helper.make_node('Gemm', ['flat', 'gemm.weight', 'gemm.bias'], ['g1'], transB=1),
        helper.make_node('Constant', [], ['shape_keep_batch'],
                         value=numpy_helper.from_array(np.array([0, -1], dtype=np.int64), 'shape_keep_batch_value')),
        helper.make_node('Reshape', ['h', 'shape_keep_batch'], ['rows']),
        helper.make_node('MatMul', ['rows', 'matmul.weight'], ['m']),
        helper.make_node('Reshape', ['h', 'shape_rows16'], ['rows16']),
        helper.make_node('MatMul', ['rows16', 'mix.weight'], ['mixed']),
        helper.make_node('Reshape', ['mixed', 'shape_batch16'], ['k']),
        helper.make_node('Gemm', ['k', 'gemm2.weight'], ['g2'], alpha=0.5),
        helper.make_node('Add', ['g1', 'm'], ['g1m']),
        helper.make_node('Add', ['g1m', 'g2'], ['logits']),
    ]
    graph = helper.make_graph(
        nodes, 'handmade_opset13',
        [helper.make_tensor_value_info('input', TensorProto.FLOAT, ['batch', 3, 8, 8])],
        [helper.make_tensor_value_info('logits', TensorProto.FLOAT, ['batch', classes])],
        initializers)
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)],
                              producer_name='ardkit scripts/torch/onnx_fixtures.py', ir_version=7)
    name = 'handmade_opset13'
    proto, sizes = write_pair(out_dir, name, onnx_model.SerializeToString(), 'onnx.helper', x, logits, grad_weights,
                              grad)
    report(name, proto, sizes, check_with_numpy(proto, model, x, logits, grad_weights, grad))


def teacher_fixture(out_dir):
    torch.manual_seed(31)
    model = CifarTeacher()
    x, grad_weights, calibration = data((BATCH, 3, 32, 32), 10, 32)
    randomise_batchnorm(model, calibration, 33)
    with torch.no_grad():  # spread the logits: a standard deviation of about 2 on the calibration inputs
        spread = model(calibration).std()
        model.linear.weight.mul_(2.0 / spread)
        model.linear.bias.mul_(2.0 / spread)
    logits, grad = reference(model, x, grad_weights)
    n_params = sum(p.numel() for p in model.parameters())
    name = 'cifar_teacher'
    proto, sizes = write_pair(out_dir, name, export(model, x, 13, True), PRODUCER, x, logits, grad_weights, grad)
    report(name, proto, sizes, check_with_numpy(proto, model, x, logits, grad_weights, grad))
    print(f'  {n_params} parameters; logits {[round(v, 3) for v in logits[0].tolist()]}, '
          f'argmax {logits.argmax(1).tolist()}')


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join('__tests__', 'fixtures', 'onnx')
    ops_fixtures(out_dir)
    handmade_fixture(out_dir)
    teacher_fixture(out_dir)


if __name__ == '__main__':
    main()
