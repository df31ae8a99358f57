/**
 * examples/cifar-distill.ts end to end, as CI runs it: CIFAR cannot be downloaded here, so the test writes small
 * CIFAR-10 (and CIFAR-100) binary files, and the teacher is the small ONNX fixture
 * (`__tests__/fixtures/onnx/cifar_teacher.onnx`, 3×32×32 input, 10 classes, normalisation inside). The example is
 * bundled with esbuild (`ardkit/*` aliased to `src/`, tfjs external, so no build is needed) and run in child
 * processes on the default backend (wasm with ardkit's kernels), a few optimizer steps each:
 *
 * - the small CNN student for 2 epochs of 2 batches: the table is printed, and the student saved in tfjs' format loads
 *   through `ardkit/io` with the weights of the run's last checkpoint, bit for bit, and the printed clean accuracy;
 * - the same run stopped by `--steps 3` in its second epoch, then continued with `--resume`: its saved student is
 *   byte-identical to the uninterrupted run's (a rerun without `--resume` refuses to overwrite the checkpoints);
 * - the default student, the real MobileNetV2, for 2 epochs of one step, and the same run stopped after its first epoch
 *   and resumed: byte-identical students again, so the batch-norm statistics resume too;
 * - CIFAR-100 files are recognised, and a teacher with the wrong class count is refused before training.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { fileSystem } from '../../src/io/index.js';
import { loadCifar } from '../../src/data/index.js';
import { loadLatestCheckpoint } from '../../src/train/index.js';
import { useBackend } from '../helpers.js';

const root = path.join(__dirname, '..', '..');
// Inside the repository (and ignored by git), so that the bundle's dynamic imports of the tfjs backends resolve.
const work = path.join(root, '.tmp', 'cifar-distill');
const bundle = path.join(work, 'cifar-distill.cjs');
const cifar10 = path.join(work, 'cifar-10-batches-bin');
const cifar100 = path.join(work, 'cifar-100-binary');
const teacher = path.join(root, '__tests__', 'fixtures', 'onnx', 'cifar_teacher.onnx');

/**
 * CIFAR records of `n` structured images: each class has its own colour per channel and stripe frequency, plus
 * seeded noise, so that the classes differ; `labelBytes` 1 (CIFAR-10: the label) or 2 (CIFAR-100: coarse, fine).
 */
function cifarRecords(n: number, offset: number, labelBytes: 1 | 2, classes: number): Uint8Array {
  const size = labelBytes + 3072;
  const bytes = new Uint8Array(n * size);
  let state = 1 + offset;
  const noise = (): number => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state / 2 ** 32;
  };
  for (let i = 0; i < n; i++) {
    const label = (i + offset) % classes;
    const o = i * size;
    if (labelBytes === 2) bytes[o] = label % 20;
    bytes[o + labelBytes - 1] = label;
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < 1024; p++) {
        const [row, col] = [p >> 5, p & 31];
        const v = ((label * 37 + c * 71) % 200) + 20 * Math.sin((row + col * (label % 3)) / (2 + (label % 7))) + 40 * noise();
        bytes[o + labelBytes + c * 1024 + p] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  }
  return bytes;
}

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(args: readonly string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bundle, ...args], { cwd: root, timeout: 120_000, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout, stderr });
    });
  });
}

