/**
 * Parity of `loadOnnx` with PyTorch on the large CIFAR networks (not part of the tests: the files are 10–45 MB).
 * `scripts/torch/onnx_parity.py DIR` exports PreAct-ResNet-18, WRN-16-4 and MobileNetV2 (normalisation inside, seeded
 * weights, randomised batch-norm statistics, opset 13) with PyTorch's float32 logits and input gradients
 * (of `Σ logits · w`); this script loads each file with `loadOnnx` and prints the largest differences, relative to the
 * largest reference value, on the chosen backend, per example, against PyTorch's float32 and float64 gradients; and how
 * far its own gradient moves when the input is scaled by 1 + 1e-7 (a jump there means a ReLU kink at float32 rounding's
 * distance, where no two float32 implementations need agree).
 *
 *   /usr/bin/python3 scripts/torch/onnx_parity.py /tmp/ardkit-parity
 *   node --disable-warning=ExperimentalWarning --loader ts-node/esm scripts/onnx-parity.ts /tmp/ardkit-parity [--backend cpu|wasm]
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers'; // registers tfjs' gradients in Node
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadOnnx } from '../src/io/onnx/load.js';
import { registerWasmTrainingKernels } from '../src/backends/index.js';

interface Reference {
  readonly name: string;
  readonly inputShape: [number, number, number, number];
  readonly input: number[];
  readonly logits: number[];
  readonly gradWeights: number[];
  readonly inputGradient: number[];
  /** PyTorch's input gradient in float64 (stored as float32). */
  readonly inputGradient64?: number[];
}

/** How many entries differ by more than `tol` of the largest reference value. */
function countOff(a: ArrayLike<number>, b: readonly number[], tol: number): number {
  const scale = b.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  let n = 0;
  for (let i = 0; i < b.length; i++) if (Math.abs((a[i] ?? Number.NaN) - (b[i] ?? 0)) > tol * scale) n++;
  return n;
}

/** max |a − b| / max |b|. */
function relative(a: ArrayLike<number>, b: readonly number[]): number {
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    worst = Math.max(worst, Math.abs((a[i] ?? Number.NaN) - (b[i] ?? 0)));
    scale = Math.max(scale, Math.abs(b[i] ?? 0));
  }
  return worst / scale;
}

const args = process.argv.slice(2);
const dir = args.find((a) => !a.startsWith('--'));
const backend = args.includes('--backend') ? (args[args.indexOf('--backend') + 1] ?? 'cpu') : 'cpu';
if (dir === undefined) {
  console.error('usage: scripts/onnx-parity.ts DIR [--backend cpu|wasm]  (DIR from scripts/torch/onnx_parity.py)');
  process.exit(2);
}
tf.env().set('PROD', true);
await tf.setBackend(backend);
await tf.ready();
// The depthwise convolution's gradient on wasm is ardkit's (useBestBackend registers it).
if (backend === 'wasm') registerWasmTrainingKernels();
console.log(`backend ${tf.getBackend()}; tolerance 1e-4 of the largest reference value`);
let failed = 0;
const only = args.filter((a, i) => !a.startsWith('--') && i > 0 && args[i - 1] !== '--backend' && a !== dir);
for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.json') && (only.length === 0 || only.includes(f.replace(/\.json$/, '')))).sort()) {
  const ref = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as Reference;
  const t0 = performance.now();
  const model = await loadOnnx(path.join(dir, file.replace(/\.json$/, '.onnx')));
  const loadMs = performance.now() - t0;
  const x = tf.tidy(() => tf.transpose(tf.tensor4d(ref.input, ref.inputShape), [0, 2, 3, 1]));
  const t1 = performance.now();
  const logits = model(x);
  const w = tf.tensor2d(ref.gradWeights, logits.shape);
  const grad = tf.tidy(() => tf.transpose(tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(model(xx), w)))(x), [0, 3, 1, 2]));
  const [l, g] = await Promise.all([logits.data(), grad.data()]);
  const runMs = performance.now() - t1;
  const errLogits = relative(l, ref.logits);
  const errGrad = relative(g, ref.inputGradient);
  const ok = errLogits <= 1e-4 && errGrad <= 1e-4;
  if (!ok) failed++;
  console.log(
    `${ok ? '[ok]  ' : '[FAIL]'} ${ref.name.padEnd(16)} logits ${errLogits.toExponential(2)}  input gradient ${errGrad.toExponential(2)} ` +
      `(${String(countOff(g, ref.inputGradient, 1e-4))} of ${String(g.length)} entries off by > 1e-4)  ` +
      `(${model.operators.length} operators, ${model.weights.length} weight tensors; load ${(loadMs / 1000).toFixed(1)} s, forward+gradient ${(runMs / 1000).toFixed(1)} s)`
  );
  if (ref.inputGradient64 !== undefined) {
    // A float32 gradient through ReLUs is only as exact as the signs of its pre-activations: PyTorch's own float32
    // gradient is this far from its float64 one, and ardkit's should be no farther.
    const g64 = ref.inputGradient64;
    const per = g64.length / ref.inputShape[0];
    const perExample = (a: ArrayLike<number>): string =>
      Array.from({ length: ref.inputShape[0] }, (_, b) => relative(Array.from(a).slice(b * per, (b + 1) * per), g64.slice(b * per, (b + 1) * per)).toExponential(1)).join(' ');
    console.log(
      `      float64 PyTorch as the reference: ardkit ${relative(g, g64).toExponential(2)} (${String(countOff(g, g64, 1e-4))} entries off), ` +
        `float32 PyTorch ${relative(ref.inputGradient, g64).toExponential(2)} (${String(countOff(ref.inputGradient, g64, 1e-4))} entries off); ` +
        `per example: ardkit ${perExample(g)}, float32 PyTorch ${perExample(ref.inputGradient)}`
    );
  }
  // How far ardkit's own gradient moves when the input is scaled by 1 + 1e-7 (float32 rounding's size): where a
  // pre-activation sits at a ReLU's kink, it jumps, and no float32 implementation can agree with another closer there.
  const nudged = tf.tidy(() => tf.transpose(tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(model(xx), w)))(tf.mul(x, 1 + 1e-7)), [0, 3, 1, 2]));
  const gn = await nudged.data();
  const per = gn.length / ref.inputShape[0];
  const moves = Array.from({ length: ref.inputShape[0] }, (_, b) => relative(gn.slice(b * per, (b + 1) * per), Array.from(g.slice(b * per, (b + 1) * per))).toExponential(1));
  console.log(`      ardkit's own gradient with the input scaled by 1 + 1e-7, per example: moves by ${moves.join(' ')}`);
  tf.dispose([x, logits, w, grad, nudged]);
  model.dispose();
}
process.exit(failed === 0 ? 0 : 1);
