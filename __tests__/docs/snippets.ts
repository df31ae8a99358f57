/**
 * The code blocks of the documentation, as programs: extracted from Markdown, type-checked (strict, NodeNext, `ardkit`
 * and `ardkit/*` mapped to the sources, so no build is needed) and bundled with esbuild for Node (tfjs left external,
 * `ardkit/*` aliased to `src/`). `guides.test.ts` and `readme.test.ts` run them.
 *
 * Every ```ts block is a program of its own unless an HTML comment on the line before it says otherwise:
 * - `<!-- snippet: typecheck-only -->`: type-checked, not run (it needs a browser or a backend that Node lacks);
 * - `<!-- snippet: continues -->`: the block continues the previous ```ts block of the same file, which it extends into
 *   one program (its variables and imports in scope); the page says so in words where the block stands.
 * Both may be given, separated by a comma. Blocks in other languages (```sh, ```text) are not checked.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

export const root = path.join(__dirname, '..', '..');

/** One program: a block of a Markdown file, with the blocks that continue it. */
export interface Snippet {
  /** A file name for it: the Markdown file's path and the block's first line. */
  readonly id: string;
  /** The Markdown file, relative to the repository root. */
  readonly source: string;
  /** The line of the block's opening fence. */
  readonly line: number;
  code: string;
  /** Run it (false when any of its blocks is typecheck-only). */
  run: boolean;
}

/** The programs of one Markdown file, in order. */
export function extractSnippets(file: string): Snippet[] {
  const text = fs.readFileSync(file, 'utf8');
  const source = path.relative(root, file);
  const out: Snippet[] = [];
  const re = /(?:<!--\s*snippet:\s*([\w\s,-]+?)\s*-->\s*\n)?^```ts\n([\s\S]*?)^```$/gm;
  for (const m of text.matchAll(re)) {
    const flags = new Set((m[1] ?? '').split(/[\s,]+/).filter((f) => f.length > 0));
    for (const f of flags) if (f !== 'typecheck-only' && f !== 'continues') throw new Error(`${source}: unknown snippet flag ${f}`);
    const line = text.slice(0, m.index).split('\n').length + (m[1] === undefined ? 0 : 1);
    const code = m[2] ?? '';
    const run = !flags.has('typecheck-only');
    const previous = out[out.length - 1];
    if (flags.has('continues')) {
      if (previous === undefined) throw new Error(`${source}:${String(line)}: a block that continues needs a ts block before it`);
      previous.code += `\n// ${source}:${String(line)}\n${code}`;
      previous.run &&= run;
      continue;
    }
    const id = `${source.replace(/\.md$/, '').replace(/[^\w]+/g, '-')}-L${String(line)}`;
    out.push({ id, source, line, code, run });
  }
  return out;
}

/** Writes each program to `<dir>/<id>.ts`, emptying `dir` first. */
export function writeSnippets(snippets: readonly Snippet[], dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const s of snippets) fs.writeFileSync(path.join(dir, `${s.id}.ts`), s.code);
}

/** Type-checks the programs written by {@link writeSnippets}: one message per diagnostic, `file:line message`. */
export function typecheckSnippets(snippets: readonly Snippet[], dir: string): string[] {
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
    snippets.map((s) => path.join(dir, `${s.id}.ts`)),
    options
  );
  const diagnostics = ts.getPreEmitDiagnostics(program).filter((d) => d.file === undefined || d.file.fileName.startsWith(dir));
  return diagnostics.map((d) => {
    const where = d.file === undefined ? '' : `${path.basename(d.file.fileName)}:${String(d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1)}`;
    return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  });
}

/** Bundles each program to `<dir>/<id>.mjs` for Node: tfjs external (the user's copy), `ardkit/*` from `src/`. */
export async function bundleSnippets(snippets: readonly Snippet[], dir: string): Promise<void> {
  const { build } = await import('esbuild');
  const folders = fs
    .readdirSync(path.join(root, 'src'), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name);
  const alias = { ardkit: path.join(root, 'src', 'index.ts'), ...Object.fromEntries(folders.map((f) => [`ardkit/${f}`, path.join(root, 'src', f, 'index.ts')])) };
  for (const s of snippets) {
    await build({
      entryPoints: [path.join(dir, `${s.id}.ts`)],
      outfile: path.join(dir, `${s.id}.mjs`),
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node18',
      logLevel: 'error',
      external: ['@tensorflow/*'],
      alias
    });
  }
}
