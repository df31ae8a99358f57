/**
 * The method benchmark (`npm run bench:methods`, never part of the tests): on real data, train a robust teacher,
 * then the same student architecture from the same initialisation with every training method, and evaluate every
 * model (teachers too) on held-out test images: clean, PGD-20, CW-20 and AutoAttack (standard), with
 * `sanityChecks`' flags. Two model families: MLPs (teacher 784-256-256-10, student 784-64-10) and CNNs (a CNN
 * teacher and a CNN student with under 1/8 of its parameters). Writes bench/methods.json and docs/methods.md.
 *
 *   npm run bench:methods                       # MNIST, both families, 2 seeds
 *   npm run bench:methods -- --quick            # a smaller run (fewer images, 1 seed, MLPs)
 *   npm run bench:methods -- --dataset fashion-mnist --seeds 3 --eps 0.1
 *   npm run bench:methods -- --train-images a.gz --train-labels b.gz --test-images c.gz --test-labels d.gz
 *
 * Resumable: every model is trained through fit's checkpoints in --cache, and every evaluation is kept there, so an
 * interrupted run picks up where it stopped. Teachers are trained once (seed 0) and shared by the students of every
 * seed; the seeds vary the students' initialisation, data order and attack starts.
 *
 * The pieces: methods-cli.ts (options, parsed by `parseCommandLine`), methods-models.ts (data, networks),
 * methods-teachers.ts (training, teachers, DARHT's choice), methods-students.ts (the methods, as recipes of
 * examples/recipes.ts), methods-evaluate.ts, methods-cache.ts (file cache, PID claims), methods-workers.ts (--jobs),
 * methods-progress.ts and methods-report.ts; this file runs them.
 */
import * as path from 'node:path';
import type { Model } from 'ardkit/core';
import { fileSystem } from 'ardkit/io';
import { deployedModel } from '../examples/recipes.js';
import { chooseBackend } from '../examples/common.js';
import { MethodsCache } from './methods-cache.js';
import { parseCommandLine, type Run } from './methods-cli.js';
import { evaluateModel, forFamily, type Scores } from './methods-evaluate.js';
import { asModel, countParams, loadData, testSizeOf, type Family } from './methods-models.js';
import { Progress } from './methods-progress.js';
import { orderings, report } from './methods-report.js';
import { make, studentKey, studentWeight } from './methods-students.js';
import { familyRun, train, type Row, type Teachers } from './methods-teachers.js';
import { plan, runWorkers } from './methods-workers.js';

async function main(): Promise<void> {
  const settings = parseCommandLine();
  const { families, seeds, epochs, worker, jobCount } = settings;
  const run: Run = { settings, cache: new MethodsCache(settings.cache, worker !== undefined), progress: new Progress(worker !== undefined) };
  const { cache, progress } = run;
  // One thread per process unless --threads says otherwise: a wasm reduction's result depends on the thread count,
  // so one setting keeps the results of --jobs 1 and --jobs 2 the same.
  const backend = await chooseBackend(settings.backend, settings.threads === 'auto' ? '1' : settings.threads);
  const data = await loadData(settings.data, settings.trainSize, Math.max(settings.testSize, settings.cnnTestSize));
  const command = `npm run bench:methods -- ${process.argv.slice(2).join(' ')}`.trim().replace(/ --$/, '');
  if (worker === undefined) {
    console.log(`method benchmark on ${data.name}: ε = ${String(data.eps)}, ${String(settings.trainSize)} training and ${families.map((f) => `${String(forFamily(run, data, f).test.x.shape[0])} (${f})`).join(' / ')} test images, ${String(seeds)} seed(s), ${families.join(' and ')}, backend ${backend}, ${String(jobCount)} job(s)`);
  }
  if (jobCount > 1 && worker === undefined) {
    await runWorkers(run, data);
    // Everything is cached now: the pass below only collects the results.
    progress.quiet = true;
  }
  const rows: Row[] = [];
  const teachers: Partial<Record<Family, Teachers>> = {};
  if (jobCount === 1) progress.total = plan(run, data).reduce((sum, p) => sum + p.weight, 0);
  // Workers start on different families, so that they do not wait on each other's teachers.
  const order = worker === undefined ? families : families.map((_, i) => families[(i + worker.index) % families.length] ?? 'mlp');
  for (const family of order) {
    const t = await familyRun(run, family, data, rows);
    teachers[family] = t;
    for (const method of settings.methods) {
      const perSeed: Scores[] = [];
      let params = 0;
      for (let seed = 0; seed < seeds; seed++) {
        const key = studentKey(settings, data, family, method, seed);
        const evalKey = `${key}-eval-t${String(testSizeOf(settings, family))}`;
        if (worker !== undefined && (cache.read(`${evalKey}.scores`) !== undefined || !cache.claim(key))) continue;
        const weight = studentWeight(settings, method, family);
        try {
          const scores = await progress.step(`${family}: ${method} (seed ${String(seed)})`, weight, async () => {
            const built = make(method, family, data, t, seed + 1);
            params = countParams(built.net);
            const seconds = await train(run, key, built.student, data.train, built.objective, epochs, seed);
            // Every student is kept in tfjs' format, loadable with tf.loadLayersModel (ardkit/io in Node).
            await built.net.save(fileSystem(path.join(settings.models, key)));
            const model: Model = deployedModel(built, asModel(built.net));
            const s = await evaluateModel(run, evalKey, model, forFamily(run, data, family), true, seconds, seed === 0);
            built.net.dispose();
            return s;
          });
          perSeed.push(scores);
        } finally {
          if (worker !== undefined) cache.unclaim(key);
        }
      }
      if (worker !== undefined) continue;
      rows.push({ family, role: 'student', name: method, params, seeds: perSeed });
      report(run, data, rows, teachers, command, progress.seconds());
    }
  }
  if (worker !== undefined) return;
  if (process.stderr.isTTY && !progress.quiet) process.stderr.write('\n');
  report(run, data, rows, teachers, command, progress.seconds());
  console.log(`wrote ${settings.jsonPath} and ${settings.markdownPath} in ${(progress.seconds() / 60).toFixed(1)} min`);
  for (const o of orderings(families, rows)) console.log(`${o.held === true ? 'held    ' : 'NOT HELD'} ${o.family}: ${o.claim} — ${o.detail}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
