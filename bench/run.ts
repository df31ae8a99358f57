/**
 * ardkit's benchmark (`npm run bench`, never part of the tests): the small MNIST CNN of the examples at
 * batch 128 on every tfjs backend installed (cpu; tfjs' wasm; wasm with ardkit's kernels on one thread and
 * on one thread per core, as `useBestBackend()` sets it up; tensorflow when @tensorflow/tfjs-node-gpu or
 * @tensorflow/tfjs-node is installed) and, when `import torch` works, the same model and steps in PyTorch.
 * Then the backends compared (bench/compare.ts): a PGD step and a PGD-AT training step of the example networks
 * (smallCnn, the main example's teacher and student) at batch 16 on cpu, wasm+ardkit, tensorflow and webgpu (Dawn,
 * npm `webgpu`; on SwiftShader's Vulkan driver where there is no GPU), as ratios to wasm+ardkit in the same run.
 * Then the CIFAR ResNet-18 section: ardkit's `resNet18()` (32×32×3, 10 classes) at batch 32, one PGD step and one
 * adversarial-training step (PGD-10 + SGD update) on wasm+ardkit (bench/cifar.ts), then PyTorch's ResNet-18 of the same
 * layout (bench/torch_bench.py `--cifar`) with `torch.set_num_threads` equal to wasm+ardkit's thread count, as ms per
 * step and ratios ardkit / PyTorch (about 3 minutes on 2 cores).
 * Writes bench/results.json and docs/performance.md. On a machine with a GPU, `npm run bench:gpu` (bench/gpu.ts).
 *
 *   npm run bench                      # one full run (about 13 minutes on 2 cores, the CIFAR section included)
 *   npm run bench -- --runs 2          # two runs, both reported
 *   npm run bench -- --quick           # fewer repetitions, 100-step memory check (a smoke test)
 *   npm run bench -- --compare-only    # only the backend comparison of the example networks (about 2 minutes)
 *   npm run bench -- --cifar-only      # only the CIFAR ResNet-18 section (about 3 minutes), merged into the last full
 *                                      # run's bench/results.json, and docs/performance.md regenerated from it
 *   npm run bench -- --soak            # the soak benchmark instead (bench/soak.ts)
 *   npm run bench -- --baseline 3d65ede # readbacks and the webgl PGD step also for that commit's build, same run
 *
 * Besides the Node configurations it counts host readbacks on the cpu backend (bench/readbacks.ts) and times one
 * PGD step on webgl (and webgpu where offered) in headless Chromium (bench/browser.ts).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseOptions, positive } from '../examples/cli.js';
import { findChromium } from '../scripts/lib/chromium.js';
import {
  CIFAR_CLASSES,
  CIFAR_EPS,
  CIFAR_INPUT_SHAPE,
  CIFAR_STEP_SIZE,
  CONFIGS,
  type BrowserResult,
  type CifarArdkitResult,
  type CifarResult,
  type CifarTorchResult,
  type ExamplesPairedResult,
  type ExamplesResult,
  type Config,
  type ConfigResult,
  type ReadbackResult,
  type TorchResult
} from './types.js';
import { ceilingMarkdown, type CeilingResult } from './ceiling-report.js';

/** SwiftShader's Vulkan driver in Debian's chromium package: WebGPU on the CPU (it says nothing about a GPU's speed). */
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

const opts = parseOptions('Usage: npm run bench -- [options]', {
  runs: { type: 'string', description: 'complete runs, each reported', default: '1' },
  quick: { type: 'boolean', description: 'fewer repetitions and a 100-step memory check', default: false },
  configs: { type: 'string', description: `comma-separated subset of ${CONFIGS.join(', ')}`, default: CONFIGS.join(',') },
  'leak-steps': { type: 'string', description: 'PGD steps of the tensor and RSS check (wasm+ardkit, tensorflow)', default: '1000' },
  'skip-torch': { type: 'boolean', description: 'skip the PyTorch comparison', default: false },
  baseline: { type: 'string', description: 'also count readbacks and time webgl for this git commit (built once in bench/.cache/baseline-SHA)' },
  'skip-browser': { type: 'boolean', description: 'skip the webgl PGD step in headless Chromium', default: false },
  'browser-batch': { type: 'string', description: 'batch of the webgl PGD step (SwiftShader is slow)', default: '32' },
  'compare-batch': { type: 'string', description: 'batch of the backend comparison of the example networks', default: '16' },
  'skip-compare': { type: 'boolean', description: 'skip the backend comparison of the example networks', default: false },
  'compare-only': { type: 'boolean', description: 'run only the backend comparison (cpu, wasm+ardkit, tensorflow, webgpu: about 2 minutes), nothing else', default: false },
  'cifar-batch': { type: 'string', description: 'batch of the CIFAR ResNet-18 section', default: '32' },
  'skip-cifar': { type: 'boolean', description: 'skip the CIFAR ResNet-18 section (ardkit and PyTorch)', default: false },
  'skip-examples': { type: 'boolean', description: "skip the example networks' PGD-AT epoch against PyTorch", default: false },
  'examples-images': { type: 'string', description: 'images per epoch of the examples section', default: '2048' },
  'examples-only': {
    type: 'boolean',
    description: "run only the example networks' PGD-AT epoch against PyTorch (about 2 minutes); merged into --json as --cifar-only is",
    default: false
  },
  'cifar-only': {
    type: 'boolean',
    description: 'run only the CIFAR ResNet-18 section (about 3 minutes); its results replace that section of the runs in --json, and --markdown is regenerated from them',
    default: false
  },
  'webgpu-driver': {
    type: 'string',
    description: `Vulkan driver of the webgpu configuration: auto (VK_ICD_FILENAMES when set, else ${SWIFTSHADER_ICD} when present, else the system's), system, or an ICD file`,
    default: 'auto'
  },
  json: { type: 'string', description: 'results file (with --compare-only: bench/compare-results.json)', default: 'bench/results.json' },
  markdown: { type: 'string', description: 'report file (with --compare-only: docs/performance-backends.md)', default: 'docs/performance.md' },
  soak: { type: 'boolean', description: 'run the soak benchmark instead (bench/soak.ts): 10 000 PGD-AT steps, tensors, RSS and time drift', default: false },
  'soak-steps': { type: 'string', description: 'steps of the soak benchmark', default: '10000' },
  'soak-batch': { type: 'string', description: 'batch size of the soak benchmark', default: '4' }
});

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const require = createRequire(import.meta.url);

