/**
 * The hint for a file:// URL that no tfjs handler takes: importing ardkit installs it; it answers only such URLs, with
 * a handler that rejects saying to call registerFileSystem(), and yields to any real handler.
 */
import * as tf from '@tensorflow/tfjs-core';
import '../../src/train/index.js';
import { installFileUrlHint, withoutHint } from '../../src/io/file-url-hint.js';

// Jest gives this file a fresh tfjs-core: no router but the hint that importing ardkit/train installed.
type Router = Parameters<typeof tf.io.registerSaveRouter>[0];

describe('the file:// hint', () => {
  it('answers an unhandled file:// URL with one handler that rejects with the fix', async () => {
    const [save, ...more] = tf.io.getSaveHandlers('file://models/student');
    expect(more).toHaveLength(0);
    await expect(save?.save?.({ modelTopology: {} }) ?? Promise.resolve()).rejects.toThrow(
      "Cannot save file://models/student: no handler for file:// URLs is registered. In Node, call registerFileSystem() from ardkit/io once before you save (or import @tensorflow/tfjs-node), or pass fileSystem('models/student') from ardkit/io in place of the URL."
    );
    const [load] = tf.io.getLoadHandlers('file://models/student/model.json');
    await expect(load?.load?.() ?? Promise.resolve()).rejects.toThrow(/^Cannot load file:\/\/models\/student\/model\.json: .*registerFileSystem\(\)/);
  });

  it('answers nothing else: other schemes, lists of URLs, and any URL while real handlers are looked for', () => {
    expect(tf.io.getSaveHandlers('indexeddb://student')).toHaveLength(0);
    expect(tf.io.getLoadHandlers(['file://a/model.json', 'file://a/weights.bin'])).toHaveLength(0);
    expect(withoutHint(() => tf.io.getSaveHandlers('file://models/student'))).toHaveLength(0);
  });

  it('is installed once, and yields to a real handler, so tfjs never sees two', () => {
    installFileUrlHint();
    installFileUrlHint();
    expect(tf.io.getSaveHandlers('file://x')).toHaveLength(1);
    const real: tf.io.IOHandler = { save: () => Promise.resolve({ modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }) };
    const router = ((url: string | string[]) => (typeof url === 'string' && url.startsWith('file://') ? real : null)) as Router;
    tf.io.registerSaveRouter(router);
    expect(tf.io.getSaveHandlers('file://x')).toEqual([real]);
  });
});
