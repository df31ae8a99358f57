/**
 * Proof of tree-shaking (after zod's bundle-size test): bundle one import against the unpacked package with esbuild,
 * as an application's bundler would, and check its size and which of ardkit's code came along.
 *
 * - **Size**: the minified bundle (tfjs excluded: it is a peer the application bundles anyway) stays under a ceiling.
 * - **Nothing unrelated**: every function or constant the package exports publicly, apart from the imported one and
 *   the shared `ardkit/core` helpers, must be absent from the bundle. The list comes from the package's own entry
 *   points, so code added later (APGD, Square, AutoAttack, `fit`, backends, …) is covered as soon as it is exported.
 * - **Spotlight**: names the issue singles out (`apgd`, `square`, `autoAttack`, `fit`, `pgd`, `evaluate`, …) are
 *   reported one by one: absent, PRESENT (a failure) or not in this build (nothing to check yet).
 * - **Controls**: the imported function and an internal helper it needs are present (the scan sees real code), and
 *   the whole package bundled the same way (which must build for the browser at all) is several times larger
 *   (tree-shaking is what made the difference).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

/** What one single-import bundle must satisfy. */
interface BundleSpec {
  readonly name: string;
  readonly source: string;
  /** Ceiling of the minified bundle, bytes. */
  readonly ceilingBytes: number;
  /** Names (public or internal) that must be declared in the bundle. */
  readonly mustContain: readonly string[];
  /** Public names allowed besides the exports of `ardkit/core`. */
  readonly allowedPublic: readonly string[];
  /** Names reported one by one; each must be absent when the package declares it. */
  readonly spotlight: readonly string[];
}

/** Measured sizes (bytes) of the single-import bundles and their ceilings, in one place for the docs and the report. */
export const BUNDLES: readonly BundleSpec[] = [
  {
    name: "import { fgsm } from 'ardkit/attacks'",
    source: "export { fgsm } from 'ardkit/attacks';",
    // Measured 8 477 bytes (3 395 gzipped) at 0.1.0; the ceiling leaves room for shared attack plumbing to grow.
    // 12 499 bytes (4 797 gzipped) once fgsm picks its own targets (`target`: targets.ts, about 700 bytes).
    // 15 109 bytes (5 951 gzipped) once attacks look at a model's first output for probabilities (the device checks
    // and the probe, about 2 KB).
    ceilingBytes: 16_500,
    mustContain: ['fgsm', 'crossEntropyPerExample', 'ascend'],
    allowedPublic: ['fgsm', 'NORMS', 'RANDOM_STARTS'],
    spotlight: ['pgd', 'cw', 'tradesAttack', 'projectedGradientAscent', 'crossEntropy', 'kdLoss', 'evaluate', 'loadIdxDataset', 'apgd', 'square', 'squareAttack', 'autoAttack', 'fit']
  },
  {
    name: "import { kdLoss } from 'ardkit/losses'",
    source: "export { kdLoss } from 'ardkit/losses';",
    // Measured 2 980 bytes (1 220 gzipped) at 0.1.0. 6 304 bytes (2 741 gzipped) once a loss looks at its logits for probabilities
    // on its first call: that brings the device checks (deviceCheck, the queue) into every loss.
    ceilingBytes: 7_000,
    mustContain: ['kdLoss', 'klPerExample'],
    allowedPublic: ['kdLoss'],
    spotlight: ['crossEntropy', 'ardLoss', 'tradesLoss', 'fgsm', 'pgd', 'createRandom', 'evaluate', 'apgd', 'square', 'squareAttack', 'autoAttack', 'fit']
  },
  {
    name: "import { fileSystem } from 'ardkit/io'",
    source: "export { fileSystem } from 'ardkit/io';",
    // Measured 7 445 bytes (2 851 gzipped) at 0.1.0. Node only, yet it bundles: its node: modules load when called.
    ceilingBytes: 10_000,
    mustContain: ['fileSystem', 'writeFileAtomic', 'expectedBytes'],
    allowedPublic: ['fileSystem'],
    spotlight: ['registerFileSystem', 'fit', 'saveCheckpoint', 'loadIdxDataset', 'fgsm', 'pgd', 'evaluate']
  }
];

