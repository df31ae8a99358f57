/**
 * EXPERIMENT, benchmark only (not part of ardkit): runs tfjs' threaded wasm build in Node.
 *
 * tfjs-backend-wasm 4.22 never uses threads in Node: its `WASM_HAS_MULTITHREAD_SUPPORT` flag returns false
 * when `IS_NODE` (tfjs issue 3830), so `setThreadsCount` has no effect. Forcing the flag fails: Emscripten
 * starts its pthread workers from a `blob:` URL, which Node's `worker_threads` rejects (ERR_WORKER_PATH).
 * And the C++ side caps the thread pool at `os.cpus().length / 2` (it assumes 2 hyper-threads per core), so
 * on a 2-vCPU machine it would run 1 thread anyway.
 *
 * This sets all three aside, only while the backend initialises: `worker_threads.Worker` starts the
 * worker script from the package's own file contents (eval) and hands it the main script's path instead of
 * a Blob; `os.cpus` reports `2 × threads` entries. It depends on Emscripten internals of that exact build.
 */
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as wt from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';

const require = createRequire(import.meta.url);

interface LoadMessage {
  cmd?: string;
  urlOrBlob?: unknown;
}

/** Initialises the wasm backend with `threads` XNNPACK threads; returns the count the backend reports. */
export async function initThreadedWasm(threads: number): Promise<number> {
  const wasm = (await import('@tensorflow/tfjs-backend-wasm')) as { setThreadsCount(n: number): void; getThreadsCount(): number };
  const mainScript = require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js');
  const { wasmWorkerContents } = require('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js') as { wasmWorkerContents: string };
  const workerThreads = require('node:worker_threads') as typeof wt;
  const osModule = require('node:os') as typeof os;
  const OriginalWorker = workerThreads.Worker;
  const originalCpus = osModule.cpus.bind(osModule);
  class PatchedWorker extends OriginalWorker {
    constructor(url: string | URL, options?: wt.WorkerOptions) {
      if (typeof url === 'string' && url.startsWith('blob:')) super(wasmWorkerContents.replace(/\n/g, '\\n'), { ...options, eval: true });
      else super(url, options);
    }
    override postMessage(message: unknown, transfer?: readonly wt.Transferable[]): void {
      const m = message as LoadMessage | null;
      const fixed = m !== null && typeof m === 'object' && m.cmd === 'load' && typeof m.urlOrBlob !== 'string' ? { ...m, urlOrBlob: mainScript } : message;
      super.postMessage(fixed, transfer);
    }
  }
  workerThreads.Worker = PatchedWorker;
  osModule.cpus = (): os.CpuInfo[] => {
    const cpus = originalCpus();
    return Array.from({ length: 2 * threads }, (_, i) => cpus[i % cpus.length] as os.CpuInfo);
  };
  try {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
    wasm.setThreadsCount(threads);
    if (!(await tf.setBackend('wasm'))) throw new Error('the threaded wasm backend failed to initialise');
    await tf.ready();
  } finally {
    workerThreads.Worker = OriginalWorker;
    osModule.cpus = originalCpus;
  }
  return wasm.getThreadsCount();
}
