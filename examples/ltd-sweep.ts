/**
 * The sweep behind LTD's default temperatures: distil the PGD-AT teacher of distill-mnist.ts into the same small
 * student with LTD on PGD-AT for a grid of teacher (τ_T) and student (τ_S) temperatures and several seeds, and
 * report the deployed student's clean, PGD-20 and CW-20 accuracy (mean ± half the range over seeds) with
 * `sanityChecks`' flags. Temperatures are chosen on held-out **training** images (validation); the test images
 * only report.
 *
 *   npm run build && node --disable-warning=ExperimentalWarning --loader ts-node/esm examples/ltd-sweep.ts
 */
import * as tf from '@tensorflow/tfjs-core';
import { fit, ltd, pgdAt } from 'ardkit/train';
import { cwLinf, pgd } from 'ardkit/attacks';
import { evaluate, sanityChecks } from 'ardkit/eval';
import type { Model } from 'ardkit/core';
import { withTemperatureLayer } from 'ardkit/models';
import { loadMnist } from './mnist.js';
import { BACKEND_OPTIONS, parseOptions, positive } from './cli.js';
import { asModel, chooseBackend, mlp, progress, saveModel } from './common.js';

const opts = parseOptions('Usage: examples/ltd-sweep.ts [options]', {
  ...BACKEND_OPTIONS,
  eps: { type: 'string', description: 'L∞ radius', default: '0.1' },
  'train-size': { type: 'string', description: 'training images', default: '20000' },
  'val-size': { type: 'string', description: 'held-out training images the choice is made on', default: '1000' },
  'test-size': { type: 'string', description: 'test images reported', default: '1000' },
  teacher: { type: 'string', description: 'teacher temperatures τ_T, comma-separated', default: '0.5,1,2' },
  student: { type: 'string', description: 'student temperatures τ_S, comma-separated', default: '1,2,5' },
  epochs: { type: 'string', description: 'epochs per student', default: '2' },
  seeds: { type: 'string', description: 'student seeds per cell', default: '3' }
});

interface Cell {
  tauT: number;
  tauS: number;
  val: { clean: number[]; pgd20: number[]; cw20: number[] };
  test: { clean: number[]; pgd20: number[]; cw20: number[] };
  flags: string[];
}

const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
const half = (v: number[]): number => (Math.max(...v) - Math.min(...v)) / 2;
const fmt = (v: number[]): string => `${(mean(v) * 100).toFixed(1)} ± ${(half(v) * 100).toFixed(1)}`;

