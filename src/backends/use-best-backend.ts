import * as tf from '@tensorflow/tfjs-core';
import { checkBoolean, checkKnownKeys, optionKeys } from '../core/validate.js';
import { rangeError } from '../core/errors.js';
import { registerWasmTrainingKernels } from './wasm-training-kernels.js';
import { checkThreads, registerWasmThreads } from './wasm-threads.js';

/** The tfjs backends {@link useBestBackend} knows how to load in Node. */
export type NodeBackendName = 'tensorflow' | 'wasm' | 'cpu';

/** The allowed {@link NodeBackendName} values, fastest first. */
export const NODE_BACKENDS: readonly NodeBackendName[] = ['tensorflow', 'wasm', 'cpu'];

/** The package that registers each backend when imported. */
const PACKAGES: Record<NodeBackendName, string> = {
  tensorflow: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs-backend-cpu'
};

/** Options of {@link useBestBackend}. */
export interface UseBestBackendOptions {
  /**
   * The backends to try, in order; the first one whose package loads and that initialises wins.
   * Pass one name to force a backend (as the examples' `--backend` flag does), or leave `'wasm'` out to skip it.
   * @defaultValue ['tensorflow', 'wasm', 'cpu']
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

/** Imports a backend package for its side effect (registering the backend); false when it is not installed. */
async function load(specifier: string): Promise<boolean> {
  try {
    await import(specifier);
    return true;
  } catch {
    return false;
  }
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
 * `@tensorflow/tfjs-node` is installed (native TensorFlow), else `wasm` with ardkit's training kernels
 * ({@link registerWasmTrainingKernels}) on every core ({@link registerWasmThreads}), else the pure-JS `cpu`
 * backend. A backend's package is imported only when it is tried, so none of them is required; a backend
 * already registered by the program is used as it is.
 *
 * @param options - see {@link UseBestBackendOptions}.
 * @returns the name of the backend now active (`tf.getBackend()`).
 * @throws RangeError when `candidates` is empty or names an unknown backend, `threads` is not an integer
 * from 1 to 8, or an unknown option key is given;
 * Error when none of the candidates could be loaded and initialised (the message lists the packages to install),
 * or when an explicit `threads` count cannot be set up (see {@link registerWasmThreads}).
 * @example
 * import { useBestBackend } from 'ardkit/backends';
 *
 * const name = await useBestBackend(); // 'tensorflow', 'wasm' or 'cpu'
 * await useBestBackend({ candidates: ['cpu'] }); // force the cpu backend
 * // or, in a fresh process: await useBestBackend({ threads: 1 }); // single-threaded wasm
 */
export async function useBestBackend(options: Readonly<UseBestBackendOptions> = {}): Promise<NodeBackendName> {
  const fn = 'useBestBackend';
  checkKnownKeys(fn, options, optionKeys<UseBestBackendOptions>()('candidates', 'wasmTrainingKernels', 'threads'));
  const given: unknown = options.candidates ?? NODE_BACKENDS;
  const names = NODE_BACKENDS.map((b) => JSON.stringify(b)).join(', ');
  if (!Array.isArray(given) || given.length === 0) rangeError(fn, 'candidates', `be a non-empty array of ${names}`, given);
  for (const name of given as unknown[]) {
    if (!NODE_BACKENDS.includes(name as NodeBackendName)) rangeError(fn, 'candidates', `hold only ${names}`, name);
  }
  const candidates = given as readonly NodeBackendName[];
  const kernels = options.wasmTrainingKernels === undefined ? true : checkBoolean(fn, 'wasmTrainingKernels', options.wasmTrainingKernels);
  const threads = options.threads === undefined ? undefined : checkThreads(fn, options.threads);
  for (const name of candidates) {
    if (tf.findBackendFactory(name) === null && !(await load(PACKAGES[name]))) continue;
    if (tf.findBackendFactory(name) === null) continue;
    if (name === 'wasm') {
      if (tf.engine().registry['wasm'] === undefined) await wasmThreads(threads);
      if (kernels) registerWasmTrainingKernels();
    }
    if (await tf.setBackend(name)) {
      await tf.ready();
      return name;
    }
  }
  throw new Error(
    `${fn}: none of the backends ${candidates.join(', ')} could be loaded; install one of ` +
      `${candidates.map((c) => PACKAGES[c]).join(', ')} (with the same version as @tensorflow/tfjs-core)`
  );
}
