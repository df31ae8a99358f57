import * as tf from '@tensorflow/tfjs-core';
import { custom, parseOptions, type OptionFields } from '../core/options.js';
import { nullAsLeftOut } from '../core/options.js';
import { typeError, named } from '../core/errors.js';

const FN = 'registerNodeWebGpu';
/** Dawn's Node bindings on npm (`create(options)` gives a `GPU`, `globals` the WebGPU classes and constants). */
const DAWN_PACKAGE = 'webgpu';
const WEBGPU_BACKEND_PACKAGE = '@tensorflow/tfjs-backend-webgpu';
/** Where Debian's `chromium` package puts SwiftShader's Vulkan ICD: a WebGPU adapter on the CPU. */
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/** Options of {@link registerNodeWebGpu}. */
export interface NodeWebGpuOptions {
  /**
   * Options passed to Dawn's `create()` when this call installs `navigator.gpu` (ignored when a `navigator.gpu`
   * already exists), e.g. `['backend=vulkan']` or `['adapter=NVIDIA']` to pick one of several adapters.
   * @defaultValue []
   */
  readonly dawnOptions?: readonly string[];
}

/** Dawn's options: an array of strings. */
function checkDawnOptions(arg: string, value: unknown): readonly string[] {
  if (!Array.isArray(value) || value.some((o) => typeof o !== 'string')) typeError(arg, 'be an array of strings', value);
  return value as readonly string[];
}

/** How each of {@link NodeWebGpuOptions} is checked and defaulted (`null` counts as left out). */
const NODE_WEBGPU_FIELDS: OptionFields<NodeWebGpuOptions> = {
  dawnOptions: /* @__PURE__ */ nullAsLeftOut(/* @__PURE__ */ custom(checkDawnOptions, []))
};

/** What the WebGPU adapter says about itself (`GPUAdapter.info`); a field the implementation leaves out is `''`. */
export interface WebGpuAdapterDescription {
  /** e.g. `'nvidia'`, `'google'` (SwiftShader). */
  readonly vendor: string;
  /** e.g. `'hopper'`, `'swiftshader'`. */
  readonly architecture: string;
  /** The device's identifier, where the implementation gives one (Dawn on SwiftShader: `'swiftshader-device-subzero-'`). */
  readonly device: string;
  /** e.g. `'NVIDIA H200'`, `'SwiftShader driver 5.0.0'`. */
  readonly description: string;
}

/**
 * The result of {@link registerNodeWebGpu}: `found` says whether WebGPU has an adapter, so that
 * `tf.setBackend('webgpu')` can start; when not, `reason` says why and what to install or set.
 */
export type NodeWebGpuStatus =
  | {
    /** WebGPU offers an adapter: `tf.setBackend('webgpu')` can start. */
    readonly found: true;
    /** The adapter tfjs will get (the same `powerPreference`: `WEBGPU_USE_LOW_POWER_GPU`). */
    readonly adapter: WebGpuAdapterDescription;
    /** Where `navigator.gpu` came from: Dawn, installed by this function (or an earlier call), or already there (a browser, or the program). */
    readonly gpu: 'dawn' | 'existing';
  }
  | {
    /** No adapter, or a package is missing: the webgpu backend cannot start. */
    readonly found: false;
    /** Why, naming what to install or set (`registerNodeWebGpu: WebGPU found no adapter: …`). */
    readonly reason: string;
  };

/** The parts of WebGPU's `GPU` and `GPUAdapter` this file uses (TypeScript's DOM library has no WebGPU types). */
interface Gpu {
  requestAdapter(options?: { powerPreference?: 'low-power' | 'high-performance' }): Promise<GpuAdapter | null>;
}
interface GpuAdapter {
  readonly info?: Partial<Record<keyof WebGpuAdapterDescription, unknown>>;
  requestAdapterInfo?(): Promise<Partial<Record<keyof WebGpuAdapterDescription, unknown>>>;
}

/** Installing navigator.gpu once per process: concurrent and later calls share it. */
let installing: Promise<'dawn' | 'existing' | { reason: string }> | undefined;

/** A module by a computed specifier: bundlers leave it alone, and TypeScript does not need its types. */
async function importModule(specifier: string): Promise<Record<string, unknown>> {
  return (await import(specifier)) as Record<string, unknown>;
}

/** The first line of an error's message, also of one made in another realm (a vm context), where instanceof fails. */
function message(error: unknown): string {
  const text = (error as { message?: unknown } | null)?.message;
  return (typeof text === 'string' ? text : String(error)).split('\n')[0] ?? '';
}

function existingGpu(): Gpu | undefined {
  const nav = (globalThis as { navigator?: { gpu?: unknown } }).navigator;
  const gpu = nav?.gpu;
  return gpu !== null && typeof gpu === 'object' && typeof (gpu as Partial<Gpu>).requestAdapter === 'function' ? (gpu as Gpu) : undefined;
}

