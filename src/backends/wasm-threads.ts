/**
 * Multi-threaded wasm in Node: tfjs' threaded-SIMD wasm build, which tfjs itself only loads in browsers.
 *
 * tfjs-backend-wasm 4.x ships `tfjs-backend-wasm-threaded-simd.{js,wasm}` (XNNPACK with a pthread pool of
 * Emscripten workers) but never uses it in Node (`WASM_HAS_MULTITHREAD_SUPPORT` is false there, tfjs issue
 * 3830): its loader hands Emscripten `blob:` URLs, which Node's `worker_threads` cannot start. ardkit builds
 * the same module through Emscripten's documented module options instead:
 * - `locateFile` points the pthread worker script at a file (the worker source tfjs ships, written once to
 *   the temp folder), so Node starts the workers from a path;
 * - `instantiateWasm` instantiates the binary with one import changed: the logical core count, which tfjs'
 *   C++ halves (it assumes two hyper-threads per core) before capping its thread pool with it.
 * Nothing global is patched. The module is then wrapped in tfjs' own `BackendWasm` and registered as `wasm`,
 * so every wasm kernel (and ardkit's training kernels) runs on it unchanged.
 */
import * as tf from '@tensorflow/tfjs-core';
import { rangeError, named } from '../core/errors.js';
import { checkInteger } from '../core/validate.js';
import { custom, parseOptions, type OptionField } from '../core/options.js';

const FN = 'registerWasmThreads';

/** tfjs' wasm build pre-creates this many pthread workers and caps its thread pool there. */
export const MAX_WASM_THREADS = 8;

/** The priority `@tensorflow/tfjs-backend-wasm` registers its backend with. */
const WASM_PRIORITY = 2;

const PACKAGE = '@tensorflow/tfjs-backend-wasm';
const BUILD = 'tfjs-backend-wasm-threaded-simd';

/** Options of {@link registerWasmThreads}. */
export interface WasmThreadsOptions {
  /**
   * Threads of XNNPACK's pool (the calling thread counts as one), 1 to 8. 1 keeps tfjs' single-threaded
   * wasm build.
   * @defaultValue the machine's available parallelism (`os.availableParallelism()`), at most 8
   */
  readonly threads?: number;
}

/** The parts of the wasm package ardkit uses. */
interface WasmPackage {
  BackendWasm: new (module: never) => tf.KernelBackend;
  setThreadsCount(threads: number): void;
}

type CWrap = (name: string, returnType: string | null, argTypes: string[]) => unknown;

/** The Emscripten module of tfjs' wasm build, as tfjs' `BackendWasm` expects it. */
interface WasmModule {
  cwrap: CWrap;
  tfjs?: Record<string, unknown>;
  PThread?: { terminateAllThreads(): void; runningWorkers?: { unref?: () => void }[] };
}

interface FactoryConfig {
  locateFile(path: string, prefix: string): string;
  instantiateWasm(
    imports: WebAssembly.Imports,
    receive: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void
  ): Record<string, never>;
}

type Factory = (config: FactoryConfig) => Promise<WasmModule>;

/** What ardkit registered: the thread count, and tfjs' own (single-threaded) factory to restore. */
let registered:
  | { threads: number; module: WasmModule; stockFactory: () => tf.KernelBackend | Promise<tf.KernelBackend> }
  | undefined;

/** Imports a module by a computed specifier, so TypeScript leaves its (untyped) shape to runtime checks. */
async function importModule(specifier: string): Promise<Record<string, unknown>> {
  const mod = (await import(specifier)) as Record<string, unknown>;
  return mod;
}

/** The CommonJS `module.exports` of an imported module, whichever module system imported it. */
function commonJsExports(mod: Record<string, unknown>): Record<string, unknown> {
  const inner = mod['default'];
  return inner !== null && (typeof inner === 'object' || typeof inner === 'function') ? (inner as Record<string, unknown>) : mod;
}

function unsupported(what: string): never {
  throw new Error(
    `${FN}: ${PACKAGE} does not have the layout ardkit expects (${what}); use a 4.x version, or threads: 1`
  );
}

async function loadWasmPackage(): Promise<WasmPackage> {
  const mod = await importModule(PACKAGE);
  const pkg = 'BackendWasm' in mod ? mod : commonJsExports(mod);
  if (typeof pkg['BackendWasm'] !== 'function' || typeof pkg['setThreadsCount'] !== 'function') {
    unsupported('no BackendWasm or setThreadsCount export');
  }
  return pkg as unknown as WasmPackage;
}

