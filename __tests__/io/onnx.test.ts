/**
 * `loadOnnx`: ONNX files exported from PyTorch give PyTorch's logits and input gradients (fixtures written by
 * scripts/torch/onnx_fixtures.py, opsets 11, 13 and 17), serve as teachers (RSLAD, ARD) and attack targets (pgd,
 * autoAttack), fine-tune as students, read nothing back from the device, and every malformed or unsupported file is an
 * error naming the file, the node and the operator, with nothing leaked.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { pgd } from '../../src/attacks/index.js';
import { autoAttack, evaluate } from '../../src/eval/index.js';
import { loadOnnx, ONNX_OPSETS } from '../../src/io/index.js';
import { studentFromLayers } from '../../src/models/index.js';
import { registerWasmTrainingKernels } from '../../src/backends/index.js';
import { ard, fit, rslad } from '../../src/train/index.js';
import { useBackend } from '../helpers.js';
import { fixturePath, logitsAndGradient, nhwcInput, reference, relativeError, tinySpec, writeGraph } from './onnx-graphs.js';

const PYTORCH_FIXTURES = ['ops_opset11', 'ops_opset13', 'ops_opset17', 'handmade_opset13', 'cifar_teacher'];

beforeAll(async () => {
  await useBackend('cpu');
});

describe('loadOnnx against PyTorch (float32, relative to the largest reference value)', () => {
  it.each(PYTORCH_FIXTURES)('%s: logits and input gradients within 1e-4, NHWC at the boundary', async (name) => {
    const ref = reference(name);
    const model = await loadOnnx(fixturePath(name));
    expect(model.opset).toBe(ref.opset);
    expect(model.classes).toBe(ref.classes);
    expect(model.inputShape).toEqual([ref.inputShape[2], ref.inputShape[3], ref.inputShape[1]]);
    // Every operator of the file runs (the graph has no dead branch).
    expect(model.operators).toEqual(ref.ops);
    const x = nhwcInput(ref);
    const { logits, gradient } = await logitsAndGradient(model, x, ref.gradWeights);
    expect(relativeError(logits, ref.logits)).toBeLessThan(1e-4);
    expect(relativeError(gradient, ref.inputGradient)).toBeLessThan(1e-4);
    x.dispose();
    model.dispose();
  });

  it('covers the operator list of the CNNs robust-training code exports', () => {
    const ops = new Set(PYTORCH_FIXTURES.flatMap((n) => reference(n).ops));
    for (const op of ['Conv', 'BatchNormalization', 'Relu', 'LeakyRelu', 'Clip', 'Sigmoid', 'Add', 'Sub', 'Mul', 'Div', 'MatMul', 'Gemm', 'MaxPool',
      'AveragePool', 'GlobalAveragePool', 'Pad', 'Flatten', 'Reshape', 'Transpose', 'Concat', 'Constant', 'Identity', 'Dropout', 'Shape', 'Gather', 'Unsqueeze']) {
      expect(ops).toContain(op);
    }
  });

  it("layout 'nchw' takes the graph's own order and gives the same logits", async () => {
    const ref = reference('ops_opset13');
    const model = await loadOnnx(fixturePath('ops_opset13'), { layout: 'nchw' });
    expect(model.inputShape).toEqual(ref.inputShape.slice(1));
    const x = tf.tensor4d(ref.input, ref.inputShape);
    const logits = model(x);
    expect(relativeError(await logits.data(), ref.logits)).toBeLessThan(1e-4);
    tf.dispose([x, logits]);
    model.dispose();
  });

  it('reads bytes and ArrayBuffers as well as paths, and works on wasm', async () => {
    const ref = reference('ops_opset11');
    const bytes = new Uint8Array(fs.readFileSync(fixturePath('ops_opset11')));
    const fromBuffer = await loadOnnx(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    await useBackend('wasm');
    // The depthwise convolution's gradient on wasm comes from ardkit's training kernels (useBestBackend registers them).
    registerWasmTrainingKernels();
    try {
      const model = await loadOnnx(bytes);
      const x = nhwcInput(ref);
      const { logits, gradient } = await logitsAndGradient(model, x, ref.gradWeights);
      expect(relativeError(logits, ref.logits)).toBeLessThan(1e-4);
      expect(relativeError(gradient, ref.inputGradient)).toBeLessThan(1e-4);
      x.dispose();
      model.dispose();
    } finally {
      await useBackend('cpu');
    }
    fromBuffer.dispose();
  });
});

describe('loadOnnx: memory and readbacks', () => {
  it('a forward pass and its gradient leave no tensor; dispose frees every weight; a disposed model throws', async () => {
    const before = tf.memory().numTensors;
    const model = await loadOnnx(fixturePath('ops_opset13'));
    expect(tf.memory().numTensors).toBe(before + model.weights.length);
    const ref = reference('ops_opset13');
    const x = nhwcInput(ref);
    const during = tf.memory().numTensors;
    tf.dispose(model(x));
    tf.dispose(tf.grad((xx: tf.Tensor) => tf.sum(model(xx)))(x));
    expect(tf.memory().numTensors).toBe(during);
    x.dispose();
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(() => model(tf.zeros([1, 16, 16, 3]))).toThrow(/was disposed/);
  });

  it('runs the Shape/Gather/Unsqueeze/Concat/Reshape and pad chains on the host: no synchronous readback', async () => {
    const model = await loadOnnx(fixturePath('ops_opset17'));
    const ref = reference('ops_opset17');
    expect(ref.ops).toEqual(expect.arrayContaining(['Shape', 'Gather', 'Unsqueeze', 'ConstantOfShape', 'Slice', 'Cast']));
    const x = nhwcInput(ref);
    // The engine's readSync (what dataSync and arraySync go through; cpu kernels read their inputs directly).
    const engine = tf.engine() as unknown as { readSync: (id: object) => unknown };
    const spies = [jest.spyOn(engine, 'readSync'), jest.spyOn(tf.Tensor.prototype, 'dataSync'), jest.spyOn(tf.Tensor.prototype, 'arraySync')];
    tf.dispose(model(x));
    tf.dispose(tf.grad((xx: tf.Tensor) => tf.sum(model(xx)))(x));
    for (const spy of spies) {
      expect(spy).not.toHaveBeenCalled();
      spy.mockRestore();
    }
    x.dispose();
    model.dispose();
  });
});

describe('an ONNX network as a teacher and as an attack target', () => {
  const data = (n: number, seed: number): { x: tf.Tensor4D; y: tf.Tensor1D } =>
    tf.tidy(() => ({ x: tf.randomUniform<tf.Rank.R4>([n, 32, 32, 3], 0, 1, 'float32', seed), y: tf.tensor1d(Array.from({ length: n }, (_, i) => i % 10), 'int32') }));

  it('pgd stays in the ε-ball and the box and raises the loss; autoAttack accuracy ≤ clean accuracy', async () => {
    const teacher = await loadOnnx(fixturePath('cifar_teacher'));
    const { x } = data(8, 1);
    const y = tf.tidy(() => tf.cast(tf.argMax(teacher(x), 1), 'int32') as tf.Tensor1D);
    const eps = 8 / 255;
    const xAdv = pgd(teacher, x, y, { eps, steps: 5 });
    const dist = tf.tidy(() => tf.max(tf.abs(tf.sub(xAdv, x))));
    expect((await dist.data())[0]).toBeLessThanOrEqual(eps + 1e-6);
    const [lo, hi] = await Promise.all([tf.min(xAdv).data(), tf.max(xAdv).data()]);
    expect(lo[0]).toBeGreaterThanOrEqual(0);
    expect(hi[0]).toBeLessThanOrEqual(1);
    const loss = (z: tf.Tensor): tf.Tensor => tf.tidy(() => tf.losses.softmaxCrossEntropy(tf.oneHot(y, 10), teacher(z)));
    const [clean, adv] = await Promise.all([loss(x).data(), loss(xAdv).data()]);
    expect(adv[0]).toBeGreaterThan(clean[0] ?? Infinity);
    const result = await autoAttack(teacher, x, y, { eps, steps: 5, targetClasses: 2, queries: 20 });
    expect(result.clean).toBe(1);
    expect(result.worstCase).toBeLessThanOrEqual(result.clean);
    tf.dispose([x, y, xAdv, dist, result.xAdv]);
    teacher.dispose();
  });

  it.each([
    ['rslad', rslad],
    ['ard', ard]
  ] as const)('%s distils a student from it (one epoch of fit, the teacher unchanged)', async (_, objective) => {
    const teacher = await loadOnnx(fixturePath('cifar_teacher'));
    const teacherBefore = await Promise.all(teacher.weights.map((w) => w.data()));
    const net = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ inputShape: [32, 32, 3], filters: 4, kernelSize: 3, strides: 2, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }),
        tfl.layers.globalAveragePooling2d({}),
        tfl.layers.dense({ units: 10, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) })
      ]
    });
    const student = studentFromLayers(net);
    const before = await Promise.all(student.trainableVariables.map((v) => v.data()));
    const train = data(16, 3);
    const history = await fit(student, train, objective({ teacher, eps: 8 / 255, steps: 2 }), { epochs: 1, batchSize: 8, seed: 0 });
    expect(Number.isFinite(history.epochs[0]?.loss)).toBe(true);
    const after = await Promise.all(student.trainableVariables.map((v) => v.data()));
    expect(after.some((a, i) => relativeError(a, Array.from(before[i] ?? [])) > 0)).toBe(true);
    const teacherAfter = await Promise.all(teacher.weights.map((w) => w.data()));
    teacherAfter.forEach((a, i) => { expect(Array.from(a)).toEqual(Array.from(teacherBefore[i] ?? [])); });
    const clean = await evaluate(teacher, train.x, train.y);
    expect(clean.n).toBe(16);
    tf.dispose([train.x, train.y]);
    net.dispose();
    teacher.dispose();
  });
});

describe('an ONNX network fine-tuned as a student', () => {
  it('trainable: true makes variables (batch-norm statistics and normalisation constants frozen) that fit updates', async () => {
    const model = await loadOnnx(fixturePath('ops_opset13'), { trainable: true });
    const student = model.asStudent();
    expect(student.variables.length).toBe(model.weights.length);
    expect(student.trainableVariables.length).toBeGreaterThan(0);
    expect(student.trainableVariables.length).toBeLessThan(student.variables.length);
    const frozen = student.variables.filter((v) => !v.trainable);
    const frozenBefore = await Promise.all(frozen.map((v) => v.data()));
    // Unfolded batch norm computes the same function as the folded one.
    const ref = reference('ops_opset13');
    const x = nhwcInput(ref);
    const logits = student.forward(x, true).logits;
    expect(relativeError(await logits.data(), ref.logits)).toBeLessThan(1e-4);
    logits.dispose();
    const before = await Promise.all(student.trainableVariables.map((v) => v.data()));
    const y = tf.tensor1d(Array.from({ length: ref.inputShape[0] }, (_, i) => i % ref.classes), 'int32');
    await fit(student, { x, y }, rslad({ teacher: await loadOnnx(fixturePath('ops_opset13')), eps: 8 / 255, steps: 1 }), { epochs: 1, batchSize: 2, seed: 0 });
    const after = await Promise.all(student.trainableVariables.map((v) => v.data()));
    expect(after.some((a, i) => relativeError(a, Array.from(before[i] ?? [])) > 0)).toBe(true);
    const frozenAfter = await Promise.all(frozen.map((v) => v.data()));
    frozenAfter.forEach((a, i) => { expect(Array.from(a)).toEqual(Array.from(frozenBefore[i] ?? [])); });
    tf.dispose([x, y]);
    model.dispose();
  });

  it('features: the named value comes back flattened to [B, d]', async () => {
    const spec = tinySpec();
    const model = await loadOnnx(await writeGraph(spec), { trainable: true, features: 'f' });
    const out = model.asStudent().forward(tf.ones([2, 4, 4, 3]), false);
    expect(out.features?.shape).toEqual([2, 3]);
    expect(Array.from(await (out.features as tf.Tensor).data())).toEqual([1, 1, 1, 1, 1, 1]);
    tf.dispose([out.logits, out.features]);
    model.dispose();
  });

  it('asStudent() on a model not loaded trainable says how to load it', async () => {
    const model = await loadOnnx(await writeGraph(tinySpec()));
    expect(() => model.asStudent()).toThrow(/asStudent\(\) needs the model loaded with \{ trainable: true \}/);
    model.dispose();
  });
});

describe('loadOnnx errors name the file, the node and the operator, and leak nothing', () => {
  async function expectLoadError(source: Parameters<typeof loadOnnx>[0], options: Parameters<typeof loadOnnx>[1], message: RegExp, type: ErrorConstructor = Error): Promise<void> {
    const before = tf.memory().numTensors;
    let caught: unknown;
    try {
      (await loadOnnx(source, options)).dispose();
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(type);
    expect((caught as Error).message).toMatch(message);
    expect(tf.memory().numTensors).toBe(before);
  }

  it('the tiny graph written here loads and computes relu → mean → Gemm', async () => {
    const model = await loadOnnx(await writeGraph(tinySpec()), { name: 'tiny.onnx' });
    const logits = model(tf.ones([1, 4, 4, 3]));
    expect(Array.from(await logits.data()).map((v) => Math.round(v * 1e5) / 1e5)).toEqual([0.6, 2.4]);
    logits.dispose();
    model.dispose();
  });

  it('an unknown operator: names the operator, the node, the file and what is supported', async () => {
    const spec = tinySpec();
    const nodes = [...spec.nodes];
    nodes[0] = { op: 'Einsum', inputs: ['input'], outputs: ['r'], name: 'mix' };
    await expectLoadError(await writeGraph({ ...spec, nodes }), { name: 'net.onnx' }, /^loadOnnx: "net\.onnx": node "mix" \(Einsum\) uses the operator Einsum, which ardkit does not support \(it runs Add, AveragePool, .*\)$/);
  });

  it('an operator of another domain', async () => {
    const spec = tinySpec();
    const nodes = [...spec.nodes];
    nodes[0] = { op: 'Relu', inputs: ['input'], outputs: ['r'], name: 'ml', domain: 'ai.onnx.ml' };
    await expectLoadError(await writeGraph({ ...spec, nodes }), { name: 'net.onnx' }, /node "ml" \(Relu\) is in the operator domain "ai\.onnx\.ml", which ardkit does not support/);
  });

  it.each([10, 18])('opset %i: out of range, with the range and how to export', async (opset) => {
    expect(ONNX_OPSETS).toEqual({ min: 11, max: 17 });
    await expectLoadError(await writeGraph(tinySpec({ opset })), { name: 'net.onnx' },
      new RegExp(`^loadOnnx: "net\\.onnx" uses opset ${String(opset)} of ONNX's operators; ardkit reads opsets 11 to 17 \\(export again with opset_version between them`));
  });

  it('a truncated file, and bytes that are no protobuf', async () => {
    const bytes = fs.readFileSync(fixturePath('cifar_teacher'));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ardkit-onnx-'));
    const file = path.join(dir, 'cut.onnx');
    fs.writeFileSync(file, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await expectLoadError(file, undefined, new RegExp(`^loadOnnx: ${JSON.stringify(file).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is not an ONNX model: the protobuf cannot be decoded \\(.+\\); is the file complete\\?$`));
    await expectLoadError(new TextEncoder().encode('{"not": "onnx"}'), undefined, /^loadOnnx: "bytes" is not an ONNX model/);
    await expectLoadError(new Uint8Array(0), undefined, /^loadOnnx: "bytes" is not an ONNX model: it has no graph \(0 bytes\)$/);
    fs.rmSync(dir, { recursive: true });
  });

  it('a missing file, and a source of the wrong type', async () => {
    await expectLoadError('/nonexistent/teacher.onnx', undefined, /^loadOnnx: cannot read "\/nonexistent\/teacher\.onnx": ENOENT/);
    await expectLoadError(42 as unknown as string, undefined, /^loadOnnx: source must be a file path, a URL, a Uint8Array or an ArrayBuffer holding an ONNX model \(got 42\)$/, TypeError);
  });

  it('the wrong input shape, when the model is called: the expected NHWC shape and the graph\'s NCHW one', async () => {
    const model = await loadOnnx(fixturePath('cifar_teacher'));
    const before = tf.memory().numTensors;
    const x = tf.zeros([2, 28, 28, 1]);
    const flat = tf.zeros([2, 32, 32]);
    expect(() => model(x)).toThrow(/^model from loadOnnx\(".*cifar_teacher\.onnx"\): x must have shape \[B, 32, 32, 3\] \(NHWC; the graph's input "input" is \[\?, 3, 32, 32\] in NCHW\) \(got a float32 tensor of shape \[2, 28, 28, 1\]\)$/);
    expect(() => model(flat)).toThrow(RangeError);
    tf.dispose([x, flat]);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('unsupported attributes name the node and the rule', async () => {
    const spec = tinySpec();
    const pad = { op: 'Pad', inputs: ['input', 'pads'], outputs: ['padded'], name: 'edge_pad', attributes: [{ name: 'mode', type: 3, s: new TextEncoder().encode('edge') }] };
    await expectLoadError(await writeGraph({
      ...spec,
      nodes: [pad, { ...spec.nodes[0], inputs: ['padded'] } as (typeof spec.nodes)[number], ...spec.nodes.slice(1)],
      initializers: [...(spec.initializers ?? []), { name: 'pads', dims: [8], ints: [0, 0, 1, 1, 0, 0, 1, 1] }]
    }), { name: 'net.onnx' }, /^loadOnnx: "net\.onnx": node "edge_pad" \(Pad\): mode must be constant or reflect \(got edge\)$/);
    const bn = tinySpec({
      nodes: [
        { op: 'BatchNormalization', inputs: ['input', 's', 'b0', 'm', 'v'], outputs: ['r'], name: 'bn', attributes: [{ name: 'training_mode', type: 2, i: 1 }] },
        ...tinySpec().nodes.slice(1)
      ],
      initializers: [...(spec.initializers ?? []), ...['s', 'b0', 'm', 'v'].map((name) => ({ name, dims: [3], floats: [1, 1, 1] }))]
    });
    await expectLoadError(await writeGraph(bn), { name: 'net.onnx' }, /node "bn" \(BatchNormalization\): training_mode must be 0/);
  });

  it('weights kept in an external file', async () => {
    const spec = tinySpec();
    await expectLoadError(await writeGraph({ ...spec, initializers: [{ name: 'W', dims: [2, 3], external: true }, ...(spec.initializers ?? []).slice(1)] }), { name: 'big.onnx' },
      /^loadOnnx: "big\.onnx": initializer "W" cannot be read: its data is stored in an external file \(location=weights\.bin\); ardkit reads self-contained files/);
  });

  it('graphs with two inputs, an integer input, two outputs, or nodes out of order', async () => {
    await expectLoadError(await writeGraph(tinySpec({ inputs: [{ name: 'input', dims: ['b', 3, 4, 4] }, { name: 'mask', dims: ['b', 1] }] })), { name: 'n.onnx' },
      /^loadOnnx: "n\.onnx": the graph must have exactly one input besides its initializers \(got 2: \["input", "mask"\]\)$/);
    await expectLoadError(await writeGraph(tinySpec({ inputs: [{ name: 'input', dims: ['b', 3, 4, 4], elemType: 7 }] })), { name: 'n.onnx' },
      /^loadOnnx: "n\.onnx": the graph input "input" must be FLOAT \(got INT64\)$/);
    const spec = tinySpec();
    await expectLoadError(await writeGraph({ ...spec, outputs: ['logits', 'p'] }), { name: 'n.onnx' },
      /^loadOnnx: options\.output must name the logits output: the graph has 2 outputs \["logits", "p"\]/, RangeError);
    const two = await loadOnnx(await writeGraph({ ...spec, outputs: ['logits', 'p'] }), { output: 'logits' });
    expect(two.classes).toBe(2);
    two.dispose();
    await expectLoadError(await writeGraph({ ...spec, nodes: [...spec.nodes].reverse() }), { name: 'n.onnx' },
      /^loadOnnx: "n\.onnx": node "Gemm_0" \(Gemm\) reads "f", which no earlier node, initializer or input defines/);
  });

  it('bad options', async () => {
    const bytes = await writeGraph(tinySpec());
    await expectLoadError(bytes, { layout: 'chw' as 'nhwc' }, /^loadOnnx: options\.layout must be one of/, RangeError);
    await expectLoadError(bytes, { trainable: 'yes' as unknown as boolean }, /^loadOnnx: options\.trainable must be a boolean \(got "yes"\)$/, TypeError);
    await expectLoadError(bytes, { featurs: 'f' } as unknown as Parameters<typeof loadOnnx>[1], /^loadOnnx: .*featurs/, RangeError);
    await expectLoadError(bytes, { output: 'nope' }, /^loadOnnx: options\.output must name one of the graph's outputs \["logits"\] \(got "nope"\)$/, RangeError);
    await expectLoadError(bytes, { features: 'nope' }, /^loadOnnx: options\.features must name a value that a node of the graph computes \(got "nope"\)$/, RangeError);
  });
});
