/**
 * The live page (`npm run demo`, bundled with esbuild by examples/browser/server.ts): loads the standard and the
 * robust student that `npm run example` saved, lets the user pick a test digit or draw one, pick an attack and ε,
 * and shows, for each model, the clean image, the adversarial image made against that model and the perturbation
 * amplified by 1/ε, with the predictions and confidences. Everything runs in the page, on the first backend that
 * starts: webgpu (when the browser gives a WebGPU adapter), else webgl, else wasm, else cpu. `?backend=webgl` (or
 * `webgpu`, `wasm`, `cpu`) in the address forces one; the page then says why when that one cannot start.
 *
 * The page reads every value back asynchronously (`await t.data()`, `await t.array()`): on webgpu a synchronous
 * readback is not available in every browser (on Chromium's SwiftShader adapter `dataSync` returns zeros), and on
 * webgl it stalls the GPU. ardkit's attacks check their inputs on the device there; `flushChecks()` reads those checks
 * after each attack.
 *
 * For the browser test it publishes {@link DemoApi} as `window.__ardkitDemo`.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';
import { apgd, cwLinf, fgsm, pgd } from 'ardkit/attacks';
import { flushChecks, type Model } from 'ardkit/core';

/** The attacks the page offers. */
export type DemoAttack = 'pgd' | 'fgsm' | 'cw' | 'apgd';

/** One model's view of the current digit. */
export interface ModelView {
  readonly name: string;
  readonly cleanPrediction: number;
  readonly cleanConfidence: number;
  readonly adversarialPrediction: number;
  readonly adversarialConfidence: number;
  /** `‖x' − x‖∞` of the attack against this model. */
  readonly distance: number;
}

/** What one attack of the current digit gave. */
export interface DemoResult {
  /** The digit's label (-1 for a drawing). */
  readonly label: number;
  readonly attack: DemoAttack;
  readonly eps: number;
  readonly models: readonly ModelView[];
}

/** The page's interface for tests and the console. */
export interface DemoApi {
  /** Resolves when the models are loaded, with the backend in use (tfjs' name) and the label the page shows for it. */
  readonly ready: Promise<{ readonly backend: string; readonly label: string; readonly digits: number }>;
  /** Selects test digit `i` (as a click does). */
  pick(i: number): void;
  /** Sets the attack and ε (as the controls do). */
  configure(attack: DemoAttack, eps: number): void;
  /** Attacks the current digit against both models and draws the result (queued after any run in progress). */
  run(): Promise<DemoResult>;
  /** Resolves when every queued run has finished, with the last result. */
  settled(): Promise<DemoResult | undefined>;
  /** Logits of both models on every test digit of the page, `[N][10]` (queued after any run in progress). */
  logits(): Promise<{ readonly standard: number[][]; readonly robust: number[][] }>;
  /** Each model's labels kept under the attack on every test digit, 1 kept, 0 flipped or wrong (queued likewise). */
  robustness(attack: DemoAttack, eps: number): Promise<{ readonly standard: number[]; readonly robust: number[] }>;
}

declare global {
  interface Window {
    __ardkitDemo?: DemoApi;
  }
}

interface Digits {
  readonly images: number[][];
  readonly labels: number[];
}

const byId = (id: string): HTMLElement => {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`the page has no #${id}`);
  return el;
};

/** The backends the page tries, in order. */
const BACKENDS = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;
type BackendName = (typeof BACKENDS)[number];

/** What the page uses of WebGPU's adapter (typed here, so that the page needs no WebGPU type package). */
interface AdapterInfoLike {
  readonly vendor?: string;
  readonly architecture?: string;
  readonly device?: string;
  readonly description?: string;
}
interface AdapterLike {
  readonly info?: AdapterInfoLike;
  requestAdapterInfo?(): Promise<AdapterInfoLike>;
}

