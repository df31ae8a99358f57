/**
 * ardkit quick start: train two small MNIST classifiers, one standard and one adversarially trained with
 * PGD (Madry et al.), print their accuracy under FGSM, PGD-20 and CW at ε = 0.1 and 0.3, and draw two pictures
 * into `examples/output/`: the robustness curve (accuracy against ε, `robustness-curve.svg`, data in
 * `robustness-curve.json`) and a grid of clean images, adversarial images and amplified perturbations
 * (`adversarial-grid.png`).
 *
 *   npm run example                 # defaults: the fastest backend installed (wasm here), 97 s on a 2-core machine
 *   npm run example -- --help
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers'; // also registers tfjs' gradients in Node
import { createRandom, flushChecks, fromLayersModel, type Model } from 'ardkit/core';
import { cwLinf, fgsm, pgd, type AttackFunction } from 'ardkit/attacks';
import { crossEntropy } from 'ardkit/losses';
import { evaluate } from 'ardkit/eval';
import { loadMnist } from './mnist.js';
import { BACKEND_OPTIONS, parseOptions, positive } from './cli.js';
import { adversarialGrid, chooseBackend, saveModel } from './common.js';
import { robustnessCurveSvg, type Curve } from './pictures.js';

const opts = parseOptions('Usage: npm run example -- [options]', {
  ...BACKEND_OPTIONS,
  'train-size': { type: 'string', description: 'training images used', default: '60000' },
  'test-size': { type: 'string', description: 'test images evaluated (up to 10000)', default: '1000' },
  epochs: { type: 'string', description: 'epochs of standard training', default: '2' },
  'adv-epochs': { type: 'string', description: 'epochs of PGD adversarial training (ε = 0.1, 5 steps)', default: '1' },
  seed: { type: 'string', description: 'random seed', default: '0' },
  'curve-size': { type: 'string', description: 'test images per point of the robustness curve', default: '500' },
  out: { type: 'string', description: 'folder for the pictures', default: 'examples/output' }
});

/** The ε of the robustness curve. */
const CURVE_EPS = [0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3];
/** The ε of the image grid. */
const GRID_EPS = 0.1;

function mlp(seed: number): tfl.Sequential {
  const init = (s: number): ReturnType<typeof tfl.initializers.heNormal> => tfl.initializers.heNormal({ seed: seed + s });
  return tfl.sequential({
    layers: [
      tfl.layers.flatten({ inputShape: [28, 28, 1] }),
      tfl.layers.dense({ units: 256, activation: 'relu', kernelInitializer: init(1) }),
      tfl.layers.dense({ units: 256, activation: 'relu', kernelInitializer: init(2) }),
      tfl.layers.dense({ units: 10, kernelInitializer: init(3) })
    ]
  });
}

/**
 * Minimises cross-entropy on clean inputs, or (when `advEps` > 0) on PGD adversarial examples made
 * against the current model: the PGD-AT objective `CE(f(x'), y)`.
 */