/** Imports Dawn's bindings and installs its WebGPU globals and `navigator.gpu`, each only where not yet present. */
async function installDawn(dawnOptions: readonly string[]): Promise<'dawn' | { reason: string }> {
  let mod: Record<string, unknown>;
  try {
    mod = await importModule(DAWN_PACKAGE);
  } catch (error) {
    return {
      reason:
        `${FN}: there is no navigator.gpu and the npm package '${DAWN_PACKAGE}' (Dawn's WebGPU for Node) could not be ` +
        `loaded (${message(error)}); install it (npm install ${DAWN_PACKAGE}) to use the webgpu backend in Node`
    };
  }
  const create = mod['create'];
  const globals = mod['globals'];
  if (typeof create !== 'function' || globals === null || typeof globals !== 'object') {
    return { reason: `${FN}: the package '${DAWN_PACKAGE}' has no create() and globals exports (a 0.x version of Dawn's Node bindings is expected)` };
  }
  let gpu: unknown;
  try {
    gpu = (create as (options: string[]) => unknown)([...dawnOptions]);
  } catch (error) {
    return { reason: `${FN}: Dawn's create(${JSON.stringify(dawnOptions)}) failed (${message(error)})` };
  }
  const scope = globalThis as Record<string, unknown>;
  for (const [name, value] of Object.entries(globals)) if (!(name in scope)) scope[name] = value;
  const nav = scope['navigator'];
  if (nav !== null && typeof nav === 'object') {
    // Node ≥ 21 has a navigator of its own (no gpu): add the property to it.
    Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true, enumerable: true, writable: true });
  } else {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, enumerable: true, writable: true });
  }
  return 'dawn';
}

/** Why Dawn found no adapter, with what to do about it on this platform. */
async function noAdapterReason(): Promise<string> {
  const head = `${FN}: WebGPU found no adapter`;
  if (typeof process === 'undefined' || process.platform !== 'linux') {
    return `${head}; the machine needs a GPU driver that Dawn supports (Metal on macOS, Direct3D 12 or Vulkan on Windows)`;
  }
  const env = process.env;
  const variable = env['VK_DRIVER_FILES'] !== undefined ? 'VK_DRIVER_FILES' : 'VK_ICD_FILENAMES';
  const files = env[variable];
  let missing: string[] = [];
  let swiftShaderThere = false;
  try {
    const fs = await import('node:fs');
    missing = (files ?? '').split(':').filter((f) => f !== '' && !fs.existsSync(f));
    swiftShaderThere = fs.existsSync(SWIFTSHADER_ICD);
  } catch {
    // No file system (a browser-like runtime): the message stays general.
  }
  const given =
    files === undefined
      ? `no Vulkan driver usable by Dawn is installed (${variable} is not set, so the Vulkan loader searched its default folders)`
      : missing.length > 0
        ? `${variable}=${files} names ${missing.length === 1 ? 'a file that does' : 'files that do'} not exist: ${missing.join(', ')}`
        : `the Vulkan driver named by ${variable}=${files} offers no adapter Dawn can use`;
  const fallback = swiftShaderThere
    ? `, or for a CPU-only adapter (SwiftShader, slow, for tests) set VK_ICD_FILENAMES=${SWIFTSHADER_ICD}`
    : `, or for a CPU-only adapter (for tests) set VK_ICD_FILENAMES to SwiftShader's ICD file (Debian's chromium package ships ${SWIFTSHADER_ICD})`;
  return (
    `${head}: ${given}. On Linux Dawn runs on Vulkan: install the GPU's Vulkan driver (NVIDIA's driver with its ` +
    'Vulkan ICD, Mesa\'s vulkan drivers, and the libvulkan1 loader) and leave VK_ICD_FILENAMES unset or point it at ' +
    `that driver's ICD file${fallback}`
  );
}

async function describeAdapter(adapter: GpuAdapter): Promise<WebGpuAdapterDescription> {
  let info = adapter.info;
  if (info === undefined && typeof adapter.requestAdapterInfo === 'function') {
    try {
      info = await adapter.requestAdapterInfo();
    } catch {
      info = undefined;
    }
  }
  const field = (key: keyof WebGpuAdapterDescription): string => {
    const value = info?.[key];
    return typeof value === 'string' ? value : '';
  };
  return { vendor: field('vendor'), architecture: field('architecture'), device: field('device'), description: field('description') };
}