/** The browser's WebGPU adapter, or why there is none. */
async function webgpuAdapter(): Promise<{ readonly adapter: AdapterLike } | { readonly missing: string }> {
  const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<AdapterLike | null> } }).gpu;
  if (gpu === undefined) return { missing: 'this browser has no navigator.gpu' };
  try {
    const adapter = await gpu.requestAdapter();
    return adapter === null ? { missing: 'navigator.gpu gave no adapter' } : { adapter };
  } catch (e) {
    return { missing: `navigator.gpu.requestAdapter() failed: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/** "WebGPU", with what the adapter says of itself where it says anything. */
async function webgpuLabel(adapter: AdapterLike): Promise<string> {
  let info: AdapterInfoLike | undefined;
  try {
    info = adapter.info ?? (await adapter.requestAdapterInfo?.());
  } catch {
    info = undefined;
  }
  const words = info === undefined ? [] : info.description !== undefined && info.description !== '' ? [info.description] : [info.vendor, info.architecture, info.device];
  const detail = words.filter((w): w is string => w !== undefined && w !== '').join(' ');
  return detail === '' ? 'WebGPU' : `WebGPU (${detail})`;
}

/** Starts `name`; returns the label the page shows for it, or why it could not start. */
async function startBackend(name: BackendName): Promise<{ readonly label: string } | { readonly missing: string }> {
  let label: string = name;
  if (name === 'webgpu') {
    const found = await webgpuAdapter();
    if ('missing' in found) return found;
    label = await webgpuLabel(found.adapter);
  }
  try {
    if (name === 'wasm') {
      setWasmPaths('/wasm/');
      await import('@tensorflow/tfjs-backend-wasm');
    }
    if (!(await tf.setBackend(name))) return { missing: 'tfjs could not start it' };
    await tf.ready();
  } catch (e) {
    return { missing: e instanceof Error ? e.message : String(e) };
  }
  if (name === 'webgl') label = `WebGL (${tf.env().getNumber('WEBGL_VERSION') === 2 ? 'WebGL 2' : 'WebGL 1'})`;
  return { label };
}

/**
 * The first backend of {@link BACKENDS} that starts, or the one `?backend=` names (and no other): its tfjs name and
 * the label the page shows.
 */
async function chooseBackend(): Promise<{ readonly name: BackendName; readonly label: string }> {
  const asked = new URLSearchParams(window.location.search).get('backend');
  const forced = BACKENDS.find((b) => b === asked);
  if (asked !== null && forced === undefined) throw new Error(`?backend= must be one of ${BACKENDS.join(', ')} (got ${JSON.stringify(asked)})`);
  const missing: string[] = [];
  for (const name of forced === undefined ? BACKENDS : [forced]) {
    const started = await startBackend(name);
    if ('label' in started) return { name, label: started.label };
    missing.push(`${name}: ${started.missing}`);
  }
  throw new Error(`no tfjs backend could start (${missing.join('; ')})`);
}

/** Draws a 28×28 image (values in [0, 1], ink = 1) as white ink on black. */
function drawImage(canvas: HTMLCanvasElement, pixels: ArrayLike<number>): void {
  canvas.width = 28;
  canvas.height = 28;
  const ctx = canvas.getContext('2d');
  if (ctx === null) return;
  const img = ctx.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const v = Math.round(Math.min(1, Math.max(0, pixels[i] ?? 0)) * 255);
    img.data.set([v, v, v, 255], i * 4);
  }
  ctx.putImageData(img, 0, 0);
}

/** Draws `(x' − x)/ε` in a diverging palette: red where ink was added, blue where removed, white unchanged. */
function drawPerturbation(canvas: HTMLCanvasElement, clean: ArrayLike<number>, adv: ArrayLike<number>, eps: number): void {
  canvas.width = 28;
  canvas.height = 28;
  const ctx = canvas.getContext('2d');
  if (ctx === null) return;
  const img = ctx.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const d = eps > 0 ? Math.max(-1, Math.min(1, ((adv[i] ?? 0) - (clean[i] ?? 0)) / eps)) : 0;
    const r = d < 0 ? 255 * (1 + d) : 255;
    const b = d > 0 ? 255 * (1 - d) : 255;
    const g = 255 * (1 - Math.abs(d));
    img.data.set([r, g, b, 255], i * 4);
  }
  ctx.putImageData(img, 0, 0);
}

/** Reads `t` back asynchronously, then disposes it (also when the read fails). */
async function readAndDispose(t: tf.Tensor): Promise<number[]> {
  try {
    return Array.from(await t.data());
  } finally {
    t.dispose();
  }
}

/** The class probabilities of one image, `model` applied inside the scope that releases its logits. */
function softmaxOf(model: Model, x: tf.Tensor): Promise<number[]> {
  return readAndDispose(tf.tidy(() => tf.softmax(model(x))));
}

function makeAttack(kind: DemoAttack, eps: number): (model: Model, x: tf.Tensor, y: tf.Tensor1D) => tf.Tensor {
  switch (kind) {
    case 'fgsm':
      return (m, x, y) => fgsm(m, x, y, { eps });
    case 'cw':
      return (m, x, y) => cwLinf(m, x, y, { eps, steps: 20, seed: 0 });
    case 'apgd':
      return (m, x, y) => apgd(m, x, y, { eps, steps: 50, seed: 0 });
    default:
      return (m, x, y) => pgd(m, x, y, { eps, steps: 20, seed: 0 });
  }
}

async function start(): Promise<DemoApi> {
  const { name: backend, label } = await chooseBackend();
  byId('backend').textContent = label;
  const [standardNet, robustNet, digits] = await Promise.all([
    tfl.loadLayersModel('/models/standard-student/model.json'),
    tfl.loadLayersModel('/models/robust-student/model.json'),
    fetch('/digits.json').then(async (r) => (await r.json()) as Digits)
  ]);
  const standard: Model = (x) => standardNet.apply(x, { training: false }) as tf.Tensor2D;
  const robust: Model = (x) => robustNet.apply(x, { training: false }) as tf.Tensor2D;
  const models: ReadonlyArray<{ name: string; model: Model }> = [
    { name: 'standard student', model: standard },
    { name: 'robust student (distilled)', model: robust }
  ];

  let current: { pixels: number[]; label: number } = { pixels: digits.images[0] ?? new Array<number>(784).fill(0), label: digits.labels[0] ?? -1 };
  let attack: DemoAttack = 'pgd';
  let eps = 0.1;

  // The digit picker.
  const picker = byId('digits');
  const thumbs = digits.images.map((pixels, i) => {
    const c = document.createElement('canvas');
    drawImage(c, pixels);
    c.title = `test digit ${String(i)}, label ${String(digits.labels[i])}`;
    c.addEventListener('click', () => {
      api.pick(i);
      void api.run();
    });
    picker.appendChild(c);
    return c;
  });

  // The drawing pad: white ink on black, averaged down to 28×28.
  const pad = (byId('pad') as HTMLCanvasElement);
  const pctx = pad.getContext('2d', { willReadFrequently: true });
  const clearPad = (): void => {
    if (pctx === null) return;
    pctx.fillStyle = '#000';
    pctx.fillRect(0, 0, pad.width, pad.height);
  };
  clearPad();
  let drawing = false;
  const strokeTo = (e: PointerEvent): void => {
    if (!drawing || pctx === null) return;
    const r = pad.getBoundingClientRect();
    pctx.fillStyle = '#fff';
    pctx.beginPath();
    pctx.arc(((e.clientX - r.left) / r.width) * pad.width, ((e.clientY - r.top) / r.height) * pad.height, 9, 0, 2 * Math.PI);
    pctx.fill();
  };
  pad.addEventListener('pointerdown', (e) => {
    drawing = true;
    strokeTo(e);
  });
  pad.addEventListener('pointermove', strokeTo);
  window.addEventListener('pointerup', () => { drawing = false; });
  byId('clear').addEventListener('click', clearPad);
  byId('use-drawing').addEventListener('click', () => {
    if (pctx === null) return;
    const data = pctx.getImageData(0, 0, pad.width, pad.height).data;
    const cell = pad.width / 28;
    const pixels = new Array<number>(784).fill(0);
    for (let py = 0; py < pad.height; py++) {
      for (let px = 0; px < pad.width; px++) {
        const i = Math.floor(py / cell) * 28 + Math.floor(px / cell);
        pixels[i] = (pixels[i] ?? 0) + (data[(py * pad.width + px) * 4] ?? 0) / 255 / (cell * cell);
      }
    }
    current = { pixels, label: -1 };
    thumbs.forEach((t) => { t.classList.remove('picked'); });
    void api.run();
  });

  // The controls.
  const attackSelect = (byId('attack') as HTMLSelectElement);
  const epsSlider = (byId('eps') as HTMLInputElement);
  const epsValue = byId('eps-value');
  attackSelect.addEventListener('change', () => { attack = attackSelect.value as DemoAttack; });
  epsSlider.addEventListener('input', () => {
    eps = Number(epsSlider.value);
    epsValue.textContent = eps.toFixed(2);
  });
  byId('run').addEventListener('click', () => void api.run());

  // One row per model.
  const rows = models.map(({ name }) => {
    const row = document.createElement('div');
    row.className = 'model';
    row.innerHTML = `<div><div class="name">${name}</div><div class="verdict"></div></div>
      <div><canvas class="clean"></canvas><div class="caption clean-caption"></div></div>
      <div><canvas class="adv"></canvas><div class="caption adv-caption"></div></div>
      <div><canvas class="delta"></canvas><div class="caption">perturbation × 1/ε</div></div>
      <div class="bars"></div>`;
    byId('models').appendChild(row);
    const q = (sel: string): Element => {
      const el = row.querySelector(sel);
      if (el === null) throw new Error(`no ${sel}`);
      return el;
    };
    return { clean: (q('canvas.clean') as HTMLCanvasElement), adv: (q('canvas.adv') as HTMLCanvasElement), delta: (q('canvas.delta') as HTMLCanvasElement),
      cleanCaption: (q('.clean-caption') as HTMLElement), advCaption: (q('.adv-caption') as HTMLElement), verdict: (q('.verdict') as HTMLElement), bars: (q('.bars') as HTMLElement) };
  });

  // Runs (and the test's reads) are queued, one after another: a click during a run neither mixes into it nor is
  // overtaken by it, and a failed one does not stop the queue.
  let queue: Promise<unknown> = Promise.resolve();
  let last: DemoResult | undefined;
  const enqueue = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work);
    queue = next.catch(() => undefined);
    return next;
  };
  const attackBoth = async (job: { pixels: number[]; label: number; attack: DemoAttack; eps: number }): Promise<DemoResult> => {
    const status = byId('status');
    status.textContent = 'attacking…';
    const t0 = performance.now();
    const x = tf.tensor4d(job.pixels, [1, 28, 28, 1]);
    const views: ModelView[] = [];
    try {
      for (const [i, { name, model }] of models.entries()) {
        const cleanProbs = await softmaxOf(model, x);
        const cleanPrediction = cleanProbs.indexOf(Math.max(...cleanProbs));
        // Untargeted attack on the label, or on the model's own prediction for a drawing.
        const y = tf.tensor1d([job.label >= 0 ? job.label : cleanPrediction], 'int32');
        let adv: number[];
        let advProbs: number[];
        try {
          const xAdv = job.eps > 0 ? makeAttack(job.attack, job.eps)(model, x, y) : tf.clone(x);
          try {
            advProbs = await softmaxOf(model, xAdv);
            adv = Array.from(await xAdv.data());
          } finally {
            xAdv.dispose();
          }
          // On GPU backends the attack checked its inputs on the device; this reads those checks.
          await flushChecks();
        } finally {
          y.dispose();
        }
        const adversarialPrediction = advProbs.indexOf(Math.max(...advProbs));
        const distance = adv.reduce((m, v, j) => Math.max(m, Math.abs(v - (job.pixels[j] ?? 0))), 0);
        const view: ModelView = {
          name, cleanPrediction, cleanConfidence: cleanProbs[cleanPrediction] ?? 0, adversarialPrediction, adversarialConfidence: advProbs[adversarialPrediction] ?? 0, distance
        };
        views.push(view);
        const row = rows[i];
        if (row === undefined) continue;
        drawImage(row.clean, job.pixels);
        drawImage(row.adv, adv);
        drawPerturbation(row.delta, job.pixels, adv, job.eps);
        row.cleanCaption.textContent = `clean: ${String(cleanPrediction)} (${(view.cleanConfidence * 100).toFixed(0)} %)`;
        row.advCaption.textContent = `attacked: ${String(adversarialPrediction)} (${(view.adversarialConfidence * 100).toFixed(0)} %)`;
        const kept = adversarialPrediction === cleanPrediction;
        row.verdict.innerHTML = kept ? '<span class="kept">keeps its answer</span>' : `<span class="flipped">fooled: ${String(cleanPrediction)} → ${String(adversarialPrediction)}</span>`;
        row.bars.innerHTML = advProbs
          .map((p, c) => `<div class="bar${c === adversarialPrediction ? ' top' : ''}">${String(c)} <span class="fill" style="width:${(p * 120).toFixed(0)}px"></span> ${(p * 100).toFixed(0)}%</div>`)
          .join('');
      }
      status.textContent = `${job.attack.toUpperCase()} at ε = ${job.eps.toFixed(2)}, ${(performance.now() - t0).toFixed(0)} ms on ${backend}`;
    } catch (e) {
      status.textContent = `the attack failed: ${e instanceof Error ? e.message : String(e)}`;
      throw e;
    } finally {
      x.dispose();
    }
    last = { label: job.label, attack: job.attack, eps: job.eps, models: views };
    return last;
  };

  const api: DemoApi = {
    ready: Promise.resolve({ backend, label, digits: digits.images.length }),
    pick(i) {
      const pixels = digits.images[i];
      if (pixels === undefined) throw new RangeError(`pick: i must be a digit index < ${String(digits.images.length)} (got ${String(i)})`);
      current = { pixels, label: digits.labels[i] ?? -1 };
      thumbs.forEach((t, j) => t.classList.toggle('picked', j === i));
    },
    configure(kind, value) {
      if (!['pgd', 'fgsm', 'cw', 'apgd'].includes(kind)) throw new RangeError(`configure: attack must be one of pgd, fgsm, cw, apgd (got ${JSON.stringify(kind)})`);
      if (!(value >= 0 && value <= 0.3)) throw new RangeError(`configure: eps must be a number in [0, 0.3] (got ${String(value)})`);
      attack = kind;
      eps = value;
      attackSelect.value = kind;
      epsSlider.value = String(value);
      epsValue.textContent = value.toFixed(2);
    },
    run() {
      // Each run works on a snapshot of the digit and the controls taken when it was asked for.
      const job = { pixels: current.pixels, label: current.label, attack, eps };
      return enqueue(() => attackBoth(job));
    },
    settled() {
      return queue.then(() => last);
    },
    logits() {
      return enqueue(async () => {
        const x = tf.tensor4d(digits.images.flat(), [digits.images.length, 28, 28, 1]);
        const read = async (m: Model): Promise<number[][]> => {
          const logits = tf.tidy(() => m(x));
          try {
            return await logits.array();
          } finally {
            logits.dispose();
          }
        };
        try {
          return { standard: await read(standard), robust: await read(robust) };
        } finally {
          x.dispose();
        }
      });
    },
    robustness(kind, value) {
      return enqueue(async () => {
        const x = tf.tensor4d(digits.images.flat(), [digits.images.length, 28, 28, 1]);
        const y = tf.tensor1d(digits.labels, 'int32');
        const kept = (m: Model): Promise<number[]> =>
          readAndDispose(
            tf.tidy(() => {
              const xAdv = makeAttack(kind, value)(m, x, y);
              return tf.cast(tf.logicalAnd(tf.equal(tf.argMax(m(x), 1), y), tf.equal(tf.argMax(m(xAdv), 1), y)), 'int32');
            })
          );
        try {
          const result = { standard: await kept(standard), robust: await kept(robust) };
          await flushChecks();
          return result;
        } finally {
          tf.dispose([x, y]);
        }
      });
    }
  };
  api.pick(0);
  return api;
}

start().then(
  async (api) => {
    const first = api.run();
    window.__ardkitDemo = api;
    await first;
  },
  (e: unknown) => {
    document.body.insertAdjacentHTML('afterbegin', `<pre style="color:#d62728;padding:12px">the demo could not start: ${e instanceof Error ? e.message : String(e)}</pre>`);
    console.error(e);
  }
);
