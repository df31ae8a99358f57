/**
 * README.md's code runs as written: every ```ts block is type-checked like the guides' (strict NodeNext, `ardkit/*`
 * mapped to the sources) and run, each program in a Node process of its own that has nothing registered beforehand,
 * so a program that forgets to import or await its backend fails here as it would for a user ("backend 'wasm' has
 * not yet been initialized", "No backend found in registry").
 *
 * Conventions (`snippets.ts`): a block preceded by `<!-- snippet: continues -->` continues the one before it (the
 * README says so in words: the blocks after the quick start use its `model`, `x` and `y`); `<!-- snippet:
 * typecheck-only -->` marks a block that needs a browser or a GPU backend.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bundleSnippets, extractSnippets, root, typecheckSnippets, writeSnippets } from './snippets.js';

const workDir = path.join(root, '.tmp', 'readme-snippets');
const snippets = extractSnippets(path.join(root, 'README.md'));

beforeAll(() => {
  writeSnippets(snippets, workDir);
});

describe('README.md snippets', () => {
  it('finds the quick start and the other blocks', () => {
    expect(snippets.length).toBeGreaterThanOrEqual(4);
    const quickStart = snippets[0];
    expect(quickStart?.code).toContain("await tf.setBackend('wasm')");
    expect(quickStart?.run).toBe(true);
    expect(snippets.filter((s) => s.run).length).toBeGreaterThanOrEqual(3);
  });

  it('type-check (strict, NodeNext)', () => {
    expect(typecheckSnippets(snippets, workDir)).toEqual([]);
  }, 300_000);

  it('run as written, each in a fresh Node process with no backend registered beforehand', async () => {
    const runnable = snippets.filter((s) => s.run);
    await bundleSnippets(runnable, workDir);
    for (const s of runnable) {
      // Its own folder, as a user's project: files it writes (checkpoints, saved models) stay apart.
      const cwd = path.join(workDir, `${s.id}-cwd`);
      fs.mkdirSync(cwd, { recursive: true });
      try {
        execFileSync(process.execPath, [path.join(workDir, `${s.id}.mjs`)], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 240_000 });
      } catch (e) {
        const err = e as { stdout?: string; stderr?: string };
        throw new Error(`README.md block at line ${String(s.line)} (${s.id}) failed:\n${(err.stdout ?? '').slice(-2000)}\n${(err.stderr ?? '').slice(-4000)}`, { cause: e });
      }
    }
  }, 600_000);
});
