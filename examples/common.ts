/** Shared pieces of the examples: backend choice, MLP builders, a progress bar with ETA, robustness tables. */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers'; // also registers tfjs' gradients in Node
import type { Model } from 'ardkit/core';
import { cwLinf, pgd } from 'ardkit/attacks';
import { evaluate } from 'ardkit/eval';
import type { BatchInfo, EpochInfo, FitOptions } from 'ardkit/train';
import { registerNodeWebGpu, useBestBackend } from 'ardkit/backends';
import { adversarialGridPng, type GridSample } from './pictures.js';
import { fileSystem } from 'ardkit/io';
import { backendOption, threadsOption } from './cli.js';

/**
 * Sets up the backend of the `--backend` and `--threads` options through ardkit's `useBestBackend` (`auto`:
 * tfjs-node-gpu or tfjs-node when installed, else wasm with ardkit's training kernels on one thread per core, else cpu;
 * `webgpu` only when asked for) and returns a description for the output, e.g. `wasm (2 threads)` or
 * `webgpu (SwiftShader driver 5.0.0)`.
 */
export async function chooseBackend(backend: string, threads: string): Promise<string> {
  const name = backendOption(backend);
  const count = threadsOption(threads);
  await useBestBackend({ ...(name === 'auto' ? {} : { candidates: [name] }), ...(count === 'auto' ? {} : { threads: count }) });
  if (tf.getBackend() === 'webgpu') {
    const gpu = await registerNodeWebGpu(); // already set up: describes the adapter
    return gpu.found ? `webgpu (${gpu.adapter.description || gpu.adapter.vendor})` : 'webgpu';
  }
  if (tf.getBackend() !== 'wasm') return tf.getBackend();
  const { getThreadsCount } = await import('@tensorflow/tfjs-backend-wasm');
  const n = getThreadsCount();
  return `wasm (${String(n)} thread${n === 1 ? '' : 's'})`;
}

/** A dense network 28×28 → hidden… → 10; the last hidden layer is named `<name>_features`. */
export function mlp(hidden: readonly number[], seed: number, name: string): tfl.Sequential {
  const init = (s: number): ReturnType<typeof tfl.initializers.heNormal> => tfl.initializers.heNormal({ seed: seed * 100 + s });
  const layers: tfl.layers.Layer[] = [tfl.layers.flatten({ inputShape: [28, 28, 1], name: `${name}_flatten` })];
  hidden.forEach((units, i) => {
    layers.push(
      tfl.layers.dense({
        units,
        activation: 'relu',
        kernelInitializer: init(i),
        name: i === hidden.length - 1 ? `${name}_features` : `${name}_dense${String(i)}`
      })
    );
  });
  layers.push(tfl.layers.dense({ units: 10, kernelInitializer: init(99), name: `${name}_logits` }));
  return tfl.sequential({ layers, name });
}

/**
 * Saves a trained network in tfjs' format (`<out>/<name>/model.json` + `weights.bin`, read by `tf.loadLayersModel`
 * in Node with ardkit/io, in a browser over HTTP, and by tfjs-node) and says where.
 */
export async function saveModel(net: tfl.LayersModel, name: string, out = 'examples/output'): Promise<string> {
  const dir = `${out}/${name}`;
  await net.save(fileSystem(dir));
  console.log(`  saved ${dir}/model.json`);
  return dir;
}

/**
 * The first test image of each digit, PGD-20 at `eps` against `model`, as a PNG grid (`adversarialGridPng`): clean
 * images, adversarial images, perturbations amplified by 1/ε; predictions under the images.
 */
export async function adversarialGrid(model: Model, x: tf.Tensor, y: tf.Tensor1D, eps: number, seed: number): Promise<Buffer> {
  // Every value is read asynchronously, so that the examples run on webgpu (`--backend webgpu`) too.
  const labels = await y.data();
  const picks = Array.from({ length: 10 }, (_, digit) => labels.findIndex((l) => l === digit)).filter((i) => i >= 0);
  const index = tf.tensor1d(picks, 'int32');
  const xg = tf.gather(x, index);
  const yg = tf.gather<tf.Tensor1D>(y, index);
  const xAdv = pgd(model, xg, yg, { eps, steps: 20, seed });
  const predictions = tf.tidy(() => tf.stack([tf.argMax(model(xg), 1), tf.argMax(model(xAdv), 1)]));
  const [[cleanPred = [], advPred = []], clean, adv] = await Promise.all([predictions.array() as Promise<number[][]>, xg.data(), xAdv.data()]);
  const side = 28 * 28;
  const samples: GridSample[] = picks.map((p, i) => ({
    clean: clean.subarray(i * side, (i + 1) * side),
    adversarial: adv.subarray(i * side, (i + 1) * side),
    label: labels[p] ?? -1,
    cleanPrediction: cleanPred[i] ?? -1,
    adversarialPrediction: advPred[i] ?? -1
  }));
  tf.dispose([index, xg, yg, xAdv, predictions]);
  return adversarialGridPng(samples, eps);
}

