/**
 * Reliable evaluation on real MNIST: trains the quick start's two MLPs (standard, and PGD-adversarially trained at
 * ε = 0.1), runs ardkit's sanity checks for gradient masking, then compares PGD-20 with AutoAttack (the standard
 * version: APGD-CE, APGD-T, FAB-T, Square, each on the points still classified correctly).
 *
 *   npm run build && node --disable-warning=ExperimentalWarning --loader ts-node/esm examples/autoattack.ts
 *   ... examples/autoattack.ts --help
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers'; // also registers tfjs' gradients in Node
import { fromLayersModel, createRandom, type Model } from 'ardkit/core';
import { pgd } from 'ardkit/attacks';
import { crossEntropy } from 'ardkit/losses';
import { evaluate, sanityChecks, autoAttack } from 'ardkit/eval';
import { loadMnist } from './mnist.js';
import { BACKEND_OPTIONS, parseOptions, positive } from './cli.js';
import { chooseBackend, saveModel } from './common.js';

const opts = parseOptions('Usage: node --loader ts-node/esm examples/autoattack.ts [options]', {
  ...BACKEND_OPTIONS,
  'train-size': { type: 'string', description: 'training images used', default: '60000' },
  'test-size': { type: 'string', description: 'test images evaluated (up to 10000)', default: '300' },
  epochs: { type: 'string', description: 'epochs of standard training', default: '2' },
  'adv-epochs': { type: 'string', description: 'epochs of PGD adversarial training (ε = 0.1, 5 steps)', default: '1' },
  eps: { type: 'string', description: 'L∞ radius of the evaluation', default: '0.1' },
  seed: { type: 'string', description: 'random seed', default: '0' }
});

/** The quick start's MLP, 784-256-256-10. */
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

/** Adam on `CE(f(x), y)`, or on PGD-5 adversarial examples when `advEps` > 0 (as the quick start). */
function train(net: tfl.Sequential, x: tf.Tensor, y: tf.Tensor1D, epochs: number, advEps: number, seed: number): void {
  const model: Model = fromLayersModel(net);
  const optimizer = tf.train.adam(1e-3);
  const rng = createRandom(seed);
  const n = x.shape[0] ?? 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    const order = tf.tensor1d(rng.permutation(n), 'int32');
    for (let start = 0; start < n; start += 128) {
      const idx = tf.slice(order, start, Math.min(128, n - start));
      const xb = tf.gather(x, idx);
      const yb = tf.gather<tf.Tensor1D>(y, idx);
      const input = advEps > 0 ? pgd(model, xb, yb, { eps: advEps, steps: 5, seed: rng.nextSeed() }) : xb;
      optimizer.minimize(() => crossEntropy(model(input), yb));
      tf.dispose([idx, xb, yb, input]);
    }
    order.dispose();
  }
  optimizer.dispose();
}

const pct = (v: number | undefined): string => `${((v ?? NaN) * 100).toFixed(1)}%`.padStart(7);

async function main(): Promise<void> {
  const backend = await chooseBackend(opts.backend, opts.threads);
  const seed = Number(opts.seed);
  const eps = positive('eps', opts.eps);
  const testSize = Math.min(10000, positive('test-size', opts['test-size'], true));
  const t0 = performance.now();
  const trainSet = await loadMnist('train', positive('train-size', opts['train-size'], true));
  const testSet = await loadMnist('test', testSize);
  const standard = mlp(seed);
  train(standard, trainSet.x, trainSet.y, positive('epochs', opts.epochs, true), 0, seed);
  const robust = mlp(seed + 100);
  train(robust, trainSet.x, trainSet.y, positive('adv-epochs', opts['adv-epochs'], true), 0.1, seed + 1);
  console.log(`trained both MLPs in ${((performance.now() - t0) / 1000).toFixed(0)} s (backend ${backend})\n`);

  const few = Math.min(100, testSize);
  const xFew = tf.slice(testSet.x, 0, few);
  const yFew = tf.slice(testSet.y, 0, few);
  console.log(`robust accuracy on ${String(testSize)} MNIST test images at ε = ${String(eps)} (L∞)\n`);
  console.log('model       clean  PGD-20  APGD-CE  +APGD-T  +FAB-T  +Square   AutoAttack time   sanity flags (first 100 images)');
  for (const [name, net] of [['standard', standard], ['PGD-AT', robust]] as const) {
    const model = fromLayersModel(net);
    const flags = await sanityChecks(model, xFew, yFew, { eps, seed });
    const pgd20 = await evaluate(model, testSet.x, testSet.y, { attacks: { pgd20: (m, x, y) => pgd(m, x, y, { eps, steps: 20, seed }) }, batchSize: 500 });
    const start = performance.now();
    const aa = await autoAttack(model, testSet.x, testSet.y, { eps, seed });
    const seconds = (performance.now() - start) / 1000;
    aa.xAdv.dispose();
    console.log(
      `${name.padEnd(9)} ${pct(aa.clean)} ${pct(pgd20.attacks.pgd20)} ${pct(aa.attacks['apgd-ce'])}  ${pct(aa.attacks['apgd-t'])}  ${pct(aa.attacks['fab-t'])}  ${pct(aa.attacks.square)}` +
        `   ${seconds.toFixed(0).padStart(6)} s   ${flags.length === 0 ? 'none' : flags.map((f) => f.id).join(', ')}`
    );
    for (const f of flags) console.log(`    ${f.id}: ${f.message}`);
  }
  await saveModel(standard, 'autoattack-standard');
  await saveModel(robust, 'autoattack-pgdat');
  tf.dispose([trainSet.x, trainSet.y, testSet.x, testSet.y, xFew, yFew]);
  standard.dispose();
  robust.dispose();
  console.log(`\ndone in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
