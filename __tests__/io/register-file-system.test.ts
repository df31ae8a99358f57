import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { registerFileSystem } from '../../src/io/index.js';
import { useBackend } from '../helpers.js';
import { functionalInputs, functionalModel, predictionBytes, release, removeTempDirs, tempDir, weightBytes } from './fixtures.js';

// Jest gives each test file its own tfjs-core, so its router registry starts empty here (no tfjs-node either).
beforeAll(async () => useBackend('cpu'));
afterAll(removeTempDirs);

const probe = 'file://anywhere/model.json';

describe('registerFileSystem', () => {
  // In order: the first tests run before registration.
  it('is not run by importing ardkit/io: until it is called, a file:// URL meets only the hint, which says to call it', async () => {
    const model = functionalModel(1);
    const dir = tempDir();
    await expect(model.save(`file://${dir}`)).rejects.toThrow(
      new Error(
        `Cannot save file://${dir}: no handler for file:// URLs is registered. In Node, call registerFileSystem() from ardkit/io once ` +
          `before you save (or import @tensorflow/tfjs-node), or pass fileSystem('${dir}') from ardkit/io in place of the URL.`
      )
    );
    await expect(tfl.loadLayersModel(`file://${dir}/model.json`)).rejects.toThrow(/^Cannot load file:\/\/.*\/model\.json: no handler for file:\/\/ URLs is registered\. In Node, call registerFileSystem\(\)/);
    expect(fs.readdirSync(dir)).toEqual([]);
    model.dispose();
  });

  it('registers save and load routers for file:// URLs once: true, then false', () => {
    expect(registerFileSystem()).toBe(true);
    expect(tf.io.getSaveHandlers(probe)).toHaveLength(1);
    expect(tf.io.getLoadHandlers(probe)).toHaveLength(1);
    expect(registerFileSystem()).toBe(false);
    expect(tf.io.getSaveHandlers(probe)).toHaveLength(1);
    expect(tf.io.getLoadHandlers(probe)).toHaveLength(1);
  });

  it('claims file:// URLs only', () => {
    expect(tf.io.getSaveHandlers('files://x')).toHaveLength(0);
    expect(tf.io.getLoadHandlers('indexeddb://x')).toHaveLength(0);
    expect(tf.io.getLoadHandlers(['file://x/model.json', 'file://x/weights.bin'])).toHaveLength(0);
  });

  it("model.save('file://dir') and tf.loadLayersModel('file://dir/model.json') round-trip a model", async () => {
    const model = functionalModel(2);
    const dir = tempDir();
    const before = tf.memory().numTensors;
    await model.save(`file://${dir}`);
    expect(fs.readdirSync(dir).sort()).toEqual(['model.json', 'weights.bin']);
    expect(Object.keys(JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as object)).toEqual(['modelTopology', 'format', 'generatedBy', 'convertedBy', 'weightsManifest']);
    for (const url of [`file://${dir}/model.json`, `file://${dir}`]) {
      const loaded = await tfl.loadLayersModel(url);
      const a = weightBytes(model);
      const b = weightBytes(loaded);
      expect([...b.keys()]).toEqual([...a.keys()]);
      for (const [name, bytes] of a) expect(b.get(name)?.equals(bytes)).toBe(true);
      const xs = functionalInputs();
      expect(predictionBytes(loaded, xs).equals(predictionBytes(model, xs))).toBe(true);
      release(...xs, loaded);
    }
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('a relative file:// URL is a path relative to the working directory', async () => {
    const model = functionalModel(3);
    const dir = tempDir();
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      await model.save('file://relative/student');
      const loaded = await tfl.loadLayersModel('file://relative/student/model.json');
      expect(loaded.inputs).toHaveLength(2);
      loaded.dispose();
    } finally {
      process.chdir(cwd);
    }
    expect(fs.readdirSync(path.join(dir, 'relative', 'student')).sort()).toEqual(['model.json', 'weights.bin']);
    model.dispose();
  });

  it('a missing model behind a file:// URL is the error naming the file, with no tensor left', async () => {
    const dir = tempDir();
    const before = tf.memory().numTensors;
    await expect(tfl.loadLayersModel(`file://${dir}/model.json`)).rejects.toThrow(new RegExp(`^fileSystem: ${dir}/model\\.json must exist`));
    expect(tf.memory().numTensors).toBe(before);
  });
});
