/**
 * The CIFAR ResNet-18 section of `npm run bench`, ardkit's half (bench/torch_bench.py `--cifar` is PyTorch's): ardkit's
 * `resNet18({ inputShape: [32, 32, 3], classes: 10 })` on the wasm backend with ardkit's kernels and one thread per
 * core, as `useBestBackend()` sets it up, on a seeded uniform batch (the speed does not depend on the pixels). Times
 *
 * - the forward pass alone (inference mode, for context);
 * - one PGD step: `pgd` with `steps: 1` (random start, forward, input gradient, sign step, projection) on the network
 *   in inference mode, after `--warmup` untimed calls;
 * - one adversarial-training step: PGD-`--attack-steps` in inference mode, then one SGD update of the cross-entropy on
 *   the adversarial batch in training mode (batch statistics), as `fit` with `pgdAt` does; the warm-up runs the same
 *   step with a one-step attack (the update's kernels are what it warms; PGD's are warm already).
 *
 * Every call is read back with `await data()`; the median of the timed calls counts. Prints one JSON line
 * (`CifarArdkitResult`, bench/types.ts). bench/run.ts calls it, then PyTorch on the same thread count.
 *
 * `--profile` adds the per-kernel time of one more PGD step, on the weights of the timed ones.
 *
 *   node --loader ts-node/esm bench/cifar.ts [--batch 32] [--pgd-reps 3] [--train-reps 2] [--warmup 1] [--profile]
 */
import * as tf from '@tensorflow/tfjs-core';
import { useBestBackend } from 'ardkit/backends';
import { fromLayersModel } from 'ardkit/core';
import { resNet18 } from 'ardkit/models';
import { parseOptions, positive } from '../examples/cli.js';
import { rate } from './compare.js';
import { attack, pgdAtStep } from './networks.js';
import { CIFAR_CLASSES, CIFAR_EPS, CIFAR_INPUT_SHAPE, CIFAR_STEP_SIZE, type CifarArdkitResult } from './types.js';

const opts = parseOptions('Usage: node --loader ts-node/esm bench/cifar.ts [options]', {
  batch: { type: 'string', description: 'batch size', default: '32' },
  'attack-steps': { type: 'string', description: 'PGD steps of the adversarial-training step', default: '10' },
  'pgd-reps': { type: 'string', description: 'timed PGD steps', default: '3' },
  'train-reps': { type: 'string', description: 'timed adversarial-training steps', default: '2' },
  warmup: { type: 'string', description: 'untimed calls before each measurement', default: '1' },
  profile: { type: 'boolean', description: 'add the per-kernel time of one PGD step (one more step, after the timed ones)', default: false }
});

async function main(): Promise<void> {
  const batch = positive('batch', opts.batch, true);
  const attackSteps = positive('attack-steps', opts['attack-steps'], true);
  const pgdReps = positive('pgd-reps', opts['pgd-reps'], true);
  const trainReps = positive('train-reps', opts['train-reps'], true);
  const warmup = Number(opts.warmup);
  if (!Number.isInteger(warmup) || warmup < 0) throw new Error(`--warmup must be an integer ≥ 0 (got ${opts.warmup})`);

  await useBestBackend({ candidates: ['wasm'] });
  const wasm = (await import('@tensorflow/tfjs-backend-wasm')) as { getThreadsCount(): number };
  tf.env().set('PROD', true);
  const progress = (what: string): void => {
    console.error(`bench: CIFAR ResNet-18, ardkit (${tf.getBackend()}, ${String(wasm.getThreadsCount())} threads): ${what} …`);
  };

  const net = resNet18({ inputShape: CIFAR_INPUT_SHAPE, classes: CIFAR_CLASSES, seed: 0 });
  const model = fromLayersModel(net);
  const trainModel = fromLayersModel(net, { training: true });
  const optimizer = tf.train.sgd(0.01);
  const x = tf.randomUniform([batch, ...CIFAR_INPUT_SHAPE], 0, 1, 'float32', 1);
  const y = tf.tensor1d(Array.from({ length: batch }, (_, i) => i % CIFAR_CLASSES), 'int32');
  const a = { eps: CIFAR_EPS, stepSize: CIFAR_STEP_SIZE };
  const tensorsBefore = tf.memory().numTensors;

  progress(`forward pass (${String(warmup)} warm-up, ${String(pgdReps)} timed)`);
  const forward = await rate(() => model(x), batch, pgdReps, warmup);
  progress(`one PGD step (${String(warmup)} warm-up, ${String(pgdReps)} timed)`);
  const pgdStep = await rate(() => attack('ardkit', model, x, y, 1, a, 1), batch, pgdReps, warmup, 'ardkit');
  let profileMs: Record<string, number> | undefined;
  // Profiled on the same weights as the timed steps (a training step's update would make the next attack step the
  // first on new weights, which rearranges and packs every filter once).
  if (opts.profile) {
    progress('profile of one PGD step');
    const profile = await tf.profile(async () => {
      const out = attack('ardkit', model, x, y, 1, a, 1);
      await out.data();
      return out;
    });
    tf.dispose(profile.result);
    const byKernel = new Map<string, number>();
    for (const k of profile.kernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + (typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0));
    profileMs = Object.fromEntries([...byKernel.entries()].sort((p, q) => q[1] - p[1]).slice(0, 12).map(([k, v]) => [k, Math.round(v * 10) / 10]));
  }

  progress(`PGD-${String(attackSteps)} + SGD update (${String(warmup)} warm-up with PGD-1, ${String(trainReps)} timed)`);
  await rate(() => pgdAtStep('ardkit', model, optimizer, x, y, 1, a, 2, trainModel), batch, warmup, 0, 'ardkit');
  const advTrainStep = await rate(() => pgdAtStep('ardkit', model, optimizer, x, y, attackSteps, a, 2, trainModel), batch, trainReps, 0, 'ardkit');
  // The optimizer's state (none for plain SGD) and the moving statistics are variables that existed before.
  const tensorsLeaked = tf.memory().numTensors - tensorsBefore;
  const result: CifarArdkitResult = {
    backend: tf.getBackend(),
    threads: wasm.getThreadsCount(),
    batch,
    params: net.trainableWeights.reduce((n, w) => n + w.shape.reduce<number>((p, d) => p * (d ?? 0), 1), 0),
    forward,
    pgdStep,
    advTrainStep,
    tensorsLeaked,
    ...(profileMs === undefined ? {} : { profileMs })
  };
  tf.dispose([x, y]);
  optimizer.dispose();
  net.dispose();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
