import type { Change, Counter, CounterClient } from './counter-client.ts';
import { CounterApiError } from './errors.ts';
import { type HistoryLine, ImportFormatError, parseLine } from './export-format.ts';
import {
  MAX_STALE_REFUSALS,
  mismatchOf,
  nextKey,
  type PendingCounter,
  refusalReason,
  replayOf,
} from './import-replay.ts';

export interface ImportProgress {
  /** Bytes of input read so far, for a progress bar over a file of known size. */
  bytes: number;
  counters: number;
  /** Changes sent, replays included. */
  changes: number;
  /** Changes the service answered from an earlier run's record: already applied, not applied again. */
  replayed: number;
}

export interface ImportOptions {
  /**
   * Mixed into every Idempotency-Key. Keys are derived from the file alone, so a re-run of the same file
   * (within the service's 24 hours) continues where the last one stopped; a new salt imports afresh.
   */
  salt?: string;
  onProgress?: (progress: ImportProgress) => void;
}

export interface ImportSummary extends ImportProgress {
  /** Counters not (fully) imported, and why; the rest of the file was still imported. */
  failed: { name: string; reason: string }[];
}

/**
 * Recreates each counter by replaying its history as the same changes: a set for `op=set`, an increment
 * by `delta` for `op=increment` (an increment by 0, which only old data holds and the service now
 * refuses, as a set of the same value). A sharded counter's `shards` go with the set that creates it (version
 * 1), the one change that can carry them; a sharded counter whose version 1 is not a set is refused
 * rather than imported plain. The API cannot write history directly, so the new counter's history
 * shows new times and the importing principal as actor; values, deltas, ops and versions are the same.
 *
 * Each change carries `If-Match` of the version before it and an Idempotency-Key derived from the
 * counter, version and change: a re-run of a partial import is answered from the service's records for
 * what was already applied and applies the rest, so it never counts twice, and a counter that exists
 * apart from this import is refused (412) rather than added to.
 */
export async function importCounters(
  client: CounterClient,
  lines: AsyncIterable<string>,
  options: ImportOptions = {},
): Promise<ImportSummary> {
  const run = new ImportRun(client, options);
  let lineNumber = 0;
  for await (const text of lines) {
    lineNumber++;
    await run.read(text, lineNumber);
  }
  return run.end();
}

/** One import: the counter being replayed, and the summary so far. */
class ImportRun {
  private readonly summary: ImportSummary = { bytes: 0, counters: 0, changes: 0, replayed: 0, failed: [] };
  private pending: PendingCounter | undefined;

  constructor(
    private readonly client: CounterClient,
    private readonly options: ImportOptions,
  ) {}

  async read(text: string, lineNumber: number): Promise<void> {
    this.summary.bytes += Buffer.byteLength(text) + 1;
    if (text.trim() === '') return;
    const line = parseLine(text, lineNumber);
    if (line.type === 'export') return;
    if (line.type === 'counter') {
      await this.finishCounter();
      const { type: _type, ...counter } = line;
      this.pending = { counter, applied: 0, failed: false, replayedAll: true, bounds: {} };
      this.summary.counters++;
    } else {
      const pending = this.pending;
      if (pending === undefined || line.name !== pending.counter.name) {
        throw new ImportFormatError(lineNumber, `history of "${line.name}" does not follow its counter line`);
      }
      if (pending.failed) return;
      const sent = await this.replay(pending, line);
      if (!sent) return;
    }
    this.report();
  }

  async end(): Promise<ImportSummary> {
    await this.finishCounter();
    this.report();
    return this.summary;
  }

  /** Sends the change that replays `entry`; false when it could not be sent (the counter failed). */
  private async replay(pending: PendingCounter, entry: HistoryLine): Promise<boolean> {
    const replay = replayOf(entry, pending, this.options.salt ?? '');
    if (typeof replay === 'string') {
      this.fail(pending, replay);
      return false;
    }
    const result = await this.apply(pending, replay.change, entry.version, replay.key);
    if (result === undefined) return true;
    const mismatch = mismatchOf(result, entry, replay, pending.counter.shards);
    if (mismatch !== undefined) {
      this.fail(pending, mismatch);
    } else {
      pending.applied = entry.version;
      pending.bounds = { min: result.min, max: result.max };
    }
    return true;
  }

  /** Sends one change; the counter it gave, or undefined when the service refused it (the counter failed). */
  private async apply(
    pending: PendingCounter,
    change: Change,
    version: number,
    key: string,
  ): Promise<Counter | undefined> {
    for (let round = 0; ; round++) {
      try {
        const result = await this.client.change(pending.counter.name, change, {
          ifMatch: version - 1,
          idempotencyKey: round === 0 ? key : nextKey(key, round),
        });
        this.summary.changes++;
        if (result.replayed) this.summary.replayed++;
        else pending.replayedAll = false;
        return result.counter;
      } catch (error) {
        // Refusals of this one counter; anything else (network, auth, 5xx) stops the import, and a re-run
        // continues from where it stopped.
        if (!(error instanceof CounterApiError && [400, 409, 412, 422].includes(error.status))) throw error;
        // A refusal answered again from an earlier run's record was true then, not necessarily now (the
        // counter in the way may have been deleted since): ask again under the next key of a chain that
        // every run walks alike, so a later re-run still finds what this one applied.
        if (error.replayed && round < MAX_STALE_REFUSALS) continue;
        this.fail(pending, refusalReason(version, error, round));
        return undefined;
      }
    }
  }

  /** Checks that the counter replayed, now that its last line is read, is the one the file holds. */
  private async finishCounter(): Promise<void> {
    const pending = this.pending;
    if (pending === undefined || pending.failed) return;
    const { counter } = pending;
    // The never-changed `default` reads as version 0 and needs no change to exist.
    if (counter.version === 0) return;
    if (pending.applied < counter.version) {
      // Setting the value instead would leave the counter at another version than the file's, where a
      // re-run with a complete file could no longer continue: bring it as far as the file goes, and say so.
      this.fail(
        pending,
        `the file's history stops at version ${pending.applied} of ${counter.version}; ` +
          `imported up to version ${pending.applied}`,
      );
      return;
    }
    const now = await this.current(pending);
    if (now === undefined) return;
    if (now.value !== counter.value || now.version !== counter.version) {
      this.fail(
        pending,
        `it ended at value ${now.value} version ${now.version}, not value ${counter.value} version ` +
          `${counter.version}: it was changed while it was being imported`,
      );
    }
  }

  /** The counter as the service has it now; undefined when it is gone (the counter failed). */
  private async current(pending: PendingCounter): Promise<Counter | undefined> {
    try {
      return await this.client.get(pending.counter.name);
    } catch (error) {
      if (!(error instanceof CounterApiError && error.status === 404)) throw error;
      this.fail(
        pending,
        pending.replayedAll
          ? 'it is gone, though every change was answered from an earlier import of this file (kept 24 h); ' +
              'import with another salt (counter import --salt TEXT) to create it afresh'
          : 'it was deleted while it was being imported',
      );
      return undefined;
    }
  }

  private fail(pending: PendingCounter, reason: string): void {
    pending.failed = true;
    this.summary.failed.push({ name: pending.counter.name, reason });
  }

  private report(): void {
    const { bytes, counters, changes, replayed } = this.summary;
    this.options.onProgress?.({ bytes, counters, changes, replayed });
  }
}
