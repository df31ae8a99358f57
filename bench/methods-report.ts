/**
 * The method benchmark's report: the results file (`--json`) and the Markdown report (`--markdown`, whose hand-written
 * analysis below `<!-- analysis -->` is kept), with the orderings the papers report, marked held or not held.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { Run } from './methods-cli.js';
import { SANITY_POINTS, forFamily } from './methods-evaluate.js';
import { familySpec, type Data, type Family } from './methods-models.js';
import type { Row, Teachers } from './methods-teachers.js';

/** A row's scores over its seeds: means, spreads (max − min, null for one seed) and the union of the flags. */
interface Summary {
  mean: Record<'clean' | 'pgd20' | 'cw20' | 'autoAttack' | 'trainSeconds', number | null>;
  spread: Record<'clean' | 'pgd20' | 'cw20' | 'autoAttack', number | null>;
  flags: string[];
}

function summarise(row: Row): Summary {
  const pick = (k: 'clean' | 'pgd20' | 'cw20' | 'autoAttack' | 'trainSeconds'): number[] =>
    row.seeds.map((s) => s[k]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  const mean = (v: number[]): number | null => (v.length === 0 ? null : v.reduce((a, b) => a + b, 0) / v.length);
  const spread = (v: number[]): number | null => (v.length < 2 ? null : Math.max(...v) - Math.min(...v));
  return {
    mean: { clean: mean(pick('clean')), pgd20: mean(pick('pgd20')), cw20: mean(pick('cw20')), autoAttack: mean(pick('autoAttack')), trainSeconds: mean(pick('trainSeconds')) },
    spread: { clean: spread(pick('clean')), pgd20: spread(pick('pgd20')), cw20: spread(pick('cw20')), autoAttack: spread(pick('autoAttack')) },
    flags: [...new Set(row.seeds.flatMap((s) => s.flags))]
  };
}

const pct = (v: number | null): string => (v === null ? '–' : (v * 100).toFixed(1));
const cell = (m: number | null, s: number | null): string => (s === null ? pct(m) : `${pct(m)} ± ${(s * 50).toFixed(1)}`);

/** A claim of the papers, checked on one family's results. */
export interface Ordering {
  readonly family: Family;
  readonly claim: string;
  readonly held: boolean | null;
  readonly detail: string;
}

/** The orderings the papers report, checked on `rows` for each of `families` (claims whose rows are missing are left out). */
export function orderings(families: readonly Family[], rows: Row[]): Ordering[] {
  const out: Ordering[] = [];
  for (const family of families) {
    const get = (name: string): Summary | undefined => {
      const r = rows.find((x) => x.family === family && x.role === 'student' && x.name === name);
      return r === undefined ? undefined : summarise(r);
    };
    const aa = (s: Summary | undefined): number | null => s?.mean.autoAttack ?? null;
    const cmp = (claim: string, a: string, b: string, test: (x: Summary, y: Summary) => boolean, detail: (x: Summary, y: Summary) => string): void => {
      const x = get(a);
      const y = get(b);
      if (x === undefined || y === undefined) return;
      out.push({ family, claim, held: test(x, y), detail: detail(x, y) });
    };
    const aaDetail = (a: string, b: string) => (x: Summary, y: Summary): string => `${a} ${pct(aa(x))} vs ${b} ${pct(aa(y))} AutoAttack`;
    for (const d of ['ard', 'rslad', 'iad', 'adaad', 'mtard']) {
      cmp(`${d} ≥ PGD-AT in AutoAttack accuracy`, d, 'pgdAt', (x, y) => (aa(x) ?? 0) >= (aa(y) ?? 0), aaDetail(d, 'PGD-AT'));
    }
    cmp(
      'TRADES trades clean accuracy for robustness more gently than PGD-AT (higher clean accuracy, AutoAttack within 2 points or above)',
      'trades',
      'pgdAt',
      (x, y) => (x.mean.clean ?? 0) > (y.mean.clean ?? 0) && (aa(x) ?? 0) >= (aa(y) ?? 0) - 0.02,
      (x, y) => `clean ${pct(x.mean.clean)} vs ${pct(y.mean.clean)}, AutoAttack ${pct(aa(x))} vs ${pct(aa(y))}`
    );
    cmp('LTD on PGD-AT ≥ PGD-AT (AutoAttack)', 'ltd (pgdAt)', 'pgdAt', (x, y) => (aa(x) ?? 0) >= (aa(y) ?? 0), aaDetail('LTD', 'PGD-AT'));
    cmp('LTD on TRADES ≥ TRADES (AutoAttack)', 'ltd (trades)', 'trades', (x, y) => (aa(x) ?? 0) >= (aa(y) ?? 0), aaDetail('LTD', 'TRADES'));
    cmp(
      'ARREST keeps more clean accuracy than fine-tuning alone (AFT), at similar AutoAttack accuracy (within 3 points)',
      'arrest',
      'aft',
      (x, y) => (x.mean.clean ?? 0) > (y.mean.clean ?? 0) && Math.abs((aa(x) ?? 0) - (aa(y) ?? 0)) <= 0.03,
      (x, y) => `clean ${pct(x.mean.clean)} vs ${pct(y.mean.clean)}, AutoAttack ${pct(aa(x))} vs ${pct(aa(y))}`
    );
    cmp('DARHT with low-transfer teachers ≥ DARHT with one teacher (AutoAttack)', 'darht', 'darht (1 teacher)', (x, y) => (aa(x) ?? 0) >= (aa(y) ?? 0), aaDetail('DARHT', 'one teacher'));
    cmp('CRDND (confidence) ≥ ARD (AutoAttack)', 'crdnd (confidence)', 'ard', (x, y) => (aa(x) ?? 0) >= (aa(y) ?? 0), aaDetail('CRDND', 'ARD'));
    cmp('CRDND (learned) ≥ ARD (AutoAttack)', 'crdnd (learned)', 'ard', (x, y) => (aa(x) ?? 0) >= (aa(y) ?? 0), aaDetail('CRDND learned', 'ARD'));
    cmp(
      "CRDND 'learned' no worse than 'confidence' (AutoAttack within 1 point or above)",
      'crdnd (learned)',
      'crdnd (confidence)',
      (x, y) => (aa(x) ?? 0) >= (aa(y) ?? 0) - 0.01,
      aaDetail('learned', 'confidence')
    );
    cmp('DARHT within 10 points of PGD-AT (AutoAttack)', 'darht', 'pgdAt', (x, y) => (aa(x) ?? 0) >= (aa(y) ?? 0) - 0.1, aaDetail('DARHT', 'PGD-AT'));
  }
  return out;
}

function machine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return `${String(os.cpus().length)} × ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, backend ${tf.getBackend()}`;
}

