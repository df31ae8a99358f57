/**
 * ardkit's AutoAttack against the reference implementation (fra31/auto-attack), run by hand, never in CI: it trains a
 * robust MNIST MLP (784-256-256-10, PGD-AT at L∞ ε = 0.1 on real MNIST), hands its weights and the first test points
 * to scripts/torch/autoattack_reference.py, which runs the reference from a checkout you give (never committed), and
 * prints the robust accuracy after each member on both sides.
 *
 * Runs: version 'standard' in L∞ (ε = 0.1) and L2 (ε = 1) on 256 points; FAB-T alone, in both norms, on 256 points;
 * version 'plus' in both norms on 64 points.
 *
 *   npm run -s build
 *   node --disable-warning=ExperimentalWarning --loader ts-node/esm scripts/compare-autoattack.ts --reference /tmp/aa
 *
 * `--reference-log <file>` reads the reference's figures from the stderr of an earlier run of the same runs instead of
 * running it again (the reference takes about 40 minutes for all six runs on 2 cores).
 *
 * A checkout without git-lfs files will do: the folder must hold `autoattack/*.py` (for example, each file written by
 * `git show HEAD:autoattack/<file>.py` from a clone of github.com/fra31/auto-attack).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { useBestBackend } from 'ardkit/backends';
import { fromLayersModel } from 'ardkit/core';
import { fabTargetedAttack, type Norm } from 'ardkit/attacks';
import { autoAttack } from 'ardkit/eval';
import { fit, pgdAt } from 'ardkit/train';
import { loadMnist } from '../examples/mnist.js';
import { parseOptions, positive } from '../examples/cli.js';

const opts = parseOptions('Usage: node --loader ts-node/esm scripts/compare-autoattack.ts --reference <auto-attack checkout> [options]', {
  reference: { type: 'string', description: 'a checkout of fra31/auto-attack (the folder holding autoattack/)', default: '' },
  python: { type: 'string', description: 'a Python with torch', default: '/usr/bin/python3' },
  'train-size': { type: 'string', description: 'MNIST training images', default: '20000' },
  epochs: { type: 'string', description: 'PGD-AT epochs', default: '3' },
  only: { type: 'string', description: 'comma-separated run names to do (default: all)', default: '' },
  'reference-log': {
    type: 'string',
    description: "the reference's log (this script's stderr) of an earlier run of the same runs and seeds: its figures are read from it instead of running the reference again",
    default: ''
  }
});

interface Run {
  readonly name: string;
  readonly version: 'standard' | 'plus' | 'custom';
  readonly norm: Norm;
  readonly eps: number;
  readonly points: number;
}

const RUNS: readonly Run[] = [
  { name: 'standard-linf', version: 'standard', norm: 'linf', eps: 0.1, points: 256 },
  { name: 'standard-l2', version: 'standard', norm: 'l2', eps: 1, points: 256 },
  { name: 'fab-t-linf', version: 'custom', norm: 'linf', eps: 0.1, points: 256 },
  { name: 'fab-t-l2', version: 'custom', norm: 'l2', eps: 1, points: 256 },
  { name: 'plus-linf', version: 'plus', norm: 'linf', eps: 0.1, points: 64 },
  { name: 'plus-l2', version: 'plus', norm: 'l2', eps: 1, points: 64 }
];

/** What the reference measured in one run: clean accuracy and the robust accuracy after each member. */
interface ReferenceRun {
  readonly clean: number;
  readonly members: Record<string, number>;
}

/** Runs scripts/torch/autoattack_reference.py on the MLP's weights and points in `dataFile`, one JSON line per run. */
function runReference(dataFile: string, runs: readonly Run[]): ReferenceRun[] {
  const reference = spawnSync(
    opts.python,
    [
      'scripts/torch/autoattack_reference.py',
      '--reference', opts.reference,
      '--data', dataFile,
      '--runs', JSON.stringify(runs.map((r) => ({ version: r.version, norm: r.norm === 'linf' ? 'Linf' : 'L2', eps: r.eps, points: r.points, ...(r.version === 'custom' ? { attacks: ['fab-t'] } : {}) })))
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 }
  );
  if (reference.status !== 0) throw new Error(`compare-autoattack: the reference failed (status ${String(reference.status)})`);
  return reference.stdout.trim().split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as ReferenceRun);
}

/** The reference's figures from its own log ("using … version", "initial accuracy: …%", "robust accuracy after X: …%"). */
function fromLog(text: string): ReferenceRun[] {
  const runs: Array<{ clean: number; members: Record<string, number> }> = [];
  for (const line of text.split('\n')) {
    if (/^using \w+ version/.test(line)) runs.push({ clean: NaN, members: {} });
    const current = runs[runs.length - 1];
    const clean = /^initial accuracy: ([0-9.]+)%/.exec(line);
    if (clean !== null && current !== undefined) current.clean = Number(clean[1]) / 100;
    const after = /^robust accuracy after ([A-Z-]+): ([0-9.]+)%/.exec(line);
    if (after !== null && current !== undefined) current.members[(after[1] ?? '').toLowerCase()] = Number(after[2]) / 100;
  }
  return runs;
}

