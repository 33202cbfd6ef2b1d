/** What a progress display needs of a stream: process.stderr, or a stand-in in tests. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/**
 * A one-line progress display for long runs (export, import). On a terminal it redraws a bar in place,
 * at most ten times a second; anywhere else (a pipe, a CI log) it stays silent until the end, so logs
 * get one summary line rather than thousands of carriage returns.
 */
export class Progress {
  private lastDraw = 0;
  private drawn = false;

  constructor(
    private readonly stream: ProgressStream,
    private readonly label: string,
    private readonly now: () => number = Date.now,
  ) {}

  get interactive(): boolean {
    return this.stream.isTTY === true;
  }

  /** `done` of `total` when the total is known (bytes of a file); `text` says what was done. */
  update(text: string, done?: number, total?: number): void {
    if (!this.interactive) return;
    const now = this.now();
    if (this.drawn && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    this.drawn = true;
    const width = Math.max(40, this.stream.columns ?? 80) - 1;
    let line = `${this.label} ${text}`;
    if (done !== undefined && total !== undefined && total > 0) {
      const fraction = Math.min(1, done / total);
      const size = 20;
      const filled = Math.round(fraction * size);
      line = `${this.label} [${'#'.repeat(filled)}${'-'.repeat(size - filled)}] ${Math.floor(fraction * 100)
        .toString()
        .padStart(3)}% ${text}`;
    }
    this.stream.write(`\r\x1b[K${line.slice(0, width)}`);
  }

  /** Clears the bar, if one was drawn, and writes the summary line. */
  finish(summary: string): void {
    if (this.drawn) this.stream.write('\r\x1b[K');
    this.stream.write(`${summary}\n`);
  }
}