/**
 * Writes tfjs' pthread worker source to the temp folder (once per content: the name carries its hash) and
 * returns the path. Written to a private name and renamed, so concurrent processes never see half a file.
 */
async function workerFile(): Promise<string> {
  const mod = commonJsExports(await importModule(`${PACKAGE}/wasm-out/${BUILD}.worker.js`));
  const contents = mod['wasmWorkerContents'];
  if (typeof contents !== 'string') unsupported(`no wasmWorkerContents in wasm-out/${BUILD}.worker.js`);
  // tfjs ships the source in a template literal that turned its "\n" escapes into newlines: undo that.
  const source = contents.replace(/\n/g, '\\n');
  const [fs, os, path, crypto] = await Promise.all([import('node:fs'), import('node:os'), import('node:path'), import('node:crypto')]);
  const hash = crypto.createHash('sha256').update(source).digest('hex').slice(0, 16);
  const file = path.join(os.tmpdir(), `ardkit-${BUILD}-${hash}.worker.cjs`);
  try {
    if (fs.existsSync(file) && fs.readFileSync(file, 'utf8') === source) return file;
    const temp = `${file}.${String(process.pid)}.tmp`;
    fs.writeFileSync(temp, source);
    fs.renameSync(temp, file);
  } catch (error) {
    throw new Error(`${FN}: could not write the wasm worker script to ${file} (${String(error)})`, { cause: error });
  }
  return file;
}

/** Instantiates tfjs' threaded-SIMD module with a pool of `threads` threads. */
async function createThreadedModule(threads: number): Promise<WasmModule> {
  const factoryExports = commonJsExports(await importModule(`${PACKAGE}/wasm-out/${BUILD}.js`));
  const factory = (typeof factoryExports === 'function' ? factoryExports : unsupported(`wasm-out/${BUILD}.js is not a module factory`)) as unknown as Factory;
  const worker = await workerFile();
  const { readFile } = await import('node:fs/promises');
  let wasmFile: string | undefined;
  let fail: (error: unknown) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  const config: FactoryConfig = {
    locateFile(file, prefix) {
      if (file.endsWith('.worker.js')) return worker;
      const located = prefix + file;
      if (file.endsWith('.wasm')) wasmFile = located;
      return located;
    },
    instantiateWasm(imports, receive) {
      const env = imports['env'] ?? {};
      // tfjs' C++ sizes its pool as min(requested, cores / 2): report 2·threads cores so `threads` is granted.
      const patched = { ...imports, env: { ...env, emscripten_num_logical_cores: () => 2 * threads } };
      const file = wasmFile ?? unsupported('the .wasm binary was not located');
      readFile(file)
        .then((binary) => WebAssembly.instantiate(binary, patched))
        .then(({ instance, module }) => {
          receive(instance, module);
        })
        .catch((error: unknown) => {
          fail(new Error(`${FN}: could not instantiate ${file} (${String(error)})`, { cause: error }));
        });
      return {};
    }
  };
  const module = await Promise.race([factory(config), failed]);
  // The same bindings tfjs' own loader attaches (BackendWasm calls them).
  module.tfjs = {
    init: module.cwrap('init', null, []),
    initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: module.cwrap('get_threads_count', 'number', []),
    registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: module.cwrap('dispose_data', null, ['number']),
    dispose: module.cwrap('dispose', null, [])
  };
  return module;
}

/** A thread count for the wasm backend: an integer from 1 to {@link MAX_WASM_THREADS}. */
function checkThreads(arg: string, value: unknown): number {
  const threads = checkInteger(arg, value, 1);
  if (threads > MAX_WASM_THREADS) {
    rangeError(arg, `be an integer from 1 to ${String(MAX_WASM_THREADS)} (tfjs' wasm build has 8 worker threads)`, threads);
  }
  return threads;
}

/**
 * The `threads` option: an integer from 1 to {@link MAX_WASM_THREADS}; it stays undefined when left out (the machine's
 * available parallelism, read when it is needed). Shared by {@link registerWasmThreads} and `useBestBackend`, which
 * checks it before loading anything.
 *
 * @throws never throws; the field's `parse` throws RangeError naming the function the user called, `threads`, the rule
 * and the value.
 * @example
 * const { threads } = parseOptions(options, { threads: THREADS_FIELD });
 */
export const THREADS_FIELD: OptionField<number | undefined> = /* @__PURE__ */ custom(checkThreads);

