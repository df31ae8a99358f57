/**
 * The package manifest agrees with itself and with the build, without building: every folder entry point is in
 * tsup's entries, in `exports` (ESM and CJS, each with its own types), in `typesVersions` (TypeScript's node10
 * resolution, which ignores `exports`) and in typedoc's entry points; every Node built-in the sources import is
 * mapped away for browser bundles. `npm run test:package` then checks the built tarball itself.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.join(__dirname, '..', '..');
const read = (file: string): string => fs.readFileSync(path.join(root, file), 'utf8');

interface Conditions {
  readonly types: string;
  readonly default: string;
}

interface Manifest {
  readonly type: string;
  readonly sideEffects: boolean;
  readonly dependencies?: Record<string, string>;
  readonly peerDependencies: Record<string, string>;
  readonly peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  readonly browser: Record<string, boolean>;
  readonly exports: Record<string, string | { import: Conditions; require: Conditions }>;
  readonly typesVersions: Record<string, Record<string, string[]>>;
}

const manifest = JSON.parse(read('package.json')) as Manifest;
const folders = Object.keys(manifest.exports)
  .filter((k) => k.startsWith('./') && k !== './package.json')
  .map((k) => k.slice(2));

describe('package.json', () => {
  it('is an ESM package without side effects, with tfjs-core as a peer and one dependency: protobufjs, for loadOnnx', () => {
    expect(manifest.type).toBe('module');
    expect(manifest.sideEffects).toBe(false);
    // loadOnnx decodes ONNX files with protobufjs, imported on its first call, so no other entry point bundles it.
    expect(Object.keys(manifest.dependencies ?? {})).toEqual(['protobufjs']);
    expect(read('src/io/onnx/schema.ts')).not.toMatch(/^import (?!type)[^;]*protobufjs/m);
    expect(Object.keys(manifest.peerDependencies)).toContain('@tensorflow/tfjs-core');
  });

  it('has every backend package as an optional peer, never bundled: only tfjs-core is required', () => {
    const peers = Object.keys(manifest.peerDependencies);
    for (const pkg of ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-backend-webgpu', 'webgpu']) expect(peers).toContain(pkg);
    const required = peers.filter((p) => manifest.peerDependenciesMeta?.[p]?.optional !== true);
    expect(required).toEqual(['@tensorflow/tfjs-core']);
    // tsup leaves them to the user's installation (tfjs by prefix; Dawn's bindings by name).
    const external = /external: \[([^\]]*)\]/.exec(read('tsup.config.ts'))?.[1] ?? '';
    expect(external).toContain('/^@tensorflow\\//');
    expect(external).toContain('/^webgpu$/');
  });

  it('exports every source folder that has an index.ts, and nothing else', () => {
    const sourceFolders = fs
      .readdirSync(path.join(root, 'src'), { withFileTypes: true })
      .filter((e) => e.isDirectory() && fs.existsSync(path.join(root, 'src', e.name, 'index.ts')))
      .map((e) => e.name);
    expect([...folders].sort()).toEqual([...sourceFolders].sort());
  });

  it.each(['.', ...folders.map((f) => `./${f}`)])('exports %s to ESM and CJS files, each with its own types', (subpath) => {
    const target = manifest.exports[subpath];
    const base = subpath === '.' ? './dist/index' : `./dist/${subpath.slice(2)}/index`;
    expect(target).toEqual({
      import: { types: `${base}.d.ts`, default: `${base}.js` },
      require: { types: `${base}.d.cts`, default: `${base}.cjs` }
    });
  });

  it('maps every subpath in typesVersions, for TypeScript resolution that ignores exports', () => {
    expect(manifest.typesVersions).toEqual({ '*': Object.fromEntries(folders.map((f) => [f, [`./dist/${f}/index.d.cts`]])) });
  });

  it('builds and documents every entry point', () => {
    const tsup = read('tsup.config.ts');
    const tsupFolders = /const folders = \[([^\]]*)\]/.exec(tsup)?.[1]?.match(/'([^']+)'/g)?.map((s) => s.slice(1, -1)) ?? [];
    expect([...tsupFolders].sort()).toEqual([...folders].sort());
    const typedoc = JSON.parse(read('typedoc.json')) as { entryPoints: string[] };
    expect([...typedoc.entryPoints].sort()).toEqual(folders.map((f) => `src/${f}/index.ts`).sort());
  });

  it('maps every Node built-in the sources import to nothing in browser bundles', () => {
    const builtins = new Set<string>();
    const walk = (dir: string): void => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, e.name);
        if (e.isDirectory()) walk(full);
        else if (e.name.endsWith('.ts')) {
          for (const m of fs.readFileSync(full, 'utf8').matchAll(/(?:from|import\()\s*'node:([^']+)'/g)) builtins.add(m[1] ?? '');
        }
      }
    };
    walk(path.join(root, 'src'));
    // tsup writes `node:x` imports as `x`; the browser field must name them that way.
    for (const name of builtins) expect(manifest.browser[name]).toBe(false);
  });
});
