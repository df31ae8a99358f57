/**
 * Host readbacks of ardkit's hot paths, counted on the cpu backend by wrapping the engine's `readSync` and `read`
 * (every `dataSync`, `data`, `array` and `arraySync` goes through them; on webgl, webgpu and tfjs-node-gpu each one
 * waits until the device's queue is empty). Run by `npm run bench` for the build in `dist/` and, with
 * `--baseline REF`, for an earlier commit's build, on the same data: a dense network on 512 MNIST test images,
 * batch 128. Only the function forms that every version has are called (`pgd`, `apgd`, `evaluate` with an attack
 * function, `fit` with `pgdAt`). Prints one JSON line.
 *
 *   node --loader ts-node/esm bench/readbacks.ts [--root DIR]   # DIR holds the ardkit build in DIR/dist
 */
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { parseOptions } from '../examples/cli.js';
import { loadMnist } from '../examples/mnist.js';
import { readbacks } from '../scripts/lib/readbacks.js';
import type { ReadbackResult } from './types.js';

const opts = parseOptions('Usage: node --loader ts-node/esm bench/readbacks.ts [options]', {
  root: { type: 'string', description: 'the ardkit checkout whose dist/ is counted', default: '.' }
});

type Model = (x: tf.Tensor) => tf.Tensor2D;
interface Ardkit {
  pgd(model: Model, x: tf.Tensor, y: tf.Tensor1D, options: object): tf.Tensor;
  apgd(model: Model, x: tf.Tensor, y: tf.Tensor1D, options: object): tf.Tensor;
  evaluate(model: Model, x: tf.Tensor, y: tf.Tensor1D, options: object): unknown;
  fit(net: tfl.LayersModel, data: object, objective: unknown, options: object): Promise<unknown>;
  pgdAt(options: object): unknown;
}

async function main(): Promise<void> {
  await tf.setBackend('cpu');
  const root = path.resolve(opts.root);
  const ardkit = (await import(pathToFileURL(path.join(root, 'dist/index.js')).href)) as Ardkit;
  const test = await loadMnist('test', 512);
  const x = tf.reshape(test.x, [512, 784]);
  const y = test.y;
  const batch = 128;
  const batches = 512 / batch;
  const net = tfl.sequential({
    layers: [tfl.layers.dense({ inputShape: [784], units: 64, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }), tfl.layers.dense({ units: 10 })]
  });
  const model: Model = (input) => net.apply(input) as tf.Tensor2D;
  // Fresh copies each time: tensors no value check has seen (the current checks remember what they established).
  const fresh = async (f: (xb: tf.Tensor, yb: tf.Tensor1D) => unknown): Promise<number> => {
    const xb = tf.slice(x, 0, batch);
    const yb = tf.slice(y, 0, batch);
    try {
      return await readbacks(() => f(xb, yb));
    } finally {
      tf.dispose([xb, yb]);
    }
  };
  const all = async (f: (xs: tf.Tensor, ys: tf.Tensor1D) => unknown): Promise<number> => {
    const xs = tf.clone(x);
    const ys = tf.clone(y);
    try {
      return await readbacks(() => f(xs, ys));
    } finally {
      tf.dispose([xs, ys]);
    }
  };
  const iterable = {
    async *[Symbol.asyncIterator](): AsyncGenerator<{ x: tf.Tensor; y: tf.Tensor1D }> {
      for (let i = 0; i < batches; i++) {
        await Promise.resolve();
        yield { x: tf.slice(x, i * batch, batch), y: tf.slice(y, i * batch, batch) };
      }
    }
  };
  const attack = (m: Model, xb: tf.Tensor, yb: tf.Tensor1D): tf.Tensor => ardkit.pgd(m, xb, yb, { eps: 0.1, steps: 10 });
  const fitCount = async (epochs: number, options: object, data?: object): Promise<number | undefined> => {
    try {
      if (data !== undefined) return await readbacks(() => ardkit.fit(net, data, ardkit.pgdAt({ eps: 0.1, steps: 3 }), { epochs, batchSize: batch, seed: 0, ...options }));
      return await all((xs, ys) => ardkit.fit(net, { x: xs, y: ys }, ardkit.pgdAt({ eps: 0.1, steps: 3 }), { epochs, batchSize: batch, seed: 0, ...options }));
    } catch (error) {
      // An option this version does not have (logEvery).
      if (error instanceof Error && /logEvery/.test(error.message)) return undefined;
      throw error;
    }
  };
  /** Readbacks per batch of the epochs after the first (the data checks of a call are made once). */
  const perLaterBatch = async (options: object, data?: object): Promise<number | undefined> => {
    const one = await fitCount(1, options, data);
    const three = await fitCount(3, options, data);
    return one === undefined || three === undefined ? undefined : (three - one) / (2 * batches);
  };
  // A model ardkit meets for the first time: its first output is looked at for probabilities (cpu: one readback,
  // once per model). Counted apart, then every row below counts calls on a model met before.
  const firstModelCall = await fresh((xb, yb) => ardkit.pgd((input) => model(input), xb, yb, { eps: 0.1, steps: 10 }));
  await fresh((xb, yb) => ardkit.pgd(model, xb, yb, { eps: 0.1, steps: 1 }));
  const result: ReadbackResult = {
    root,
    batch,
    pgd10FirstCallOfModel: firstModelCall,
    pgd10PerCall: await fresh((xb, yb) => ardkit.pgd(model, xb, yb, { eps: 0.1, steps: 10 })),
    pgd50PerCall: await fresh((xb, yb) => ardkit.pgd(model, xb, yb, { eps: 0.1, steps: 50 })),
    apgd100PerCall: await fresh((xb, yb) => ardkit.apgd(model, xb, yb, { eps: 0.1, steps: 100, seed: 0 })),
    evaluatePerBatch: (await all((xs, ys) => ardkit.evaluate(model, xs, ys, { attacks: { pgd10: attack }, batchSize: batch }))) / batches,
    fitPerBatch: ((await fitCount(1, {})) ?? NaN) / batches,
    fitPerLaterBatch: (await perLaterBatch({})) ?? NaN,
    fitLogEvery4PerLaterBatch: (await perLaterBatch({ logEvery: 4 })) ?? null,
    fitIterablePerLaterBatch: (await perLaterBatch({}, iterable)) ?? NaN
  };
  console.log(JSON.stringify(result));
  net.dispose();
  tf.dispose([x, y, test.x]);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
