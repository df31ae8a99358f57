/** The report of bench/ceiling.ts: its result type and its section of docs/performance.md (bench/run.ts renders it). */

export interface Side {
  readonly forwardMs: number;
  readonly pgdStepMs: number;
}

export interface NetworkCeiling {
  readonly name: string;
  readonly batch: number;
  readonly macsPerImage: number;
  readonly torchMacsPerImage?: number;
  readonly ardkit: Side;
  readonly pytorch?: Side;
}

export interface CeilingResult {
  readonly startedAt: string;
  readonly loadAverageBefore: number[];
  readonly loadAverageAfter: number[];
  readonly cpu: string;
  readonly threads: number;
  readonly peak?: { readonly oneThread: number; readonly allThreads: number };
  readonly peakSkipped?: string;
  readonly torch?: string;
  readonly torchSkipped?: string;
  readonly networks: NetworkCeiling[];
}

/** GFLOP/s of `macs` multiply-accumulates per image, `batch` images, in `ms`. */
const gflops = (macsPerImage: number, batch: number, ms: number, passes: number): number => (2 * passes * macsPerImage * batch) / (ms / 1000) / 1e9;

/** The ceiling section of docs/performance.md (bench/run.ts calls it with bench/ceiling.json). */
export function ceilingMarkdown(c: CeilingResult): string[] {
  const f = (v: number | undefined, d = 1): string => (v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(d));
  const out = [
    '### The compute ceiling (bench/ceiling.ts)',
    '',
    `Measured ${c.startedAt} (load average before ${c.loadAverageBefore.map((v) => v.toFixed(2)).join(', ')}, after ${c.loadAverageAfter.map((v) => v.toFixed(2)).join(', ')}), ${c.cpu}, ${String(c.threads)} threads. ` +
      'Command: `npm run -s build && node --loader ts-node/esm bench/ceiling.ts`.',
    '',
    c.peak === undefined
      ? `SIMD128 peak: not measured (${c.peakSkipped ?? '?'}).`
      : `wasm SIMD128 peak (bench/simd-peak.c: independent f32x4 multiply and add chains; a multiply-accumulate costs one of each, SIMD128 has no fused multiply-add): ${f(c.peak.oneThread)} GFLOP/s on one thread, ${f(c.peak.allThreads)} on ${String(c.threads)}.`,
    '',
    `GFLOP/s count 2 FLOPs per multiply-accumulate of the convolutions and dense layers (a PGD step: the forward pass and the input gradient, twice the forward's). PyTorch ${c.torch ?? '(skipped)'} on ${String(c.threads)} threads, oneDNN (dense layers as 1×1 convolutions). "At the peak": ardkit's speed relative to PyTorch if its kernels ran at 100 % of the SIMD128 peak.`,
    '',
    "| network | batch | MMACs per image (ardkit / PyTorch count) | pass | ardkit ms | ardkit GFLOP/s (% of peak) | PyTorch ms | PyTorch GFLOP/s | ardkit's speed relative to PyTorch | at the peak |",
    '| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |'
  ];
  for (const n of c.networks) {
    for (const [pass, passes, a, p] of [
      ['forward', 1, n.ardkit.forwardMs, n.pytorch?.forwardMs],
      ['PGD step', 2, n.ardkit.pgdStepMs, n.pytorch?.pgdStepMs]
    ] as const) {
      const ours = gflops(n.macsPerImage, n.batch, a, passes);
      const theirs = p === undefined ? undefined : gflops(n.macsPerImage, n.batch, p, passes);
      const share = c.peak === undefined ? undefined : (100 * ours) / c.peak.allThreads;
      const ratio = p === undefined ? undefined : p / a;
      const atPeak = c.peak === undefined || theirs === undefined ? undefined : c.peak.allThreads / theirs;
      out.push(
        `| ${n.name} | ${String(n.batch)} | ${f(n.macsPerImage / 1e6, 2)} / ${n.torchMacsPerImage === undefined ? '–' : f(n.torchMacsPerImage / 1e6, 2)} | ${pass} | ${f(a)} | ${f(ours)} (${f(share, 0)} %) | ${f(p)} | ${f(theirs)} | ${ratio === undefined ? '–' : `${f(ratio, 2)}×`} | ${atPeak === undefined ? '–' : `${f(atPeak, 2)}×`} |`
      );
    }
  }
  if (c.torchSkipped !== undefined) out.push('', `PyTorch: skipped (${c.torchSkipped}).`);
  return out;
}
