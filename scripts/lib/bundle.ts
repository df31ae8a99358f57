/** Bundling a page for the browser: the conformance page, the live page and the browser benchmark's page. */
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(path.join(root, 'package.json'));

/**
 * Bundles `entry` into one browser script (esbuild, iife, es2020) with the single copy of tfjs the repository
 * resolves: two copies of tfjs-core (one per backend package) would register kernels in one and run ops in the
 * other. With `ardkit`, the page's `ardkit/<entry point>` imports resolve to `<dir>/<entry point>/index.<ext>`:
 * ardkit's sources (`src`, `ts`) or a build (`dist`, `js`).
 */
export async function bundleForBrowser(entry: string, ardkit?: { readonly dir: string; readonly ext: 'ts' | 'js' }): Promise<string> {
  const { build } = await import('esbuild');
  const packageDir = (name: string): string => path.dirname(require.resolve(`${name}/package.json`));
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    logLevel: 'warning',
    // Node-only paths (fit's checkpoints, ardkit/io) import node: modules lazily; a page never reaches them.
    external: ['node:*'],
    alias: {
      '@tensorflow/tfjs-core': packageDir('@tensorflow/tfjs-core'),
      '@tensorflow/tfjs-backend-cpu': packageDir('@tensorflow/tfjs-backend-cpu'),
      '@tensorflow/tfjs-layers': packageDir('@tensorflow/tfjs-layers')
    },
    plugins:
      ardkit === undefined
        ? []
        : [
          {
            name: 'ardkit-entry-points',
            setup(b) {
              b.onResolve({ filter: /^ardkit\// }, (args) => ({ path: path.join(ardkit.dir, args.path.slice('ardkit/'.length), `index.${ardkit.ext}`) }));
            }
          }
        ]
  });
  const file = result.outputFiles[0];
  if (file === undefined) throw new Error('esbuild produced no output');
  return file.text;
}
