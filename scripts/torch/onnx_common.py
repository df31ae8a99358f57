"""Shared pieces of `onnx_fixtures.py` and `onnx_parity.py`: seeded data, batch-norm randomisation, ONNX export and
the reference JSON written beside each `.onnx` file.

Not a script of its own. Everything runs in float32 on one CPU thread so that a re-run writes the same numbers.

The JSON format (one object, keys in this order):

    name           str
    opset          int, the default-domain opset of the graph
    producer       "pytorch 1.13" (torch.onnx.export) or "onnx.helper" (built by hand)
    inputShape     [B, C, H, W] (NCHW, PyTorch's order)
    input          flat float32 values in NCHW order, in [0, 1]
    classes        C
    logits         flat [B, C], PyTorch in eval mode, float32
    gradWeights    flat [B, C], seeded, in [-1, 1]
    inputGradient  flat NCHW: d/dx sum(logits * gradWeights), torch autograd in float32
    ops            sorted unique op_types of the graph

Each float is written as the shortest decimal that reads back to the same float32 (`Math.fround(Number(s))` in
JavaScript, `np.float32(s)` in numpy give the exact value torch used).
"""
import copy
import io
import json
import os

import numpy as np
import onnx
import torch
import torch.nn as nn

torch.set_num_threads(1)

PRODUCER = 'pytorch ' + '.'.join(torch.__version__.split('+')[0].split('.')[:2])
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2471, 0.2435, 0.2616)


class Normalize(nn.Module):
    """Per-channel `(x - mean) / std` with registered buffers (exports as Sub and Div with initializers)."""

    def __init__(self, mean=CIFAR_MEAN, std=CIFAR_STD):
        super().__init__()
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


class Normalized(nn.Module):
    """`net(normalize(x))`: a network that takes inputs in [0, 1]."""

    def __init__(self, net, mean=CIFAR_MEAN, std=CIFAR_STD):
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.net = net

    def forward(self, x):
        return self.net(self.normalize(x))


def generator(seed):
    return torch.Generator().manual_seed(seed)


def uniform(shape, lo, hi, gen):
    return torch.rand(shape, generator=gen, dtype=torch.float32) * (hi - lo) + lo


def randomise_batchnorm(model, calibration, seed):
    """Gives every BatchNorm2d a non-trivial affine (weight in [0.6, 1.4], bias in [-0.2, 0.2]) and running
    statistics: first the batch statistics of `calibration` (so activations stay in a sane range through deep
    networks), then perturbed (mean shifted by 0.2 standard deviations times N(0, 1), variance scaled by [0.7, 1.4]).
    Leaves the model in eval mode."""
    gen = generator(seed)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for bn in bns:
            n = bn.num_features
            bn.weight.copy_(uniform(n, 0.6, 1.4, gen))
            bn.bias.copy_(uniform(n, -0.2, 0.2, gen))
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average: one batch gives its own statistics
        model.train()
        model(calibration)
        for bn in bns:
            n = bn.num_features
            std = bn.running_var.sqrt()
            bn.running_mean.add_(0.2 * std * torch.randn(n, generator=gen))
            bn.running_var.mul_(uniform(n, 0.7, 1.4, gen))
            bn.momentum = 0.1
            bn.num_batches_tracked.zero_()
    model.eval()
    return model


def reference(model, x, grad_weights):
    """Logits in eval mode and d/dx sum(logits * grad_weights), both float32."""
    model.eval()
    x = x.detach().clone().requires_grad_(True)
    logits = model(x)
    (logits * grad_weights).sum().backward()
    return logits.detach(), x.grad.detach()


def export(model, x, opset, do_constant_folding):
    """torch.onnx.export with input "input", output "logits", a dynamic batch axis on both; returns the bytes."""
    f = io.BytesIO()
    torch.onnx.export(model, (x,), f, opset_version=opset, do_constant_folding=do_constant_folding,
                      input_names=['input'], output_names=['logits'],
                      dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}})
    return f.getvalue()


def op_types(model_proto):
    return sorted({n.op_type for n in model_proto.graph.node})


def opset_of(model_proto):
    return next(o.version for o in model_proto.opset_import if o.domain in ('', 'ai.onnx'))


