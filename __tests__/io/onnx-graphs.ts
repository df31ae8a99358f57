/**
 * ONNX fixtures for the tests: the PyTorch references that scripts/torch/onnx_fixtures.py writes
 * (`__tests__/fixtures/onnx`), and small graphs written here through ardkit's own ONNX schema, for the error cases.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { encodeModel } from '../../src/io/onnx/schema.js';

export const FIXTURES = path.join(__dirname, '..', 'fixtures', 'onnx');

/** A fixture's reference values (PyTorch, float32, NCHW). */
export interface OnnxReference {
  readonly name: string;
  readonly opset: number;
  readonly inputShape: [number, number, number, number];
  readonly input: number[];
  readonly classes: number;
  readonly logits: number[];
  readonly gradWeights: number[];
  readonly inputGradient: number[];
  readonly ops: string[];
}

export function reference(name: string): OnnxReference {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, `${name}.json`), 'utf8')) as OnnxReference;
}

export function fixturePath(name: string): string {
  return path.join(FIXTURES, `${name}.onnx`);
}

/** The reference input as NHWC. */
export function nhwcInput(ref: OnnxReference): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(tf.tensor4d(ref.input, ref.inputShape), [0, 2, 3, 1]));
}

/** max |a − b| / max |b|. */
export function relativeError(a: ArrayLike<number>, b: readonly number[]): number {
  let worst = 0;
  let scale = 0;
  b.forEach((v, i) => {
    worst = Math.max(worst, Math.abs((a[i] ?? Number.NaN) - v));
    scale = Math.max(scale, Math.abs(v));
  });
  return Number.isNaN(worst) ? Infinity : worst / scale;
}

/** A model's logits at `x` and its input gradient of `Σ logits · weights`, in NCHW order like PyTorch's, read back asynchronously. */
export async function logitsAndGradient(model: (x: tf.Tensor) => tf.Tensor2D, x: tf.Tensor4D, weights: number[]): Promise<{ logits: Float32Array; gradient: Float32Array }> {
  const logits = model(x);
  const w = tf.tensor2d(weights, logits.shape);
  const grad = tf.tidy(() => tf.transpose(tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(model(xx), w)))(x), [0, 3, 1, 2]));
  const [l, g] = await Promise.all([logits.data() as Promise<Float32Array>, grad.data() as Promise<Float32Array>]);
  tf.dispose([logits, w, grad]);
  return { logits: l, gradient: g };
}

interface NodeSpec {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly name?: string;
  readonly domain?: string;
  readonly attributes?: readonly Record<string, unknown>[];
}

interface GraphSpec {
  readonly opset?: number;
  readonly nodes: readonly NodeSpec[];
  readonly initializers?: readonly { readonly name: string; readonly dims: readonly number[]; readonly floats?: readonly number[]; readonly ints?: readonly number[]; readonly external?: boolean }[];
  readonly inputs?: readonly { readonly name: string; readonly dims: readonly (number | string)[]; readonly elemType?: number }[];
  readonly outputs?: readonly string[];
}

/** Writes an ONNX file's bytes from a small description. */
export async function writeGraph(spec: GraphSpec): Promise<Uint8Array> {
  return encodeModel({
    irVersion: 7,
    producerName: 'ardkit-tests',
    opsetImport: [{ domain: '', version: spec.opset ?? 13 }],
    graph: {
      name: 'g',
      node: spec.nodes.map((n, i) => ({ name: n.name ?? `${n.op}_${String(i)}`, opType: n.op, input: n.inputs, output: n.outputs, domain: n.domain ?? '', attribute: n.attributes ?? [] })),
      initializer: (spec.initializers ?? []).map((t) =>
        t.ints !== undefined
          ? { name: t.name, dims: t.dims, dataType: 7, int64Data: t.ints }
          : t.external === true
            ? { name: t.name, dims: t.dims, dataType: 1, dataLocation: 1, externalData: [{ key: 'location', value: 'weights.bin' }] }
            : { name: t.name, dims: t.dims, dataType: 1, floatData: t.floats ?? [] }
      ),
      input: (spec.inputs ?? [{ name: 'input', dims: ['batch', 3, 4, 4] }]).map((i) => ({
        name: i.name,
        type: { tensorType: { elemType: i.elemType ?? 1, shape: { dim: i.dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } }
      })),
      output: (spec.outputs ?? ['logits']).map((name) => ({ name, type: { tensorType: { elemType: 1 } } }))
    }
  });
}

/** A tiny valid classifier: input [B, 3, 4, 4] → Relu → GlobalAveragePool → Flatten → Gemm (2 classes). */
export function tinySpec(overrides: Partial<GraphSpec> = {}): GraphSpec {
  return {
    nodes: [
      { op: 'Relu', inputs: ['input'], outputs: ['r'] },
      { op: 'GlobalAveragePool', inputs: ['r'], outputs: ['p'] },
      { op: 'Flatten', inputs: ['p'], outputs: ['f'], attributes: [{ name: 'axis', type: 2, i: 1 }] },
      { op: 'Gemm', inputs: ['f', 'W', 'b'], outputs: ['logits'], attributes: [{ name: 'transB', type: 2, i: 1 }] }
    ],
    initializers: [
      { name: 'W', dims: [2, 3], floats: [1, -1, 0.5, -0.5, 2, 1] },
      { name: 'b', dims: [2], floats: [0.1, -0.1] }
    ],
    ...overrides
  };
}
