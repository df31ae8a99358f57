/** The method benchmark's progress bar: share of the planned work done, and the time left at the pace so far. */

function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return `${String(Math.floor(s / 60))}:${String(s % 60).padStart(2, '0')}`;
}

/** The progress of one run, drawn on stderr (a line at a time when stderr is a log, not a terminal). */
export class Progress {
  /** When the run started (`performance.now()`). */
  readonly started = performance.now();
  /** The planned work's total weight. Work that was found cached is dropped from it, so the time left counts only work to do. */
  total = 0;
  /** Weight of the measured work done. */
  doneWeight = 0;
  /** Seconds the measured work took. */
  spentSeconds = 0;
  /** Set for the collecting pass after the workers of a parallel run: no bar. */
  quiet = false;
  private lastLine = { current: '', share: 0, at: 0 };

  /** @param silent - no bar at all (the workers of a parallel run). */
  constructor(private readonly silent: boolean) {}

  /** Seconds since the run started. */
  seconds(): number {
    return (performance.now() - this.started) / 1000;
  }

  /** Redraws the bar, with `current`, the work under way. */
  bar(current: string): void {
    if (this.quiet || this.silent) return;
    const share = this.total === 0 ? 0 : this.doneWeight / this.total;
    const elapsed = this.seconds();
    const left = this.doneWeight === 0 || this.spentSeconds === 0 ? NaN : (this.spentSeconds / this.doneWeight) * (this.total - this.doneWeight);
    const width = 28;
    const line = `[${'#'.repeat(Math.round(share * width)).padEnd(width, '-')}] ${(share * 100).toFixed(0).padStart(3)}% ${clock(elapsed)} elapsed, ${Number.isNaN(left) ? '?' : clock(left)} left  ${current}`;
    if (process.stderr.isTTY) process.stderr.write(`\r${line.slice(0, 150).padEnd(150)}`);
    else if (current !== this.lastLine.current || share - this.lastLine.share >= 0.01 || elapsed - this.lastLine.at >= 60) {
      // A log, not a terminal: a line when something changed, or once a minute.
      process.stderr.write(`${line}\n`);
      this.lastLine = { current, share, at: elapsed };
    }
  }

  /** Runs `work` under `label`, then counts its `weight` done (measured work) or drops it from the plan (cached work). */
  async step<T>(label: string, weight: number, work: () => Promise<T>): Promise<T> {
    this.bar(label);
    const t0 = performance.now();
    const out = await work();
    const seconds = (performance.now() - t0) / 1000;
    // Cached work takes no time: it leaves the plan, and only measured work sets the pace.
    if (seconds > 0.5) {
      this.doneWeight += weight;
      this.spentSeconds += seconds;
    } else {
      this.total -= weight;
    }
    return out;
  }
}
