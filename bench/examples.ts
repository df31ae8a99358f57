/**
 * The example networks' training epoch against PyTorch, the "examples" section of `npm run bench`: one epoch of `fit`
 * with `pgdAt` (PGD-5, ε = 0.3, step 0.075, uniform random start) and plain SGD, batch 128, on seeded uniform 28×28×1
 * images (the speed does not depend on the pixels), for the four networks of the examples: the MLPs 784-64-10 and
 * 784-256-256-10 (examples/common.ts `mlp`), the main example's student cnn([8, 16], 0) and teacher
 * cnn([16, 32], 128) (`mnistCnn`). ardkit runs on wasm with its kernels and one thread per core, as `useBestBackend()`
 * sets it up; each epoch is a whole `fit` call (its data checks, shuffling, batching and the epoch's loss read back).
 *
 * With `--python`, PyTorch runs the same epoch (bench/torch_bench.py `--examples --serve`, dense layers as 1×1
 * convolutions) in a process that waits for each request, on as many threads, and the two run in blocks of `--reps`
 * epochs (each after an untimed one and a pause of 0.5 s: the other side's idle threads spin for a while), in the
 * order ardkit, PyTorch, PyTorch, ardkit; the ratio is PyTorch's median epoch time over ardkit's. Prints one JSON line (`ExamplesPairedResult`, bench/types.ts).
 *
 *   node --loader ts-node/esm bench/examples.ts [--images 2048] [--batch 128] [--reps 5] [--python /usr/bin/python3]
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { useBestBackend } from 'ardkit/backends';
import { fit, pgdAt } from 'ardkit/train';
import { parseOptions, positive } from '../examples/cli.js';
import { mlp, mnistCnn } from '../examples/common.js';
import { median } from './compare.js';
import { EXAMPLE_ATTACK, EXAMPLE_NETWORKS, type ExampleNetwork, type ExamplesPairedResult } from './types.js';

const opts = parseOptions('Usage: node --loader ts-node/esm bench/examples.ts [options]', {
  images: { type: 'string', description: 'images per epoch', default: '2048' },
  batch: { type: 'string', description: 'batch size', default: '128' },
  reps: { type: 'string', description: 'timed epochs per block (two blocks per side with --python)', default: '3' },
  python: { type: 'string', description: 'a Python with torch: pair each epoch with PyTorch\'s' }
});

function build(name: ExampleNetwork): tfl.LayersModel {
  switch (name) {
    case 'mlp 784-64-10':
      return mlp([64], 1, 'mlp64');
    case 'mlp 784-256-256-10':
      return mlp([256, 256], 2, 'mlp256');
    case 'cnn conv8-conv16 (student)':
      return mnistCnn([8, 16], 0, 3);
    case 'cnn conv16-conv32-dense128 (teacher)':
      return mnistCnn([16, 32], 128, 1);
  }
}

/** PyTorch's side: a torch_bench.py process that runs one epoch per request line. */
interface TorchServer {
  info: { torch: string; threads: number };
  epoch: (name: string) => Promise<number>;
  close: () => void;
}

async function startTorch(python: string, threads: number, images: number, batch: number): Promise<TorchServer> {
  const child = spawn(python, ['bench/torch_bench.py', '--examples', '--serve', '--threads', String(threads), '--images', String(images), '--batch', String(batch)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, unknown>> => {
    const r = await lines.next();
    if (r.done === true) throw new Error('bench/examples.ts: torch_bench.py --serve ended early');
    return JSON.parse(r.value) as Record<string, unknown>;
  };
  const ready = await next();
  return {
    info: { torch: String(ready['torch']), threads: Number(ready['threads']) },
    epoch: async (name) => {
      child.stdin.write(`${name}\n`);
      return Number((await next())['seconds']);
    },
    close: () => { child.stdin.end(); }
  };
}

async function main(): Promise<void> {
  const images = positive('images', opts.images, true);
  const batch = positive('batch', opts.batch, true);
  const reps = positive('reps', opts.reps, true);
  await useBestBackend({ candidates: ['wasm'] });
  const wasm = (await import('@tensorflow/tfjs-backend-wasm')) as { getThreadsCount(): number };
  tf.env().set('PROD', true);
  const threads = wasm.getThreadsCount();
  const torch = opts.python === undefined ? undefined : await startTorch(opts.python, threads, images, batch);
  const x = tf.randomUniform([images, 28, 28, 1], 0, 1, 'float32', 1);
  const y = tf.tensor1d(Array.from({ length: images }, (_, i) => i % 10), 'int32');
  const networks: ExamplesPairedResult['networks'] = [];
  try {
    for (const name of EXAMPLE_NETWORKS) {
      console.error(`bench: examples (${tf.getBackend()}, ${String(threads)} threads${torch === undefined ? '' : ', paired with PyTorch'}): ${name} …`);
      const net = build(name);
      const optimizer = tf.train.sgd(0.01);
      let seed = 0;
      const mine = async (): Promise<number> => {
        const t0 = performance.now();
        await fit(net, { x, y }, pgdAt({ ...EXAMPLE_ATTACK }), { epochs: 1, batchSize: batch, optimizer, seed: seed++ });
        return (performance.now() - t0) / 1000;
      };
      const before = tf.memory().numTensors;
      // Blocks of `reps` timed epochs, each after an untimed one and a pause (the other side's idle threads spin for a
      // while after their work): ardkit, PyTorch, then PyTorch, ardkit. Each side runs back to back within a block,
      // as a training loop does, and both sides see the machine at the same times.
      const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 500));
      const ardkitSeconds: number[] = [];
      const torchSeconds: number[] = [];
      const block = async (side: 'ardkit' | 'torch'): Promise<void> => {
        await settle();
        const run = side === 'ardkit' ? mine : (): Promise<number> => (torch as TorchServer).epoch(name);
        await run();
        for (let r = 0; r < reps; r++) (side === 'ardkit' ? ardkitSeconds : torchSeconds).push(await run());
      };
      for (const order of torch === undefined ? [['ardkit'] as const] : [['ardkit', 'torch'] as const, ['torch', 'ardkit'] as const]) {
        for (const side of order) await block(side);
      }
      const ratio = torchSeconds.length === 0 ? undefined : median(torchSeconds) / median(ardkitSeconds);
      networks.push({
        name,
        ardkit: { imagesPerSecond: images / median(ardkitSeconds), medianSeconds: median(ardkitSeconds), seconds: ardkitSeconds },
        ...(torch === undefined ? {} : { pytorch: { imagesPerSecond: images / median(torchSeconds), medianSeconds: median(torchSeconds), seconds: torchSeconds } }),
        ...(ratio === undefined ? {} : { speedRatio: ratio }),
        tensorsLeaked: tf.memory().numTensors - before
      });
      optimizer.dispose();
      net.dispose();
    }
  } finally {
    torch?.close();
    tf.dispose([x, y]);
  }
  const result: ExamplesPairedResult = {
    backend: tf.getBackend(),
    threads,
    images,
    batch,
    reps,
    ...(torch === undefined ? {} : { torch: torch.info.torch, torchThreads: torch.info.threads }),
    networks
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
