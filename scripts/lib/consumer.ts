/**
 * Consumer smoke test: install the packed tarball into a fresh project outside the repository's module tree and use
 * it the three ways users do: ESM `import`, CJS `require`, and TypeScript with `module`/`moduleResolution: NodeNext`
 * and `strict` (an ESM `.mts` and a CJS `.cts` file, compiled and then run).
 *
 * Where the peers come from: by default npm installs only the tarball (`--offline --legacy-peer-deps`: npm does not
 * look the peers up, and ardkit has no dependencies, so nothing is fetched, even with an empty npm cache). The
 * project's `node_modules/@tensorflow/{tfjs-core,tfjs-backend-cpu,tfjs-layers}` are then links to the copies this
 * repository tests against. What is tested is the tarball itself (its `files`, its `exports` map and its type
 * declarations) with the tfjs versions `package.json` pins; the links keep the test offline and fast.
 * `--peers-from-registry` installs those three from the npm registry instead (a few MB).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';

const PEERS = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-layers'];

/** A small model and batch, and checks, shared by the ESM and CJS programs (plain JavaScript). */
const COMMON = `
const w = tf.tensor2d([1, -1, 0.5, -0.5, 2, 0.3, -0.2, 0.8, -1, 0.4, 0.1, -0.7], [4, 3]);
const model = (x) => tf.matMul(tf.reshape(x, [-1, 4]), w);
const x = tf.tensor2d([[0.2, 0.4, 0.6, 0.8], [0.9, 0.1, 0.5, 0.3]]);
const y = tf.tensor1d([1, 0], 'int32'); // what the model predicts: clean accuracy 1
function check(cond, what) { if (!cond) { console.error('FAILED: ' + what); process.exit(1); } }
`;

const ESM = `import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers'; // also registers tfjs' gradients in Node
import * as ardkit from 'ardkit';
import { fileSystem, registerFileSystem } from 'ardkit/io';
import { fgsm, pgd } from 'ardkit/attacks';
import { kdLoss, crossEntropy } from 'ardkit/losses';
import { evaluate } from 'ardkit/eval';
import { studentTeacherHead } from 'ardkit/models';
await tf.setBackend('cpu');
${COMMON}
const xAdv = fgsm(model, x, y, { eps: 0.1 });
const linf = tf.max(tf.abs(tf.sub(xAdv, x))).dataSync()[0];
check(Math.abs(linf - 0.1) < 1e-6, 'fgsm moves every input by eps in L∞ (got ' + linf + ')');
check(ardkit.fgsm === fgsm && ardkit.kdLoss === kdLoss, 'the root and the subpaths share one copy of each function');
const kd = kdLoss(model(x), tf.zerosLike(model(x)), { studentTemperature: 2 }).dataSync()[0];
check(Number.isFinite(kd) && kd > 0, 'kdLoss is a positive number (got ' + kd + ')');
const r = await evaluate(model, x, y, { attacks: { pgd: (m, xb, yb) => pgd(m, xb, yb, { eps: 0.3, steps: 3, seed: 1 }) } });
check(r.clean === 1 && r.attacks.pgd <= r.clean, 'evaluate: clean accuracy 1, robust accuracy <= clean accuracy');
check(studentTeacherHead(2, 3).numTeachers === 2, 'ardkit/models loads with tfjs-layers');
check(crossEntropy(model(x), y).dataSync().length === 1, 'crossEntropy returns a scalar');
check(!('fileSystem' in ardkit), 'ardkit/io (Node only) is not re-exported from the root');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ardkit-consumer-io-'));
try {
  const net = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [4], units: 3 })] });
  await net.save(fileSystem(dir));
  check(registerFileSystem() && !registerFileSystem(), 'registerFileSystem registers file:// once');
  for (const from of [fileSystem(dir), 'file://' + path.join(dir, 'model.json')]) {
    const back = await tfl.loadLayersModel(from);
    const gap = tf.max(tf.abs(tf.sub(net.predict(x), back.predict(x)))).dataSync()[0];
    check(gap === 0, 'ardkit/io round-trips a Layers model (prediction gap ' + gap + ')');
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
console.log('esm: ok (fgsm L∞ ' + linf.toFixed(4) + ', kdLoss ' + kd.toFixed(4) + ', clean ' + r.clean + ', pgd ' + r.attacks.pgd + ', ardkit/io round trip)');
`;