interface Run {
  startedAt: string;
  loadAverageBefore: number[];
  loadAverageAfter: number[];
  configs: ConfigResult[];
  skipped: Record<string, string>;
  pytorch?: TorchResult;
  pytorchSkipped?: string;
  /** Readbacks of this build, then of the baseline's. */
  readbacks: Array<ReadbackResult & { label: string }>;
  browser?: BrowserResult;
  browserSkipped?: string;
  /** The CIFAR ResNet-18 section (bench/cifar.ts, bench/torch_bench.py `--cifar`). */
  cifar?: CifarResult;
  cifarSkipped?: string;
  /** The example networks' PGD-AT epoch (bench/examples.ts, bench/torch_bench.py `--examples`). */
  examples?: ExamplesResult;
  examplesSkipped?: string;
}

/** What bench/results.json holds. */
interface Results {
  machine: Record<string, string | number>;
  command: string;
  batch: number;
  eps: number;
  stepSize: number;
  runs: Run[];
}

/** A build of `ref` in bench/.cache/baseline-SHA (the tree from git archive, this checkout's node_modules). */
function baselineBuild(ref: string): { label: string; dir: string } {
  const sha = execFileSync('git', ['rev-parse', '--short', `${ref}^{commit}`], { cwd: root, encoding: 'utf8' }).trim();
  const dir = path.join(root, 'bench/.cache', `baseline-${sha}`);
  // A marker written after a successful build: an interrupted or failed one is built again.
  const marker = path.join(dir, '.ardkit-bench-built');
  if (!fs.existsSync(marker)) {
    console.error(`bench: building ${ref} (${sha}) in ${path.relative(root, dir)} …`);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    const archive = path.join(dir, '.tree.tar');
    execFileSync('git', ['archive', '--output', archive, sha], { cwd: root, stdio: 'inherit' });
    execFileSync('tar', ['-x', '-f', archive, '-C', dir], { stdio: 'inherit' });
    fs.rmSync(archive);
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
    execFileSync('npx', ['tsup'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
    fs.writeFileSync(marker, `${sha}\n`);
  }
  return { label: `baseline-${sha}`, dir };
}

function installed(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

/** A Python that can `import torch`: `python3` first, then Debian's own (a pyenv shim may hide it). */
function findTorchPython(): string | undefined {
  for (const cmd of ['python3', '/usr/bin/python3', 'python']) {
    if (spawnSync(cmd, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0) return cmd;
  }
  return undefined;
}

/** Runs a command, streams its stderr, returns the last line of its stdout parsed as JSON. */
function runJson<T>(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const last = out.trim().split('\n').at(-1) ?? '';
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} exited with ${String(code)}`));
      else resolve(JSON.parse(last) as T);
    });
  });
}

function machine(): Record<string, string | number> {
  const cpuinfo = fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : '';
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  const flags = /^flags\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.split(' ') ?? [];
  const nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
  const version = (pkg: string): string => (JSON.parse(fs.readFileSync(require.resolve(`${pkg}/package.json`), 'utf8')) as { version: string }).version;
  return {
    nproc,
    cpu: model,
    simd: ['avx512f', 'avx2', 'sse4_2'].find((f) => flags.includes(f)) ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    tfjsCore: version('@tensorflow/tfjs-core'),
    tfjsBackendWasm: version('@tensorflow/tfjs-backend-wasm'),
    platform: `${os.platform()} ${os.release()}`
  };
}

/** The configurations of the backend comparison (bench/compare.ts), in the report's column order. */
const COMPARED: readonly Config[] = ['cpu', 'wasm+ardkit', 'tensorflow', 'webgpu'];

/** The environment of the webgpu configuration: `--webgpu-driver` decides VK_ICD_FILENAMES. */
function webgpuEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_RUNTIME_DIR: process.env['XDG_RUNTIME_DIR'] ?? os.tmpdir() };
  const driver = opts['webgpu-driver'];
  if (driver === 'system') delete env['VK_ICD_FILENAMES'];
  else if (driver !== 'auto') env['VK_ICD_FILENAMES'] = path.resolve(driver);
  else if (env['VK_ICD_FILENAMES'] === undefined && fs.existsSync(SWIFTSHADER_ICD)) env['VK_ICD_FILENAMES'] = SWIFTSHADER_ICD;
  return env;
}

/** Node's arguments for a TypeScript program of the benchmark. */
const TS_NODE = ['--disable-warning=ExperimentalWarning', '--loader', 'ts-node/esm'];

/** Why the PyTorch figures are missing when no Python is given. */
const noPython = (): string =>
  opts['compare-only'] ? '--compare-only' : opts['skip-torch'] ? '--skip-torch' : 'no python with torch (Debian: apt-get install python3-torch)';

/** The CIFAR section's timed calls: few, as a ResNet-18 step takes seconds on 2 cores (`--quick`: one of each). */
function cifarReps(scale: number): CifarResult['reps'] {
  const r = (n: number): number => Math.max(1, Math.round(n * scale));
  return { pgdStep: r(3), advTrainStep: r(2), warmup: 1 };
}

/** The CIFAR ResNet-18 section: ardkit (bench/cifar.ts), then PyTorch on as many threads (bench/torch_bench.py --cifar). */
async function cifarSection(scale: number, python: string | undefined, command: string): Promise<CifarResult> {
  const batch = positive('cifar-batch', opts['cifar-batch'], true);
  const reps = cifarReps(scale);
  const trainAttackSteps = 10;
  const out: CifarResult = {
    command,
    startedAt: new Date().toISOString(),
    loadAverageBefore: os.loadavg(),
    loadAverageAfter: [],
    inputShape: CIFAR_INPUT_SHAPE,
    classes: CIFAR_CLASSES,
    batch,
    eps: CIFAR_EPS,
    stepSize: CIFAR_STEP_SIZE,
    trainAttackSteps,
    reps
  };
  const common = ['--batch', String(batch), '--attack-steps', String(trainAttackSteps), '--pgd-reps', String(reps.pgdStep), '--train-reps', String(reps.advTrainStep), '--warmup', String(reps.warmup)];
  console.error(`bench: CIFAR ResNet-18, ardkit (load average ${os.loadavg().map((v) => v.toFixed(2)).join(', ')}) …`);
  try {
    out.ardkit = await runJson<CifarArdkitResult>(process.execPath, [...TS_NODE, 'bench/cifar.ts', ...common, '--profile']);
  } catch (error) {
    out.ardkitError = error instanceof Error ? error.message : String(error);
  }
  if (python === undefined) out.pytorchSkipped = noPython();
  else {
    // As many threads as ardkit's wasm backend had (one per core, as useBestBackend() sets it up).
    const threads = out.ardkit?.threads ?? os.availableParallelism();
    console.error(`bench: CIFAR ResNet-18, PyTorch (${python}, ${String(threads)} threads) …`);
    try {
      out.pytorch = await runJson<CifarTorchResult>(python, ['bench/torch_bench.py', '--cifar', '--threads', String(threads), '--eps', String(CIFAR_EPS), '--step-size', String(CIFAR_STEP_SIZE), ...common]);
    } catch (error) {
      out.pytorchSkipped = error instanceof Error ? error.message : String(error);
    }
  }
  out.loadAverageAfter = os.loadavg();
  return out;
}

/** The examples section: ardkit's PGD-AT epoch of the four example networks, paired epoch by epoch with PyTorch's (bench/examples.ts). */
async function examplesSection(python: string | undefined): Promise<ExamplesResult> {
  const images = positive('examples-images', opts['examples-images'], true);
  const out: ExamplesResult = { startedAt: new Date().toISOString(), loadAverageBefore: os.loadavg(), loadAverageAfter: [] };
  if (python === undefined) out.pytorchSkipped = noPython();
  try {
    out.result = await runJson<ExamplesPairedResult>(process.execPath, [...TS_NODE, 'bench/examples.ts', '--images', String(images), '--batch', '128', '--reps', '3', ...(python === undefined ? [] : ['--python', python])]);
  } catch (error) {
    out.error = error instanceof Error ? error.message : String(error);
  }
  out.loadAverageAfter = os.loadavg();
  return out;
}

async function oneRun(configs: Config[], scale: number, leakSteps: number, python: string | undefined, baseline: { label: string; dir: string } | undefined, command: string): Promise<Run> {
  const run: Run = { startedAt: new Date().toISOString(), loadAverageBefore: os.loadavg(), loadAverageAfter: [], configs: [], skipped: {}, readbacks: [] };
  const builds = [{ label: 'current', dir: root }, ...(baseline === undefined ? [] : [baseline])];
  const ts = TS_NODE;
  // --compare-only and --cifar-only run their own section and nothing else.
  const only = opts['compare-only'] ? '--compare-only' : opts['cifar-only'] ? '--cifar-only' : opts['examples-only'] ? '--examples-only' : undefined;
  for (const b of only !== undefined ? [] : builds) {
    console.error(`bench: readbacks of ${b.label} …`);
    try {
      run.readbacks.push({ label: b.label, ...(await runJson<ReadbackResult>(process.execPath, [...ts, 'bench/readbacks.ts', '--root', b.dir])) });
    } catch (error) {
      run.skipped[`readbacks of ${b.label}`] = error instanceof Error ? error.message : String(error);
    }
  }
  if (only !== undefined) run.browserSkipped = only;
  else if (opts['skip-browser']) run.browserSkipped = '--skip-browser';
  else if (findChromium() === undefined) run.browserSkipped = 'no Chromium (Debian: apt-get install chromium)';
  else {
    console.error('bench: PGD step in headless Chromium …');
    const pairs = builds.map((b) => `${b.label}=${b.dir}`).join(',');
    try {
      run.browser = await runJson<BrowserResult>(process.execPath, [...ts, 'bench/browser.ts', '--builds', pairs, '--batch', opts['browser-batch'], '--reps', opts.quick ? '3' : '5']);
    } catch (error) {
      run.browserSkipped = error instanceof Error ? error.message : String(error);
    }
  }
  for (const config of configs) {
    if (config === 'tensorflow' && !installed('@tensorflow/tfjs-node') && !installed('@tensorflow/tfjs-node-gpu')) {
      run.skipped[config] = 'neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node is installed';
      continue;
    }
    if (config === 'webgpu' && (opts['skip-compare'] || !installed('webgpu') || !installed('@tensorflow/tfjs-backend-webgpu'))) {
      run.skipped[config] = opts['skip-compare'] ? '--skip-compare (webgpu runs only the comparison)' : 'the packages webgpu and @tensorflow/tfjs-backend-webgpu are not both installed';
      continue;
    }
    console.error(`bench: ${config} …`);
    const args = ['--disable-warning=ExperimentalWarning', '--loader', 'ts-node/esm', 'bench/measure.ts', '--config', config, '--reps', String(scale)];
    if (config !== 'cpu' && config !== 'wasm' && config !== 'webgpu') args.push('--profile');
    if (config === 'wasm+ardkit' || config === 'tensorflow') args.push('--leak-steps', String(leakSteps));
    // The comparison runs where it compares backends (wasm+ardkit is its reference); on webgpu (SwiftShader here, far
    // too slow for batch 128) it is all that runs.
    if (!opts['skip-compare'] && COMPARED.includes(config)) args.push(config === 'webgpu' || opts['compare-only'] ? '--compare-only' : '--compare', '--compare-batch', opts['compare-batch']);
    try {
      run.configs.push(await runJson<ConfigResult>(process.execPath, args, config === 'webgpu' ? webgpuEnv() : process.env));
    } catch (error) {
      run.skipped[config] = error instanceof Error ? error.message : String(error);
    }
  }
  if (opts['cifar-only'] || opts['examples-only']) run.pytorchSkipped = opts['cifar-only'] ? '--cifar-only' : '--examples-only';
  else if (python === undefined) run.pytorchSkipped = noPython();
  else {
    console.error(`bench: PyTorch (${python}) …`);
    run.pytorch = await runJson<TorchResult>(python, ['bench/torch_bench.py', '--batch', '128', '--threads', '2', '--reps', String(scale)]);
  }
  if (opts['compare-only']) run.cifarSkipped = '--compare-only';
  else if (opts['skip-cifar']) run.cifarSkipped = '--skip-cifar';
  else if (opts['examples-only']) run.cifarSkipped = '--examples-only';
  else run.cifar = await cifarSection(scale, python, command);
  if (opts['compare-only'] || opts['cifar-only']) run.examplesSkipped = opts['compare-only'] ? '--compare-only' : '--cifar-only';
  else if (opts['skip-examples']) run.examplesSkipped = '--skip-examples';
  else run.examples = await examplesSection(python);
  run.loadAverageAfter = os.loadavg();
  return run;
}

/** A number for the report: `digits` decimals, or 2 significant digits below 10 (a cpu training step is ~0.3 img/s). */
const fmt = (v: number | undefined, digits = 0): string =>
  v === undefined || !Number.isFinite(v) ? '–' : digits === 0 && Math.abs(v) < 10 ? v.toPrecision(2) : v.toFixed(digits);
const pct = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '–' : `${(v * 100).toFixed(1)} %`);

interface Target {
  what: string;
  value: string;
  target: string;
  met: boolean | undefined;
}

function targets(run: Run): Target[] {
  const best = run.configs.find((c) => c.config === 'wasm+ardkit');
  const torch = run.pytorch;
  const step = best?.pgdStep?.ardkit.imagesPerSecond;
  const out: Target[] = [
    { what: `wasm + ardkit (useBestBackend(), ${String(best?.threads ?? '?')} threads): one PGD step, batch 128`, value: `${fmt(step)} img/s`, target: '≥ 450 img/s', met: step === undefined ? undefined : step >= 450 },
    {
      what: 'wasm + ardkit vs PyTorch CPU (same run), one PGD step',
      value: torch === undefined || step === undefined ? '–' : `${fmt(step / torch.pgdStep.imagesPerSecond, 2)}×`,
      target: '≥ 0.8×',
      met: torch === undefined || step === undefined ? undefined : step / torch.pgdStep.imagesPerSecond >= 0.8
    },
    {
      what: 'wasm + ardkit vs PyTorch CPU (same run), PGD-10',
      value: torch === undefined || best?.pgd10 === undefined ? '–' : `${fmt(best.pgd10.ardkit.imagesPerSecond / torch.pgd10.imagesPerSecond, 2)}×`,
      target: '≥ 0.8×',
      met: torch === undefined || best?.pgd10 === undefined ? undefined : best.pgd10.ardkit.imagesPerSecond / torch.pgd10.imagesPerSecond >= 0.8
    },
    {
      what: 'wasm + ardkit: adversarial-training step (PGD-10 + update)',
      value: `${fmt(best?.advTrainStep?.imagesPerSecond)} img/s`,
      target: '≥ 40 img/s',
      met: best?.advTrainStep === undefined ? undefined : best.advTrainStep.imagesPerSecond >= 40
    }
  ];
  const forward = best?.forward?.imagesPerSecond;
  if (forward !== undefined && torch !== undefined) {
    out.push({
      what: "context: the forward pass alone (XNNPACK's kernels, which ardkit does not change) vs PyTorch's, same threads",
      value: `${fmt(forward, 0)} vs ${fmt(torch.forward.imagesPerSecond, 0)} img/s, ${fmt(forward / torch.forward.imagesPerSecond, 2)}×`,
      target: '(not a target)',
      met: undefined
    });
  }
  const single = run.configs.find((c) => c.config === 'wasm+ardkit-1thread')?.pgdStep?.ardkit.imagesPerSecond;
  if (single !== undefined && torch !== undefined) {
    out.push({
      what: 'context: wasm + ardkit on 1 thread vs PyTorch CPU on 1 thread, one PGD step',
      value: `${fmt(single, 0)} vs ${fmt(torch.pgdStepOneThread.imagesPerSecond, 0)} img/s, ${fmt(single / torch.pgdStepOneThread.imagesPerSecond, 2)}×`,
      target: '(not a target)',
      met: undefined
    });
  }
  for (const c of run.configs) {
    for (const [label, pair] of [['one PGD step', c.pgdStep], ['PGD-10', c.pgd10]] as const) {
      if (pair?.hand === undefined) continue;
      const ratio = pair.relativeSpeed ?? pair.ardkit.imagesPerSecond / pair.hand.imagesPerSecond;
      out.push({ what: `${c.config}: ardkit pgd vs hand-written loop, ${label} (median of paired calls)`, value: `${fmt(ratio, 3)}×`, target: '≥ 0.97×', met: ratio >= 0.97 });
    }
    if (c.memory !== undefined) {
      const m = c.memory;
      out.push({
        what: `${c.config}: tensors after ${String(m.pgdSteps)} PGD steps`,
        value: `${String(m.numTensorsBefore)} → ${String(m.numTensorsAfter)}`,
        target: 'no change',
        met: m.numTensorsAfter === m.numTensorsBefore
      });
      out.push({
        what: `${c.config}: RSS growth over ${String(m.pgdSteps)} PGD steps after warm-up`,
        value: `${fmt(m.rssBeforeMiB)} → ${fmt(m.rssAfterMiB)} MiB (${pct(m.rssGrowth)})`,
        target: '< 5 %',
        met: m.rssGrowth < 0.05
      });
    }
  }
  return out;
}

const median = (values: readonly number[]): number => {
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length === 0 ? NaN : v.length % 2 === 1 ? (v[mid] ?? NaN) : ((v[mid - 1] ?? NaN) + (v[mid] ?? NaN)) / 2;
};

/** Host readbacks on the cpu backend, one column per build. */
function readbackTable(run: Run): string[] {
  if (run.readbacks.length === 0) return [];
  const rows: Array<[string, (r: ReadbackResult) => number | null, string]> = [
    ['`pgd`, 10 steps, first call on a model (its output probed for probabilities, once)', (r) => r.pgd10FirstCallOfModel, '≤ 3'],
    ['`pgd`, 10 steps, per call', (r) => r.pgd10PerCall, '≤ 2'],
    ['`pgd`, 50 steps, per call', (r) => r.pgd50PerCall, '≤ 2'],
    ['`apgd`, 100 steps, per call', (r) => r.apgd100PerCall, '≤ 20'],
    ['`evaluate` with one attack, per batch (the call\'s data checks included)', (r) => r.evaluatePerBatch, '≤ 1 per batch and attack'],
    ['`fit` with `pgdAt`, per batch of the first epoch (data checks included)', (r) => r.fitPerBatch, ''],
    ['`fit` with `pgdAt`, per batch of later epochs', (r) => r.fitPerLaterBatch, '≤ 1'],
    ['`fit` with `logEvery: 4`, per batch of later epochs (one read per epoch of 4 batches)', (r) => r.fitLogEvery4PerLaterBatch, '0 between logs'],
    ['`fit` on batches from an async iterable, per batch of later epochs', (r) => r.fitIterablePerLaterBatch, '≤ 1']
  ];
  const show = (v: number | null): string => (v === null ? 'no such option' : Number.isFinite(v) ? String(Number(v.toFixed(2))) : '–');
  const out = [
    `Host readbacks (bench/readbacks.ts): counted on the cpu backend by wrapping the engine's \`readSync\` and \`read\`, a dense 784-64-10 network on 512 MNIST test images, batch ${String(run.readbacks[0]?.batch ?? 128)}. Each one stalls webgl, webgpu and tfjs-node-gpu until their queue is empty.`,
    '',
    `| path | ${run.readbacks.map((r) => r.label).join(' | ')} | wanted |`,
    `| --- | ${run.readbacks.map(() => '---:').join(' | ')} | --- |`
  ];
  for (const [what, get, wanted] of rows) out.push(`| ${what} | ${run.readbacks.map((r) => show(get(r))).join(' | ')} | ${wanted} |`);
  return out;
}

/** The webgl (and webgpu) PGD step in headless Chromium, one row per build and backend. */
function browserTable(run: Run): string[] {
  const b = run.browser;
  if (b === undefined) return [`Headless Chromium: skipped (${run.browserSkipped ?? '?'}).`];
  const out = [
    `One PGD step of \`smallCnn()\` in headless ${b.chromium} (bench/browser.ts), batch ${String(b.batch)}, the result read back; the builds' pages are opened in alternation. WebGL there runs on SwiftShader (the CPU), so the absolute times say nothing about a GPU: compare the builds.`,
    '',
    '| backend | build | median ms per PGD step | images/s | relative to the first build | readbacks of a PGD-10 call |',
    '| --- | --- | ---: | ---: | ---: | ---: |'
  ];
  const first = new Map(b.builds[0]?.backends.map((r) => [r.backend, median(r.pgdStepMs)]) ?? []);
  for (const build of b.builds) {
    for (const r of build.backends) {
      if (!r.available) {
        out.push(`| ${r.backend} | ${build.label} | not available: ${r.detail} | | | |`);
        continue;
      }
      const ms = median(r.pgdStepMs);
      out.push(`| ${r.backend} (${r.detail}) | ${build.label} | ${fmt(ms, 0)} | ${fmt((b.batch / ms) * 1000, 1)} | ${fmt((first.get(r.backend) ?? NaN) / ms, 2)}× | ${String(r.pgd10Readbacks ?? '–')} |`);
    }
  }
  return out;
}

/** The backend comparison of the example networks: speed relative to wasm+ardkit, images/s in parentheses. */
function comparisonTable(run: Run): string[] {
  const compared = COMPARED.map((c) => run.configs.find((r) => r.config === c)).filter((c): c is ConfigResult => c?.comparison !== undefined);
  if (compared.length === 0) return [];
  const ref = compared.find((c) => c.config === 'wasm+ardkit');
  const first = compared[0]?.comparison;
  if (first === undefined) return [];
  const label = (c: ConfigResult): string => {
    if (c.config === 'webgpu') return `webgpu (${c.adapter?.description ?? '?'})`;
    if (c.config === 'tensorflow') return `tensorflow (${c.package ?? '?'})`;
    if (c.config === 'wasm+ardkit') return `wasm+ardkit, ${String(c.threads ?? '?')} threads (reference)`;
    return c.config;
  };
  const out = [
    '### Backends compared: the example networks (bench/compare.ts)',
    '',
    `Batch ${String(first.batch)} of real MNIST test images. PGD step: one L∞ PGD step (random start, ε = 0.3, step 0.01, projection). ` +
      `PGD-AT step: that attack (${String(first.trainAttackSteps)} step) then one SGD update of the cross-entropy on it, what \`fit\` with \`pgdAt\` does per batch. ` +
      'Each call is read back with `await data()`. Cells: speed relative to wasm+ardkit in this run (higher is faster), images/s in parentheses; ' +
      "† = the same ops written with tfjs-core, where ardkit's own functions failed on that backend (compared with wasm+ardkit's hand-written ops). " +
      'webgpu runs with `WEBGPU_CPU_FORWARD` false; on SwiftShader (a Vulkan driver on the CPU) its times say nothing about a GPU: `npm run bench:gpu` on a machine with one.',
    '',
    `| network | measure | ${compared.map(label).join(' | ')} |`,
    `| --- | --- | ${compared.map(() => '---:').join(' | ')} |`
  ];
  const notes: string[] = [];
  for (const net of first.networks.map((n) => n.network)) {
    for (const [what, key, handKey] of [['PGD step', 'pgd', 'handPgd'], ['PGD-AT step', 'train', 'handTrain']] as const) {
      const cells = compared.map((c) => {
        const row = c.comparison?.networks.find((n) => n.network === net);
        const r = row?.[key];
        if (r === undefined) return '–';
        const refRow = ref?.comparison?.networks.find((n) => n.network === net);
        const refRate = r.impl === 'hand' ? (refRow?.[handKey] ?? (refRow?.[key]?.impl === 'hand' ? refRow[key] : undefined)) : refRow?.[key]?.impl === 'ardkit' ? refRow[key] : undefined;
        const ratio = refRate === undefined ? '–' : `${fmt(r.imagesPerSecond / refRate.imagesPerSecond, r.imagesPerSecond / refRate.imagesPerSecond < 0.1 ? 3 : 2)}×`;
        return `${ratio} (${fmt(r.imagesPerSecond)})${r.impl === 'hand' ? ' †' : ''}`;
      });
      const params = first.networks.find((n) => n.network === net)?.params;
      const name = key === 'pgd' ? `${net} (${params === undefined ? '?' : params.toLocaleString('en-US').replace(/,/g, ' ')} parameters)` : '';
      out.push(`| ${name} | ${what} | ${cells.join(' | ')} |`);
    }
  }
  for (const c of compared) {
    for (const n of c.comparison?.networks ?? []) {
      for (const [k, v] of Object.entries(n.errors ?? {})) notes.push(`${c.config}, ${n.network}, ${k}: ${v}`);
    }
    if (c.comparison !== undefined) notes.push(`${c.config}: the comparison took ${fmt(c.comparison.seconds, 0)} s (warm-ups and shader compiles included).`);
  }
  if (notes.length > 0) out.push('', ...notes.map((n) => `- ${n}`));
  return out;
}

/** The CIFAR ResNet-18 section: ms per step of ardkit and PyTorch on the same threads, and their ratio. */
function cifarTable(run: Run): string[] {
  const c = run.cifar;
  if (c === undefined) return run.cifarSkipped === undefined ? [] : [`CIFAR ResNet-18 against PyTorch: skipped (${run.cifarSkipped}).`];
  const a = c.ardkit;
  const t = c.pytorch;
  const load = (l: number[]): string => l.map((v) => v.toFixed(2)).join(', ');
  const params = (a?.params ?? t?.params)?.toLocaleString('en-US').replace(/,/g, ' ') ?? '?';
  const out = [
    '### CIFAR ResNet-18 against PyTorch (bench/cifar.ts, bench/torch_bench.py `--cifar`)',
    '',
    `ardkit's \`resNet18({ inputShape: [${c.inputShape.join(', ')}], classes: ${String(c.classes)} })\` (${params} trainable parameters) and PyTorch's ResNet-18 of the same layout ` +
      "(kuangliu's `pytorch-cifar`, from scripts/torch/param_counts.py), " +
      `batch ${String(c.batch)} of seeded uniform ${c.inputShape.join('×')} images, L∞ PGD with ε = ${String(Math.round(c.eps * 255))}/255 and step ${String(Math.round(c.stepSize * 255))}/255. ` +
      'PGD step: one step of `pgd` (random start, forward, input gradient, sign step, projection) on the network in inference mode. ' +
      `Adversarial-training step: PGD-${String(c.trainAttackSteps)} in inference mode, then one SGD update of the cross-entropy on the adversarial batch in training mode ` +
      "(batch statistics), as `fit` with `pgdAt` does. ardkit runs on wasm with ardkit's kernels and one thread per core, as `useBestBackend()` sets it up; " +
      "PyTorch (the same loops, `model.eval()` for the attack, `model.train()` for the update) with `torch.set_num_threads` equal to ardkit's thread count, right after it. " +
      `Median of ${String(c.reps.pgdStep)} timed PGD steps and ${String(c.reps.advTrainStep)} timed training steps, after ${String(c.reps.warmup)} warm-up call${c.reps.warmup === 1 ? '' : 's'} ` +
      '(the training step\'s with a one-step attack), each read back.',
    '',
    `Measured by \`${c.command}\` (${c.startedAt}; load average before ${load(c.loadAverageBefore)}, after ${load(c.loadAverageAfter)}).`,
    '',
    `| measure | wasm+ardkit, ${String(a?.threads ?? '?')} threads: ms per step | PyTorch ${t?.torch ?? ''} CPU, ${String(t?.threads ?? '?')} threads: ms per step | ardkit / PyTorch (time) | ardkit's speed relative to PyTorch |`,
    '| --- | ---: | ---: | ---: | ---: |'
  ];
  const rows = [
    ['one PGD step', 'pgdStep'],
    [`adversarial-training step (PGD-${String(c.trainAttackSteps)} + SGD update)`, 'advTrainStep'],
    ["context: the forward pass alone, no gradient (XNNPACK's kernels, which ardkit does not change)", 'forward']
  ] as const;
  for (const [what, key] of rows) {
    // `forward` is absent from results written before it was measured.
    const ms = a?.[key] === undefined ? undefined : a[key].medianSeconds * 1000;
    const torchMs = t?.[key] === undefined ? undefined : t[key].medianSeconds * 1000;
    const ratio = ms === undefined || torchMs === undefined ? undefined : ms / torchMs;
    out.push(`| ${what} | ${fmt(ms, 0)} | ${fmt(torchMs, 0)} | ${ratio === undefined ? '–' : `${fmt(ratio, 2)}×`} | ${ratio === undefined ? '–' : `${fmt(1 / ratio, 2)}×`} |`);
  }
  const notes: string[] = [];
  const calls = (who: string, r: { pgdStep: { seconds?: number[] }; advTrainStep: { seconds?: number[] } }): string =>
    `${who}'s timed calls (s): PGD step ${(r.pgdStep.seconds ?? []).map((v) => v.toFixed(2)).join(', ')}; training step ${(r.advTrainStep.seconds ?? []).map((v) => v.toFixed(1)).join(', ')}.`;
  if (a !== undefined) notes.push(calls('ardkit', a));
  if (t !== undefined) notes.push(calls('PyTorch', t));
  if (a?.profileMs !== undefined) notes.push(`Where one PGD step's time goes on wasm+ardkit (tf.profile, ms per kernel): ${Object.entries(a.profileMs).map(([k, v]) => `${k} ${fmt(v, 1)}`).join(', ')}.`);
  if (a !== undefined && a.tensorsLeaked !== 0) notes.push(`ardkit: ${String(a.tensorsLeaked)} tensors more after the timed calls than before.`);
  if (c.ardkitError !== undefined) notes.push(`ardkit: failed (${c.ardkitError}).`);
  if (c.pytorchSkipped !== undefined) notes.push(`PyTorch: skipped (${c.pytorchSkipped}).`);
  if (notes.length > 0) out.push('', ...notes.map((n) => `- ${n}`));
  return out;
}

/** The examples section: each network's epoch in ardkit and PyTorch, and the paired ratio against the 0.8× target. */
function examplesTable(run: Run): string[] {
  const e = run.examples;
  if (e === undefined) return run.examplesSkipped === undefined ? [] : [`The example networks against PyTorch: skipped (${run.examplesSkipped}).`];
  const r = e.result;
  const load = (l: number[]): string => l.map((v) => v.toFixed(2)).join(', ');
  const out = [
    "### The example networks' PGD-AT epoch against PyTorch (bench/examples.ts, bench/torch_bench.py `--examples --serve`)",
    '',
    `One epoch of \`fit\` with \`pgdAt\` (PGD-5, ε = 0.3, step 0.075, uniform random start; plain SGD) on ${String(r?.images ?? '?')} seeded uniform 28×28×1 images, batch ${String(r?.batch ?? '?')}, ` +
      "each a whole `fit` call (data checks, shuffling, the epoch's loss read back), against PyTorch's loop doing the same (shuffle, attack, update, the epoch's loss), " +
      "with every dense layer as a 1×1 convolution (oneDNN: Debian's PyTorch has a generic BLAS, see bench/torch_bench.py). " +
      `ardkit on wasm with ardkit's kernels (${String(r?.threads ?? '?')} threads), PyTorch in a waiting process on ${String(r?.torchThreads ?? '?')} threads; ` +
      `they run in blocks of ${String(r?.reps ?? '?')} timed epochs, each block after an untimed epoch and a 0.5 s pause, in the order ardkit, PyTorch, PyTorch, ardkit; the ratio is PyTorch's median epoch time over ardkit's. ` +
      `Started ${e.startedAt}; load average before ${load(e.loadAverageBefore)}, after ${load(e.loadAverageAfter)}.`,
    '',
    `| network | wasm+ardkit img/s (median) | PyTorch ${r?.torch ?? ''} img/s (median) | ardkit's speed relative to PyTorch | wanted | met |`,
    '| --- | ---: | ---: | ---: | --- | --- |'
  ];
  for (const n of r?.networks ?? []) {
    const ratio = n.speedRatio;
    out.push(`| ${n.name} | ${fmt(n.ardkit.imagesPerSecond, 0)} | ${fmt(n.pytorch?.imagesPerSecond, 0)} | ${ratio === undefined ? '–' : `${fmt(ratio, 2)}×`} | ≥ 0.8× | ${ratio === undefined ? '–' : ratio >= 0.8 ? 'yes' : '**no**'} |`);
  }
  const notes: string[] = [];
  for (const n of r?.networks ?? []) if (n.tensorsLeaked !== 0) notes.push(`ardkit, ${n.name}: ${String(n.tensorsLeaked)} tensors more after the epochs than before.`);
  if (e.error !== undefined) notes.push(`failed (${e.error}).`);
  if (e.pytorchSkipped !== undefined) notes.push(`PyTorch: skipped (${e.pytorchSkipped}).`);
  if (notes.length > 0) out.push('', ...notes.map((n) => `- ${n}`));
  return out;
}

function markdown(runs: Run[], info: Record<string, string | number>, command: string): string {
  const lines: string[] = opts['compare-only']
    ? [
      '# Performance: the backends compared',
      '',
      'Generated by `npm run bench -- --compare-only` (bench/run.ts); raw figures in `bench/compare-results.json`. Only the',
      'comparison of the example networks across the backends runs; the full benchmark (`npm run bench`) is in',
      '[performance.md](performance.md).',
      ''
    ]
    : [
      '# Performance',
      '',
      'Generated by `npm run bench` (bench/run.ts); raw figures in `bench/results.json`. The model is',
      "ardkit's `smallCnn()` (the MNIST SmallCNN of Madry et al. and TRADES: conv 32-32-pool-64-64-pool, dense",
      '200-200-10, 312 202 parameters) on real MNIST test images, batch 128, L∞ PGD with ε = 0.3 and step 0.01.',
      'Images/s are batch / median time of one call, the result read back. "hand" is the same PGD loop written',
      'directly with tfjs ops (bench/measure.ts), on the same backend; PyTorch runs the same model and steps',
      '(bench/torch_bench.py) with `torch.set_num_threads(2)`. ardkit\'s `pgd` and the hand loop are called in',
      'alternation (A B, B A, …); "ardkit pgd vs hand-written loop" is the median of hand time / ardkit time over neighbouring calls.',
      '',
      "PyTorch's dense layers run as 1×1 convolutions (oneDNN), checked equal to `nn.Linear` at start: Debian's",
      '`python3-torch` is built with a generic reference BLAS, whose `nn.Linear` is several times slower than the wheels',
      'PyTorch users install. Reports generated before 2026-12-03 timed `nn.Linear` on that BLAS, and their ratios',
      'flattered ardkit (the SmallCNN PGD step: 0.66× then).',
      ''
    ];
  lines.push(
    `Machine: ${String(info['nproc'])} cores (nproc), ${String(info['cpu'])} (${String(info['simd'])}), ${String(info['memoryGiB'])} GiB;`,
    `Node ${String(info['node'])}, tfjs-core ${String(info['tfjsCore'])}, tfjs-backend-wasm ${String(info['tfjsBackendWasm'])}; ${String(info['platform'])}.`,
    '',
    `Command: \`${command}\``,
    ''
  );
  runs.forEach((run, i) => {
    const load = (l: number[]): string => l.map((v) => v.toFixed(2)).join(', ');
    lines.push(`## Run ${String(i + 1)} (${run.startedAt}; load average before ${load(run.loadAverageBefore)}, after ${load(run.loadAverageAfter)})`, '');
    // A --compare-only run has no batch-128 figures: only the comparison.
    const full = run.configs.some((c) => c.comparisonOnly !== true) || run.pytorch !== undefined;
    if (full) {
      lines.push('| configuration | forward pass | one PGD step | hand loop | PGD-10 | hand loop | adversarial-training step (PGD-10 + update) |');
      lines.push('| --- | --- | --- | --- | --- | --- | --- |');
      for (const c of run.configs) {
        if (c.comparisonOnly === true) continue; // webgpu: only in the comparison below
        const train = c.advTrainStep === undefined ? `fails: ${c.advTrainError ?? '?'}` : fmt(c.advTrainStep.imagesPerSecond);
        const threads = c.threads === undefined ? '' : ` (${String(c.threads)} thread${c.threads === 1 ? '' : 's'})`;
        lines.push(
          `| ${c.config}${threads} | ${fmt(c.forward?.imagesPerSecond)} | ${fmt(c.pgdStep?.ardkit.imagesPerSecond)} | ${fmt(c.pgdStep?.hand?.imagesPerSecond)} | ${fmt(c.pgd10?.ardkit.imagesPerSecond)} | ${fmt(c.pgd10?.hand?.imagesPerSecond)} | ${train} |`
        );
      }
      const t = run.pytorch;
      if (t !== undefined) {
        lines.push(`| PyTorch ${t.torch} CPU, ${String(t.threads)} threads | ${fmt(t.forward.imagesPerSecond)} | ${fmt(t.pgdStep.imagesPerSecond)} | | ${fmt(t.pgd10.imagesPerSecond)} | | ${fmt(t.advTrainStep.imagesPerSecond)} |`);
        lines.push(`| PyTorch ${t.torch} CPU, 1 thread | | ${fmt(t.pgdStepOneThread.imagesPerSecond)} | | | | |`);
      }
      lines.push('', 'Images/s; – = not measured (the cpu backend runs no hand-written PGD-10: over a minute per call).');
      lines.push(
        "wasm = tfjs' own wasm backend (single-threaded in Node, no conv gradient kernels); wasm+ardkit-1thread adds ardkit's",
        "training kernels; wasm+ardkit is what `useBestBackend()` gives: the training kernels on tfjs' threaded-SIMD build,",
        'one XNNPACK thread per core (`registerWasmThreads`).'
      );
      for (const [config, why] of Object.entries(run.skipped)) lines.push(`${config}: skipped (${why}).`);
      if (run.pytorchSkipped !== undefined) lines.push(`PyTorch: skipped (${run.pytorchSkipped}).`);
      lines.push('', '| target | measured | wanted | met |', '| --- | --- | --- | --- |');
      for (const tg of targets(run)) lines.push(`| ${tg.what} | ${tg.value} | ${tg.target} | ${tg.met === undefined ? '–' : tg.met ? 'yes' : '**no**'} |`);
      for (const c of run.configs) {
        if (c.memory !== undefined) lines.push('', `RSS of ${c.config} every 100 PGD steps after the warm-up (MiB): ${c.memory.rssEvery100StepsMiB.join(', ')}.`);
      }
      for (const profiled of run.configs) {
        if (profiled.profileMs === undefined) continue;
        lines.push('', `Where one PGD step's time goes on ${profiled.config} (tf.profile, ms per kernel): ${Object.entries(profiled.profileMs).map(([k, v]) => `${k} ${fmt(v, 1)}`).join(', ')}.`);
      }
    } else {
      for (const [config, why] of Object.entries(run.skipped)) lines.push(`${config}: skipped (${why}).`);
    }
    const comparison = comparisonTable(run);
    if (comparison.length > 0) lines.push('', ...comparison);
    const examples = examplesTable(run);
    if (examples.length > 0) lines.push('', ...examples);
    const cifar = cifarTable(run);
    if (cifar.length > 0) lines.push('', ...cifar);
    if (full) lines.push('', ...readbackTable(run), '', ...browserTable(run));
    lines.push('');
  });
  // The compute ceiling, measured by bench/ceiling.ts on its own (it needs clang-14 and PyTorch).
  const ceilingFile = path.resolve(root, 'bench/ceiling.json');
  if (!opts['compare-only'] && fs.existsSync(ceilingFile)) lines.push(...ceilingMarkdown(JSON.parse(fs.readFileSync(ceilingFile, 'utf8')) as CeilingResult), '');
  return lines.join('\n');
}

async function main(): Promise<void> {
  if (opts.soak) {
    const args = ['--disable-warning=ExperimentalWarning', '--loader', 'ts-node/esm', 'bench/soak.ts', '--soak-steps', opts['soak-steps'], '--soak-batch', opts['soak-batch']];
    const child = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
    process.exit(child.status ?? 1);
  }
  const runs = positive('runs', opts.runs, true);
  const configs = opts.configs.split(',').map((c) => c.trim()) as Config[];
  for (const c of configs) if (!CONFIGS.includes(c)) throw new Error(`--configs: unknown configuration ${JSON.stringify(c)}`);
  if (opts['compare-only']) {
    if (opts['skip-compare']) throw new Error('--compare-only and --skip-compare exclude each other');
    if (opts['cifar-only']) throw new Error('--compare-only and --cifar-only exclude each other');
    // Only the compared configurations; PyTorch, the readbacks and the browser are skipped too.
    configs.splice(0, configs.length, ...configs.filter((c) => COMPARED.includes(c)));
  }
  if (opts['cifar-only']) {
    if (opts['skip-cifar']) throw new Error('--cifar-only and --skip-cifar exclude each other');
    if (opts['examples-only']) throw new Error('--cifar-only and --examples-only exclude each other');
    // Only the CIFAR section (ardkit, then PyTorch): no configuration, readback count or browser.
    configs.splice(0, configs.length);
  }
  if (opts['examples-only']) {
    if (opts['skip-examples'] || opts['compare-only']) throw new Error('--examples-only excludes --skip-examples and --compare-only');
    configs.splice(0, configs.length);
  }
  const scale = opts.quick ? 0.3 : 1;
  const leakSteps = opts.quick ? 100 : positive('leak-steps', opts['leak-steps'], true);
  const python = opts['skip-torch'] || opts['compare-only'] ? undefined : findTorchPython();
  const baseline = opts.baseline === undefined ? undefined : baselineBuild(opts.baseline);
  const info = machine();
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const results: Run[] = [];
  for (let r = 0; r < runs; r++) {
    console.error(`bench: run ${String(r + 1)}/${String(runs)}, load average ${os.loadavg().map((v) => v.toFixed(2)).join(', ')}`);
    results.push(await oneRun(configs, scale, leakSteps, python, baseline, command));
  }
  let json: Results = { machine: info, command, batch: 128, eps: 0.3, stepSize: 0.01, runs: results };
  if (opts['cifar-only'] || opts['examples-only']) {
    // The section replaces that of the earlier runs in the results file (run i's by run i's), which keep everything
    // else, their machine and their command; the report is regenerated from them.
    const file = path.resolve(root, opts.json);
    const previous = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<Results>) : undefined;
    if (previous?.runs !== undefined && previous.machine !== undefined && previous.command !== undefined && previous.runs.length > 0) {
      const runs = previous.runs;
      results.forEach((r, i) => {
        const old = runs[i];
        if (old === undefined) runs.push(r);
        else {
          if (opts['cifar-only']) {
            if (r.cifar !== undefined) old.cifar = r.cifar;
            delete old.cifarSkipped;
          } else {
            if (r.examples !== undefined) old.examples = r.examples;
            delete old.examplesSkipped;
          }
        }
      });
      json = { ...json, ...previous, runs };
      console.error(`bench: the ${opts['cifar-only'] ? 'CIFAR' : 'examples'} section replaces that of ${path.relative(root, file)} (from \`${json.command}\`)`);
    }
  }
  // A --compare-only run does not replace the full report unless told to.
  const given = (flag: string): boolean => process.argv.some((a) => a === `--${flag}` || a.startsWith(`--${flag}=`));
  const jsonFile = opts['compare-only'] && !given('json') ? 'bench/compare-results.json' : opts.json;
  const markdownFile = opts['compare-only'] && !given('markdown') ? 'docs/performance-backends.md' : opts.markdown;
  fs.mkdirSync(path.dirname(path.resolve(root, jsonFile)), { recursive: true });
  fs.writeFileSync(path.resolve(root, jsonFile), `${JSON.stringify(json, null, 2)}\n`);
  fs.mkdirSync(path.dirname(path.resolve(root, markdownFile)), { recursive: true });
  const md = markdown(json.runs, json.machine, json.command);
  fs.writeFileSync(path.resolve(root, markdownFile), md);
  console.log(md);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
