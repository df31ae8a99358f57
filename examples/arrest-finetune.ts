/**
 * ARREST on real MNIST: train a standard (clean) model, copy it, and adversarially fine-tune the copy (AFT) with
 * representation-guided distillation toward the frozen standard model (RGKD) and noisy replay (NR).
 *
 *   npm run build && node --disable-warning=ExperimentalWarning --loader ts-node/esm examples/arrest-finetune.ts
 *   … examples/arrest-finetune.ts --help
 */
import * as tf from '@tensorflow/tfjs-core';
import { arrest, featuresOf, fit, natural, pgdAt } from 'ardkit/train';
import { studentFromLayers } from 'ardkit/models';
import { loadMnist } from './mnist.js';
import { BACKEND_OPTIONS, parseOptions, positive } from './cli.js';
import { asModel, chooseBackend, saveModel, mlp, progress, robustnessTable } from './common.js';

const opts = parseOptions('Usage: examples/arrest-finetune.ts [options]', {
  ...BACKEND_OPTIONS,
  eps: { type: 'string', description: 'L∞ radius for fine-tuning and evaluation', default: '0.1' },
  lambda: { type: 'string', description: 'weight λ of the representation distance (RGKD)', default: '1' },
  gamma: { type: 'string', description: 'cosine distance γ above which an example is replayed with noise', default: '0.1' },
  'train-size': { type: 'string', description: 'training images', default: '20000' },
  'test-size': { type: 'string', description: 'test images evaluated', default: '1000' },
  'standard-epochs': { type: 'string', description: 'epochs of standard training', default: '2' },
  epochs: { type: 'string', description: 'epochs of fine-tuning', default: '2' },
  seed: { type: 'string', description: 'random seed', default: '0' }
});

async function main(): Promise<void> {
  const backend = await chooseBackend(opts.backend, opts.threads);
  const eps = positive('eps', opts.eps);
  const seed = Number(opts.seed);
  const trainSize = positive('train-size', opts['train-size'], true);
  const epochs = positive('epochs', opts.epochs, true);
  const standardEpochs = positive('standard-epochs', opts['standard-epochs'], true);
  const t0 = performance.now();
  console.log(`ARREST on real MNIST, ε = ${String(eps)}, backend ${backend}`);
  const train = await loadMnist('train', trainSize);
  const test = await loadMnist('test', Math.min(10000, positive('test-size', opts['test-size'], true)));
  const attack = { eps, steps: 5 };

  const standardNet = mlp([256, 128], seed + 1, 'standard');
  console.log('standard model: MLP 784-256-128-10, clean training');
  await fit(standardNet, train, natural(), {
    epochs: standardEpochs,
    seed,
    optimizer: tf.train.adam(0.01),
    checkpoint: { dir: `examples/.cache/arrest-standard-${String(trainSize)}-${String(seed)}-${String(standardEpochs)}`, keep: 1 },
    resume: true,
    ...progress('standard', standardEpochs)
  });
  const standard = studentFromLayers(standardNet, { featuresLayer: 'standard_features' });

  // AFT starts from a copy of the standard model; plain PGD-AT from the same copy is the baseline.
  const copy = (name: string): ReturnType<typeof mlp> => {
    const net = mlp([256, 128], seed + 1, name);
    net.setWeights(standardNet.getWeights());
    return net;
  };
  const aftNet = copy('aft');
  console.log('\nbaseline: adversarial fine-tuning (AFT) alone, PGD-AT from the copy');
  await fit(aftNet, train, pgdAt(attack), { epochs, seed, optimizer: tf.train.adam(0.01), ...progress('AFT', epochs) });

  const arrestNet = copy('arrest');
  console.log(`\nARREST: AFT + RGKD (λ = ${opts.lambda}) + noisy replay (γ = ${opts.gamma})`);
  await fit(
    studentFromLayers(arrestNet, { featuresLayer: 'arrest_features' }),
    train,
    arrest({ ...attack, standardFeatures: featuresOf(standard), lambda: Number(opts.lambda), gamma: Number(opts.gamma) }),
    { epochs, seed, optimizer: tf.train.adam(0.01), ...progress('ARREST', epochs) }
  );

  await robustnessTable(
    [
      ['standard', asModel(standardNet)],
      ['AFT (PGD-AT from copy)', asModel(aftNet)],
      ['ARREST', asModel(arrestNet)]
    ],
    test.x,
    test.y,
    eps,
    seed
  );
  await saveModel(aftNet, 'arrest-aft');
  await saveModel(arrestNet, 'arrest-student');
  tf.dispose([train.x, train.y, test.x, test.y]);
  console.log(`\ndone in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