function expectSuccess(r: Run): void {
  if (r.code !== 0) throw new Error(`the example exited with ${String(r.code)}:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
}

/** The small CNN student, 16 training images in batches of 8 (2 steps per epoch), 2 epochs, cheap attacks. */
const small = (dir: string, out: string): string[] => [
  '--data', cifar10, '--teacher', teacher, '--student', 'small-cnn', '--train-size', '16', '--batch-size', '8', '--epochs', '2',
  '--attack-steps', '2', '--test-size', '8', '--pgd-steps', '5', '--autoattack', 'fast', '--aa-steps', '5',
  '--checkpoint-dir', path.join(work, dir), '--out', path.join(work, out)
];

beforeAll(async () => {
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(cifar10, { recursive: true });
  fs.mkdirSync(cifar100, { recursive: true });
  // Two training files, as CIFAR-10 has five: the loader reads them in order.
  fs.writeFileSync(path.join(cifar10, 'data_batch_1.bin'), cifarRecords(40, 0, 1, 10));
  fs.writeFileSync(path.join(cifar10, 'data_batch_2.bin'), cifarRecords(24, 40, 1, 10));
  fs.writeFileSync(path.join(cifar10, 'test_batch.bin'), cifarRecords(32, 1000, 1, 10));
  fs.writeFileSync(path.join(cifar100, 'train.bin'), cifarRecords(16, 0, 2, 100));
  fs.writeFileSync(path.join(cifar100, 'test.bin'), cifarRecords(8, 1000, 2, 100));
  const { build } = await import('esbuild');
  const modules = fs.readdirSync(path.join(root, 'src'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  await build({
    entryPoints: [path.join(root, 'examples', 'cifar-distill.ts')],
    outfile: bundle,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node18',
    logLevel: 'error',
    external: ['@tensorflow/*', 'webgpu'],
    alias: Object.fromEntries(modules.map((m) => [`ardkit/${m}`, path.join(root, 'src', m, 'index.ts')]))
  });
  await useBackend('cpu');
}, 60_000);

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

describe('examples/cifar-distill.ts', () => {
  let uninterrupted: Run | undefined;

  it('distils from the ONNX teacher, prints the table and saves a student that loads with the trained weights', async () => {
    const r = await run(small('ckpt-a', 'student-a'));
    expectSuccess(r);
    uninterrupted = r;
    expect(r.stdout).toContain('robust distillation on CIFAR-10: 16 training and 8 test images, ε = 8/255');
    expect(r.stdout).toContain('teacher: cifar_teacher.onnx (ONNX)');
    expect(r.stdout).toMatch(/student epoch 2\/2: loss [\d.]+ \(klAdv [\d.]+, klClean [\d.]+\)/);
    expect(r.stdout).toMatch(/^model\s+clean\s+PGD-5\s+AA \(fast\)$/m);
    expect(r.stdout).toMatch(/^teacher \(cifar_teacher\.onnx\)\s+[\d.]+%\s+[\d.]+%\s+—$/m);
    const row = /^student \(small CNN, rslad\)\s+([\d.]+)%\s+([\d.]+)%\s+([\d.]+)%$/m.exec(r.stdout);
    expect(row).not.toBeNull();
    expect(r.stdout).toContain('(reloaded: max |Δ logits| = 0)');

    // The saved student holds the weights of the last checkpoint, bit for bit …
    const net = await tfl.loadLayersModel(fileSystem(path.join(work, 'student-a')));
    const ckptDir = path.join(work, 'ckpt-a', 'student-small-cnn-rslad-cifar10-n16-eps8over255-s0');
    const saved = await loadLatestCheckpoint(ckptDir);
    expect(saved?.epoch).toBe(2);
    const weights = net.getWeights();
    expect(weights.map((w) => w.shape)).toEqual(saved?.weights.map((w) => w.shape));
    weights.forEach((w, i) => {
      expect(Buffer.from((w.dataSync() as Float32Array).buffer)).toEqual(Buffer.from((saved?.weights[i]?.dataSync() as Float32Array).buffer));
    });
    // … and classifies the test images as the example's student did.
    const test = await loadCifar(path.join(cifar10, 'test_batch.bin'), { variant: 10, limit: 8 });
    const correct = tf.tidy(() => tf.sum(tf.cast(tf.equal(tf.argMax(net.predict(test.x) as tf.Tensor2D, 1), test.y), 'int32')).dataSync()[0] ?? -1);
    expect(((correct / 8) * 100).toFixed(1)).toBe(row?.[1]);
    // getWeights() gives the model's own variables: net.dispose() releases them.
    tf.dispose([...(saved?.weights ?? []), ...(saved?.optimizer.map((o) => o.tensor) ?? []), test.x, test.y]);
    net.dispose();
  });

  it('with --method ltd saves the student as it deploys: logits / τ_S, a Rescaling layer that plain tfjs-layers loads', async () => {
    const r = await run([...small('ckpt-ltd', 'student-ltd'), '--method', 'ltd', '--epochs', '1']);
    expectSuccess(r);
    expect(r.stdout).toContain('(reloaded: max |Δ logits| = 0)');
    expect(r.stdout).toContain("LTD's student is saved as it deploys: its logits divided by τ_S = 2");
    const topology = fs.readFileSync(path.join(work, 'student-ltd', 'model.json'), 'utf8');
    expect(topology).toContain('"class_name":"Rescaling"');
    expect(topology).toMatch(/"scale":0\.5\b/);
    // The accuracy printed for the deployed student is the saved file's (argmax is unchanged by τ_S, the logits are not).
    const net = await tfl.loadLayersModel(fileSystem(path.join(work, 'student-ltd')));
    const row = /^student \(small CNN, ltd\)\s+([\d.]+)%/m.exec(r.stdout);
    const test = await loadCifar(path.join(cifar10, 'test_batch.bin'), { variant: 10, limit: 8 });
    const correct = tf.tidy(() => tf.sum(tf.cast(tf.equal(tf.argMax(net.predict(test.x) as tf.Tensor2D, 1), test.y), 'int32')).dataSync()[0] ?? -1);
    expect(((correct / 8) * 100).toFixed(1)).toBe(row?.[1]);
    tf.dispose([test.x, test.y]);
    net.dispose();
  });

  it('stopped by --steps in its second epoch and resumed, ends with the uninterrupted student, byte for byte', async () => {
    if (uninterrupted === undefined) throw new Error('needs the uninterrupted run of the test before');
    const args = small('ckpt-b', 'student-b');
    const first = await run([...args, '--steps', '3']);
    expectSuccess(first);
    expect(first.stdout).toMatch(/student: stopped after 3 steps \(--steps\); [\d.]+ s per step of 8/);
    expect(first.stdout).toContain('student epoch 1/2');
    expect(first.stdout).not.toContain('student epoch 2/2');

    const refused = await run(args);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/holds checkpoints of an earlier run: pass --resume to continue it/);

    const resumed = await run([...args, '--resume']);
    expectSuccess(resumed);
    expect(resumed.stdout).toMatch(/checkpoints in .*\(resuming\)/);
    expect(resumed.stdout).not.toContain('student epoch 1/2');
    expect(resumed.stdout).toContain('student epoch 2/2');
    const [a, b] = ['student-a', 'student-b'].map((d) => fs.readFileSync(path.join(work, d, 'weights.bin')));
    expect(b?.equals(a ?? Buffer.alloc(0))).toBe(true);
    expect(fs.readFileSync(path.join(work, 'student-b', 'model.json'), 'utf8')).toBe(fs.readFileSync(path.join(work, 'student-a', 'model.json'), 'utf8'));
  });

  it('trains the default student, MobileNetV2, and resumes it exactly from the end of an epoch, batch-norm statistics included', async () => {
    // One batch of 2 per epoch, 2 epochs: the uninterrupted run, then a run stopped after the first epoch's checkpoint.
    const args = (dir: string, out: string): string[] => [
      '--data', cifar10, '--teacher', teacher, '--train-size', '2', '--batch-size', '2', '--epochs', '2', '--attack-steps', '1',
      '--test-size', '2', '--pgd-steps', '1', '--autoattack', 'fast', '--aa-steps', '1',
      '--checkpoint-dir', path.join(work, dir), '--out', path.join(work, out)
    ];
    const whole = await run(args('ckpt-c', 'student-c'));
    expectSuccess(whole);
    expect(whole.stdout).toContain('student: MobileNetV2 (2.27 M parameters), rslad for 2 epochs (batch 2, SGD 0.0015625 momentum 0.9, weight decay 0.0002; attack: 1 step of 2/255)');
    expect(whole.stdout).toMatch(/^student \(MobileNetV2, rslad\)\s+[\d.]+%\s+[\d.]+%\s+[\d.]+%$/m);
    expect(whole.stdout).toContain('(reloaded: max |Δ logits| = 0)');
    const stopped = await run([...args('ckpt-d', 'student-d'), '--steps', '1']);
    expectSuccess(stopped);
    expect(stopped.stdout).toContain('student epoch 1/2');
    expect(stopped.stdout).toContain('student: stopped after 1 step (--steps)');
    const resumed = await run([...args('ckpt-d', 'student-d'), '--resume']);
    expectSuccess(resumed);
    expect(resumed.stdout).not.toContain('student epoch 1/2');
    expect(resumed.stdout).toContain('student epoch 2/2');
    const [a, b] = ['student-c', 'student-d'].map((d) => fs.readFileSync(path.join(work, d, 'weights.bin')));
    expect(b?.equals(a ?? Buffer.alloc(0))).toBe(true);

    const net = await tfl.loadLayersModel(fileSystem(path.join(work, 'student-c')));
    expect(net.name).toBe('mobilenet_v2');
    // 2 236 682 trainable parameters, as in PyTorch, and 34 118 fixed ones: batch-norm statistics and the normalisation.
    expect(net.trainableWeights.reduce((n, w) => n + tf.util.sizeFromShape(w.shape as number[]), 0)).toBe(2_236_682);
    expect(net.countParams()).toBe(2_270_800);
    net.dispose();
  });

  it('recognises CIFAR-100 files and refuses a teacher of another class count before training', async () => {
    const r = await run(['--data', work, '--dataset', 'cifar100', '--teacher', teacher, '--student', 'small-cnn', '--steps', '1', '--checkpoint-dir', path.join(work, 'ckpt-e')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('cifar_teacher.onnx: has 10 classes, CIFAR-100 (fine labels) has 100');
    const coarse = await run(['--data', cifar100, '--labels', 'coarse', '--teacher', teacher, '--checkpoint-dir', path.join(work, 'ckpt-e')]);
    expect(coarse.code).toBe(2);
    expect(coarse.stderr).toContain('has 10 classes, CIFAR-100 (coarse labels) has 20');
    expect(fs.existsSync(path.join(work, 'ckpt-e'))).toBe(false);
  });
});