async function train(net: tfl.Sequential, x: tf.Tensor, y: tf.Tensor1D, epochs: number, advEps: number, seed: number, label: string): Promise<void> {
  const model: Model = fromLayersModel(net);
  const optimizer = tf.train.adam(1e-3);
  const rng = createRandom(seed);
  const n = x.shape[0] ?? 0;
  const batchSize = 128;
  for (let epoch = 0; epoch < epochs; epoch++) {
    const t0 = performance.now();
    const order = tf.tensor1d(rng.permutation(n), 'int32');
    let lossSum = 0;
    let batches = 0;
    for (let start = 0; start < n; start += batchSize) {
      const size = Math.min(batchSize, n - start);
      const idx = tf.slice(order, start, size);
      const xb = tf.gather(x, idx);
      const yb = tf.gather<tf.Tensor1D>(y, idx);
      const input = advEps > 0 ? pgd(model, xb, yb, { eps: advEps, steps: 5, seed: rng.nextSeed() }) : xb;
      const loss = optimizer.minimize(() => crossEntropy(model(input), yb), true);
      lossSum += (await loss?.data())?.[0] ?? NaN;
      // On webgl and webgpu the attack's value checks wait on the device until read: read them once per batch.
      await flushChecks();
      batches += 1;
      tf.dispose([idx, xb, yb, input]);
      loss?.dispose();
    }
    order.dispose();
    console.log(`  ${label} epoch ${String(epoch + 1)}/${String(epochs)}: loss ${(lossSum / batches).toFixed(4)} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
  optimizer.dispose();
}

const pct = (v: number | undefined): string => `${((v ?? NaN) * 100).toFixed(1)}%`.padStart(7);

/**
 * Accuracy against ε for each model under PGD-20 and FGSM, on the first `size` test images, with `evaluate`
 * (at ε = 0 both curves start from the clean accuracy).
 */
async function robustnessCurves(
  models: ReadonlyArray<{ name: string; net: tfl.Sequential; color: string }>,
  x: tf.Tensor,
  y: tf.Tensor1D,
  size: number,
  seed: number
): Promise<Curve[]> {
  const xs = tf.slice(x, 0, size);
  const ys = tf.slice(y, 0, size);
  const curves: Curve[] = [];
  console.log(`\nrobustness curve on ${String(size)} test images (PGD-20 and FGSM at ε = ${CURVE_EPS.join(', ')})`);
  for (const { name, net, color } of models) {
    const model = fromLayersModel(net);
    const pgdPoints: Array<[number, number]> = [];
    const fgsmPoints: Array<[number, number]> = [];
    for (const eps of CURVE_EPS) {
      const attacks: Record<string, AttackFunction> =
        eps === 0 ? {} : { fgsm: (m, xb, yb) => fgsm(m, xb, yb, { eps }), pgd20: (m, xb, yb) => pgd(m, xb, yb, { eps, steps: 20, seed }) };
      const r = await evaluate(model, xs, ys, {
        attacks,
        batchSize: 500
      });
      pgdPoints.push([eps, eps === 0 ? r.clean : (r.attacks.pgd20 ?? NaN)]);
      fgsmPoints.push([eps, eps === 0 ? r.clean : (r.attacks.fgsm ?? NaN)]);
    }
    console.log(`  ${name.padEnd(22)} PGD-20: ${pgdPoints.map(([, a]) => pct(a).trim()).join(' ')}`);
    console.log(`  ${''.padEnd(22)} FGSM:   ${fgsmPoints.map(([, a]) => pct(a).trim()).join(' ')}`);
    curves.push({ label: `${name}, PGD-20`, points: pgdPoints, color }, { label: `${name}, FGSM`, points: fgsmPoints, color, dashed: true });
  }
  tf.dispose([xs, ys]);
  return curves;
}

async function main(): Promise<void> {
  const backend = await chooseBackend(opts.backend, opts.threads);
  const seed = Number(opts.seed);
  const trainSize = positive('train-size', opts['train-size'], true);
  const testSize = Math.min(10000, positive('test-size', opts['test-size'], true));
  console.log(`ardkit quick start on real MNIST (backend: ${backend})`);

  const t0 = performance.now();
  const trainSet = await loadMnist('train', trainSize);
  const testSet = await loadMnist('test', testSize);
  console.log(`loaded ${String(trainSet.x.shape[0])} training and ${String(testSet.x.shape[0])} test images`);

  const standard = mlp(seed);
  console.log('training a standard MLP (784-256-256-10)');
  await train(standard, trainSet.x, trainSet.y, positive('epochs', opts.epochs, true), 0, seed, 'standard');
  const robust = mlp(seed + 100);
  console.log('adversarially training the same MLP with PGD-5 at ε = 0.1 (Madry et al.)');
  await train(robust, trainSet.x, trainSet.y, positive('adv-epochs', opts['adv-epochs'], true), 0.1, seed + 1, 'PGD-AT');

  console.log(`\nrobust accuracy on ${String(testSize)} MNIST test images (a point counts only if correct before and after the attack)\n`);
  console.log('model        ε       clean    FGSM  PGD-20   CW-20   worst');
  for (const [name, net] of [['standard', standard], ['PGD-AT', robust]] as const) {
    const model = fromLayersModel(net);
    for (const eps of [0.1, 0.3]) {
      const r = await evaluate(model, testSet.x, testSet.y, {
        attacks: {
          fgsm: (m, x, y) => fgsm(m, x, y, { eps }),
          pgd20: (m, x, y) => pgd(m, x, y, { eps, steps: 20, seed }),
          cw20: (m, x, y) => cwLinf(m, x, y, { eps, steps: 20, seed })
        },
        batchSize: 500
      });
      console.log(
        `${name.padEnd(10)} ${eps.toFixed(1).padStart(4)} ${pct(r.clean)} ${pct(r.attacks.fgsm)} ${pct(r.attacks.pgd20)} ${pct(r.attacks.cw20)} ${pct(r.worstCase)}`
      );
    }
  }
  const outDir = path.resolve(opts.out);
  fs.mkdirSync(outDir, { recursive: true });
  const curveSize = Math.min(testSize, positive('curve-size', opts['curve-size'], true));
  const models = [
    { name: 'standard MLP', net: standard, color: '#d62728' },
    { name: 'PGD-AT MLP (ε = 0.1)', net: robust, color: '#1f77b4' }
  ];
  const tCurve = performance.now();
  const curves = await robustnessCurves(models, testSet.x, testSet.y, curveSize, seed);
  fs.writeFileSync(
    path.join(outDir, 'robustness-curve.svg'),
    robustnessCurveSvg(curves, {
      title: 'Robust accuracy on MNIST against ε',
      subtitle: `${String(curveSize)} test images; solid: PGD-20, dashed: FGSM; a point counts only if correct before and after`
    })
  );
  fs.writeFileSync(path.join(outDir, 'robustness-curve.json'), `${JSON.stringify({ images: curveSize, curves }, null, 2)}\n`);
  fs.writeFileSync(path.join(outDir, 'adversarial-grid.png'), await adversarialGrid(fromLayersModel(standard), testSet.x, testSet.y, GRID_EPS, seed));
  console.log(
    `\npictures written to ${path.relative(process.cwd(), outDir) || '.'}/: robustness-curve.svg (+ .json), adversarial-grid.png (${((performance.now() - tCurve) / 1000).toFixed(0)} s)`
  );

  await saveModel(standard, 'quickstart-standard', opts.out);
  await saveModel(robust, 'quickstart-pgdat', opts.out);
  tf.dispose([trainSet.x, trainSet.y, testSet.x, testSet.y]);
  standard.dispose();
  robust.dispose();
  console.log(`\ndone in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