async function main(): Promise<void> {
  if (opts.reference === '') throw new Error('compare-autoattack: --reference <auto-attack checkout> is required');
  const trainSize = positive('train-size', opts['train-size'], true);
  const epochs = positive('epochs', opts.epochs, true);
  const wanted = opts.only === '' ? RUNS : RUNS.filter((r) => opts.only.split(',').includes(r.name));
  await useBestBackend({ candidates: ['wasm'] });
  tf.env().set('PROD', true);

  const train = await loadMnist('train', trainSize);
  const test = await loadMnist('test', 256);
  const net = tfl.sequential({
    layers: [
      tfl.layers.flatten({ inputShape: [28, 28, 1] }),
      tfl.layers.dense({ units: 256, activation: 'relu', kernelInitializer: tfl.initializers.heNormal({ seed: 1 }) }),
      tfl.layers.dense({ units: 256, activation: 'relu', kernelInitializer: tfl.initializers.heNormal({ seed: 2 }) }),
      tfl.layers.dense({ units: 10, kernelInitializer: tfl.initializers.heNormal({ seed: 3 }) })
    ]
  });
  const started = performance.now();
  await fit(net, { x: train.x, y: train.y }, pgdAt({ eps: 0.1, steps: 10, stepSize: 0.025 }), { epochs, batchSize: 128, optimizer: tf.train.adam(1e-3), seed: 0 });
  console.error(`compare-autoattack: trained the MLP (PGD-10 AT, ε = 0.1, ${String(epochs)} epochs on ${String(trainSize)} images) in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  const model = fromLayersModel(net);

  const dir = mkdtempSync(path.join(tmpdir(), 'ardkit-aa-'));
  try {
    const layers = net.layers.filter((l) => l.getClassName() === 'Dense').map((l) => {
      const [kernel, bias] = l.getWeights();
      return { kernel: kernel?.arraySync(), bias: bias?.arraySync() };
    });
    const dataFile = path.join(dir, 'data.json');
    writeFileSync(dataFile, JSON.stringify({ layers, x: Array.from(await test.x.data()), y: Array.from(await test.y.data()) }));
    const theirs = opts['reference-log'] !== '' ? fromLog(readFileSync(opts['reference-log'], 'utf8')) : runReference(dataFile, wanted);
    if (theirs.length < wanted.length) throw new Error(`compare-autoattack: the reference gave ${String(theirs.length)} runs, ${String(wanted.length)} wanted`);
    const lines = ['| run | points | member | reference | ardkit | difference (points) |', '| --- | ---: | --- | ---: | ---: | ---: |'];
    let worst = 0;
    for (const [i, run] of wanted.entries()) {
      const x = tf.slice(test.x, 0, run.points);
      const y: tf.Tensor1D = tf.slice(test.y, 0, run.points);
      const t0 = performance.now();
      const r = await autoAttack(model, x, y, {
        eps: run.eps,
        norm: run.norm,
        version: run.version,
        seed: 0,
        ...(run.version === 'custom' ? { attacks: [fabTargetedAttack({ eps: run.eps, norm: run.norm, seed: 0 })] } : {}),
        onWarning: (flag) => { console.error(`warning: ${flag.message}`); }
      });
      const seconds = (performance.now() - t0) / 1000;
      const ref = theirs[i];
      if (ref === undefined) throw new Error(`compare-autoattack: no reference result for ${run.name}`);
      const ours: Record<string, number> = {};
      for (const [name, acc] of Object.entries(r.attacks)) ours[name === 'fabTargetedAttack' ? 'fab-t' : name] = acc;
      const row = (member: string, a: number | undefined, b: number | undefined): void => {
        const diff = a === undefined || b === undefined ? NaN : (b - a) * 100;
        if (Number.isFinite(diff)) worst = Math.max(worst, Math.abs(diff));
        const pct = (v: number | undefined): string => (v === undefined ? '–' : `${(100 * v).toFixed(2)} %`);
        lines.push(`| ${run.name} | ${String(run.points)} | ${member} | ${pct(a)} | ${pct(b)} | ${Number.isFinite(diff) ? diff.toFixed(2) : '–'} |`);
      };
      row('clean', ref.clean, r.clean);
      for (const member of Object.keys(ref.members)) row(member, ref.members[member], ours[member]);
      console.error(`compare-autoattack: ${run.name}: ardkit took ${seconds.toFixed(0)} s`);
      tf.dispose([x, y, r.xAdv]);
    }
    console.log(lines.join('\n'));
    console.log(`\nlargest difference: ${worst.toFixed(2)} points (wanted ≤ 1)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
