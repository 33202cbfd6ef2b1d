import { closeSync, openSync, writeSync } from 'node:fs';

/**
 * The handlers write their logs and EMF metrics to stdout, as Lambda expects; in the benchmark's own
 * process that would bury the report. While capturing, stdout goes to /dev/null (a real write, as a
 * Lambda's is, so the CPU figures still pay for it) and its bytes are counted: the capacity section
 * reads the count per operation to price the log ingestion.
 */
class StdoutCapture {
  private original: typeof process.stdout.write | undefined;
  private sink: number | undefined;
  /** Bytes written to stdout since the capture started. */
  bytes = 0;

  start(): void {
    if (this.original !== undefined) return;
    const sink = openSync('/dev/null', 'w');
    this.sink = sink;
    this.original = process.stdout.write;
    const capture = (chunk: unknown, encoding?: unknown, callback?: unknown): boolean => {
      const data =
        typeof chunk === 'string'
          ? Buffer.from(
              chunk,
              typeof encoding === 'string' && Buffer.isEncoding(encoding) ? encoding : 'utf8',
            )
          : chunk instanceof Uint8Array
            ? chunk
            : Buffer.from(String(chunk));
      this.bytes += data.length;
      writeSync(sink, data);
      const done = typeof encoding === 'function' ? encoding : callback;
      if (typeof done === 'function') queueMicrotask(() => done());
      return true;
    };
    // One function for write's overloads (chunk, [encoding], [callback]).
    process.stdout.write = capture as typeof process.stdout.write;
  }

  stop(): void {
    if (this.original === undefined) return;
    process.stdout.write = this.original;
    this.original = undefined;
    if (this.sink !== undefined) closeSync(this.sink);
    this.sink = undefined;
  }
}

export const stdoutCapture = new StdoutCapture();
