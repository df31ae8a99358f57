/**
 * tfjs' threaded-SIMD wasm build in Node through registerWasmThreads: it really runs 2 threads, gives the
 * cpu backend's values for every training gradient (the shared training suite), lets a program exit by
 * itself, and rejects bad calls clearly.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { MAX_WASM_THREADS, registerWasmThreads, registerWasmTrainingKernels, useBestBackend } from '../../src/backends/index.js';
import { useBackend } from '../helpers.js';
import { trainingSuite } from './training-suite.js';

describe('registerWasmThreads: bad calls, before anything is registered', () => {
  it.each([
    [{ threads: 0 }, /^registerWasmThreads: threads must be an integer >= 1 \(got 0\)$/],
    [{ threads: 1.5 }, /^registerWasmThreads: threads must be an integer >= 1 \(got 1\.5\)$/],
    [{ threads: '2' }, /^registerWasmThreads: threads must be an integer >= 1 \(got "2"\)$/],
    [{ threads: MAX_WASM_THREADS + 1 }, /^registerWasmThreads: threads must be an integer from 1 to 8 \(tfjs' wasm build has 8 worker threads\) \(got 9\)$/],
    [{ thread: 2 }, /^registerWasmThreads: options must only have the keys threads \(got "thread"\)$/]
  ])('%j is a RangeError naming the argument, rule and value', async (options, message) => {
    await expect(registerWasmThreads(options as object)).rejects.toThrow(message);
    await expect(registerWasmThreads(options as object)).rejects.toBeInstanceOf(RangeError);
  });

  it('before the backend starts, another count replaces the pending one and threads: 1 restores tfjs’ own loader', async () => {
    const stock = tf.findBackendFactory('wasm');
    expect(await registerWasmThreads({ threads: 3 })).toBe(3);
    expect(tf.findBackendFactory('wasm')).not.toBe(stock);
    expect(await registerWasmThreads({ threads: 1 })).toBe(1);
    expect(tf.findBackendFactory('wasm')).toBe(stock);
    expect(await registerWasmThreads({ threads: 1 })).toBe(1);
    expect(tf.engine().registry['wasm']).toBeUndefined(); // nothing was initialised
  });

  it('useBestBackend checks its threads option the same way', async () => {
    await expect(useBestBackend({ threads: 0 })).rejects.toThrow(/^useBestBackend: threads must be an integer >= 1 \(got 0\)$/);
    await expect(useBestBackend({ threads: 9 })).rejects.toThrow(/^useBestBackend: threads must be an integer from 1 to 8 \(tfjs' wasm build has 8 worker threads\) \(got 9\)$/);
  });
});

trainingSuite('training on 2-thread wasm with ardkit kernels', async () => {
  expect(await registerWasmThreads({ threads: 2 })).toBe(2);
  expect(await registerWasmThreads({ threads: 2 })).toBe(2); // idempotent
  registerWasmTrainingKernels();
});

describe('registerWasmThreads once the backend runs', () => {
  it('runs the requested number of threads', async () => {
    await useBackend('wasm');
    expect(getThreadsCount()).toBe(2);
  });

  it('a convolution big enough to split over threads equals the cpu backend', async () => {
    const make = (): tf.Tensor => {
      const x = tf.tensor4d(Array.from({ length: 32 * 20 * 20 * 16 }, (_, i) => Math.sin(i * 0.37)), [32, 20, 20, 16]);
      const f = tf.tensor4d(Array.from({ length: 3 * 3 * 16 * 24 }, (_, i) => Math.cos(i * 0.11)), [3, 3, 16, 24]);
      return tf.conv2d(x, f, 1, 'same');
    };
    await useBackend('cpu');
    const cpu = tf.tidy(make).dataSync();
    await useBackend('wasm');
    const before = tf.memory().numTensors;
    const out = tf.tidy(make);
    const wasm = out.dataSync();
    out.dispose();
    expect(tf.memory().numTensors).toBe(before);
    let diff = 0;
    let scale = 0;
    cpu.forEach((c, i) => {
      diff = Math.max(diff, Math.abs((wasm[i] ?? NaN) - c));
      scale = Math.max(scale, Math.abs(c));
    });
    expect(wasm).toHaveLength(cpu.length);
    expect(diff / scale).toBeLessThanOrEqual(1e-5);
  });

  it('the same count again is accepted; another count says the backend is already initialised', async () => {
    expect(await registerWasmThreads({ threads: 2 })).toBe(2);
    await expect(registerWasmThreads({ threads: 1 })).rejects.toThrow(
      /^registerWasmThreads: the wasm backend is already initialised with 2 thread\(s\); call registerWasmThreads before the first tf\.setBackend\('wasm'\)/
    );
  });

  it('says to import the wasm package when no wasm backend is registered', async () => {
    await useBackend('cpu');
    tf.removeBackend('wasm');
    await expect(registerWasmThreads({ threads: 2 })).rejects.toThrow(
      /^registerWasmThreads: the wasm backend is not registered; import '@tensorflow\/tfjs-backend-wasm' first$/
    );
  });
});

describe('a program on threaded wasm', () => {
  it('exits by itself when it is done (the pool threads do not keep Node alive)', () => {
    const root = path.resolve(__dirname, '../..');
    const script = [
      "import * as tf from '@tensorflow/tfjs-core';",
      "import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';",
      "import { useBestBackend } from './src/backends/index.ts';",
      'const name = await useBestBackend({ threads: 2 });',
      "const y = tf.conv2d(tf.ones([8, 16, 16, 8]), tf.ones([3, 3, 8, 8]), 1, 'same');",
      'console.log(JSON.stringify({ name, threads: getThreadsCount(), value: y.dataSync()[0] }));'
    ].join('\n');
    const child = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', '--loader', 'ts-node/esm', '--input-type=module', '-e', script], {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000
    });
    expect(child.signal).toBeNull(); // not killed by the timeout
    expect(child.status).toBe(0);
    expect(JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '')).toEqual({ name: 'wasm', threads: 2, value: 4 * 8 });
  });
});
