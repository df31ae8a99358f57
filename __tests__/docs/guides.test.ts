/**
 * The guides' code is real: every ```ts block in docs/guides is a complete program that this test type-checks
 * (strict NodeNext, `ardkit/*` mapped to the sources, so no build is needed) and runs on the cpu backend.
 *
 * A block preceded by `<!-- snippet: typecheck-only -->` is only type-checked (it needs a browser or a backend
 * that Node lacks). Blocks in other languages (```sh, ```text) are not checked.
 *
 * Running: each snippet is bundled with esbuild (tfjs left external, `ardkit/*` aliased to `src/`), and one Node
 * process imports them one after another, resetting the backend to cpu before each.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

const root = path.join(__dirname, '..', '..');
const guidesDir = path.join(root, 'docs', 'guides');
const workDir = path.join(root, '.tmp', 'snippets');

interface Snippet {
  readonly id: string;
  readonly guide: string;
  readonly line: number;
  readonly code: string;
  readonly run: boolean;
}

function markdownFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? markdownFiles(path.join(dir, e.name)) : e.name.endsWith('.md') ? [path.join(dir, e.name)] : []));
}

function extractSnippets(): Snippet[] {
  const out: Snippet[] = [];
  for (const file of markdownFiles(guidesDir).sort()) {
    const text = fs.readFileSync(file, 'utf8');
    const guide = path.relative(guidesDir, file);
    const re = /(<!--\s*snippet:\s*typecheck-only\s*-->\s*\n)?^```ts\n([\s\S]*?)^```$/gm;
    for (const m of text.matchAll(re)) {
      const line = text.slice(0, m.index).split('\n').length + (m[1] === undefined ? 0 : 1);
      const id = `${guide.replace(/\.md$/, '').replace(/[^\w]+/g, '-')}-L${String(line)}`;
      out.push({ id, guide, line, code: m[2] ?? '', run: m[1] === undefined });
    }
  }
  return out;
}

const snippets = extractSnippets();

beforeAll(() => {
  fs.rmSync(workDir, { recursive: true, force: true });
  fs.mkdirSync(workDir, { recursive: true });
  for (const s of snippets) fs.writeFileSync(path.join(workDir, `${s.id}.ts`), s.code);
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
    const options: ts.CompilerOptions = {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
      types: ['node'],
      strict: true,
      noUncheckedIndexedAccess: true,
      exactOptionalPropertyTypes: true,
      noUnusedLocals: true,
      skipLibCheck: true,
      noEmit: true,
      baseUrl: root,
      paths: { ardkit: ['src/index.ts'], 'ardkit/*': ['src/*/index.ts'] }
    };
    const program = ts.createProgram(
      snippets.map((s) => path.join(workDir, `${s.id}.ts`)),
      options
    );
    const diagnostics = ts.getPreEmitDiagnostics(program).filter((d) => d.file === undefined || d.file.fileName.startsWith(workDir));
    const messages = diagnostics.map((d) => {
      const where = d.file === undefined ? '' : `${path.basename(d.file.fileName)}:${String(d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1)}`;
      return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
    expect(messages).toEqual([]);
  }, 300_000);

  it('run on the cpu backend', async () => {
    const { build } = await import('esbuild');
    const runnable = snippets.filter((s) => s.run);
    for (const s of runnable) {
      await build({
        entryPoints: [path.join(workDir, `${s.id}.ts`)],
        outfile: path.join(workDir, `${s.id}.mjs`),
        bundle: true,
        format: 'esm',
        platform: 'node',
        target: 'node18',
        logLevel: 'error',
        external: ['@tensorflow/*'],
        alias: { ardkit: path.join(root, 'src', 'index.ts'), ...Object.fromEntries(fs.readdirSync(path.join(root, 'src'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).map((f) => [`ardkit/${f}`, path.join(root, 'src', f, 'index.ts')])) }
      });
    }
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