/**
 * Makes tfjs' `webgpu` backend available in Node through Dawn, the WebGPU implementation of Chromium, from the
 * npm package `webgpu` (prebuilt `dawn.node` bindings). Where there is no `navigator.gpu` yet, it imports `webgpu`,
 * installs its WebGPU globals (`GPUBufferUsage`, …) where absent and `navigator.gpu`, then imports
 * `@tensorflow/tfjs-backend-webgpu` (which registers the `webgpu` backend only when `navigator.gpu` exists at its
 * import) and asks for an adapter as tfjs will. Where `navigator.gpu` exists (a browser, or a program that set it
 * up), it is used as it is. Nothing happens at import of ardkit: only this call loads anything.
 *
 * On Linux Dawn runs on Vulkan: the machine needs the GPU's Vulkan driver. For tests without a GPU, SwiftShader's
 * Vulkan driver gives an adapter on the CPU: `VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json` with
 * Debian's `chromium`. The variable is read by the Vulkan loader when Dawn starts, so set it before the process
 * starts (a change of `process.env` in a jest test file does not reach it).
 *
 * Then `tf.setBackend('webgpu')`, or {@link useBestBackend} with `candidates: ['webgpu']`, which calls this function.
 * Read results with `await t.data()`: in Node tfjs-webgpu's `dataSync` throws (it needs an OffscreenCanvas). The
 * `WEBGPU_CPU_FORWARD` flag keeps tfjs' default (true: ops on small tensors run on tfjs' CPU kernels) unless your
 * program sets it; this function never changes a flag.
 *
 * @param options - see {@link NodeWebGpuOptions}.
 * @returns `{ found: true, adapter, gpu }` when WebGPU offers an adapter (then the `webgpu` backend can start), else
 * `{ found: false, reason }`, where `reason` says what is missing: the `webgpu` package, tfjs-backend-webgpu, or,
 * on Linux, a Vulkan driver (what to install, or to set `VK_ICD_FILENAMES` to).
 * @throws TypeError when `dawnOptions` is not an array of strings; RangeError for an unknown option key. A missing
 * package or driver is not thrown: it is the `reason` of the result.
 * @example
 * import * as tf from '@tensorflow/tfjs-core';
 * import '@tensorflow/tfjs-layers'; // tfjs' gradients
 * import { registerNodeWebGpu } from 'ardkit/backends';
 *
 * const gpu = await registerNodeWebGpu();
 * if (!gpu.found) throw new Error(gpu.reason);
 * console.log(gpu.adapter.description); // e.g. 'NVIDIA H200' or 'SwiftShader driver 5.0.0'
 * await tf.setBackend('webgpu');
 * const y = tf.matMul(tf.ones([2, 2]), tf.ones([2, 2]));
 * console.log(await y.data()); // never dataSync() here
 */
export async function registerNodeWebGpu(options: Readonly<NodeWebGpuOptions> = {}): Promise<NodeWebGpuStatus> {
  return named('registerNodeWebGpu', async () => {
    const { dawnOptions } = parseOptions(options, NODE_WEBGPU_FIELDS);
    installing ??= existingGpu() !== undefined ? Promise.resolve('existing' as const) : installDawn(dawnOptions);
    const installed = await installing;
    // A failed installation is tried again by the next call (the package may have been installed meanwhile).
    if (typeof installed === 'object') {
      installing = undefined;
      return { found: false, reason: installed.reason };
    }
    const gpu = existingGpu();
    if (gpu === undefined) return { found: false, reason: `${FN}: navigator.gpu was removed after it was installed` };
    if (tf.findBackendFactory('webgpu') === null) {
      try {
        await importModule(WEBGPU_BACKEND_PACKAGE);
      } catch (error) {
        return { found: false, reason: `${FN}: '${WEBGPU_BACKEND_PACKAGE}' could not be loaded (${message(error)}); install it, with the same version as @tensorflow/tfjs-core` };
      }
      if (tf.findBackendFactory('webgpu') === null) {
        return {
          found: false,
          reason:
          `${FN}: '${WEBGPU_BACKEND_PACKAGE}' was imported before navigator.gpu existed, so it did not register the webgpu ` +
          'backend; call registerNodeWebGpu() before anything imports it (or import it only after this call)'
        };
      }
    }
    // The adapter tfjs' backend factory will ask for (tfjs-backend-webgpu reads the same flag).
    let lowPower = false;
    try {
      lowPower = tf.env().getBool('WEBGPU_USE_LOW_POWER_GPU');
    } catch {
    // A tfjs-backend-webgpu without the flag: tfjs asks for the high-performance adapter.
    }
    let adapter: GpuAdapter | null;
    try {
      adapter = await gpu.requestAdapter({ powerPreference: lowPower ? 'low-power' : 'high-performance' });
    } catch (error) {
    // Dawn lists the adapters it has after the first line (e.g. when dawnOptions' adapter= matches none): keep them.
      const text = (error as { message?: unknown } | null)?.message;
      const full = (typeof text === 'string' ? text : String(error)).trim().replace(/\s*\n\s*/g, ' ');
      return { found: false, reason: `${FN}: navigator.gpu.requestAdapter() failed (${full})` };
    }
    if (adapter === null) return { found: false, reason: await noAdapterReason() };
    return { found: true, adapter: await describeAdapter(adapter), gpu: installed };
  });
}
