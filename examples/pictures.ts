/**
 * Pictures for the examples: a robustness curve (accuracy against ε, one line per model and attack) as hand-written
 * SVG, and a PNG grid of clean images, adversarial images and amplified perturbations (encoded with pngjs).
 */
import { PNG } from 'pngjs';

/** One line of the robustness curve: accuracy (a fraction) at each ε. */
export interface Curve {
  readonly label: string;
  readonly points: ReadonlyArray<readonly [eps: number, accuracy: number]>;
  /** CSS colour of the line. */
  readonly color: string;
  /** Draw the line dashed (e.g. for the weaker attack). */
  readonly dashed?: boolean;
}

const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Formats a tick value without float noise (0.15000000000000002 → 0.15). */
const tick = (v: number): string => String(Number(v.toFixed(4)));

/**
 * Renders curves of accuracy against ε as a standalone SVG document: axes with ticks, a light grid, one polyline
 * with markers per curve, and a legend.
 */
export function robustnessCurveSvg(curves: readonly Curve[], options: { readonly title: string; readonly subtitle?: string }): string {
  const width = 780;
  const height = 420;
  const m = { left: 64, right: 260, top: 56, bottom: 56 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const epsValues = [...new Set(curves.flatMap((c) => c.points.map(([e]) => e)))].sort((a, b) => a - b);
  const maxEps = Math.max(...epsValues, 1e-9);
  const x = (eps: number): number => m.left + (eps / maxEps) * plotW;
  const y = (acc: number): number => m.top + (1 - acc) * plotH;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${String(width)}" height="${String(height)}" viewBox="0 0 ${String(width)} ${String(height)}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<title>${escapeXml(options.title)}</title>`,
    '<rect width="100%" height="100%" fill="#ffffff"/>',
    `<text x="${String(m.left)}" y="24" font-size="15" font-weight="bold">${escapeXml(options.title)}</text>`
  );
  if (options.subtitle !== undefined) out.push(`<text x="${String(m.left)}" y="42" fill="#555555">${escapeXml(options.subtitle)}</text>`);
  // Grid and y ticks: every 10 %, labelled every 20 %.
  for (let p = 0; p <= 100; p += 10) {
    const yy = y(p / 100).toFixed(1);
    out.push(`<line x1="${String(m.left)}" x2="${String(m.left + plotW)}" y1="${yy}" y2="${yy}" stroke="${p % 20 === 0 ? '#dddddd' : '#f0f0f0'}"/>`);
    if (p % 20 === 0) out.push(`<text x="${String(m.left - 8)}" y="${yy}" text-anchor="end" dominant-baseline="middle">${String(p)} %</text>`);
  }
  // x ticks at every ε that was measured.
  for (const e of epsValues) {
    const xx = x(e).toFixed(1);
    out.push(
      `<line x1="${xx}" x2="${xx}" y1="${String(m.top)}" y2="${String(m.top + plotH)}" stroke="#f0f0f0"/>`,
      `<line x1="${xx}" x2="${xx}" y1="${String(m.top + plotH)}" y2="${String(m.top + plotH + 5)}" stroke="#333333"/>`,
      `<text x="${xx}" y="${String(m.top + plotH + 18)}" text-anchor="middle">${tick(e)}</text>`
    );
  }
  out.push(
    `<line x1="${String(m.left)}" x2="${String(m.left)}" y1="${String(m.top)}" y2="${String(m.top + plotH)}" stroke="#333333"/>`,
    `<line x1="${String(m.left)}" x2="${String(m.left + plotW)}" y1="${String(m.top + plotH)}" y2="${String(m.top + plotH)}" stroke="#333333"/>`,
    `<text x="${String(m.left + plotW / 2)}" y="${String(height - 14)}" text-anchor="middle">ε (L∞ radius, pixel values in [0, 1])</text>`,
    `<text transform="translate(16 ${String(m.top + plotH / 2)}) rotate(-90)" text-anchor="middle">robust accuracy</text>`
  );
  curves.forEach((c, i) => {
    const dash = c.dashed === true ? ' stroke-dasharray="6 4"' : '';
    const pts = c.points.map(([e, a]) => `${x(e).toFixed(1)},${y(a).toFixed(1)}`).join(' ');
    out.push(`<polyline points="${pts}" fill="none" stroke="${c.color}" stroke-width="2"${dash}/>`);
    for (const [e, a] of c.points) {
      out.push(`<circle cx="${x(e).toFixed(1)}" cy="${y(a).toFixed(1)}" r="3" fill="${c.color}"><title>${escapeXml(`${c.label}: ε = ${tick(e)}, ${(a * 100).toFixed(1)} %`)}</title></circle>`);
    }
    const ly = m.top + 10 + i * 22;
    const lx = m.left + plotW + 20;
    out.push(
      `<line x1="${String(lx)}" x2="${String(lx + 28)}" y1="${String(ly)}" y2="${String(ly)}" stroke="${c.color}" stroke-width="2"${dash}/>`,
      `<circle cx="${String(lx + 14)}" cy="${String(ly)}" r="3" fill="${c.color}"/>`,
      `<text x="${String(lx + 36)}" y="${String(ly)}" dominant-baseline="middle">${escapeXml(c.label)}</text>`
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** One column of the image grid. */
export interface GridSample {
  /** Clean image, `side × side` values in [0, 1], row-major. */
  readonly clean: ArrayLike<number>;
  /** Adversarial image, same layout. */
  readonly adversarial: ArrayLike<number>;
  readonly label: number;
  readonly cleanPrediction: number;
  readonly adversarialPrediction: number;
}

/** A 3×5 bitmap of each digit, rows top to bottom, bit 2 = left column. */
const DIGITS: readonly (readonly number[])[] = [
  [7, 5, 5, 5, 7],
  [2, 6, 2, 2, 7],
  [7, 1, 7, 4, 7],
  [7, 1, 7, 1, 7],
  [5, 5, 7, 1, 1],
  [7, 4, 7, 1, 7],
  [7, 4, 7, 5, 7],
  [7, 1, 1, 1, 1],
  [7, 5, 7, 5, 7],
  [7, 5, 7, 1, 7]
];

type Rgb = readonly [number, number, number];

/**
 * Renders a PNG with one column per sample and three rows: the clean image (its prediction below it), the
 * adversarial image (its prediction below it: green when still correct, red when fooled), and the perturbation
 * `x' − x` amplified by `1/ε` in a diverging palette (red where the pixel value rose, i.e. ink was added; blue where
 * it fell; white where unchanged). Images are drawn dark on white, as digits are printed.
 */
export function adversarialGridPng(samples: readonly GridSample[], eps: number, side = 28, scale = 3): Buffer {
  const cell = side * scale;
  const gap = 6;
  const labelH = 5 * 2 + 6; // digit glyphs at 2× plus padding
  const rowH = cell + labelH;
  const width = gap + samples.length * (cell + gap);
  const height = gap + 3 * rowH;
  const png = new PNG({ width, height });
  png.data.fill(255);
  const put = (px: number, py: number, [r, g, b]: Rgb): void => {
    if (px < 0 || py < 0 || px >= width || py >= height) return;
    const i = (py * width + px) * 4;
    png.data[i] = r;
    png.data[i + 1] = g;
    png.data[i + 2] = b;
    png.data[i + 3] = 255;
  };
  const drawImage = (x0: number, y0: number, color: (i: number) => Rgb): void => {
    for (let py = 0; py < cell; py++) for (let px = 0; px < cell; px++) put(x0 + px, y0 + py, color(Math.floor(py / scale) * side + Math.floor(px / scale)));
  };
  const drawDigit = (x0: number, y0: number, digit: number, rgb: Rgb): void => {
    const rows = DIGITS[digit] ?? DIGITS[0] ?? [];
    rows.forEach((bits, r) => {
      for (let c = 0; c < 3; c++) {
        if ((bits >> (2 - c)) & 1) for (let dy = 0; dy < 2; dy++) for (let dx = 0; dx < 2; dx++) put(x0 + c * 2 + dx, y0 + r * 2 + dy, rgb);
      }
    });
  };
  const gray = (v: number): Rgb => {
    const g = Math.round(255 * (1 - Math.min(1, Math.max(0, v)))); // dark digits on white, as printed
    return [g, g, g];
  };
  const diverging = (d: number): Rgb => {
    const t = Math.min(1, Math.abs(d) / Math.max(eps, 1e-12));
    const fade = Math.round(255 * (1 - t));
    return d >= 0 ? [255, fade, fade] : [fade, fade, 255];
  };
  const green: Rgb = [0, 140, 60];
  const red: Rgb = [210, 30, 30];
  samples.forEach((s, col) => {
    const x0 = gap + col * (cell + gap);
    const center = x0 + Math.floor(cell / 2) - 3;
    drawImage(x0, gap, (i) => gray(s.clean[i] ?? 0));
    drawDigit(center, gap + cell + 3, s.cleanPrediction, s.cleanPrediction === s.label ? green : red);
    drawImage(x0, gap + rowH, (i) => gray(s.adversarial[i] ?? 0));
    drawDigit(center, gap + rowH + cell + 3, s.adversarialPrediction, s.adversarialPrediction === s.label ? green : red);
    drawImage(x0, gap + 2 * rowH, (i) => diverging((s.adversarial[i] ?? 0) - (s.clean[i] ?? 0)));
  });
  return PNG.sync.write(png);
}
