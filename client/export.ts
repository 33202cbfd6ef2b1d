import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { Counter, CounterClient } from './counter-client.ts';
import { CounterApiError } from './errors.ts';
import { EXPORT_FORMAT, type ExportLine } from './export-format.ts';

export interface ExportProgress {
  counters: number;
  entries: number;
}

export interface ExportOptions {
  prefix?: string;
  /**
   * History follows the table's stream, so it may lag the counter by a moment: wait this long per
   * counter for it to reach the counter's version before writing what there is. Default 10 s.
   */
  historyWaitMs?: number;
  pollMs?: number;
  onProgress?: (progress: ExportProgress) => void;
  sleep?: (ms: number) => Promise<void>;
}

export interface ExportSummary extends ExportProgress {
  /** Deleted between the listing and the reading of their history; not exported. */
  vanished: string[];
  /** Exported with fewer history entries than versions (the history had not caught up in time). */
  incomplete: string[];
}

/** How one counter went: how far its history was written, and whether it was deleted meanwhile. */
interface CounterExport {
  written: number;
  started: boolean;
  vanished: boolean;
}

type Emit = (line: ExportLine) => Promise<void>;

/**
 * Writes every counter under `prefix` with its history, a page at a time. Each counter is a snapshot at
 * the version the listing showed: changes made while the export runs are left out, so the counter line
 * and its history always agree.
 */
export async function exportCounters(
  client: CounterClient,
  write: (line: string) => Promise<void>,
  options: ExportOptions = {},
): Promise<ExportSummary> {
  const prefix = options.prefix ?? '';
  const summary: ExportSummary = { counters: 0, entries: 0, vanished: [], incomplete: [] };
  const emit: Emit = (line) => write(JSON.stringify(line));

  await emit({
    type: 'export',
    format: EXPORT_FORMAT,
    exported_at: new Date().toISOString(),
    source: client.url.href,
    prefix,
  });
  for await (const counter of client.list({ prefix, limit: 100 })) {
    // The never-changed `default` (version 0) has nothing to carry over.
    if (counter.version === 0) continue;
    const done = await exportCounter(client, counter, emit, options, summary);
    if (done.vanished && !done.started) {
      summary.vanished.push(counter.name);
      continue;
    }
    if (!done.started) await emit({ type: 'counter', ...counter });
    if (done.written < counter.version) summary.incomplete.push(counter.name);
    summary.counters++;
    options.onProgress?.({ counters: summary.counters, entries: summary.entries });
  }
  return summary;
}

/**
 * Writes the counter line and its history up to the listed version, reading the history again until
 * it has caught up, the counter is gone, or the wait is over. The counter line goes out with the first
 * entry, so a counter deleted before any was read leaves no line.
 */
async function exportCounter(
  client: CounterClient,
  counter: Counter,
  emit: Emit,
  options: ExportOptions,
  summary: ExportSummary,
): Promise<CounterExport> {
  const deadline = Date.now() + (options.historyWaitMs ?? 10_000);
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const done: CounterExport = { written: 0, started: false, vanished: false };
  for (;;) {
    try {
      for await (const entry of client.history(counter.name, { limit: 1000 })) {
        if (entry.version <= done.written) continue;
        // Later than the snapshot, or a gap the contract rules out: stop at what is consistent.
        if (entry.version !== done.written + 1 || entry.version > counter.version) break;
        if (!done.started) {
          await emit({ type: 'counter', ...counter });
          done.started = true;
        }
        await emit({ type: 'history', name: counter.name, ...entry });
        done.written = entry.version;
        summary.entries++;
      }
    } catch (error) {
      if (!(error instanceof CounterApiError && error.status === 404)) throw error;
      done.vanished = true;
    }
    if (done.vanished || done.written >= counter.version || Date.now() >= deadline) return done;
    await sleep(options.pollMs ?? 250);
  }
}

/** A line writer that respects the stream's back-pressure, so an export never buffers without bound. */
export function lineWriter(stream: Writable): (line: string) => Promise<void> {
  return async (line) => {
    if (!stream.write(`${line}\n`)) await once(stream, 'drain');
  };
}
