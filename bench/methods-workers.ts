/**
 * The method benchmark's parallel run: `--jobs` worker processes of the same script share the cache, each claiming
 * the work it does, while the parent draws the progress bar from the results they cache.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Run } from './methods-cli.js';
import { scale, testSizeOf, type Data } from './methods-models.js';
import { studentKey, studentWeight } from './methods-students.js';
import { teacherEvalKeys } from './methods-teachers.js';

/** One piece of planned work, for the progress bar of a parallel run: done when its last result is cached. */
interface Planned {
  readonly weight: number;
  readonly results: readonly string[];
}

/** The run's work: per family, the teachers' step, then every method's student of every seed. */
export function plan(run: Run, data: Data): Planned[] {
  const { families, epochs, methods, seeds } = run.settings;
  return families.flatMap((family) => [
    // The shared candidates count with every family's teachers: whichever worker gets there first trains them.
    { weight: ((family === 'cnn' ? 6 : 10) * 6 + 0.3 * epochs + 20 * 2) * scale(family) + 10 * 3 + 20 * 3 / families.length, results: teacherEvalKeys(run.settings, data, family) },
    ...methods.flatMap((m) =>
      Array.from({ length: seeds }, (_, seed) => ({
        weight: studentWeight(run.settings, m, family),
        results: [`${studentKey(run.settings, data, family, m, seed)}-eval-t${String(testSizeOf(run.settings, family))}`]
      }))
    )
  ]);
}

/**
 * Runs `--jobs` workers of this script on the same cache (each claims the work it does) and draws the progress bar
 * from the results they cache. Resolves when every worker has finished; rejects when one fails.
 */
export async function runWorkers(run: Run, data: Data): Promise<void> {
  const { cache, progress } = run;
  const jobCount = run.settings.jobCount;
  cache.clearClaims();
  const items = plan(run, data);
  const isDone = (p: Planned): boolean => p.results.every((r) => fs.existsSync(cache.file(`${r}.scores`)));
  const todo = items.filter((p) => !isDone(p));
  progress.total = todo.reduce((sum, p) => sum + p.weight, 0);
  const script = process.argv[1] ?? 'bench/methods.ts';
  const children = Array.from({ length: jobCount }, (_, k) => {
    const log = path.join(cache.dir, `worker-${String(k)}.log`);
    const fd = fs.openSync(log, 'w');
    const child = spawn(process.execPath, [...process.execArgv, script, ...process.argv.slice(2), '--worker', `${String(k)}/${String(jobCount)}`], { stdio: ['ignore', fd, fd] });
    return new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (code, signal) => {
        fs.closeSync(fd);
        if (code === 0) resolve();
        else reject(new Error(`worker ${String(k)} ${signal === null ? `exited with code ${String(code)}` : `was killed by ${signal}`}; its log: ${log}`));
      });
    });
  });
  const t0 = performance.now();
  const timer = setInterval(() => {
    progress.doneWeight = todo.filter(isDone).reduce((sum, p) => sum + p.weight, 0);
    progress.spentSeconds = (performance.now() - t0) / 1000;
    progress.bar(`${String(jobCount)} workers, logs in ${cache.dir}/worker-*.log`);
  }, 3000);
  try {
    await Promise.all(children);
  } finally {
    clearInterval(timer);
    if (process.stderr.isTTY) process.stderr.write('\n');
  }
}
