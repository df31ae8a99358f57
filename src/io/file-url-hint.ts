/**
 * The error for a `file://` URL that no handler takes.
 *
 * In Node, tfjs saves and loads `file://` URLs only through a handler that `@tensorflow/tfjs-node` (or
 * `registerFileSystem` from `ardkit/io`) registers. Without one, `model.save('file://…')` fails with tfjs'
 * "Cannot find any save handlers for URL" and `tf.loadLayersModel('file://…')` tries an HTTP request, neither of
 * which says what to do. ardkit's entry points install a router that answers such a URL, and only when no other
 * handler takes it, with a handler whose `save` or `load` rejects with the fix. It yields to any real handler, so it
 * never makes tfjs see two handlers for one URL.
 */
import * as tf from '@tensorflow/tfjs-core';

const FILE_SCHEME = 'file://';

/** tfjs' router type, which `tf.io` does not export by name. */
type IORouter = Parameters<typeof tf.io.registerSaveRouter>[0];

let installed = false;
/** Set while the routers ask tfjs for the other handlers (or while `registerFileSystem` looks for real ones). */
let asking = false;

/** The error for `url`, which no handler can `verb`. */
function hintError(url: string, verb: 'save' | 'load'): Error {
  const path = url.slice(FILE_SCHEME.length);
  return new Error(
    `Cannot ${verb} ${url}: no handler for file:// URLs is registered. In Node, call registerFileSystem() from ardkit/io once ` +
      `before you ${verb} (or import @tensorflow/tfjs-node), or pass fileSystem('${path}') from ardkit/io in place of the URL.`
  );
}

/** Whether the hint should answer `url`: a single `file://` URL that no other handler of this kind takes. */
function unclaimed(url: unknown, others: (url: string) => readonly unknown[]): url is string {
  if (asking || typeof url !== 'string' || !url.startsWith(FILE_SCHEME)) return false;
  return withoutHint(() => others(url).length === 0);
}

const saveHint = ((url: unknown) =>
  unclaimed(url, (u) => tf.io.getSaveHandlers(u)) ? { save: () => Promise.reject(hintError(url, 'save')) } : null) as IORouter;

const loadHint = ((url: unknown) =>
  unclaimed(url, (u) => tf.io.getLoadHandlers(u)) ? { load: () => Promise.reject(hintError(url, 'load')) } : null) as IORouter;

/**
 * Runs `body` with the hint routers silent, so that `tf.io.getSaveHandlers` and `getLoadHandlers` list only real
 * handlers. Internal; for `registerFileSystem`'s look for an existing handler.
 */
export function withoutHint<R>(body: () => R): R {
  const outer = asking;
  asking = true;
  try {
    return body();
  } finally {
    asking = outer;
  }
}

/**
 * Registers the hint routers for `file://` URLs with tfjs, once per copy of tfjs-core. Every entry point of ardkit
 * calls it on import. Internal.
 */
export function installFileUrlHint(): void {
  if (installed) return;
  installed = true;
  tf.io.registerSaveRouter(saveHint);
  tf.io.registerLoadRouter(loadHint);
}
