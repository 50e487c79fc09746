/**
 * Worker logging: plain lines on stderr (`cng-worker <stage>: ...`), which is what `kubectl logs`
 * and the local runner show. Progress lines are throttled to one every few seconds.
 */
export function log(stage: string, message: string): void {
  process.stderr.write(`cng-worker ${stage}: ${message}\n`);
}

export class Progress {
  private last = 0;
  private readonly start = Date.now();

  constructor(
    private readonly stage: string,
    private readonly what: string,
    private readonly total?: number,
    private readonly everyMs = 5000,
  ) {}

  /** Reports `done` items (printed at most every `everyMs`, and always when `force`). */
  update(done: number, force = false): void {
    const now = Date.now();
    if (!force && now - this.last < this.everyMs) return;
    this.last = now;
    const secs = (now - this.start) / 1000;
    const rate = done / Math.max(secs, 1e-3);
    const of = this.total ? `/${this.total} (${((100 * done) / Math.max(this.total, 1)).toFixed(1)}%)` : '';
    const eta = this.total && rate > 0 && done < this.total ? `, ETA ${Math.ceil((this.total - done) / rate)}s` : '';
    log(this.stage, `${done}${of} ${this.what}, ${rate.toFixed(0)}/s${eta}`);
  }

  done(done: number): void {
    this.update(done, true);
  }
}

/** Sorted indices as a short list with ranges, e.g. `3, 17–19`. */
export function indexRanges(xs: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < xs.length; ) {
    let j = i;
    while (j + 1 < xs.length && xs[j + 1] === xs[j]! + 1) j++;
    parts.push(j > i ? `${xs[i]}–${xs[j]}` : String(xs[i]));
    i = j + 1;
  }
  return parts.join(', ');
}