async function main(): Promise<void> {
  await chooseBackend(opts.backend, opts.threads);
  const eps = positive('eps', opts.eps);
  const trainSize = positive('train-size', opts['train-size'], true);
  const valSize = positive('val-size', opts['val-size'], true);
  const epochs = positive('epochs', opts.epochs, true);
  const seeds = positive('seeds', opts.seeds, true);
  const all = await loadMnist('train', trainSize + valSize);
  const train = { x: tf.slice(all.x, 0, trainSize), y: tf.slice(all.y, 0, trainSize) };
  const val = { x: tf.slice(all.x, trainSize, valSize), y: tf.slice(all.y, trainSize, valSize) };
  tf.dispose([all.x, all.y]);
  const test = await loadMnist('test', Math.min(10000, positive('test-size', opts['test-size'], true)));
  const attack = { eps, steps: 5 };
  const teacherNet = mlp([256, 256], 1, 'teacher');
  await fit(teacherNet, train, pgdAt(attack), {
    epochs: 2,
    batchSize: 128,
    seed: 0,
    optimizer: tf.train.adam(0.01),
    checkpoint: { dir: `examples/.cache/teacher-pgdat-${String(trainSize)}-${String(eps)}-0-2`, keep: 1 },
    resume: true,
    ...progress('teacher', 2)
  });
  const teacher = asModel(teacherNet);
  const score = async (model: Model, x: tf.Tensor, y: tf.Tensor1D): Promise<{ clean: number; pgd20: number; cw20: number }> => {
    const r = await evaluate(model, x, y, {
      attacks: { pgd20: (m, xb, yb) => pgd(m, xb, yb, { eps, steps: 20, seed: 0 }), cw20: (m, xb, yb) => cwLinf(m, xb, yb, { eps, steps: 20, seed: 0 }) },
      batchSize: 500
    });
    return { clean: r.clean, pgd20: r.attacks.pgd20 ?? NaN, cw20: r.attacks.cw20 ?? NaN };
  };
  const cells: Cell[] = [];
  for (const tauT of opts.teacher.split(',').map(Number)) {
    for (const tauS of opts.student.split(',').map(Number)) {
      const cell: Cell = { tauT, tauS, val: { clean: [], pgd20: [], cw20: [] }, test: { clean: [], pgd20: [], cw20: [] }, flags: [] };
      for (let seed = 0; seed < seeds; seed++) {
        const objective = ltd({ ...attack, teacher, teacherTemperature: tauT, studentTemperature: tauS });
        const net = mlp([64], seed + 3, 'student');
        await fit(net, train, objective, { epochs, seed, optimizer: tf.train.adam(0.01), ...progress(`τ_T ${String(tauT)} τ_S ${String(tauS)} seed ${String(seed)}`, epochs) });
        const deployed = objective.deploy(asModel(net));
        const v = await score(deployed, val.x, val.y);
        const t = await score(deployed, test.x, test.y);
        for (const k of ['clean', 'pgd20', 'cw20'] as const) {
          cell.val[k].push(v[k]);
          cell.test[k].push(t[k]);
        }
        // Gradient masking would show here: zero gradients, more steps or a larger ε raising accuracy, Square
        // beating the white-box attacks.
        if (seed === 0) {
          const [xs, ys] = [tf.slice(val.x, 0, 100), tf.slice(val.y, 0, 100)];
          cell.flags = (await sanityChecks(deployed, xs, ys, { eps, seed: 0 })).map((f) => f.id);
          tf.dispose([xs, ys]);
        }
        // The student of the first seed is kept, in tfjs' format, as it deploys: its logits divided by τ_S.
        if (seed === 0) {
          const deployedNet = withTemperatureLayer(net, tauS);
          await saveModel(deployedNet, `ltd-student-t${String(tauT)}-s${String(tauS)}`);
          deployedNet.dispose();
        }
        net.dispose();
      }
      cells.push(cell);
      console.log(`τ_T ${String(tauT)}, τ_S ${String(tauS)}: validation PGD-20 ${fmt(cell.val.pgd20)}, CW-20 ${fmt(cell.val.cw20)}, flags: ${cell.flags.join(', ') || 'none'}`);
    }
  }
  // The choice: highest mean validation CW-20 accuracy (the stronger of the two white-box attacks here).
  const best = cells.reduce((a, b) => (mean(b.val.cw20) > mean(a.val.cw20) ? b : a));
  console.log(
    `\nLTD on PGD-AT, MNIST, ε = ${String(eps)}, ${String(trainSize)} training images, ${String(epochs)} epoch(s), ${String(seeds)} seeds; mean ± half the range:\n`
  );
  console.log('| τ_T | τ_S | val clean | val PGD-20 | val CW-20 | test clean | test PGD-20 | test CW-20 | sanity flags |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const c of cells) {
    const b = c === best ? '**' : '';
    console.log(
      `| ${b}${String(c.tauT)}${b} | ${b}${String(c.tauS)}${b} | ${fmt(c.val.clean)} | ${fmt(c.val.pgd20)} | ${fmt(c.val.cw20)} | ${fmt(c.test.clean)} | ${fmt(c.test.pgd20)} | ${fmt(c.test.cw20)} | ${c.flags.join(', ') || 'none'} |`
    );
  }
  console.log(`\nchosen on validation CW-20: τ_T = ${String(best.tauT)}, τ_S = ${String(best.tauS)}`);
  tf.dispose([train.x, train.y, val.x, val.y, test.x, test.y]);
  teacherNet.dispose();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