/** How each of {@link WasmThreadsOptions} is checked (`threads` left out: the machine's available parallelism). */
const WASM_THREADS_FIELDS: { readonly [K in keyof WasmThreadsOptions]-?: OptionField<number | undefined> } = {
  threads: THREADS_FIELD
};

/** The machine's available parallelism (Node ≥ 18.14), or its CPU count. */
async function availableThreads(): Promise<number> {
  const os = await import('node:os');
  const n = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, Math.min(MAX_WASM_THREADS, n));
}

/**
 * Makes tfjs' `wasm` backend multi-threaded in Node. `@tensorflow/tfjs-backend-wasm` 4.x runs
 * single-threaded there (tfjs issue 3830), although it ships a threaded-SIMD build; this registers that
 * build as the `wasm` backend, with an XNNPACK pool of `threads` threads (Node worker threads sharing the
 * module's memory). Every wasm kernel, and ardkit's {@link registerWasmTrainingKernels}, runs on it
 * unchanged, and results equal the single-threaded backend's to float32 rounding. On the 2-core benchmark
 * machine two threads made one PGD step of the small MNIST CNN 1.25–1.7× faster than one (docs/performance.md).
 *
 * Call it after importing `@tensorflow/tfjs-backend-wasm` and before the wasm backend is first used
 * (`tf.setBackend('wasm')`); {@link useBestBackend} calls it for you. It loads the module eagerly (about
 * 0.2 s) and writes tfjs' worker script once to the temp folder, because Node starts workers from files.
 * Idempotent for the same `threads`; `threads: 1` restores tfjs' own single-threaded loader.
 *
 * @param options - see {@link WasmThreadsOptions}.
 * @returns the number of threads the backend will use.
 * @throws RangeError when `threads` is not an integer from 1 to 8, or an unknown option key is given.
 * @throws Error when `@tensorflow/tfjs-backend-wasm` has not been imported, when the wasm backend is already
 * initialised (its tensors would be lost; the message says with how many threads), when the installed
 * package lacks the threaded build, or when the worker script cannot be written.
 * @example
 * import * as tf from '@tensorflow/tfjs-core';
 * import '@tensorflow/tfjs-backend-wasm';
 * import { registerWasmThreads, registerWasmTrainingKernels } from 'ardkit/backends';
 *
 * await registerWasmThreads({ threads: 2 }); // 2
 * registerWasmTrainingKernels();
 * await tf.setBackend('wasm');
 */
export async function registerWasmThreads(options: Readonly<WasmThreadsOptions> = {}): Promise<number> {
  return named('registerWasmThreads', async () => {
    const threads = parseOptions(options, WASM_THREADS_FIELDS).threads ?? (await availableThreads());
    const factory = tf.findBackendFactory('wasm');
    if (factory === null) {
      throw new Error(`${FN}: the wasm backend is not registered; import '${PACKAGE}' first`);
    }
    const current = registered?.threads ?? 1;
    if (tf.engine().registry['wasm'] !== undefined) {
      if (threads === current) return threads;
      throw new Error(
      `${FN}: the wasm backend is already initialised with ${String(current)} thread(s); call ${FN} before ` +
        'the first tf.setBackend(\'wasm\') (or tf.removeBackend(\'wasm\') first, which disposes its tensors)'
      );
    }
    if (threads === current) return threads;
    const stockFactory = registered?.stockFactory ?? factory;
    // A threaded module registered earlier but never initialised is replaced: its workers are stopped.
    const replaced = registered?.module;
    if (threads === 1) {
      tf.removeBackend('wasm');
      tf.registerBackend('wasm', stockFactory, WASM_PRIORITY);
      registered = undefined;
      replaced?.PThread?.terminateAllThreads();
      return 1;
    }
    const [pkg, module] = await Promise.all([loadWasmPackage(), createThreadedModule(threads)]);
    replaced?.PThread?.terminateAllThreads();
    tf.removeBackend('wasm');
    tf.registerBackend(
      'wasm',
      () => {
      // BackendWasm reads the thread count tfjs keeps at module level when it initialises the pool.
        pkg.setThreadsCount(threads);
        const backend = new pkg.BackendWasm(module as never);
        // The pool's threads wait for work forever, and Emscripten keeps a running thread's worker referenced:
        // unreferenced, they no longer keep Node alive once the program is done.
        for (const worker of module.PThread?.runningWorkers ?? []) worker.unref?.();
        return backend;
      },
      WASM_PRIORITY
    );
    registered = { threads, module, stockFactory };
    return threads;
  });
}
