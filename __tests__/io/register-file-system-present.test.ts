import * as tf from '@tensorflow/tfjs-core';
import { registerFileSystem } from '../../src/io/index.js';

// What tfjs-node does when imported: it registers its own file:// routers. Jest gives this file a fresh tfjs-core.
const tfjsNodeHandler: tf.io.IOHandler = { load: () => Promise.reject(new Error('tfjs-node stand-in')) };
const tfjsNodeRouter = ((url: string | string[]) => (typeof url === 'string' && url.startsWith('file://') ? tfjsNodeHandler : null)) as Parameters<typeof tf.io.registerLoadRouter>[0];

describe('registerFileSystem beside an existing file:// handler (tfjs-node)', () => {
  it('does nothing and returns false, leaving the existing handler the only one', () => {
    tf.io.registerSaveRouter(tfjsNodeRouter);
    tf.io.registerLoadRouter(tfjsNodeRouter);
    expect(registerFileSystem()).toBe(false);
    expect(tf.io.getSaveHandlers('file://x')).toEqual([tfjsNodeHandler]);
    expect(tf.io.getLoadHandlers('file://x/model.json')).toEqual([tfjsNodeHandler]);
  });
});