/** The single-import bundles must each be smaller than this share of the whole package bundled the same way. */
const MAX_SHARE_OF_WHOLE = 0.4;

type EsbuildBuild = (typeof import('esbuild'))['build'];

/** A top-level declaration of `name` (esbuild appends digits when it renames to avoid a clash). */
function declares(code: string, name: string): boolean {
  const escaped = name.replace(/[$]/g, '\\$');
  return new RegExp(`(?:^|[\\s;])(?:async\\s+)?(?:function\\*?\\s+|class\\s+|(?:var|let|const)\\s+)${escaped}\\d*\\b`, 'm').test(code);
}

/** The public entry points of the package: subpath → its ESM file. */
function entryPoints(pkgDir: string): Map<string, string> {
  const manifest = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')) as {
    exports: Record<string, string | { import?: { default?: string } }>;
  };
  const out = new Map<string, string>();
  for (const [subpath, target] of Object.entries(manifest.exports)) {
    const file = typeof target === 'string' ? undefined : target.import?.default;
    if (file !== undefined && file.endsWith('.js')) out.set(subpath, path.join(pkgDir, file));
  }
  return out;
}

/** The value exports of one ESM entry point, as esbuild reads them. */
async function exportsOf(build: EsbuildBuild, file: string): Promise<string[]> {
  const result = await build({ entryPoints: [file], bundle: false, write: false, metafile: true, format: 'esm', logLevel: 'silent', outdir: 'out' });
  return Object.values(result.metafile.outputs).flatMap((o) => o.exports);
}

interface Bundled {
  readonly code: string;
  readonly minifiedBytes: number;
  readonly gzipBytes: number;
}

async function bundle(build: EsbuildBuild, cwd: string, source: string): Promise<Bundled> {
  const common = {
    stdin: { contents: source, resolveDir: cwd, loader: 'js' as const },
    absWorkingDir: cwd,
    bundle: true,
    write: false,
    format: 'esm' as const,
    platform: 'browser' as const,
    target: 'es2020',
    logLevel: 'silent' as const,
    // Peers, never bundled: tfjs, and Dawn's Node bindings (registerNodeWebGpu imports them only when called); and
    // protobufjs, the one dependency, which loadOnnx imports when called (a bundle without loadOnnx must not name it).
    external: ['@tensorflow/*', 'webgpu', 'protobufjs', 'protobufjs/*']
  };
  const plain = await build(common);
  const minified = await build({ ...common, minify: true });
  const code = plain.outputFiles?.[0]?.text ?? '';
  const min = minified.outputFiles?.[0]?.contents ?? new Uint8Array();
  return { code, minifiedBytes: min.byteLength, gzipBytes: zlib.gzipSync(min, { level: 9 }).byteLength };
}

/**
 * Runs the tree-shaking checks against an unpacked package at `pkgDir` (…/node_modules/ardkit). Prints a table;
 * returns a one-line summary; throws listing every violation.
 */
