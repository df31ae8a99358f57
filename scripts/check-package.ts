/**
 * `npm run test:package`: checks the package as users get it, from the tarball `npm pack` makes.
 *
 * 1. build (tsup) unless `--no-build`, then `npm pack` into `.tmp/pack/`;
 * 2. publint (strict: warnings fail) and `@arethetypeswrong/cli` (every resolution mode, node10 included) on the tarball;
 * 3. tree-shaking: bundles `import { fgsm } from 'ardkit/attacks'`, `import { kdLoss } from 'ardkit/losses'` and
 *    `import { fileSystem } from 'ardkit/io'` with esbuild against the unpacked tarball and asserts size ceilings and
 *    which code is in and out (`scripts/lib/tree-shaking.ts`);
 * 4. consumer smoke test: installs the tarball into a fresh temporary project and imports it from ESM, from CJS and
 *    from TypeScript (`module`/`moduleResolution: NodeNext`, strict), then runs what it compiled; the ESM program also
 *    saves and loads a Layers model with `ardkit/io` (`scripts/lib/consumer.ts`).
 *
 * Prints one line per step and `package: N passed, M failed`; exits 1 on any failure.
 *
 *   npm run test:package
 *   npm run test:package -- --no-build --only treeshake
 *   npm run test:package -- --peers-from-registry   # the consumer gets tfjs from the npm registry instead
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { consumerSmokeTest } from './lib/consumer.js';
import { checkTreeShaking } from './lib/tree-shaking.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const STEPS = ['publint', 'attw', 'treeshake', 'consumer'] as const;
type StepName = (typeof STEPS)[number];

const { values: args } = parseArgs({
  options: {
    'no-build': { type: 'boolean', default: false },
    only: { type: 'string', multiple: true },
    'peers-from-registry': { type: 'boolean', default: false }
  },
  strict: true
});

/** Runs a command, returning its output; throws with the output when it fails. */
function run(command: string, commandArgs: readonly string[], cwd = root): string {
  try {
    return execFileSync(command, commandArgs, {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
      maxBuffer: 64 * 1024 * 1024
    });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${[command, ...commandArgs].join(' ')} failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`.trim(), { cause: e });
  }
}

/** The path of a dev dependency's bin script (read from its package.json, which not every package exports). */
function binOf(pkg: string, bin: string): string {
  const dir = path.join(root, 'node_modules', pkg);
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { bin?: Record<string, string> | string };
  const rel = typeof manifest.bin === 'string' ? manifest.bin : manifest.bin?.[bin];
  if (rel === undefined) throw new Error(`${pkg} has no bin ${bin}`);
  return path.join(dir, rel);
}

/** `npm pack` into .tmp/pack; returns the tarball's path. */
function pack(): string {
  const dir = path.join(root, '.tmp', 'pack');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const out = run('npm', ['pack', '--json', '--pack-destination', dir]);
  const info = JSON.parse(out.slice(out.indexOf('['))) as Array<{ filename: string; size: number; unpackedSize: number; entryCount: number }>;
  const first = info[0];
  if (first === undefined) throw new Error('npm pack reported no tarball');
  console.log(
    `package: packed ${first.filename}: ${String(first.entryCount)} files, ${(first.size / 1024).toFixed(1)} KiB packed, ${(first.unpackedSize / 1024).toFixed(1)} KiB unpacked`
  );
  return path.join(dir, path.basename(first.filename));
}

/** Unpacks the tarball into `<dir>/node_modules/ardkit`, the way an install lays it out. */
function unpack(tarball: string, dir: string): string {
  const target = path.join(dir, 'node_modules', 'ardkit');
  fs.mkdirSync(target, { recursive: true });
  run('tar', ['-xzf', tarball, '-C', target, '--strip-components=1']);
  return target;
}

async function main(): Promise<number> {
  const selected = new Set<StepName>((args.only ?? [...STEPS]) as StepName[]);
  for (const s of selected) {
    if (!STEPS.includes(s)) {
      console.error(`--only must be one of ${STEPS.join(', ')} (got ${JSON.stringify(s)})`);
      return 2;
    }
  }
  const t0 = performance.now();
  if (!args['no-build']) {
    console.log('package: building (npm run build)');
    run('npm', ['run', '-s', 'build']);
  }
  if (!fs.existsSync(path.join(root, 'dist', 'index.js'))) {
    console.error('package: dist/ is missing: run `npm run build` first (or drop --no-build)');
    return 1;
  }
  const tarball = pack();
  // Outside the repository, so that nothing resolves from the repository's node_modules by accident.
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ardkit-package-'));
  const results: Array<{ step: string; ok: boolean; seconds: number; detail: string }> = [];
  const step = async (name: StepName, body: () => string | Promise<string>): Promise<void> => {
    if (!selected.has(name)) return;
    const start = performance.now();
    console.log(`\n== ${name}`);
    try {
      const detail = await body();
      results.push({ step: name, ok: true, seconds: (performance.now() - start) / 1000, detail });
    } catch (e) {
      console.error(e instanceof Error ? e.message : String(e));
      results.push({ step: name, ok: false, seconds: (performance.now() - start) / 1000, detail: 'see above' });
    }
  };
  try {
    await step('publint', () => {
      const out = run(process.execPath, [binOf('publint', 'publint'), 'run', tarball, '--strict']);
      console.log(out.trim());
      return 'no errors, warnings or suggestions';
    });
    await step('attw', () => {
      const out = run(process.execPath, [binOf('@arethetypeswrong/cli', 'attw'), tarball, '--format', 'table-flipped']);
      console.log(out.trim());
      return 'no problems in node10, node16 (CJS and ESM) and bundler resolution';
    });
    await step('treeshake', async () => {
      const pkgDir = unpack(tarball, path.join(work, 'treeshake'));
      return checkTreeShaking(pkgDir);
    });
    await step('consumer', () => consumerSmokeTest(tarball, path.join(work, 'consumer'), { root, peersFromRegistry: args['peers-from-registry'] }));
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  console.log('');
  for (const r of results) console.log(`${r.ok ? '[ok]  ' : '[FAIL]'} ${r.step.padEnd(10)} ${r.seconds.toFixed(1).padStart(5)} s  ${r.detail}`);
  const failed = results.filter((r) => !r.ok).length;
  console.log(`package: ${String(results.length - failed)} passed, ${String(failed)} failed (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  }
);
