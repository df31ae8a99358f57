import * as tf from '@tensorflow/tfjs-core';
import { custom, flag, parseOptions, type OptionField, type OptionFields } from '../core/options.js';
import { nullAsLeftOut } from '../core/options.js';
import { rangeError, named, argumentError } from '../core/errors.js';
import { registerNodeWebGpu } from './node-webgpu.js';
import { registerWasmTrainingKernels } from './wasm-training-kernels.js';
import { registerWasmThreads, THREADS_FIELD } from './wasm-threads.js';

/** The tfjs backends {@link useBestBackend} knows how to load in Node. */
export type NodeBackendName = 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';

/** Every {@link NodeBackendName} {@link useBestBackend} accepts as a candidate. */
export const NODE_BACKENDS: readonly NodeBackendName[] = ['tensorflow', 'webgpu', 'wasm', 'cpu'];

/**
 * The candidates {@link useBestBackend} tries when given none, fastest first. `webgpu` is not among them: in Node
 * it needs Dawn's bindings and a Vulkan driver (on Linux), probing for an adapter where there is none costs time and
 * prints the Vulkan loader's warnings, on a software adapter (SwiftShader, lavapipe) it is far slower than wasm, and a
 * machine with a GPU and CUDA gets `tensorflow` from tfjs-node-gpu first anyway. Ask for it: `candidates: ['webgpu']`.
 */
export const DEFAULT_NODE_BACKENDS: readonly NodeBackendName[] = ['tensorflow', 'wasm', 'cpu'];

/**
 * The packages that register each backend when imported, tried in order until one registers it: tfjs-node-gpu
 * (CUDA) and tfjs-node both register `tensorflow`. `webgpu` is set up by {@link registerNodeWebGpu}.
 */
const PACKAGES: Record<NodeBackendName, readonly string[]> = {
  tensorflow: ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'],
  webgpu: ['webgpu', '@tensorflow/tfjs-backend-webgpu'],
  wasm: ['@tensorflow/tfjs-backend-wasm'],
  cpu: ['@tensorflow/tfjs-backend-cpu']
};

/** What to install for a backend, for the error message. */
const INSTALL: Record<NodeBackendName, string> = {
  tensorflow: PACKAGES.tensorflow.join(', '),
  webgpu: PACKAGES.webgpu.join(' with '),
  wasm: PACKAGES.wasm.join(', '),
  cpu: PACKAGES.cpu.join(', ')
};

/** Options of {@link useBestBackend}. */
export interface UseBestBackendOptions {
  /**
   * The backends to try, in order; the first one whose package loads and that initialises wins.
   * Pass one name to force a backend (as the examples' `--backend` flag does), or leave `'wasm'` out to skip it.
   * `'webgpu'` is tried only when listed (see {@link DEFAULT_NODE_BACKENDS} and {@link registerNodeWebGpu}).
   * @defaultValue {@link DEFAULT_NODE_BACKENDS}: ['tensorflow', 'wasm', 'cpu']
   */
  readonly candidates?: readonly NodeBackendName[];
  /**
   * When wasm is chosen, call {@link registerWasmTrainingKernels} so that conv nets train on it, fast.
   * @defaultValue true
   */
  readonly wasmTrainingKernels?: boolean;
  /**
   * When wasm is chosen and not yet initialised, the threads of its XNNPACK pool, 1 to 8, through
   * {@link registerWasmThreads} (tfjs alone runs wasm single-threaded in Node). 1 keeps tfjs' single-threaded
   * build. When left out, the machine's available parallelism (at most 8) is used, and should the threaded
   * build fail to load, the single-threaded one is used instead; an explicit count fails loudly.
   * @defaultValue `os.availableParallelism()`, at most 8
   */
  readonly threads?: number;
}

/** A non-empty list of {@link NODE_BACKENDS}. */
function checkCandidates(arg: string, value: unknown): readonly NodeBackendName[] {
  const names = NODE_BACKENDS.map((b) => JSON.stringify(b)).join(', ');
  if (!Array.isArray(value) || value.length === 0) rangeError(arg, `be a non-empty array of ${names}`, value);
  for (const name of value as unknown[]) {
    if (!NODE_BACKENDS.includes(name as NodeBackendName)) rangeError(arg, `hold only ${names}`, name);
  }
  return value as readonly NodeBackendName[];
}

/**
 * How each of {@link UseBestBackendOptions} is checked and defaulted (`null` candidates count as left out; `threads`
 * left out: the machine's available parallelism, with a fallback to one thread).
 */
const USE_BEST_BACKEND_FIELDS: OptionFields<Omit<UseBestBackendOptions, 'threads'>> & { readonly threads: OptionField<number | undefined> } = {
  candidates: /* @__PURE__ */ nullAsLeftOut(/* @__PURE__ */ custom(checkCandidates, DEFAULT_NODE_BACKENDS)),
  wasmTrainingKernels: /* @__PURE__ */ flag(true),
  threads: THREADS_FIELD
};

/** The message of an error, also of one made in another realm (a vm context, as under jest), where instanceof fails. */
function errorMessage(error: unknown): string {
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(error);
}