const CJS = `const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
require('@tensorflow/tfjs-layers');
const ardkit = require('ardkit');
const { fgsm } = require('ardkit/attacks');
const { kdLoss } = require('ardkit/losses');
const { createRandom } = require('ardkit/core');
const { parseIdx } = require('ardkit/data');
const { fileSystem } = require('ardkit/io');
${COMMON}
tf.setBackend('cpu').then(() => {
  const xAdv = fgsm(model, x, y, { eps: 0.1 });
  const linf = tf.max(tf.abs(tf.sub(xAdv, x))).dataSync()[0];
  check(Math.abs(linf - 0.1) < 1e-6, 'fgsm moves every input by eps in L∞ (got ' + linf + ')');
  check(ardkit.fgsm === fgsm && ardkit.kdLoss === kdLoss, 'the root and the subpaths share one copy of each function');
  check(createRandom(1).next() === createRandom(1).next(), 'createRandom is seeded');
  check(typeof parseIdx === 'function', 'ardkit/data loads');
  check(typeof fileSystem('.').load === 'function', 'ardkit/io loads');
  let message = '';
  try { fgsm(model, x, y, { eps: -1 }); } catch (e) { message = e.message; }
  check(/^fgsm: eps must be/.test(message), 'errors name the function and the argument (got ' + message + ')');
  console.log('cjs: ok (' + message + ')');
});
`;

const MTS = `import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-layers';
import { fgsm, type FgsmOptions, type AttackFunction } from 'ardkit/attacks';
import type { Model } from 'ardkit/core';
import { evaluate, type EvaluationResult } from 'ardkit/eval';
import { fileSystem } from 'ardkit/io';

const w = tf.tensor2d([1, -1, 0.5, -0.5, 2, 0.3, -0.2, 0.8, -1, 0.4, 0.1, -0.7], [4, 3]);
const model: Model = (x) => tf.matMul(tf.reshape(x, [-1, 4]), w);
const options: FgsmOptions = { eps: 0.1 };
// @ts-expect-error eps is a number: the declarations are strict enough to reject a string
const wrong: FgsmOptions = { eps: '0.1' };
void wrong;
const attack: AttackFunction = (m, x, y) => fgsm(m, x, y, options);
const x = tf.tensor2d([[0.2, 0.4, 0.6, 0.8]]);
const y = tf.tensor1d([1], 'int32');
await tf.setBackend('cpu');
const result: EvaluationResult = await evaluate(model, x, y, { attacks: { fgsm: attack } });
const handler: tf.io.IOHandler = fileSystem('models/student');
void handler;
console.log('ts (ESM): ok (clean ' + String(result.clean) + ', fgsm ' + String(result.attacks['fgsm']) + ')');
`;

const CTS = `import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { kdLoss, type KdOptions } from 'ardkit/losses';
import { createRandom, type Random } from 'ardkit/core';

const options: KdOptions = { studentTemperature: 4, teacherTemperature: 1, reduction: 'none' };
// @ts-expect-error reduction is 'mean' | 'sum' | 'none'
const wrong: KdOptions = { reduction: 'avg' };
void wrong;
const rng: Random = createRandom(3);
void tf.setBackend('cpu').then(() => {
  const s = tf.tensor2d([[1, 2, 3], [0, 0, 1]]);
  const t = tf.tensor2d([[3, 2, 1], [1, 0, 0]]);
  const perExample = kdLoss(s, t, options);
  console.log('ts (CJS): ok (kdLoss per example [' + Array.from(perExample.dataSync()).map((v) => v.toFixed(3)).join(', ') + '], random ' + rng.next().toFixed(3) + ')');
});
`;

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    lib: ['ES2022', 'DOM'],
    types: [],
    outDir: 'out',
    // As `tsc --init` sets it: tfjs' own declarations do not pass a strict library check (see checkDeclarations).
    skipLibCheck: true
  },
  files: ['esm.mts', 'cjs.cts']
};

/**
 * Type-checks every declaration file of the installed ardkit (`.d.ts` and `.d.cts`) with `skipLibCheck: false`
 * under the same strict NodeNext options, and fails on any error located in ardkit's files. Errors inside tfjs'
 * declarations (tfjs-layers' do not pass strict checks, tfjs-core's expect `@types/long` globals) are not ardkit's
 * and are counted, not failed.
 */