/** Writes the results file and the Markdown report of `rows` (so far), for the invocation `command`, `seconds` in. */
export function report(run: Run, data: Data, rows: Row[], teachers: Partial<Record<Family, Teachers>>, command: string, seconds: number): void {
  const { settings, cache } = run;
  const { families, trainSize, epochs, seeds, jsonPath, markdownPath } = settings;
  const ords = orderings(families, rows);
  const json = {
    dataset: data.name,
    eps: data.eps,
    trainSize,
    testSize: Object.fromEntries(families.map((f) => [f, forFamily(run, data, f).test.x.shape[0]])),
    epochs,
    seeds,
    families,
    machine: machine(),
    command,
    date: new Date().toISOString(),
    seconds,
    computeMinutes: cache.computeMinutes(),
    rows: rows.map((r) => ({ ...r, summary: summarise(r) })),
    darht: Object.fromEntries(Object.entries(teachers).map(([f, t]) => [f, t.transfer])),
    orderings: ords
  };
  fs.mkdirSync(path.dirname(jsonPath), { recursive: true });
  fs.writeFileSync(jsonPath, `${JSON.stringify(json, null, 2)}\n`);
  const lines: string[] = [
    `# Method benchmark: ${data.name}, ε = ${String(+data.eps.toFixed(4))}`,
    '',
    `Generated by \`${command}\` (${new Date().toISOString().slice(0, 16)} UTC on ${machine()}). The run's training and evaluation took ${cache.computeMinutes().toFixed(1)} min`,
    `in all (every model's measured time, results found in the cache included); this invocation took ${(seconds / 60).toFixed(1)} min.`,
    '',
    `Every student of a family has the same architecture and the same initial weights for a given seed, and trains for ${String(epochs)} epochs on ${String(trainSize)} training images`,
    '(batch 128, Adam 0.01, PGD-5 training attacks with steps of 2.5·ε/5 unless the method\'s attack differs). Teachers and DARHT\'s candidates train to convergence, once, and serve every seed:',
    `Adam 0.003 with cosine decay for 10 epochs (dense networks) or 6 (convolutional). ${String(settings.jobCount)} worker process(es), one wasm thread each.`,
    `Evaluation on the first ${families.map((f) => `${String(forFamily(run, data, f).test.x.shape[0])} test images (${f === 'cnn' ? 'CNNs' : 'MLPs and the shared DARHT candidates'})`).join(' and ')}: clean, PGD-20 and CW-20 (κ = 0, steps 2.5·ε/20), AutoAttack standard (APGD-CE, APGD-T, FAB-T, Square 5000 queries)`,
    `of the deployed model (LTD: logits / τ_S), and \`sanityChecks\` on ${String(SANITY_POINTS)} of them (seed 0). Accuracies in %, mean ± half the range over ${String(seeds)} seed${seeds === 1 ? '' : 's'}.`,
    ''
  ];
  for (const family of families) {
    const spec = familySpec(family, data.shape);
    lines.push(`## ${spec.description}`, '', '| model | params | clean | PGD-20 | CW-20 | AutoAttack | train s | flags |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
    for (const r of rows.filter((x) => x.family === family)) {
      const s = summarise(r);
      lines.push(
        `| ${r.role === 'teacher' ? `*${r.name}*` : r.name} | ${String(r.params)} | ${cell(s.mean.clean, s.spread.clean)} | ${cell(s.mean.pgd20, s.spread.pgd20)} | ${cell(s.mean.cw20, s.spread.cw20)} | ${cell(s.mean.autoAttack, s.spread.autoAttack)} | ${s.mean.trainSeconds === null ? '–' : s.mean.trainSeconds.toFixed(0)} | ${s.flags.join(', ') || '–'} |`
      );
    }
    const t = teachers[family];
    if (t !== undefined) {
      lines.push('', `DARHT's teachers, chosen by \`selectTeachers\` from ${String(t.transfer.names.length)} candidates by adversarial transfer on 300 training images: **${t.transfer.selected.join('**, **')}** (mean transfer ${pct(t.transfer.meanTransfer)} %).`, '');
      lines.push(`| from \\ to | ${t.transfer.names.join(' | ')} |`, `| --- | ${t.transfer.names.map(() => '---:').join(' | ')} |`);
      t.transfer.names.forEach((n, i) => {
        lines.push(`| ${n} | ${(t.transfer.matrix[i] ?? []).map((v, j) => (i === j ? '–' : pct(v))).join(' | ')} |`);
      });
    }
    lines.push('');
  }
  lines.push('## Orderings the papers report', '', '| family | claim | held | measured |', '| --- | --- | --- | --- |');
  for (const o of ords) lines.push(`| ${o.family} | ${o.claim} | ${o.held === null ? '–' : o.held ? 'held' : '**not held**'} | ${o.detail} |`);
  lines.push('');
  fs.mkdirSync(path.dirname(markdownPath), { recursive: true });
  const existing = fs.existsSync(markdownPath) ? fs.readFileSync(markdownPath, 'utf8') : '';
  // Hand-written analysis below the generated part is kept.
  const marker = '<!-- analysis -->';
  const analysis = existing.includes(marker) ? existing.slice(existing.indexOf(marker)) : `${marker}\n`;
  fs.writeFileSync(markdownPath, `${lines.join('\n')}\n${analysis}`);
}
