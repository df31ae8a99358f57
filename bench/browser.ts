/**
 * The browser part of `npm run bench`: bundles bench/browser-page.ts against each ardkit build given (its `dist/`),
 * serves the pages on 127.0.0.1 and opens them in headless Chromium (scripts/lib/chromium.ts), in alternation
 * (A B, B A, …), so that a change of machine load falls on each build alike. Prints one JSON line: per build and
 * backend, the milliseconds of every timed call and the readbacks of a PGD-10 call.
 *
 *   node --loader ts-node/esm bench/browser.ts --builds after=.,before=bench/.cache/baseline-3d65ede [--rounds 2] [--batch 32]
 */
import * as http from 'node:http';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseOptions, positive } from '../examples/cli.js';
import { bundleForBrowser } from '../scripts/lib/bundle.js';
import { findChromium, launchChromium, missingChromiumMessage } from '../scripts/lib/chromium.js';
import type { BrowserBackendResult, BrowserBenchReport } from './browser-page.js';
import type { BrowserBuildResult } from './types.js';

const opts = parseOptions('Usage: node --loader ts-node/esm bench/browser.ts [options]', {
  builds: { type: 'string', description: 'label=dir pairs, comma-separated: each dir holds an ardkit build in dir/dist', default: 'current=.' },
  rounds: { type: 'string', description: 'pages per build, opened in alternation', default: '2' },
  reps: { type: 'string', description: 'timed one-step calls per page', default: '5' },
  'pgd10-reps': { type: 'string', description: 'timed PGD-10 calls per page', default: '0' },
  batch: { type: 'string', description: 'batch size (webgl on SwiftShader: about 45 ms per image and PGD step on 2 cores)', default: '32' },
  backends: { type: 'string', description: 'backends to measure', default: 'webgl,webgpu' },
  timeout: { type: 'string', description: 'seconds for the whole run', default: '900' }
});

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The page bundled against the build in `<build>/dist` (its `ardkit/attacks` and `ardkit/models` imports). */
function bundle(build: string): Promise<string> {
  return bundleForBrowser(path.join(root, 'bench/browser-page.ts'), { dir: path.resolve(root, build, 'dist'), ext: 'js' });
}

async function main(): Promise<void> {
  const builds = opts.builds.split(',').map((pair) => {
    const [label, dir] = pair.split('=');
    if (label === undefined || dir === undefined || label === '' || dir === '') throw new Error(`--builds: expected label=dir, got ${JSON.stringify(pair)}`);
    return { label, dir };
  });
  const rounds = positive('rounds', opts.rounds, true);
  const executable = findChromium();
  if (executable === undefined) throw new Error(missingChromiumMessage());
  const scripts = new Map<string, string>();
  for (const b of builds) scripts.set(b.label, await bundle(b.dir));
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const label = url.pathname.slice(1).replace(/\.(html|js)$/, '');
    const script = scripts.get(label);
    if (script === undefined) res.writeHead(404).end();
    else if (url.pathname.endsWith('.js')) res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(script);
    else res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(`<!doctype html><meta charset="utf-8"><title>ardkit bench</title><script src="/${label}.js"></script>`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no server address');
  const timer = setTimeout(() => {
    console.error(`bench/browser: did not finish within ${opts.timeout} s`);
    process.exit(1);
  }, Number(opts.timeout) * 1000);
  const browser = await launchChromium(executable);
  const pages = new Map<string, BrowserBenchReport[]>(builds.map((b) => [b.label, []]));
  let userAgent = '';
  try {
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? builds : [...builds].reverse();
      for (const b of order) {
        console.error(`bench/browser: ${b.label}, round ${String(r + 1)}/${String(rounds)} …`);
        const page = await browser.context.newPage();
        const query = `?batch=${opts.batch}&reps=${opts.reps}&pgd10reps=${opts['pgd10-reps']}&backends=${opts.backends}`;
        await page.goto(`http://127.0.0.1:${String(address.port)}/${b.label}.html${query}`);
        const report = await page.evaluate(() => window.__ardkitBench ?? Promise.reject(new Error('the page did not start')));
        await page.close();
        if (report.error !== undefined) throw new Error(`the ${b.label} page failed: ${report.error}`);
        userAgent = report.userAgent;
        pages.get(b.label)?.push(report);
      }
    }
  } finally {
    clearTimeout(timer);
    await browser.close();
    server.close();
    server.closeAllConnections();
  }
  const results: BrowserBuildResult[] = builds.map((b) => {
    const reports = pages.get(b.label) ?? [];
    const byBackend = new Map<string, BrowserBackendResult[]>();
    for (const rep of reports) for (const res of rep.results) byBackend.set(res.backend, [...(byBackend.get(res.backend) ?? []), res]);
    return {
      label: b.label,
      dir: path.resolve(root, b.dir),
      backends: [...byBackend.entries()].map(([backend, list]) => ({
        backend,
        available: list.every((l) => l.available),
        // A round that failed says why; otherwise the first round's description.
        detail: (list.find((l) => !l.available) ?? list[0])?.detail ?? '',
        pgdStepMs: list.flatMap((l) => l.pgdStepMs ?? []),
        pgd10Ms: list.flatMap((l) => l.pgd10Ms ?? []),
        pgd10Readbacks: list.find((l) => l.pgd10Readbacks !== undefined)?.pgd10Readbacks ?? null
      }))
    };
  });
  console.log(JSON.stringify({ chromium: browser.version, userAgent, batch: Number(opts.batch), builds: results }));
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  }
);