export async function checkTreeShaking(pkgDir: string): Promise<string> {
  const { build } = await import('esbuild');
  const cwd = path.dirname(path.dirname(pkgDir));
  const entries = entryPoints(pkgDir);
  const publicNames = new Map<string, string>(); // name → the subpath that exports it (the folder's, not the root)
  for (const [subpath, file] of entries) {
    for (const name of await exportsOf(build, file)) if (subpath !== '.' || !publicNames.has(name)) publicNames.set(name, subpath);
  }
  const coreNames = new Set(await exportsOf(build, entries.get('./core') ?? ''));
  const distCode = fs
    .readdirSync(path.join(pkgDir, 'dist'), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.js'))
    .map((f) => fs.readFileSync(path.join(pkgDir, 'dist', f), 'utf8'))
    .join('\n');
  const inBuild = (name: string): boolean => declares(distCode, name);

  // Every entry point in one browser bundle: it must build at all (the Node-only IDX reader's dynamic imports of
  // fs/promises and zlib are mapped away by package.json's "browser" field) and gives the size to compare with.
  const everything = [...entries.keys()].map((s, i) => `export * as m${String(i)} from '${s === '.' ? 'ardkit' : `ardkit/${s.slice(2)}`}';`);
  const whole = await bundle(build, cwd, everything.join('\n'));
  console.log(`whole package (every entry point) bundled for the browser: ${String(whole.minifiedBytes)} bytes minified, ${String(whole.gzipBytes)} gzipped`);

  const problems: string[] = [];
  const summaries: string[] = [];
  for (const spec of BUNDLES) {
    const b = await bundle(build, cwd, spec.source);
    console.log(`\n${spec.name}: ${String(b.minifiedBytes)} bytes minified (ceiling ${String(spec.ceilingBytes)}), ${String(b.gzipBytes)} gzipped`);
    summaries.push(`${spec.name.replace(/^import \{ (\w+) \}.*$/, '$1')} ${String(b.minifiedBytes)} B ≤ ${String(spec.ceilingBytes)} B`);
    if (b.minifiedBytes > spec.ceilingBytes) problems.push(`${spec.name}: ${String(b.minifiedBytes)} bytes minified exceeds the ceiling ${String(spec.ceilingBytes)}`);
    const share = b.minifiedBytes / whole.minifiedBytes;
    console.log(`  ${(share * 100).toFixed(1)} % of the whole package (limit ${String(MAX_SHARE_OF_WHOLE * 100)} %)`);
    if (share > MAX_SHARE_OF_WHOLE) problems.push(`${spec.name}: ${(share * 100).toFixed(1)} % of the whole package: tree-shaking did not happen`);
    for (const name of spec.mustContain) {
      const ok = declares(b.code, name);
      console.log(`  ${ok ? 'present' : 'MISSING'}  ${name} (must be present)`);
      if (!ok) problems.push(`${spec.name}: ${name} is missing (the identifier scan is not seeing the code)`);
    }
    for (const name of spec.spotlight) {
      const status = !inBuild(name) ? 'not in this build' : declares(b.code, name) ? 'PRESENT' : 'absent';
      console.log(`  ${status.padEnd(7)}  ${name}${publicNames.has(name) ? ` (ardkit${publicNames.get(name) === '.' ? '' : `/${(publicNames.get(name) ?? '').slice(2)}`})` : ''}`);
      if (status === 'PRESENT') problems.push(`${spec.name}: ${name} is in the bundle`);
    }
    const strays = [...publicNames.keys()].filter((n) => !coreNames.has(n) && !spec.allowedPublic.includes(n) && inBuild(n) && declares(b.code, n));
    const checked = [...publicNames.keys()].filter((n) => !coreNames.has(n) && !spec.allowedPublic.includes(n) && inBuild(n)).length;
    console.log(`  ${String(checked)} other public exports checked: ${strays.length === 0 ? 'none in the bundle' : `IN THE BUNDLE: ${strays.join(', ')}`}`);
    if (strays.length > 0) problems.push(`${spec.name}: unrelated public code in the bundle: ${strays.join(', ')}`);
    for (const forbidden of ['@tensorflow/tfjs-layers', '@tensorflow/tfjs-converter', '@tensorflow/tfjs-backend-webgpu', '@tensorflow/tfjs-node', 'webgpu', 'protobufjs', 'node:']) {
      if (b.code.includes(`from "${forbidden}`) || b.code.includes(`import("${forbidden}`)) problems.push(`${spec.name}: imports ${forbidden}`);
    }
  }
  if (problems.length > 0) throw new Error(`tree-shaking:\n  ${problems.join('\n  ')}`);
  return `${summaries.join(', ')}; no unrelated public export in any`;
}
