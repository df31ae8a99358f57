import { named } from '../core/errors.js';
import * as tf from '@tensorflow/tfjs-core';
import { fileSystem } from './file-system.js';
import { withoutHint } from './file-url-hint.js';

const FILE_SCHEME = 'file://';

/** tfjs' router type, which `tf.io` does not export by name. */
type IORouter = Parameters<typeof tf.io.registerSaveRouter>[0];

/** The router: a {@link fileSystem} handler for a `file://` URL, nothing (null) for any other. */
function fileRouter(url: string | string[]): tf.io.IOHandler | null {
  return typeof url === 'string' && url.startsWith(FILE_SCHEME) ? fileSystem(url.slice(FILE_SCHEME.length)) : null;
}

/**
 * Registers {@link fileSystem} for `file://` URLs with tfjs' save and load routers, so that
 * `model.save('file://models/student')` and `tf.loadLayersModel('file://models/student/model.json')` work in Node
 * without `@tensorflow/tfjs-node`. The text after `file://` is the path (`file://models/a` is relative,
 * `file:///tmp/a` absolute). Importing ardkit registers no handler, only a hint: a `file://` URL that no handler
 * takes fails with an error that names this function, where tfjs alone says "Cannot find any save handlers".
 *
 * It does nothing when tfjs already has a handler for `file://` URLs (tfjs-node registers one when imported, or this
 * function ran before): tfjs refuses a URL that two handlers claim. Call it after importing tfjs-node, if you do.
 *
 * @returns true when it registered the routers; false when a `file://` handler was already there.
 * @throws never throws.
 * @example
 * import * as tfl from '@tensorflow/tfjs-layers';
 * import { registerFileSystem } from 'ardkit/io';
 *
 * registerFileSystem(); // true the first time, false when tfjs-node (or an earlier call) registered file://
 * await model.save('file://models/student');
 * const loaded = await tfl.loadLayersModel('file://models/student/model.json');
 */
export function registerFileSystem(): boolean {
  return named('registerFileSystem', () => {
    const probe = `${FILE_SCHEME}ardkit-probe/model.json`;
    // Real handlers only: ardkit's hint for unhandled file:// URLs (file-url-hint.ts) stays silent while we look.
    if (withoutHint(() => tf.io.getSaveHandlers(probe).length > 0 || tf.io.getLoadHandlers(probe).length > 0)) return false;
    // tfjs skips a router that returns nothing for a URL; its type just does not say so.
    const router = fileRouter as IORouter;
    tf.io.registerSaveRouter(router);
    tf.io.registerLoadRouter(router);
    return true;
  });
}
