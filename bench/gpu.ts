/**
 * `npm run bench:gpu`: ardkit on a machine's GPU, run as it is on any machine. For each backend, in its own process:
 *
 * - `webgpu`: tfjs-backend-webgpu on Dawn (npm `webgpu`, `registerNodeWebGpu`), on the machine's Vulkan driver (on
 *   Linux; Metal or Direct3D elsewhere): VK_ICD_FILENAMES is left as the environment has it unless `--vk-icd` is given.
 *   `WEBGPU_CPU_FORWARD` is false (every op on the GPU) unless `--cpu-forward`.
 * - `tensorflow`: @tensorflow/tfjs-node-gpu (CUDA) where installed, else @tensorflow/tfjs-node (reported as such).
 * - `wasm`: wasm with ardkit's training kernels on every core (`useBestBackend()`), the CPU reference for the ratios.
 *
 * it times, for each example network (ardkit's smallCnn, the main example's teacher and student CNNs), a PGD-10
 * attack and one PGD-AT training step (a PGD-10 attack, then an SGD update of the cross-entropy: what `fit` with `pgdAt`
 * does per batch) on real MNIST test images, each call read back with `await data()`, and reports images/s, the backend,
 * the adapter (`adapter.info`: vendor, architecture, device, description) or the CUDA device, and writes JSON to `--out`.
 * ardkit's own functions are timed where they run on the backend; where they fail, the same ops written with tfjs-core
 * are, and the error is reported.
 *
 *   npm run bench:gpu                                          # webgpu, tensorflow (where installed), wasm; batch 128
 *   npm run bench:gpu -- --out bench/gpu-h200.json
 *   npm run bench:gpu -- --backends webgpu --dawn adapter=NVIDIA   # pick one adapter of several
 *   # without a GPU (a smoke test on SwiftShader, the CPU):
 *   npm run bench:gpu -- --vk-icd /usr/lib/chromium/vk_swiftshader_icd.json --batch 8 --reps 1 --warmup 1 --pgd-steps 2 --train-attack-steps 1
 */
import { execFileSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { registerNodeWebGpu, useBestBackend, type WebGpuAdapterDescription } from 'ardkit/backends';
import { parseOptions, positive } from '../examples/cli.js';
import { compareNetworks, type ComparisonResult } from './compare.js';
import { NETWORK_DESCRIPTIONS, NETWORKS, type NetworkName } from './networks.js';

const BACKENDS = ['webgpu', 'tensorflow', 'wasm'] as const;
type Backend = (typeof BACKENDS)[number];

const opts = parseOptions('Usage: npm run bench:gpu -- [options]', {
  backends: { type: 'string', description: `comma-separated subset of ${BACKENDS.join(', ')} (wasm is the CPU reference of the ratios)`, default: BACKENDS.join(',') },
  networks: { type: 'string', description: `comma-separated subset of ${NETWORKS.join(', ')}`, default: NETWORKS.join(',') },
  batch: { type: 'string', description: 'batch size (real MNIST test images)', default: '128' },
  'pgd-steps': { type: 'string', description: 'steps of the timed PGD attack', default: '10' },
  'train-attack-steps': { type: 'string', description: 'PGD steps of the attack in the training step', default: '10' },
  reps: { type: 'string', description: 'timed calls of each measurement (the median counts)', default: '5' },
  warmup: { type: 'string', description: 'untimed calls first (shader compiles, autotuning)', default: '2' },
  'vk-icd': { type: 'string', description: 'set VK_ICD_FILENAMES for webgpu to this Vulkan ICD file (default: the environment\'s, i.e. the system\'s driver)' },
  dawn: { type: 'string', description: 'comma-separated options of Dawn\'s create(), e.g. adapter=NVIDIA or backend=vulkan', default: '' },
  'cpu-forward': { type: 'boolean', description: 'keep tfjs\' default WEBGPU_CPU_FORWARD=true (small ops on the CPU)', default: false },
  out: { type: 'string', description: 'JSON results file', default: 'bench/gpu-results.json' },
  child: { type: 'string', description: '(internal) measure this backend in this process and print JSON' }
});

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const require = createRequire(import.meta.url);

/** What one backend's process prints. */
interface BackendResult {
  backend: Backend;
  available: boolean;
  /** Why the backend could not start. */
  reason?: string;
  /** The tfjs backend name (`tf.getBackend()`). */
  tfBackend?: string;
  /** The package that provides it: webgpu (Dawn), @tensorflow/tfjs-node-gpu, @tensorflow/tfjs-node, @tensorflow/tfjs-backend-wasm. */
  package?: string;
  /** webgpu: what the adapter says about itself. */
  adapter?: WebGpuAdapterDescription;
  /** tensorflow: the CUDA device TensorFlow reported creating (from its log), where it did. */
  cudaDevice?: string;
  /** wasm: XNNPACK threads. */
  threads?: number;
  /** Seconds from the first call (`registerNodeWebGpu` / `useBestBackend`) until the backend was ready. */
  setupSeconds?: number;
  flags?: Record<string, boolean>;
  comparison?: ComparisonResult;
  /** Tensors left after the measurements (0 expected). */
  leakedTensors?: number;
  error?: string;
}

function list<T extends string>(name: string, value: string, allowed: readonly T[]): T[] {
  const items = value.split(',').map((v) => v.trim()).filter((v) => v !== '');
  for (const v of items) {
    if (!(allowed as readonly string[]).includes(v)) {
      console.error(`--${name} must be a comma-separated subset of ${allowed.join(', ')} (got ${JSON.stringify(v)})`);
      process.exit(2);
    }
  }
  if (items.length === 0) {
    console.error(`--${name} is empty`);
    process.exit(2);
  }
  return items as T[];
}

const firstLine = (error: unknown): string => (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';

/** Measures `backend` in this process; prints one JSON line. */
async function child(backend: Backend): Promise<void> {
  const result: BackendResult = { backend, available: false };
  const t0 = performance.now();
  try {
    if (backend === 'webgpu') {
      const dawnOptions = opts.dawn.split(',').map((o) => o.trim()).filter((o) => o !== '');
      const gpu = await registerNodeWebGpu({ dawnOptions });
      if (!gpu.found) throw new Error(gpu.reason);
      result.adapter = gpu.adapter;
      result.package = gpu.gpu === 'dawn' ? 'webgpu (Dawn)' : 'navigator.gpu';
      await useBestBackend({ candidates: ['webgpu'] });
      if (!opts['cpu-forward']) tf.env().set('WEBGPU_CPU_FORWARD', false);
      result.flags = { WEBGPU_CPU_FORWARD: tf.env().getBool('WEBGPU_CPU_FORWARD') };
    } else if (backend === 'tensorflow') {
      await useBestBackend({ candidates: ['tensorflow'] });
      const loaded = (pkg: string): boolean => Object.keys(require.cache).some((k) => k.includes(`/node_modules/${pkg}/`));
      result.package = loaded('@tensorflow/tfjs-node-gpu') ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
    } else {
      await useBestBackend({ candidates: ['wasm'] });
      result.package = '@tensorflow/tfjs-backend-wasm with ardkit\'s training kernels';
      const wasm = (await import('@tensorflow/tfjs-backend-wasm')) as { getThreadsCount(): number };
      result.threads = wasm.getThreadsCount();
    }
  } catch (error) {
    result.reason = firstLine(error);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  result.available = true;
  result.setupSeconds = (performance.now() - t0) / 1000;
  result.tfBackend = tf.getBackend();
  tf.env().set('PROD', true);
  const before = tf.memory().numTensors;
  try {
    result.comparison = await compareNetworks({
      networks: list('networks', opts.networks, NETWORKS),
      batch: positive('batch', opts.batch, true),
      pgdSteps: positive('pgd-steps', opts['pgd-steps'], true),
      trainAttackSteps: positive('train-attack-steps', opts['train-attack-steps'], true),
      reps: positive('reps', opts.reps, true),
      warmup: opts.warmup === '0' ? 0 : positive('warmup', opts.warmup, true),
      log: (what) => {
        console.error(`bench:gpu: ${backend}: ${what} …`);
      }
    });
    result.leakedTensors = tf.memory().numTensors - before;
  } catch (error) {
    result.error = firstLine(error);
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** Runs this file for one backend in a child process; returns its result (and the CUDA device TensorFlow logged). */
function runChild(backend: Backend): Promise<BackendResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_RUNTIME_DIR: process.env['XDG_RUNTIME_DIR'] ?? os.tmpdir() };
  if (backend === 'webgpu' && opts['vk-icd'] !== undefined) env['VK_ICD_FILENAMES'] = path.resolve(opts['vk-icd']);
  const args = [...process.execArgv, new URL(import.meta.url).pathname, ...process.argv.slice(2), '--child', backend];
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    p.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
      process.stderr.write(chunk);
    });
    p.on('error', reject);
    p.on('close', (code) => {
      const last = out.trim().split('\n').at(-1) ?? '';
      let result: BackendResult;
      try {
        result = JSON.parse(last) as BackendResult;
      } catch {
        result = { backend, available: false, reason: `the process exited with ${String(code)} without a result: ${err.trim().split('\n').slice(-3).join(' | ')}` };
      }
      // TensorFlow logs e.g. "Created device /job:localhost/replica:0/task:0/device:GPU:0 with 139 GB memory: -> device: 0, name: NVIDIA H200, pci bus id: …".
      const cuda = /device:GPU:\d+ with [^\n]*?name: ([^,\n]+)/.exec(err)?.[1];
      if (cuda !== undefined) result.cudaDevice = cuda.trim();
      resolve(result);
    });
  });
}

