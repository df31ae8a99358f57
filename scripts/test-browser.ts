/**
 * `npm run test:browser`: bundles the conformance page (`__tests__/browser/conformance-page.ts`) with esbuild,
 * serves it on 127.0.0.1, opens it in headless Chromium (driven by playwright-core) and prints every check the
 * page made on the cpu, webgl, wasm (with ardkit's training and native kernels) and (where the browser offers it)
 * webgpu backends; then checks the live page (examples/browser/, scripts/lib/demo-check.ts) and saves its screenshot
 * to docs/images/demo.png.
 *
 * Exit status: 0 when every check passed and webgl and wasm (with ardkit's kernels) ran; 1 on any failed check, a
 * page error, a missing Chromium, or the time limit. WebGPU being unavailable is reported, not failed, unless `--require-webgpu` is given.
 *
 *   npm run test:browser
 *   npm run test:browser -- --require-webgpu --timeout 300
 *   npm run test:browser -- --float16     # also webgl with float16 textures, reported, never failed
 *   npm run test:browser -- --verbose     # every check's row (always in .tmp/browser-conformance.txt) and page logs
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as http from 'node:http';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { CheckResult, ConformanceReport } from '../__tests__/browser/conformance-page.js';
import { findChromium, launchChromium, missingChromiumMessage, type LaunchedChromium } from './lib/chromium.js';
import { bundleForBrowser } from './lib/bundle.js';
import { checkDemo } from './lib/demo-check.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** tfjs' wasm binaries, which the page's wasm backend fetches from /wasm/. */
const wasmDir = path.join(path.dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');

const { values: args } = parseArgs({
  options: {
    'require-webgpu': { type: 'boolean', default: false },
    float16: { type: 'boolean', default: false },
    timeout: { type: 'string', default: '600' },
    verbose: { type: 'boolean', default: false }
  },
  strict: true
});
const timeoutSeconds = Number(args.timeout);

/** Bundles the page into one browser script. */
function bundlePage(): Promise<string> {
  return bundleForBrowser(path.join(root, '__tests__/browser/conformance-page.ts'));
}

/** Serves the page and its script on 127.0.0.1 (a secure context, as WebGPU requires). */
async function serve(script: string): Promise<{ url: string; close: () => Promise<void> }> {
  const html = '<!doctype html><meta charset="utf-8"><title>ardkit conformance</title><script src="/conformance.js"></script>';
  const server = http.createServer((req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    if (pathname === '/') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
    else if (pathname === '/conformance.js') res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(script);
    else if (pathname === '/favicon.ico') res.writeHead(204).end();
    else if (/^\/wasm\/[\w.-]+\.wasm$/.test(pathname) && existsSync(path.join(wasmDir, path.basename(pathname)))) res.writeHead(200, { 'content-type': 'application/wasm' }).end(readFileSync(path.join(wasmDir, path.basename(pathname))));
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no server address');
  return {
    url: `http://127.0.0.1:${String(address.port)}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => { resolve(); });
        server.closeAllConnections();
      })
  };
}

function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  // Seven significant digits in the plain range, so that a distance just above ε shows as such.
  return a >= 1e-2 && a < 1e4 ? String(Number(v.toPrecision(7))) : v.toExponential(2);
}

/**
 * Writes every check to `.tmp/browser-conformance.txt` and prints the failed ones (all of them with `--verbose`), so
 * that CI's log stays short and a failure stands out.
 */
function printTable(checks: readonly CheckResult[]): void {
  const verdict = (c: CheckResult): string => (c.informational === true ? (c.passed ? 'info ok' : 'info over') : c.passed ? 'ok' : 'FAIL');
  const rows = checks.map((c) => [c.backend, c.group, c.name, formatNumber(c.measured), `≤ ${formatNumber(c.limit)}`, verdict(c), c.what]);
  const header = ['backend', 'group', 'check', 'measured', 'limit', 'result', 'what'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ');
  const all = [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
  const file = path.join(root, '.tmp', 'browser-conformance.txt');
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${all.join('\n')}\n`);
  const shown = args.verbose ? rows : rows.filter((r) => r[5] === 'FAIL');
  console.log(`browser: ${String(checks.length)} checks, every row in ${path.relative(root, file)}${shown.length === 0 ? '' : args.verbose ? ':' : '; the failed ones:'}`);
  if (shown.length > 0) for (const l of [all[0], all[1], ...shown.map(line)]) console.log(l);
}

/** Rejects after `seconds`, so that nothing can hang the run. */
function deadline(seconds: number, what: string): { promise: Promise<never>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(() => { reject(new Error(`${what} did not finish within ${String(seconds)} s`)); }, seconds * 1000);
  });
  return { promise, cancel: () => { clearTimeout(timer); } };
}

async function main(): Promise<number> {
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) {
    console.error(`--timeout must be a positive number of seconds (got ${JSON.stringify(args.timeout)})`);
    return 2;
  }
  const executable = findChromium();
  if (executable === undefined) {
    console.error(`browser: ${missingChromiumMessage()}`);
    console.error('browser: not run, 1 failed');
    return 1;
  }
  const t0 = performance.now();
  const script = await bundlePage();
  console.log(`browser: page bundled (${(script.length / 1024).toFixed(0)} KiB) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const server = await serve(script);
  let browser: LaunchedChromium | undefined;
  // Errors the conformance page threw outside its checks: each one fails the run.
  const pageErrors: string[] = [];
  const limit = deadline(timeoutSeconds, 'the browser conformance run');
  try {
    let report = await Promise.race([
      (async (): Promise<ConformanceReport> => {
        browser = await launchChromium(executable);
        console.log(`browser: ${browser.version} (${executable})`);
        const page = await browser.context.newPage();
        page.on('pageerror', (e) => pageErrors.push(e.message));
        page.on('console', (m) => {
          if (args.verbose || m.type() === 'error') console.log(`  [page ${m.type()}] ${m.text()}`);
        });
        await page.goto(args.float16 ? `${server.url}?float16=1` : server.url);
        const r = await page.evaluate(() => window.__ardkitConformance ?? Promise.reject(new Error('the page did not start (see page errors)')));
        if (pageErrors.length > 0) console.error(`browser: page errors:\n  ${pageErrors.join('\n  ')}`);
        return r;
      })(),
      limit.promise
    ]);
    console.log(`browser: ${report.userAgent}\n`);
    // On SwiftShader's WebGPU adapter tfjs-webgpu's dataSync (through an OffscreenCanvas) returns zeros and the instance
    // is soon lost (DEVELOPERS.md), so its rows are reported, and only fail the run with --require-webgpu.
    if (!args['require-webgpu']) report = { ...report, checks: report.checks.map((c) => (c.backend === 'webgpu' ? { ...c, informational: true } : c)) };
    for (const b of report.backends) console.log(`backend ${b.name.padEnd(7)} ${b.available ? 'ran' : 'NOT AVAILABLE'}: ${b.detail}`);
    console.log('');
    printTable(report.checks);
    const counted = report.checks.filter((c) => c.informational !== true);
    const failed = counted.filter((c) => !c.passed).length;
    const passed = counted.length - failed;
    const info = report.checks.filter((c) => c.informational === true);
    for (const backend of ['webgl-f16', 'webgpu']) {
      const rows = info.filter((c) => c.backend === backend);
      if (rows.length === 0) continue;
      const over = rows.filter((c) => !c.passed);
      const first = over.find((c) => c.what.startsWith('threw'));
      console.log(`${backend} (informational): ${String(rows.length - over.length)} within the limits, ${String(over.length)} not${first === undefined ? '' : `; first error: ${first.name}: ${first.what}`}`);
    }
    const webgl = report.backends.find((b) => b.name === 'webgl');
    const webgpu = report.backends.find((b) => b.name === 'webgpu');
    console.log('');
    if (webgpu?.available === true) console.log('webgpu: available, its checks ran');
    else console.log(`webgpu: not available in this browser (${webgpu?.detail ?? 'not tried'}); its checks were not run${args['require-webgpu'] ? ' and --require-webgpu makes that a failure' : ''}`);
    let problems = failed + pageErrors.length;
    if (report.error !== undefined) {
      console.error(`browser: the page stopped with an error: ${report.error}`);
      problems += 1;
    }
    if (webgl?.available !== true) {
      console.error(`browser: the webgl backend did not run (${webgl?.detail ?? 'not tried'})`);
      problems += 1;
    }
    const wasmBackend = report.backends.find((b) => b.name === 'wasm');
    if (wasmBackend?.available !== true || !wasmBackend.detail.includes('native kernels running')) {
      console.error(`browser: the wasm backend did not run with ardkit's native kernels (${wasmBackend?.detail ?? 'not tried'})`);
      problems += 1;
    }
    if (args['require-webgpu'] && webgpu?.available !== true) problems += 1;
    if (browser !== undefined) {
      console.log('\nlive page (examples/browser/):');
      const demoLimit = deadline(timeoutSeconds, 'the live page check');
      const demo = await Promise.race([checkDemo(browser.context), demoLimit.promise]).finally(() => { demoLimit.cancel(); });
      for (const c of demo) console.log(`  ${c.passed ? '[ok]  ' : '[FAIL]'} ${c.name}: ${c.detail}`);
      const demoFailed = demo.filter((c) => !c.passed).length;
      console.log(`live page: ${String(demo.length - demoFailed)} passed, ${String(demoFailed)} failed`);
      problems += demoFailed;
    }
    console.log(`browser: ${String(passed)} passed, ${String(failed)} failed (${report.seconds.toFixed(1)} s in the page, ${((performance.now() - t0) / 1000).toFixed(1)} s in all)`);
    return problems === 0 ? 0 : 1;
  } catch (e) {
    console.error(`browser: ${e instanceof Error ? e.message : String(e)}`);
    console.error('browser: 0 passed, 1 failed');
    return 1;
  } finally {
    limit.cancel();
    const closing = browser?.close() ?? Promise.resolve();
    await Promise.race([closing, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    await server.close();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  }
);
