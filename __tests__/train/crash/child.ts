/**
 * The program the kill-and-resume test runs in a child process (bundled with esbuild): PGD-AT on a small fixed
 * problem with checkpoints every epoch, resuming from the folder when it holds one. With KILL_AT_RENAME=k it
 * SIGKILLs itself at its k-th `rename`, i.e. in the middle of a checkpoint save. When training finishes it writes
 * the weights to `<dir>/result.json`.
 *
 *   node child.cjs <dir> <sgd|adam|rmsprop> <epochs>
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-layers';
import { fit, pgdAt } from '../../../src/train/index.js';
import { blobs, mlp } from '../fixtures.js';

async function main(): Promise<void> {
  const [dir, name, epochsArg] = process.argv.slice(2);
  if (dir === undefined || name === undefined || epochsArg === undefined) throw new Error('usage: child <dir> <optimizer> <epochs>');
  await tf.setBackend('cpu');
  const killAt = Number(process.env.KILL_AT_RENAME ?? 0);
  if (killAt > 0) {
    let renames = 0;
    const rename = fs.promises.rename.bind(fs.promises);
    fs.promises.rename = async (from, to) => {
      renames += 1;
      if (renames === killAt) process.kill(process.pid, 'SIGKILL');
      return rename(from, to);
    };
  }
  const data = blobs(96, 3, 1);
  const net = mlp(3, 9);
  const optimizer = name === 'adam' ? tf.train.adam(0.01) : name === 'rmsprop' ? tf.train.rmsprop(0.01) : tf.train.momentum(0.05, 0.9);
  process.stdout.write('ready\n');
  await fit(net, data, pgdAt({ eps: 0.1, steps: 3 }), {
    epochs: Number(epochsArg),
    batchSize: 32,
    seed: 3,
    optimizer,
    checkpoint: { dir, keep: 2 },
    resume: true
  });
  const weights = net.getWeights().map((w) => Array.from(w.dataSync()));
  fs.writeFileSync(path.join(dir, 'result.json'), JSON.stringify(weights));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
