/**
 * The documentation standard, enforced: every function exported from a public entry point has TSDoc with
 * a description, `@example` and `@throws` (typedoc's validation already rejects undocumented exports).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const srcDir = path.join(__dirname, '..', 'src');

/** Every `export function name` in src with the TSDoc block right above it. */
function exportedFunctions(): Array<{ file: string; name: string; doc: string }> {
  const out: Array<{ file: string; name: string; doc: string }> = [];
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts')) {
        const text = fs.readFileSync(full, 'utf8');
        const re = /(\/\*\*(?:(?!\*\/)[\s\S])*\*\/)?\s*export (?:async )?function (\w+)/g;
        for (const m of text.matchAll(re)) out.push({ file: path.relative(srcDir, full), name: m[2] ?? '', doc: m[1] ?? '' });
      }
    }
  };
  walk(srcDir);
  return out;
}

/** Names re-exported by the public entry points. */
function publicNames(): Set<string> {
  const names = new Set<string>();
  for (const folder of fs.readdirSync(srcDir, { withFileTypes: true })) {
    if (!folder.isDirectory()) continue;
    const index = path.join(srcDir, folder.name, 'index.ts');
    if (!fs.existsSync(index)) continue;
    for (const m of fs.readFileSync(index, 'utf8').matchAll(/export \{([^}]*)\}/g)) {
      for (const part of (m[1] ?? '').split(',')) {
        const name = part.trim().replace(/^type\s+/, '');
        if (name.length > 0) names.add(name);
      }
    }
  }
  return names;
}

describe('public API documentation', () => {
  const exported = publicNames();
  const functions = exportedFunctions().filter((f) => exported.has(f.name));

  it('finds the public functions', () => {
    expect(functions.length).toBeGreaterThan(20);
  });

  it.each(exportedFunctions().filter((f) => exported.has(f.name)).map((f) => [f.name, f.file, f.doc] as const))(
    '%s (%s) has TSDoc with @example and @throws',
    (_name, _file, doc) => {
      expect(doc).toMatch(/\/\*\*\s*\n\s*\*\s*\S/);
      expect(doc).toContain('@example');
      expect(doc).toContain('@throws');
    }
  );
});
