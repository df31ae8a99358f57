/**
 * The live page's check in `npm run test:browser`: serves examples/browser/ with the students committed in
 * examples/browser/models/ (saved by `npm run example` in Node, in tfjs' format), and in headless Chromium:
 * - the page starts on webgpu when the browser offers a WebGPU adapter (else on webgl), says so in its header, and
 *   loads both students;
 * - their class probabilities on the page's test digits match Node's (cpu backend, models loaded with ardkit/io's
 *   `fileSystem`) to 1e-4, with the same predicted classes;
 * - PGD-20 at ε = 0.1 in the page gives Node's robust accuracy on the same digits, for each student, to within one
 *   digit (float32 on another backend can move one sign of the gradient);
 * - on a digit where the robust student keeps its answer and the standard one is fooled, an attack run through the
 *   page's own controls says so, and a screenshot of the page is saved to docs/images/demo.png, checked not blank;
 * - then the page again with `?backend=webgl`: it starts on webgl, and the probabilities and PGD-20 robust accuracy
 *   match Node's as above, so that both GPU backends of the page are checked.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { PNG } from 'pngjs';
import type { DemoApi } from '../../examples/browser/demo.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** One line of the check's report. */
export interface DemoCheck {
  readonly name: string;
  readonly passed: boolean;
  readonly detail: string;
}

const EPS = 0.1;

/** Node's view of the committed students on the page's digits: probabilities and PGD-20 robustness (1 kept). */
async function nodeReference(modelsDir: string, digits: number): Promise<{ probs: Record<'standard' | 'robust', number[][]>; kept: Record<'standard' | 'robust', number[]> }> {
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-cpu');
  const tfl = await import('@tensorflow/tfjs-layers');
  const { fileSystem } = await import('../../src/io/index.js');
  const { pgd } = await import('../../src/attacks/index.js');
  const { loadDigits } = await import('../../examples/browser/server.js');
  await tf.setBackend('cpu');
  const test = await loadDigits(digits);
  const probs: Record<string, number[][]> = {};
  const kept: Record<string, number[]> = {};
  for (const [key, dir] of [['standard', 'standard-student'], ['robust', 'robust-student']] as const) {
    const net = await tfl.loadLayersModel(fileSystem(path.join(modelsDir, dir, 'model.json')));
    type Tensor = import('@tensorflow/tfjs-core').Tensor;
    type Tensor2D = import('@tensorflow/tfjs-core').Tensor2D;
    const model = (x: Tensor): Tensor2D => net.apply(x, { training: false }) as Tensor2D;
    const p = tf.tidy(() => tf.softmax(model(test.x)));
    const k = tf.tidy(() => {
      const xAdv = pgd(model, test.x, test.y, { eps: EPS, steps: 20, seed: 0 });
      return tf.cast(tf.logicalAnd(tf.equal(tf.argMax(model(test.x), 1), test.y), tf.equal(tf.argMax(model(xAdv), 1), test.y)), 'int32');
    });
    try {
      probs[key] = await p.array();
      kept[key] = Array.from(await k.data());
    } finally {
      tf.dispose([p, k]);
      net.dispose();
    }
  }
  tf.dispose([test.x, test.y]);
  return { probs: { standard: probs.standard ?? [], robust: probs.robust ?? [] }, kept: { standard: kept.standard ?? [], robust: kept.robust ?? [] } };
}