function checkDeclarations(dir: string, root: string): string {
  const require = createRequire(path.join(root, 'package.json'));
  const ts = require('typescript') as typeof import('typescript');
  const pkg = path.join(dir, 'node_modules', 'ardkit');
  const declarations = (fs.readdirSync(path.join(pkg, 'dist'), { recursive: true, encoding: 'utf8' }))
    .filter((f) => f.endsWith('.d.ts') || f.endsWith('.d.cts'))
    .map((f) => path.join(pkg, 'dist', f));
  const parsed = ts.convertCompilerOptionsFromJson({ ...TSCONFIG.compilerOptions, skipLibCheck: false, noEmit: true }, dir);
  const program = ts.createProgram(declarations, parsed.options);
  const diagnostics = ts.getPreEmitDiagnostics(program);
  const ours = diagnostics.filter((d) => d.file !== undefined && fs.realpathSync(d.file.fileName).startsWith(fs.realpathSync(pkg)));
  if (ours.length > 0) {
    const host = { getCanonicalFileName: (f: string) => f, getCurrentDirectory: () => dir, getNewLine: () => '\n' };
    throw new Error(`consumer: errors in ardkit's declaration files:\n${ts.formatDiagnostics(ours, host)}`);
  }
  return `${String(declarations.length)} ardkit declaration files type-check with skipLibCheck: false (${String(diagnostics.length - ours.length)} errors inside tfjs' own declarations ignored)`;
}

function sh(command: string, args: readonly string[], cwd: string): string {
  try {
    return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    throw new Error(`consumer: ${[command, ...args].join(' ')} failed in ${cwd}:\n${err.stdout ?? ''}${err.stderr ?? ''}`.trim(), { cause: e });
  }
}

/** Installs the tarball into `dir` (created fresh) and runs the four programs; returns a summary, throws on failure. */
export function consumerSmokeTest(tarball: string, dir: string, options: { root: string; peersFromRegistry: boolean }): string {
  const require = createRequire(path.join(options.root, 'package.json'));
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'ardkit-consumer', version: '0.0.0', private: true }, null, 2));
  const npmArgs = ['install', '--no-audit', '--no-fund', '--no-package-lock', '--ignore-scripts'];
  if (options.peersFromRegistry) {
    const version = (name: string): string => (JSON.parse(fs.readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version;
    sh('npm', [...npmArgs, tarball, ...PEERS.map((p) => `${p}@${version(p)}`)], dir);
  } else {
    // --legacy-peer-deps: npm does not even look the peers up, so nothing is fetched, even with an empty cache.
    sh('npm', [...npmArgs, '--offline', '--legacy-peer-deps', tarball], dir);
    fs.mkdirSync(path.join(dir, 'node_modules', '@tensorflow'), { recursive: true });
    for (const peer of PEERS) fs.symlinkSync(fs.realpathSync(path.dirname(require.resolve(`${peer}/package.json`))), path.join(dir, 'node_modules', peer), 'dir');
  }
  const installed = JSON.parse(fs.readFileSync(path.join(dir, 'node_modules', 'ardkit', 'package.json'), 'utf8')) as { version: string };
  console.log(`consumer: installed ardkit ${installed.version} from ${path.basename(tarball)} into ${dir} (peers ${options.peersFromRegistry ? 'from the registry' : 'linked to the repository\'s copies'})`);

  fs.writeFileSync(path.join(dir, 'esm.mjs'), ESM);
  fs.writeFileSync(path.join(dir, 'cjs.cjs'), CJS);
  fs.writeFileSync(path.join(dir, 'esm.mts'), MTS);
  fs.writeFileSync(path.join(dir, 'cjs.cts'), CTS);
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));

  const lines: string[] = [];
  const node = (file: string): void => {
    const out = sh(process.execPath, [file], dir).trim();
    console.log(out);
    lines.push(out);
  };
  node('esm.mjs');
  node('cjs.cjs');
  const tsc = path.join(path.dirname(require.resolve('typescript/package.json')), 'bin', 'tsc');
  sh(process.execPath, [tsc, '-p', 'tsconfig.json'], dir);
  console.log('consumer: tsc (NodeNext, strict) compiled esm.mts and cjs.cts with no errors');
  console.log(`consumer: ${checkDeclarations(dir, options.root)}`);
  node('out/esm.mjs');
  node('out/cjs.cjs');
  return 'ESM, CJS, TypeScript NodeNext strict (.mts and .cts): compiled and ran';
}
