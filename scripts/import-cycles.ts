/**
 * Import cycles among a folder's TypeScript files (default `src`): every relative `import`/`export … from`, type-only
 * ones included, is an edge; a depth-first search reports each edge back onto the current path. Exits 1 on a cycle.
 *
 *   node --disable-warning=ExperimentalWarning --loader ts-node/esm scripts/import-cycles.ts [src]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';

const root = path.resolve(process.argv[2] ?? 'src');

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

function imports(file: string): string[] {
  const src = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
  const out: string[] = [];
  src.forEachChild((node) => {
    if (!(ts.isImportDeclaration(node) || ts.isExportDeclaration(node))) return;
    const spec = node.moduleSpecifier;
    if (spec === undefined || !ts.isStringLiteral(spec) || !spec.text.startsWith('.')) return;
    const target = path.resolve(path.dirname(file), spec.text.replace(/\.js$/, '.ts'));
    if (fs.existsSync(target)) out.push(target);
  });
  return out;
}

const files = sources(root);
const graph = new Map(files.map((f) => [f, imports(f)]));
const state = new Map<string, 'open' | 'done'>();
const stack: string[] = [];
const cycles: string[] = [];
function visit(file: string): void {
  state.set(file, 'open');
  stack.push(file);
  for (const dep of graph.get(file) ?? []) {
    if (state.get(dep) === 'open') cycles.push([...stack.slice(stack.indexOf(dep)), dep].map((p) => path.relative(root, p)).join(' -> '));
    else if (!state.has(dep)) visit(dep);
  }
  stack.pop();
  state.set(file, 'done');
}
for (const f of files) if (!state.has(f)) visit(f);
const edges = [...graph.values()].reduce((s, d) => s + d.length, 0);
console.log(`${String(files.length)} files, ${String(edges)} relative imports, ${String(cycles.length)} cycles`);
for (const c of cycles) console.log(`  ${c}`);
process.exitCode = cycles.length === 0 ? 0 : 1;