def floats(t):
    """Shortest decimal that round-trips each float32 (numpy's str of a float32)."""
    a = np.asarray(t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t, dtype=np.float32).ravel()
    if not np.all(np.isfinite(a)):
        raise ValueError('non-finite value in a reference array')
    return [float(str(v)) for v in a]


def _dump_array(values):
    return '[' + ','.join(json.dumps(v) for v in values) + ']'


def write_pair(out_dir, name, model_bytes, producer, x, logits, grad_weights, input_gradient, extra=()):
    """Checks the model with onnx.checker, writes NAME.onnx and NAME.json; returns (model_proto, sizes)."""
    proto = onnx.load_from_string(model_bytes)
    onnx.checker.check_model(proto)
    os.makedirs(out_dir, exist_ok=True)
    onnx_path = os.path.join(out_dir, name + '.onnx')
    with open(onnx_path, 'wb') as f:
        f.write(model_bytes)
    fields = [
        ('name', json.dumps(name)),
        ('opset', json.dumps(opset_of(proto))),
        ('producer', json.dumps(producer)),
        ('inputShape', json.dumps(list(x.shape))),
        ('input', _dump_array(floats(x))),
        ('classes', json.dumps(int(logits.shape[1]))),
        ('logits', _dump_array(floats(logits))),
        ('gradWeights', _dump_array(floats(grad_weights))),
        ('inputGradient', _dump_array(floats(input_gradient))),
        ('ops', json.dumps(op_types(proto))),
        *((k, _dump_array(floats(v))) for k, v in extra),
    ]
    text = '{\n' + ',\n'.join(f'  {json.dumps(k)}: {v}' for k, v in fields) + '\n}\n'
    json_path = os.path.join(out_dir, name + '.json')
    with open(json_path, 'w') as f:
        f.write(text)
    return proto, (os.path.getsize(onnx_path), os.path.getsize(json_path))


def check_with_numpy(proto, model, x, logits, grad_weights, input_gradient, tol=1e-4, grad_tol=1e-4, seed=0):
    """Checks the written graph against torch with the numpy evaluator (onnx_numpy.py):
    - its float32 logits must match torch's to `tol` (relative to max(1, max |logit|));
    - a float64 central difference of sum(logits * gradWeights) along a random direction v must match <g64, v> to
      `grad_tol` (relative), where g64 is torch's float64 input gradient of the same model. The graph is not quite
      that model (torch fuses Conv + BatchNorm in float32 at export), and in a large network those float32 roundings
      flip a few ReLU / ReLU6 units that sit within 1e-7 of a kink, which moves the gradient by up to a few 1e-3:
      large networks need a looser `grad_tol`.
    Returns (max logit error, relative directional-derivative error, max |inputGradient - g64| / max |g64|): the last
    is the float32 reference's own error, mostly ReLU units whose sign differs between float32 and float64."""
    from onnx_numpy import run
    xn = x.numpy()
    got = run(proto, xn, np.float32)
    ref = logits.numpy()
    err = float(np.max(np.abs(got - ref)))
    scale = max(1.0, float(np.max(np.abs(ref))))
    if not err <= tol * scale:
        raise AssertionError(f'numpy evaluation of the ONNX graph differs from torch by {err}')
    model64 = copy.deepcopy(model).double().eval()
    _, g64 = reference(model64, x.double(), grad_weights.double())
    g64 = g64.numpy()
    f32_error = float(np.max(np.abs(input_gradient.numpy() - g64)) / np.max(np.abs(g64)))
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(xn.shape)
    gw = grad_weights.numpy().astype(np.float64)
    x64 = xn.astype(np.float64)
    an = float(np.sum(g64 * v))
    rels = []
    # a step that crosses a ReLU, Clip or max-pool kink spoils the difference: try smaller steps before failing
    for eps in (1e-6, 1e-7, 1e-8):
        fp = float(np.sum(run(proto, x64 + eps * v, np.float64) * gw))
        fm = float(np.sum(run(proto, x64 - eps * v, np.float64) * gw))
        fd = (fp - fm) / (2 * eps)
        rels.append(abs(fd - an) / max(1e-6, abs(an)))
        if rels[-1] <= grad_tol:
            return err, rels[-1], f32_error
    raise AssertionError(f'directional derivative: finite differences {fd} vs torch gradient {an} (rel {rels})')
