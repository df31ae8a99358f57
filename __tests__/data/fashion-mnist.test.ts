import * as fs from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { FASHION_MNIST_DEBIAN_DIR, fashionMnistFiles, loadIdxDataset, readIdx } from '../../src/data/index.js';
import { useBackend } from '../helpers.js';

describe('fashionMnistFiles', () => {
  it('builds the original file names, in the Debian folder by default', () => {
    expect(FASHION_MNIST_DEBIAN_DIR).toBe('/usr/share/datasets/fashion-mnist');
    expect(fashionMnistFiles('test')).toEqual({
      images: '/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz',
      labels: '/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz'
    });
    expect(fashionMnistFiles('train', { dir: 'data/fashion/', gzipped: false })).toEqual({
      images: 'data/fashion/train-images-idx3-ubyte',
      labels: 'data/fashion/train-labels-idx1-ubyte'
    });
  });

  it('rejects bad arguments', () => {
    expect(() => fashionMnistFiles('validation' as 'test')).toThrow(/^fashionMnistFiles: split must be one of "train", "test" \(got "validation"\)$/);
    expect(() => fashionMnistFiles('test', { dir: '' })).toThrow(/^fashionMnistFiles: dir must be a non-empty string \(got ""\)$/);
    expect(() => fashionMnistFiles('test', { gzipped: 1 as never })).toThrow(TypeError);
    expect(() => fashionMnistFiles('test', { folder: 'x' } as never)).toThrow(/^fashionMnistFiles: options must only have the keys dir, gzipped/);
  });
});

// Real Fashion-MNIST, where Debian's dataset-fashion-mnist installed it (or in ARDKIT_FASHION_MNIST_DIR). CI
// installs nothing for it, so there the block is reported as skipped, with the reason in its name.
const dir = process.env.ARDKIT_FASHION_MNIST_DIR ?? FASHION_MNIST_DEBIAN_DIR;
const testFiles = fashionMnistFiles('test', { dir });
const trainFiles = fashionMnistFiles('train', { dir });
const available = [testFiles.images, testFiles.labels, trainFiles.images, trainFiles.labels].every((f) => fs.existsSync(f));
const describeReal = available ? describe : describe.skip;
const title = available
  ? `real Fashion-MNIST from ${dir}`
  : `real Fashion-MNIST (skipped: no files in ${dir}; apt-get install dataset-fashion-mnist to run it)`;
if (!available) console.info(`fashion-mnist.test.ts: ${title}`);

/** How many labels of each class 0–9. */
function classCounts(labels: ArrayLike<number>): number[] {
  const counts = new Array<number>(10).fill(0);
  for (let i = 0; i < labels.length; i++) counts[labels[i] ?? 0] = (counts[labels[i] ?? 0] ?? 0) + 1;
  return counts;
}

describeReal(title, () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('loads the gzipped test split: 10 000 images [28, 28, 1] in [0, 1], 1 000 per class', async () => {
    const { x, y } = await loadIdxDataset(testFiles.images, testFiles.labels);
    expect(x.shape).toEqual([10000, 28, 28, 1]);
    expect(y.dtype).toBe('int32');
    // The first test items: ankle boot, pullover, trouser, trouser, shirt.
    expect(Array.from(tf.slice(y, 0, 5).dataSync())).toEqual([9, 2, 1, 1, 6]);
    expect(classCounts(y.dataSync())).toEqual(new Array<number>(10).fill(1000));
    const [min, max, mean] = tf.tidy(() => [tf.min(x), tf.max(x), tf.mean(x)].map((t) => t.dataSync()[0] ?? NaN));
    expect([min, max]).toEqual([0, 1]);
    // The published pixel mean of Fashion-MNIST is about 0.286.
    expect(mean).toBeGreaterThan(0.28);
    expect(mean).toBeLessThan(0.29);
    tf.dispose([x, y]);
  });

  it('reads the training split: 60 000 images of 28 × 28, 6 000 per class', async () => {
    const labels = await readIdx(trainFiles.labels);
    expect(labels.shape).toEqual([60000]);
    expect(Array.from(labels.data.subarray(0, 5))).toEqual([9, 0, 0, 3, 0]);
    expect(classCounts(labels.data)).toEqual(new Array<number>(10).fill(6000));
    const images = await readIdx(trainFiles.images);
    expect(images.shape).toEqual([60000, 28, 28]);
    expect(images.data).toBeInstanceOf(Uint8Array);
  });
});