/**
 * Whether `error` says that `specifier` itself is not installed (rather than that it, or one of its own imports, failed
 * to load). Read from the message: an ESM loader hook (ts-node's, run off-thread) drops the error's `code`.
 */
function notInstalled(error: unknown, specifier: string): boolean {
  const text = errorMessage(error);
  return text.startsWith(`Cannot find package '${specifier}'`) || text.startsWith(`Cannot find module '${specifier}'`);
}

/**
 * Imports a backend package for its side effect (registering the backend). Returns undefined when it loaded or is
 * not installed; when it is installed but failed to load (tfjs-node-gpu without its CUDA libraries), why.
 */
async function load(specifier: string): Promise<string | undefined> {
  try {
    await import(specifier);
    return undefined;
  } catch (error) {
    if (notInstalled(error, specifier)) return undefined;
    return `${specifier} failed to load (${errorMessage(error).split('\n')[0] ?? ''})`;
  }
}

/** Imports the packages of `name` in order until one registers the backend; collects why a package failed. */
async function register(name: Exclude<NodeBackendName, 'webgpu'>, reasons: string[]): Promise<boolean> {
  for (const specifier of PACKAGES[name]) {
    if (tf.findBackendFactory(name) !== null) return true;
    const failure = await load(specifier);
    if (failure !== undefined) reasons.push(failure);
  }
  return tf.findBackendFactory(name) !== null;
}

/** Threads for a wasm backend about to initialise: an explicit count must work, the default may fall back. */
async function wasmThreads(threads: number | undefined): Promise<void> {
  if (threads !== undefined) {
    await registerWasmThreads({ threads });
    return;
  }
  try {
    await registerWasmThreads();
  } catch {
    // The threaded build could not be loaded here: tfjs' single-threaded wasm still works.
  }
}

/**
 * Selects the fastest tfjs backend available in Node and waits until it is ready: `tensorflow` when
 * `@tensorflow/tfjs-node-gpu` (native TensorFlow with CUDA) or `@tensorflow/tfjs-node` is installed, tried in that
 * order, else `wasm` with ardkit's training kernels ({@link registerWasmTrainingKernels}) on every core
 * ({@link registerWasmThreads}), else the pure-JS `cpu` backend. `webgpu` (Dawn's WebGPU through the npm package
 * `webgpu`, see {@link registerNodeWebGpu}) is tried only when `candidates` lists it. A backend's package is imported
 * only when it is tried, so none of them is required; a backend already registered by the program is used as it is.
 *
 * No tfjs flag is changed: on webgpu `WEBGPU_CPU_FORWARD` keeps tfjs' default (true, small ops run on tfjs' CPU
 * kernels) unless the program sets it. Read results on webgpu with `await t.data()` (`dataSync` throws in Node).
 *
 * @param options - see {@link UseBestBackendOptions}.
 * @returns the name of the backend now active (`tf.getBackend()`).
 * @throws RangeError when `candidates` is empty or names an unknown backend, `threads` is not an integer
 * from 1 to 8, or an unknown option key is given;
 * Error when none of the candidates could be loaded and initialised (the message lists the packages to install,
 * and why an installed one failed: for webgpu the reason {@link registerNodeWebGpu} gives, such as a missing Vulkan
 * driver), or when an explicit `threads` count cannot be set up (see {@link registerWasmThreads}).
 * @example
 * import { useBestBackend } from 'ardkit/backends';
 *
 * const name = await useBestBackend(); // 'tensorflow', 'wasm' or 'cpu'
 * await useBestBackend({ candidates: ['cpu'] }); // force the cpu backend
 * await useBestBackend({ candidates: ['webgpu', 'wasm'] }); // WebGPU through Dawn where it has an adapter, else wasm
 * // or, in a fresh process: await useBestBackend({ threads: 1 }); // single-threaded wasm
 */
export async function useBestBackend(options: Readonly<UseBestBackendOptions> = {}): Promise<NodeBackendName> {
  return named('useBestBackend', async () => {
    const { candidates, wasmTrainingKernels: kernels, threads } = parseOptions(options, USE_BEST_BACKEND_FIELDS);
    const reasons: string[] = [];
    for (const name of candidates) {
      if (name === 'webgpu') {
        const status = await registerNodeWebGpu();
        if (!status.found) {
          reasons.push(status.reason);
          continue;
        }
      } else if (!(await register(name, reasons))) continue;
      if (name === 'wasm') {
        if (tf.engine().registry['wasm'] === undefined) await wasmThreads(threads);
        if (kernels) registerWasmTrainingKernels();
      }
      if (await tf.setBackend(name)) {
        await tf.ready();
        return name;
      }
      reasons.push(`${name} is registered but did not initialise (tf.setBackend('${name}') resolved to false)`);
    }
    throw argumentError(Error, `none of the backends ${candidates.join(', ')} could be loaded; install one of ` +
      `${candidates.map((c) => INSTALL[c]).join(', ')} (with the same version as @tensorflow/tfjs-core)` +
      (reasons.length === 0 ? '' : `. ${reasons.join('. ')}`)
    );
  });
}
