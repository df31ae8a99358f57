/**
 * Counting host readbacks: every `dataSync`, `data`, `array` and `arraySync` goes through the engine's `readSync` or
 * `read`, and on webgl, webgpu and tfjs-node-gpu each one waits until the device's queue is empty. Used by the
 * readback test, `npm run bench` (bench/readbacks.ts) and the browser benchmark's page. (The backend's own methods
 * would also count the cpu kernels that read their inputs through `bufferSync`, such as Tile and GatherV2: a GPU
 * backend's kernels never do.)
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * The engine readbacks `f` makes, counted while it runs and, when it returns a promise, until that settles. A
 * tensor container `f` returns is disposed unread.
 */
export async function readbacks(f: () => unknown): Promise<number> {
  const engine = tf.engine() as unknown as { readSync: (id: object) => unknown; read: (id: object) => Promise<unknown> };
  const { readSync, read } = engine;
  let count = 0;
  engine.readSync = function (this: unknown, id: object) {
    count++;
    return readSync.call(this, id);
  };
  engine.read = function (this: unknown, id: object) {
    count++;
    return read.call(this, id);
  };
  try {
    const out = f();
    if (out instanceof Promise) await out;
    else tf.dispose(out as tf.TensorContainer);
  } finally {
    engine.readSync = readSync;
    engine.read = read;
  }
  return count;
}