/** The fraction of the screenshot's pixels that differ from its most common colour, and its number of colours. */
function notBlank(png: Buffer): { inked: number; colours: number } {
  const img = PNG.sync.read(png);
  const counts = new Map<number, number>();
  for (let i = 0; i < img.data.length; i += 4) {
    const key = ((img.data[i] ?? 0) << 16) | ((img.data[i + 1] ?? 0) << 8) | (img.data[i + 2] ?? 0);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const total = img.width * img.height;
  const background = Math.max(...counts.values());
  return { inked: (total - background) / total, colours: counts.size };
}

type Reference = Awaited<ReturnType<typeof nodeReference>>;
type Add = (name: string, passed: boolean, detail: string) => void;

/**
 * Opens the page at `url` and checks that it starts on `expected` with both students, that its probabilities and
 * PGD-20 robust accuracy match Node's; returns the page (still open) and its robustness. `tag` prefixes the lines.
 */
async function checkPageBackend(
  context: BrowserContext,
  url: string,
  expected: (offersWebgpu: boolean) => string,
  reference: Reference,
  digits: number,
  tag: string,
  add: Add
): Promise<{ page: Page; errors: string[]; kept: { standard: number[]; robust: number[] } }> {
  const page = await context.newPage();
  await page.setViewportSize({ width: 1180, height: 760 });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForFunction(() => window.__ardkitDemo !== undefined, undefined, { timeout: 120_000 });
  const ready = await page.evaluate(async () => (window.__ardkitDemo as DemoApi).ready);
  const offersWebgpu = await page.evaluate(async () => {
    const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
    return gpu !== undefined && (await gpu.requestAdapter().catch(() => null)) !== null;
  });
  const want = expected(offersWebgpu);
  const label = (await page.textContent('#backend')) ?? '';
  const labelOk = want === 'webgpu' ? label.startsWith('WebGPU') : want === 'webgl' ? label.startsWith('WebGL') : label === want;
  add(
    `${tag}the page starts on ${want} (the browser ${offersWebgpu ? 'offers' : 'does not offer'} WebGPU) with both students`,
    ready.backend === want && labelOk && ready.digits === digits,
    `backend ${ready.backend}, shown as "${label}", ${String(ready.digits)} digits`
  );
  const backend = ready.backend;

  const logits = await page.evaluate(async () => (window.__ardkitDemo as DemoApi).logits());
  for (const key of ['standard', 'robust'] as const) {
    const probs = logits[key].map((row) => {
      const m = Math.max(...row);
      const e = row.map((v) => Math.exp(v - m));
      const s = e.reduce((a, b) => a + b, 0);
      return e.map((v) => v / s);
    });
    const ref = reference.probs[key];
    let worst = 0;
    let sameClass = 0;
    probs.forEach((row, i) => {
      const r = ref[i] ?? [];
      row.forEach((p, c) => { worst = Math.max(worst, Math.abs(p - (r[c] ?? NaN))); });
      if (row.indexOf(Math.max(...row)) === r.indexOf(Math.max(...r))) sameClass++;
    });
    const ok = worst <= 1e-4 && sameClass === probs.length && probs.length === digits;
    add(`${tag}${key} student: ${backend} probabilities = Node's (cpu)`, ok, `max |p − p_node| = ${worst.toExponential(2)} (≤ 1e-4), same class on ${String(sameClass)}/${String(probs.length)}`);
  }

  const kept = await page.evaluate(async (eps) => (window.__ardkitDemo as DemoApi).robustness('pgd', eps), EPS);
  for (const key of ['standard', 'robust'] as const) {
    const inPage = kept[key].reduce((a, b) => a + b, 0);
    const node = reference.kept[key].reduce((a, b) => a + b, 0);
    add(
      `${tag}${key} student: PGD-20 robust accuracy in the page = Node's`,
      Math.abs(inPage - node) <= 1 && kept[key].length === digits,
      `${backend} ${String(inPage)}/${String(digits)}, Node ${String(node)}/${String(digits)} (ε = ${String(EPS)})`
    );
  }
  return { page, errors, kept };
}

/** Runs the checks in `context`; returns one line per check. */
export async function checkDemo(context: BrowserContext, screenshot = path.join(root, 'docs/images/demo.png')): Promise<DemoCheck[]> {
  // Node's side (the page's digits, the reference predictions) runs on tfjs' cpu backend in this process.
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-cpu');
  await tf.setBackend('cpu');
  const { startDemoServer } = await import('../../examples/browser/server.js');
  const modelsDir = path.join(root, 'examples/browser/models');
  const digits = 32;
  const checks: DemoCheck[] = [];
  const add: Add = (name, passed, detail) => void checks.push({ name, passed, detail });
  let server: Awaited<ReturnType<typeof startDemoServer>> | undefined;
  try {
    server = await startDemoServer({ modelsDir, digits });
    const reference = await nodeReference(modelsDir, digits);

    // The page as a visitor opens it: webgpu where the browser offers it, else webgl.
    const { page, errors, kept } = await checkPageBackend(context, server.url, (offers) => (offers ? 'webgpu' : 'webgl'), reference, digits, '', add);

    // Digits the robust student keeps and the standard one loses in the batch; attacked alone (another random start),
    // the first of them where the page shows the same is the one shown.
    const candidates = kept.robust.map((k, i) => (k === 1 && kept.standard[i] === 0 ? i : -1)).filter((i) => i >= 0).slice(0, 5);
    if (candidates.length === 0) add('a digit the robust student keeps and the standard one loses', false, 'none among the page\'s digits');
    for (const [attempt, pick] of candidates.entries()) {
      // Through the page's own controls: the attack menu, the ε slider, the digit's thumbnail (a click attacks it).
      await page.selectOption('#attack', 'pgd');
      await page.locator('#eps').fill(String(EPS));
      await page.locator('#digits canvas').nth(pick).click();
      // And the button, which queues the same attack again: the verdicts shown are its.
      await page.click('#run');
      const result = await page.evaluate(async () => (window.__ardkitDemo as DemoApi).settled());
      if (result === undefined) throw new Error('the page attacked nothing');
      const verdicts = await page.$$eval('.verdict', (els) => els.map((e) => e.textContent ?? ''));
      const [standard, robust] = result.models;
      const shown = /fooled/.test(verdicts[0] ?? '') && /keeps/.test(verdicts[1] ?? '');
      const computed =
        standard !== undefined && robust !== undefined && standard.adversarialPrediction !== result.label && robust.adversarialPrediction === result.label && robust.distance <= EPS + 1e-6;
      const ok = shown && computed && result.attack === 'pgd' && Math.abs(result.eps - EPS) < 1e-9;
      if (!ok && attempt < candidates.length - 1) continue;
      add(
        'the page shows the robust student keeping its answer where the standard one is fooled',
        ok,
        `digit ${String(pick)} (label ${String(result.label)}): standard "${verdicts[0] ?? ''}", robust "${verdicts[1] ?? ''}", ‖δ‖∞ ${String(robust?.distance.toFixed(4))}`
      );
      fs.mkdirSync(path.dirname(screenshot), { recursive: true });
      const png = await page.screenshot({ path: screenshot, fullPage: true });
      const { inked, colours } = notBlank(png);
      add('screenshot of the page, not blank', inked > 0.05 && colours > 50, `${path.relative(root, screenshot)}: ${(inked * 100).toFixed(0)} % of pixels off the background, ${String(colours)} colours`);
      break;
    }
    add('no page errors', errors.length === 0, errors.length === 0 ? 'none' : errors.join('; '));
    await page.close();

    // The same page forced onto webgl: both GPU backends of the page are checked.
    const forced = await checkPageBackend(context, `${server.url}?backend=webgl`, () => 'webgl', reference, digits, '?backend=webgl: ', add);
    add('?backend=webgl: no page errors', forced.errors.length === 0, forced.errors.length === 0 ? 'none' : forced.errors.join('; '));
    await forced.page.close();
  } catch (e) {
    add('the demo check ran', false, e instanceof Error ? e.message : String(e));
  } finally {
    await server?.close();
  }
  return checks;
}
