/**
 * The guides' code is real: every ```ts block in docs/guides is a complete program that this test type-checks
 * (strict NodeNext, `ardkit/*` mapped to the sources, so no build is needed) and runs on the cpu backend.
 *
 * A block preceded by `<!-- snippet: typecheck-only -->` is only type-checked (it needs a browser or a backend
 * that Node lacks); one preceded by `<!-- snippet: continues -->` extends the block before it into one program
 * (`snippets.ts` says how). Blocks in other languages (```sh, ```text) are not checked.
 *
 * Running: each snippet is bundled with esbuild (tfjs left external, `ardkit/*` aliased to `src/`), and one Node
 * process imports them one after another, resetting the backend to cpu before each.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bundleSnippets, extractSnippets, root, typecheckSnippets, writeSnippets } from './snippets.js';

const guidesDir = path.join(root, 'docs', 'guides');
const workDir = path.join(root, '.tmp', 'snippets');

function markdownFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? markdownFiles(path.join(dir, e.name)) : e.name.endsWith('.md') ? [path.join(dir, e.name)] : []));
}

const snippets = markdownFiles(guidesDir).sort().flatMap(extractSnippets);

beforeAll(() => {
  writeSnippets(snippets, workDir);
});

describe('docs/guides snippets', () => {
  it('finds the guides and their snippets', () => {
    expect(markdownFiles(guidesDir).length).toBeGreaterThanOrEqual(10);
    expect(snippets.filter((s) => s.run).length).toBeGreaterThanOrEqual(10);
  });

  it('lists every guide in typedoc.json, which orders them', () => {
    const typedoc = JSON.parse(fs.readFileSync(path.join(root, 'typedoc.json'), 'utf8')) as { projectDocuments: string[] };
    const listed = typedoc.projectDocuments.map((p) => path.join(root, p)).sort();
    expect(listed).toEqual(markdownFiles(guidesDir).sort());
  });

  it('type-check (strict, NodeNext)', () => {
    expect(typecheckSnippets(snippets, workDir)).toEqual([]);
  }, 300_000);

  it('run on the cpu backend', async () => {
    const runnable = snippets.filter((s) => s.run);
    await bundleSnippets(runnable, workDir);
    const runner = [
      "import * as tf from '@tensorflow/tfjs-core';",
      "import '@tensorflow/tfjs-backend-cpu';",
      "tf.env().set('PROD', true);",
      `for (const id of ${JSON.stringify(runnable.map((s) => s.id))}) {`,
      "  await tf.setBackend('cpu');",
      '  const t0 = performance.now();',
      "  console.log('@@start ' + id);",
      "  await import('./' + id + '.mjs');",
      "  console.log('@@done ' + id + ' ' + Math.round(performance.now() - t0) + ' ms');",
      '}'
    ].join('\n');
    fs.writeFileSync(path.join(workDir, 'run.mjs'), runner);
    let output: string;
    try {
      output = execFileSync(process.execPath, [path.join(workDir, 'run.mjs')], { cwd: workDir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 240_000 });
    } catch (e) {
      const err = e as { stdout?: string; stderr?: string };
      const started = [...(err.stdout ?? '').matchAll(/^@@start (.*)$/gm)].pop()?.[1];
      throw new Error(`snippet ${started ?? '?'} failed:\n${(err.stdout ?? '').slice(-2000)}\n${(err.stderr ?? '').slice(-4000)}`, { cause: e });
    }
    const done = [...output.matchAll(/^@@done (\S+)/gm)].map((m) => m[1]);
    expect(done).toEqual(runnable.map((s) => s.id));
  }, 300_000);
});
