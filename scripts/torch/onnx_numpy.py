"""A small numpy evaluator of ONNX graphs (NCHW), written to check the reference fixtures: `run(model, x, dtype)`
evaluates the graph on one input and returns its first output. Floating tensors (initializers, Constant values,
Cast to FLOAT) are computed in `dtype` (float32 to compare with torch, float64 for finite differences); integer
tensors (shapes, pads, indices) stay int64.

It covers the operators the fixtures use and nothing more: Add, AveragePool, BatchNormalization (inference), Cast,
Clip, Concat, Constant, ConstantOfShape, Conv, Div, Dropout (inference), Flatten, Gather, Gemm, GlobalAveragePool,
Identity, LeakyRelu, MatMul, MaxPool, Mul, Pad (constant, reflect, edge), Relu, Reshape, Shape, Sigmoid, Size, Slice,
Squeeze, Sub, Transpose, Unsqueeze. Any other op, or an attribute value it does not implement (auto_pad,
ceil_mode=1, ...), raises NotImplementedError.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from onnx import helper, numpy_helper

FLOAT_TYPES = {1, 10, 11, 16}  # FLOAT, FLOAT16, DOUBLE, BFLOAT16: all computed in the working dtype
INT_TYPES = {2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32, 7: np.int64, 9: np.bool_}


def _attrs(node):
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def _fix(arr, dtype):
    arr = np.asarray(arr)
    return arr.astype(dtype) if np.issubdtype(arr.dtype, np.floating) else arr


def _pads2d(attrs):
    if attrs.get('auto_pad', 'NOTSET') not in ('NOTSET', ''):
        raise NotImplementedError('auto_pad')
    pads = list(attrs.get('pads', [0, 0, 0, 0]))
    return pads[0], pads[1], pads[2], pads[3]  # top, left, bottom, right


def _windows(x, kernel, strides, dilations, pads, fill):
    t, l, b, r = pads
    xp = np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)), constant_values=fill)
    ekh = (kernel[0] - 1) * dilations[0] + 1
    ekw = (kernel[1] - 1) * dilations[1] + 1
    w = sliding_window_view(xp, (ekh, ekw), axis=(2, 3))
    return w[:, :, ::strides[0], ::strides[1], ::dilations[0], ::dilations[1]]  # N, C, Ho, Wo, kh, kw


def _conv(x, w, b, attrs):
    group = attrs.get('group', 1)
    cols = _windows(x, w.shape[2:], attrs.get('strides', [1, 1]), attrs.get('dilations', [1, 1]), _pads2d(attrs), 0)
    n, c, ho, wo = cols.shape[:4]
    o = w.shape[0]
    if group == 1:
        y = np.tensordot(cols, w, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)
    elif w.shape[1] == 1 and o == group:  # depthwise
        y = (cols * w[None, :, 0, None, None, :, :]).sum(axis=(4, 5))
    else:
        cg, og = c // group, o // group
        y = np.concatenate([np.tensordot(cols[:, g * cg:(g + 1) * cg], w[g * og:(g + 1) * og],
                                         axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2) for g in range(group)], 1)
    if b is not None:
        y = y + b.reshape(1, -1, 1, 1)
    return y


def _pool(x, attrs, kind):
    if attrs.get('ceil_mode', 0) != 0:
        raise NotImplementedError('ceil_mode=1')
    kernel = attrs['kernel_shape']
    strides = attrs.get('strides', [1, 1])
    dilations = attrs.get('dilations', [1, 1])
    pads = _pads2d(attrs)
    if kind == 'max':
        return _windows(x, kernel, strides, dilations, pads, -np.inf).max(axis=(4, 5))
    total = _windows(x, kernel, strides, dilations, pads, 0).sum(axis=(4, 5))
    if attrs.get('count_include_pad', 0):
        return total / (kernel[0] * kernel[1])
    ones = np.ones((1, 1) + x.shape[2:], dtype=x.dtype)
    return total / _windows(ones, kernel, strides, dilations, pads, 0).sum(axis=(4, 5))


def _axes(node, attrs, inputs, rank):
    axes = attrs.get('axes')
    if axes is None and len(inputs) > 1 and inputs[1] is not None:
        axes = inputs[1].tolist()
    return None if axes is None else sorted(a + rank if a < 0 else a for a in axes)


def _pad(x, pads, mode, value):
    r = x.ndim
    pads = [int(p) for p in pads]
    if any(p < 0 for p in pads):
        raise NotImplementedError('negative pads')
    width = [(pads[i], pads[i + r]) for i in range(r)]
    if mode == 'constant':
        return np.pad(x, width, mode='constant', constant_values=value)
    if mode in ('reflect', 'edge'):
        return np.pad(x, width, mode=mode)
    raise NotImplementedError(f'Pad mode {mode}')


def _node(node, ins, dtype):
    op, a = node.op_type, _attrs(node)
    x = ins[0] if ins else None
    if op == 'Constant':
        if 'value' in a:
            return [_fix(numpy_helper.to_array(a['value']), dtype)]
        if 'value_float' in a:
            return [np.array(a['value_float'], dtype=dtype)]
        if 'value_floats' in a:
            return [np.array(a['value_floats'], dtype=dtype)]
        if 'value_int' in a:
            return [np.array(a['value_int'], dtype=np.int64)]
        if 'value_ints' in a:
            return [np.array(a['value_ints'], dtype=np.int64)]
        raise NotImplementedError('Constant attribute')
    if op in ('Identity', 'Dropout'):
        return [x, np.ones(x.shape, dtype=np.bool_)]
    if op == 'Cast':
        to = a['to']
        return [x.astype(dtype) if to in FLOAT_TYPES else x.astype(INT_TYPES[to])]
    if op == 'Shape':
        return [np.array(x.shape, dtype=np.int64)]
    if op == 'Size':
        return [np.array(x.size, dtype=np.int64)]
    if op == 'Gather':
        return [np.take(x, ins[1], axis=a.get('axis', 0))]
    if op == 'Unsqueeze':
        axes = _axes(node, a, ins, x.ndim + len(a.get('axes', ins[1] if len(ins) > 1 else [])))
        for ax in axes:
            x = np.expand_dims(x, ax)
        return [x]
    if op == 'Squeeze':
        axes = _axes(node, a, ins, x.ndim)
        return [np.squeeze(x) if axes is None else np.squeeze(x, tuple(axes))]
    if op == 'Concat':
        return [np.concatenate(ins, axis=a['axis'])]
    if op == 'Reshape':
        shape = [int(s) for s in ins[1]]
        if not a.get('allowzero', 0):
            shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
        return [x.reshape(shape)]
    if op == 'Flatten':
        axis = a.get('axis', 1)
        axis = axis + x.ndim if axis < 0 else axis
        return [x.reshape(int(np.prod(x.shape[:axis], dtype=np.int64)), -1)]
    if op == 'Transpose':
        return [x.transpose(a.get('perm', list(range(x.ndim))[::-1]))]
    if op == 'ConstantOfShape':
        v = numpy_helper.to_array(a['value']) if 'value' in a else np.zeros(1, dtype=np.float32)
        v = _fix(v, dtype)
        return [np.full([int(s) for s in ins[0]], v.reshape(-1)[0], dtype=v.dtype)]
    if op == 'Slice':
        starts, ends = ins[1].tolist(), ins[2].tolist()
        axes = ins[3].tolist() if len(ins) > 3 and ins[3] is not None else list(range(len(starts)))
        steps = ins[4].tolist() if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
        idx = [slice(None)] * x.ndim
        for s, e, ax, st in zip(starts, ends, axes, steps):
            idx[ax] = slice(s, e, st)
        return [x[tuple(idx)]]
    if op == 'Add':
        return [ins[0] + ins[1]]
    if op == 'Sub':
        return [ins[0] - ins[1]]
    if op == 'Mul':
        return [ins[0] * ins[1]]
    if op == 'Div':
        if np.issubdtype(ins[0].dtype, np.integer):
            return [np.trunc(ins[0] / ins[1]).astype(ins[0].dtype)]
        return [ins[0] / ins[1]]
    if op == 'Relu':
        return [np.maximum(x, 0)]
    if op == 'LeakyRelu':
        return [np.where(x >= 0, x, x * a.get('alpha', 0.01))]
    if op == 'Sigmoid':
        return [1 / (1 + np.exp(-x))]
    if op == 'Clip':
        lo = ins[1] if len(ins) > 1 and ins[1] is not None else a.get('min')
        hi = ins[2] if len(ins) > 2 and ins[2] is not None else a.get('max')
        if lo is not None:
            x = np.maximum(x, lo)
        if hi is not None:
            x = np.minimum(x, hi)
        return [x]
    if op == 'MatMul':
        return [np.matmul(ins[0], ins[1])]
    if op == 'Gemm':
        A = ins[0].T if a.get('transA', 0) else ins[0]
        B = ins[1].T if a.get('transB', 0) else ins[1]
        y = a.get('alpha', 1.0) * (A @ B)
        if len(ins) > 2 and ins[2] is not None:
            y = y + a.get('beta', 1.0) * ins[2]
        return [y]
    if op == 'BatchNormalization':
        if a.get('training_mode', 0):
            raise NotImplementedError('BatchNormalization training_mode=1')
        s, b, m, v = (t.reshape(1, -1, *([1] * (x.ndim - 2))) for t in ins[1:5])
        return [(x - m) / np.sqrt(v + a.get('epsilon', 1e-5)) * s + b]
    if op == 'Conv':
        return [_conv(x, ins[1], ins[2] if len(ins) > 2 else None, a)]
    if op == 'MaxPool':
        if a.get('storage_order', 0) != 0 or len(node.output) > 1:
            raise NotImplementedError('MaxPool indices')
        return [_pool(x, a, 'max')]
    if op == 'AveragePool':
        return [_pool(x, a, 'avg')]
    if op == 'GlobalAveragePool':
        return [x.mean(axis=tuple(range(2, x.ndim)), keepdims=True)]
    if op == 'Pad':
        if len(ins) > 1:
            pads = ins[1].tolist()
            value = ins[2] if len(ins) > 2 and ins[2] is not None else 0
        else:
            pads, value = a['pads'], a.get('value', 0.0)
        return [_pad(x, pads, a.get('mode', 'constant'), np.asarray(value).reshape(-1)[0] if np.size(value) else 0)]
    raise NotImplementedError(f'op {op}')


def run(model, x, dtype=np.float32):
    """Evaluates `model` (an onnx ModelProto) on the NCHW array `x`; returns the first graph output."""
    env = {init.name: _fix(numpy_helper.to_array(init), dtype) for init in model.graph.initializer}
    env[model.graph.input[0].name] = np.asarray(x, dtype=dtype)
    for node in model.graph.node:
        ins = [env[name] if name else None for name in node.input]
        outs = _node(node, ins, dtype)
        for name, value in zip(node.output, outs):
            if name:
                env[name] = value
    return env[model.graph.output[0].name]