function machine(): Record<string, unknown> {
  const version = (pkg: string): string | undefined => {
    try {
      return (JSON.parse(fs.readFileSync(require.resolve(`${pkg}/package.json`), 'utf8')) as { version: string }).version;
    } catch {
      return undefined;
    }
  };
  let gpus: string[] | undefined;
  try {
    gpus = execFileSync('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .trim()
      .split('\n')
      .filter((l) => l !== '');
  } catch {
    gpus = undefined;
  }
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    nvidiaSmi: gpus ?? 'not available',
    VK_ICD_FILENAMES: opts['vk-icd'] ?? process.env['VK_ICD_FILENAMES'] ?? '(unset: the system\'s Vulkan drivers)',
    packages: Object.fromEntries(
      ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-webgpu', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node', 'webgpu'].map((p) => [p, version(p) ?? 'not installed'])
    )
  };
}

const fmt = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '–' : v >= 100 ? v.toFixed(0) : v.toPrecision(3));

function describeBackend(r: BackendResult): string {
  if (r.backend === 'webgpu') return `webgpu: ${[r.adapter?.description, r.adapter?.vendor, r.adapter?.architecture, r.adapter?.device].filter((s) => s !== undefined && s !== '').join(', ')}`;
  if (r.backend === 'tensorflow') return `tensorflow: ${r.package ?? '?'}${r.cudaDevice === undefined ? '' : ` on ${r.cudaDevice}`}`;
  return `wasm: ${String(r.threads ?? '?')} threads`;
}

function table(results: readonly BackendResult[]): string {
  const ran = results.filter((r) => r.comparison !== undefined);
  const ref = ran.find((r) => r.backend === 'wasm');
  const first = ran[0]?.comparison;
  if (first === undefined) return '(no backend ran)';
  const lines = [
    `images/s, batch ${String(first.batch)}; in parentheses: relative to wasm (same run); † = tfjs-core ops, ardkit's functions failed there`,
    '',
    `| network | measure | ${ran.map(describeBackend).join(' | ')} |`,
    `| --- | --- | ${ran.map(() => '---:').join(' | ')} |`
  ];
  for (const net of first.networks) {
    for (const [label, key] of [[`PGD-${String(first.pgdSteps)}`, 'pgd'], [`PGD-${String(first.trainAttackSteps)}-AT training step`, 'train']] as const) {
      const cells = ran.map((r) => {
        const rate = r.comparison?.networks.find((n) => n.network === net.network)?.[key];
        const refRate = ref?.comparison?.networks.find((n) => n.network === net.network)?.[key];
        const rel = rate === undefined || refRate === undefined || r === ref ? '' : ` (${fmt(rate.imagesPerSecond / refRate.imagesPerSecond)}×)`;
        return rate === undefined ? '–' : `${fmt(rate.imagesPerSecond)}${rel}${rate.impl === 'hand' ? ' †' : ''}`;
      });
      lines.push(`| ${net.network} | ${label} | ${cells.join(' | ')} |`);
    }
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  if (opts.child !== undefined) {
    await child(list('child', opts.child, BACKENDS)[0] ?? 'wasm');
    return;
  }
  const backends = list('backends', opts.backends, BACKENDS);
  const networks: NetworkName[] = list('networks', opts.networks, NETWORKS);
  const started = new Date().toISOString();
  const results: BackendResult[] = [];
  for (const b of backends) {
    console.error(`bench:gpu: ${b} …`);
    results.push(await runChild(b));
  }
  const json = {
    startedAt: started,
    command: `npm run bench:gpu${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    machine: machine(),
    settings: {
      batch: Number(opts.batch),
      pgdSteps: Number(opts['pgd-steps']),
      trainAttackSteps: Number(opts['train-attack-steps']),
      reps: Number(opts.reps),
      warmup: Number(opts.warmup),
      eps: 0.3,
      stepSize: 0.01,
      networks: Object.fromEntries(networks.map((n) => [n, NETWORK_DESCRIPTIONS[n]]))
    },
    backends: results
  };
  const out = path.resolve(root, opts.out);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(json, null, 2)}\n`);
  for (const r of results) {
    if (!r.available) console.log(`${r.backend}: not available: ${r.reason ?? '?'}`);
    else if (r.error !== undefined) console.log(`${r.backend}: failed: ${r.error}`);
    for (const n of r.comparison?.networks ?? []) for (const [k, v] of Object.entries(n.errors ?? {})) console.log(`${r.backend}, ${n.network}, ${k}: ${v}`);
  }
  console.log(`\n${table(results)}\n\nwrote ${path.relative(process.cwd(), out)}`);
  // A failure only when no requested GPU backend produced a figure (wasm alone is the reference, not the point).
  const gpuRan = results.some((r) => r.backend !== 'wasm' && r.comparison !== undefined);
  if (!gpuRan && backends.some((b) => b !== 'wasm')) {
    console.error('bench:gpu: no GPU backend ran (see the reasons above)');
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
