/**
 * The soak benchmark (`npm run bench -- --soak`, not a test): many PGD-AT steps of `fit` on the small CNN of the
 * examples, on real MNIST, with the backend `useBestBackend()` picks. It records, at every step, the live tensor
 * count, and every 100 steps the process's RSS, and checks:
 * - tensors stay constant from the second step on;
 * - RSS grows by less than 5 % after warm-up (the first 10 % of the steps);
 * - the mean time per step of the last thousand steps is within 10 % of the first thousand (after warm-up).
 * Writes bench/soak.json and prints a table.
 *
 *   npm run bench -- --soak                       # 10 000 steps, batch 4, PGD-5 (about 12 minutes on 2 cores)
 *   npm run bench -- --soak --soak-steps 2000     # a shorter run
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { smallCnn } from 'ardkit/models';
import { fit, pgdAt } from 'ardkit/train';
import { parseOptions, positive } from '../examples/cli.js';
import { chooseBackend } from '../examples/common.js';
import { loadMnist } from '../examples/mnist.js';

const opts = parseOptions('Usage: npm run bench -- --soak [options]', {
  soak: { type: 'boolean', description: 'run the soak benchmark (this file)', default: true },
  'soak-steps': { type: 'string', description: 'training steps (batches)', default: '10000' },
  'soak-batch': { type: 'string', description: 'batch size', default: '4' },
  json: { type: 'string', description: 'results file', default: 'bench/soak.json' }
});

async function main(): Promise<void> {
  const backend = await chooseBackend('auto', 'auto');
  const steps = positive('soak-steps', opts['soak-steps'], true);
  const batchSize = positive('soak-batch', opts['soak-batch'], true);
  const train = await loadMnist('train', 4096);
  const net = smallCnn({ seed: 1 });
  const batchesPerEpoch = Math.ceil(4096 / batchSize);
  const epochs = Math.ceil(steps / batchesPerEpoch);
  const stepMs: number[] = [];
  const tensors: number[] = [];
  const rssMiB: number[] = [];
  let last = performance.now();
  let done = 0;
  const t0 = performance.now();
  console.error(`soak: ${String(steps)} PGD-AT steps (PGD-5) of the small CNN, batch ${String(batchSize)}, backend ${backend}`);
  await fit(net, train, pgdAt({ eps: 0.3, steps: 5 }), {
    epochs,
    batchSize,
    seed: 0,
    optimizer: tf.train.adam(0.001),
    onBatchEnd: () => {
      if (done >= steps) return;
      const now = performance.now();
      stepMs.push(now - last);
      last = now;
      tensors.push(tf.memory().numTensors);
      done += 1;
      if (done % 100 === 0) {
        rssMiB.push(process.memoryUsage().rss / 2 ** 20);
        if (done % 1000 === 0) {
          const left = ((now - t0) / done) * (steps - done);
          console.error(`  ${String(done)}/${String(steps)} steps, ${String(tensors.at(-1))} tensors, RSS ${(rssMiB.at(-1) ?? 0).toFixed(0)} MiB, ${(left / 60000).toFixed(1)} min left`);
        }
      }
    }
  });
  const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / Math.max(1, v.length);
  const warm = Math.max(1, Math.floor(steps / 10));
  const window = Math.min(1000, Math.floor((steps - warm) / 2));
  const first = mean(stepMs.slice(warm, warm + window));
  const lastMean = mean(stepMs.slice(-window));
  const rssWarm = rssMiB[Math.floor(warm / 100)] ?? rssMiB[0] ?? 0;
  const rssEnd = rssMiB.at(-1) ?? 0;
  const result = {
    machine: `${String(os.cpus().length)} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, backend ${backend}`,
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    date: new Date().toISOString(),
    steps,
    batchSize,
    minutes: (performance.now() - t0) / 60000,
    tensors: { second: tensors[1], min: Math.min(...tensors.slice(1)), max: Math.max(...tensors.slice(1)) },
    rss: { afterWarmupMiB: rssWarm, endMiB: rssEnd, growth: (rssEnd - rssWarm) / rssWarm },
    stepMs: { firstWindow: first, lastWindow: lastMean, drift: (lastMean - first) / first, window, warmup: warm },
    rssEvery100StepsMiB: rssMiB.map((v) => Math.round(v))
  };
  const ok = {
    tensors: result.tensors.min === result.tensors.max,
    rss: result.rss.growth < 0.05,
    drift: Math.abs(result.stepMs.drift) <= 0.1
  };
  fs.writeFileSync(opts.json, `${JSON.stringify({ ...result, passed: ok }, null, 2)}\n`);
  console.log('\n| figure | value | limit | met |\n| --- | --- | --- | --- |');
  console.log(`| live tensors, steps 2–${String(steps)} | ${String(result.tensors.min)}–${String(result.tensors.max)} | constant | ${ok.tensors ? 'yes' : 'no'} |`);
  console.log(`| RSS after warm-up (step ${String(warm)}) → end | ${rssWarm.toFixed(0)} → ${rssEnd.toFixed(0)} MiB (${(result.rss.growth * 100).toFixed(1)} %) | < 5 % | ${ok.rss ? 'yes' : 'no'} |`);
  console.log(`| mean ms per step, first vs last ${String(window)} after warm-up | ${first.toFixed(1)} → ${lastMean.toFixed(1)} (${(result.stepMs.drift * 100).toFixed(1)} %) | within 10 % | ${ok.drift ? 'yes' : 'no'} |`);
  console.log(`\n${String(steps)} steps in ${result.minutes.toFixed(1)} min; wrote ${opts.json}`);
  net.dispose();
  tf.dispose([train.x, train.y]);
  process.exit(ok.tensors && ok.rss && ok.drift ? 0 : 1);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