const he = (seed: number): ReturnType<typeof tfl.initializers.heNormal> => tfl.initializers.heNormal({ seed });

/**
 * The examples' MNIST CNN: 3×3 same-padded conv blocks (ReLU, 2×2 max-pool), an optional dense layer, logits; seeded
 * He-normal weights (the same on every backend). The main example's teacher is `mnistCnn([16, 32], 128, …)`, its
 * student `mnistCnn([8, 16], 0, …)`; the benchmark builds the same two.
 */
export function mnistCnn(filters: readonly number[], dense: number, seed: number): tfl.Sequential {
  const layers: tfl.layers.Layer[] = [];
  filters.forEach((f, i) => {
    layers.push(
      tfl.layers.conv2d({ ...(i === 0 ? { inputShape: [28, 28, 1] } : {}), filters: f, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: he(seed * 100 + i) }),
      tfl.layers.maxPooling2d({ poolSize: 2 })
    );
  });
  layers.push(tfl.layers.flatten());
  if (dense > 0) layers.push(tfl.layers.dense({ units: dense, activation: 'relu', kernelInitializer: he(seed * 100 + 50) }));
  layers.push(tfl.layers.dense({ units: 10, kernelInitializer: he(seed * 100 + 99) }));
  return tfl.sequential({ layers });
}

/** The logits of a tfjs-layers model as an ardkit Model (inference mode). */
export function asModel(net: tfl.LayersModel): Model {
  return (x) => net.apply(x, { training: false }) as tf.Tensor2D;
}

function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return `${String(Math.floor(s / 60))}:${String(s % 60).padStart(2, '0')}`;
}

/**
 * `onBatchEnd`/`onEpochEnd` callbacks that draw a progress bar with the loss, the training accuracy and an
 * estimated time left (on a terminal; one line per epoch otherwise).
 */
export function progress(label: string, epochs: number): Pick<FitOptions, 'onBatchEnd' | 'onEpochEnd'> {
  const tty = process.stderr.isTTY;
  let start = performance.now();
  return {
    onBatchEnd: (b: BatchInfo) => {
      if (b.batch === 0) start = performance.now();
      if (!tty || b.batches === undefined) return;
      const done = (b.batch + 1) / b.batches;
      const elapsed = (performance.now() - start) / 1000;
      const left = (elapsed / done) * (1 - done) + (elapsed / done) * (epochs - b.epoch - 1);
      const width = 24;
      const bar = '#'.repeat(Math.round(done * width)).padEnd(width, '-');
      const acc = b.accuracy === undefined ? '' : ` acc ${(b.accuracy * 100).toFixed(0)}%`;
      process.stderr.write(
        `\r  ${label} ${String(b.epoch + 1)}/${String(epochs)} [${bar}] ${(done * 100).toFixed(0).padStart(3)}% loss ${b.loss.toFixed(3)}${acc} ETA ${clock(left)}   `
      );
    },
    onEpochEnd: (e: EpochInfo) => {
      if (tty) process.stderr.write('\r'.padEnd(110) + '\r');
      const terms = Object.entries(e.terms)
        .map(([k, v]) => `${k} ${v.toFixed(3)}`)
        .join(', ');
      const acc = e.accuracy === undefined ? '' : `, train acc ${(e.accuracy * 100).toFixed(1)}%`;
      console.log(`  ${label} epoch ${String(e.epoch + 1)}/${String(epochs)}: loss ${e.loss.toFixed(4)} (${terms})${acc}, ${e.seconds.toFixed(1)} s`);
    }
  };
}

const pct = (v: number | undefined): string => `${((v ?? NaN) * 100).toFixed(1)}%`.padStart(7);

/** Prints one row per model: clean, PGD-20 and CW-20 (κ = 0) robust accuracy at `eps`. */
export async function robustnessTable(rows: ReadonlyArray<readonly [string, Model]>, x: tf.Tensor, y: tf.Tensor1D, eps: number, seed: number): Promise<void> {
  console.log(`\nrobust accuracy at ε = ${String(eps)} on ${String(x.shape[0])} MNIST test images\n`);
  console.log(`${'model'.padEnd(24)}   clean  PGD-20   CW-20   worst`);
  for (const [name, model] of rows) {
    const r = await evaluate(model, x, y, {
      attacks: {
        pgd20: (m, xb, yb) => pgd(m, xb, yb, { eps, steps: 20, seed }),
        cw20: (m, xb, yb) => cwLinf(m, xb, yb, { eps, steps: 20, seed })
      },
      batchSize: 500
    });
    console.log(`${name.padEnd(24)} ${pct(r.clean)} ${pct(r.attacks.pgd20)} ${pct(r.attacks.cw20)} ${pct(r.worstCase)}`);
  }
}
