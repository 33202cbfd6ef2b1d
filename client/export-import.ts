import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { z } from 'zod';
import {
  type Change,
  type Counter,
  type CounterClient,
  counterSchema,
  historyEntrySchema,
} from './counter-client.ts';
import { CounterApiError } from './errors.ts';

/**
 * The export format, JSON Lines: a header, then for each counter one `counter` line followed by one
 * `history` line per change, oldest first. A counter's history is never held in memory whole, on
 * either side, however long it is.
 */
export const EXPORT_FORMAT = 'counter-service-export/1';

export const headerLine = z.object({
  type: z.literal('export'),
  format: z.literal(EXPORT_FORMAT),
  exported_at: z.string(),
  source: z.string(),
  prefix: z.string(),
});
export const counterLine = counterSchema.extend({ type: z.literal('counter') });
export const historyLine = historyEntrySchema.extend({ type: z.literal('history'), name: z.string() });
export const exportLine = z.discriminatedUnion('type', [headerLine, counterLine, historyLine]);
export type ExportLine = z.infer<typeof exportLine>;

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
  const waitMs = options.historyWaitMs ?? 10_000;
  const pollMs = options.pollMs ?? 250;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const summary: ExportSummary = { counters: 0, entries: 0, vanished: [], incomplete: [] };
  const emit = (line: ExportLine) => write(JSON.stringify(line));

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
    let written = 0;
    let started = false;
    let vanished = false;
    const deadline = Date.now() + waitMs;
    for (;;) {
      try {
        for await (const entry of client.history(counter.name, { limit: 1000 })) {
          if (entry.version <= written) continue;
          // Later than the snapshot, or a gap the contract rules out: stop at what is consistent.
          if (entry.version !== written + 1 || entry.version > counter.version) break;
          if (!started) {
            await emit({ type: 'counter', ...counter });
            started = true;
          }
          await emit({ type: 'history', name: counter.name, ...entry });
          written = entry.version;
          summary.entries++;
        }
      } catch (error) {
        if (!(error instanceof CounterApiError && error.status === 404)) throw error;
        vanished = true;
      }
      if (vanished || written >= counter.version || Date.now() >= deadline) break;
      await sleep(pollMs);
    }
    if (vanished && !started) {
      summary.vanished.push(counter.name);
      continue;
    }
    if (!started) await emit({ type: 'counter', ...counter });
    if (written < counter.version) summary.incomplete.push(counter.name);
    summary.counters++;
    options.onProgress?.({ counters: summary.counters, entries: summary.entries });
  }
  return summary;
}

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

/** The input is not an export this version can read. The import stops at that line. */
export class ImportFormatError extends Error {
  constructor(
    readonly line: number,
    detail: string,
  ) {
    super(`line ${line}: ${detail}`);
    this.name = 'ImportFormatError';
  }
}

interface Pending {
  counter: Counter;
  /** The last version this import brought the counter to. */
  applied: number;
  failed: boolean;
  replayedAll: boolean;
  /** The bounds the replayed history has given the counter so far. */
  bounds: { min?: number | undefined; max?: number | undefined };
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
  const summary: ImportSummary = {
    bytes: 0,
    counters: 0,
    changes: 0,
    replayed: 0,
    failed: [],
  };
  const salt = options.salt ?? '';
  const report = () =>
    options.onProgress?.({
      bytes: summary.bytes,
      counters: summary.counters,
      changes: summary.changes,
      replayed: summary.replayed,
    });
  const fail = (pending: Pending, reason: string) => {
    pending.failed = true;
    summary.failed.push({ name: pending.counter.name, reason });
  };

  const apply = async (pending: Pending, change: Change, version: number, key: string) => {
    for (let round = 0; ; round++) {
      try {
        const result = await client.change(pending.counter.name, change, {
          ifMatch: version - 1,
          idempotencyKey: round === 0 ? key : nextKey(key, round),
        });
        summary.changes++;
        if (result.replayed) summary.replayed++;
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
        fail(pending, refusalReason(version, error, round));
        return undefined;
      }
    }
  };

  const finish = async (pending: Pending | undefined) => {
    if (pending === undefined || pending.failed) return;
    const { counter } = pending;
    // The never-changed `default` reads as version 0 and needs no change to exist.
    if (counter.version === 0) return;
    if (pending.applied < counter.version) {
      // Setting the value instead would leave the counter at another version than the file's, where a
      // re-run with a complete file could no longer continue: bring it as far as the file goes, and say so.
      fail(
        pending,
        `the file's history stops at version ${pending.applied} of ${counter.version}; ` +
          `imported up to version ${pending.applied}`,
      );
      return;
    }
    let now: Counter;
    try {
      now = await client.get(counter.name);
    } catch (error) {
      if (!(error instanceof CounterApiError && error.status === 404)) throw error;
      fail(
        pending,
        pending.replayedAll
          ? 'it is gone, though every change was answered from an earlier import of this file (kept 24 h); ' +
              'import with another salt (counter import --salt TEXT) to create it afresh'
          : 'it was deleted while it was being imported',
      );
      return;
    }
    if (now.value !== counter.value || now.version !== counter.version) {
      fail(
        pending,
        `it ended at value ${now.value} version ${now.version}, not value ${counter.value} version ` +
          `${counter.version}: it was changed while it was being imported`,
      );
    }
  };

  let pending: Pending | undefined;
  let lineNumber = 0;
  for await (const text of lines) {
    lineNumber++;
    summary.bytes += Buffer.byteLength(text) + 1;
    if (text.trim() === '') continue;
    const line = parseLine(text, lineNumber);
    if (line.type === 'export') continue;
    if (line.type === 'counter') {
      await finish(pending);
      const { type: _type, ...counter } = line;
      pending = { counter, applied: 0, failed: false, replayedAll: true, bounds: {} };
      summary.counters++;
    } else {
      if (pending === undefined || line.name !== pending.counter.name) {
        throw new ImportFormatError(lineNumber, `history of "${line.name}" does not follow its counter line`);
      }
      if (pending.failed) continue;
      if (line.version !== pending.applied + 1 || line.version > pending.counter.version) {
        fail(
          pending,
          `its history jumps from version ${pending.applied} to ${line.version} (counter at ${pending.counter.version})`,
        );
        continue;
      }
      // Only the set that creates a counter can spread it over shards (re-sharding is refused), so
      // that is where the counter line's `shards` go.
      const { shards } = pending.counter;
      const creatingSharded = line.version === 1 && shards !== undefined;
      if (creatingSharded && line.op !== 'set') {
        fail(
          pending,
          `it is spread over ${shards} shards, which only the set that creates it can give, ` +
            `but version 1 in the file is an ${line.op}; not imported`,
        );
        continue;
      }
      // The service refuses an increment by 0 (it would change nothing), but history written before
      // that rule may hold one. A set of the value it left changes the value by 0 and the version by
      // 1 just the same, so the rest of the history still replays onto the same versions; the new
      // history shows it as a set. A sharded counter refuses sets, so there it cannot be replayed.
      const zeroIncrement = line.op === 'increment' && line.delta === 0;
      if (zeroIncrement && shards !== undefined) {
        fail(
          pending,
          `version ${line.version} in the file is an increment by 0, which the service refuses, and a ` +
            `counter spread over ${shards} shards cannot take the set that would stand in for it; ` +
            `imported up to version ${pending.applied}`,
        );
        continue;
      }
      // A set's entry holds the bounds in force after it: the set gives those that changed (null for
      // one it removed), and only those, so an unbounded counter's sets are sent as they always were.
      const bounds =
        line.op === 'set'
          ? (['min', 'max'] as const).flatMap((side) =>
              line[side] === pending?.bounds[side] ? [] : [[side, line[side] ?? null] as const],
            )
          : [];
      const change: Change =
        line.op === 'set' || zeroIncrement
          ? {
              op: 'set',
              value: line.value,
              ...(creatingSharded ? { shards } : {}),
              ...Object.fromEntries(bounds),
            }
          : { op: 'increment', by: line.delta };
      // `shards` only when sent, so a plain counter's keys are those of earlier versions of the import.
      const key = importKey(
        salt,
        line.name,
        line.version,
        line.op,
        line.value,
        line.delta,
        line.created_at,
        ...(creatingSharded ? [shards] : []),
        ...bounds.map(([side, bound]) => `${side}=${bound}`),
      );
      const result = await apply(pending, change, line.version, key);
      if (result !== undefined) {
        if (result.version !== line.version || result.value !== line.value) {
          fail(
            pending,
            `replaying version ${line.version} gave value ${result.value} version ${result.version}, ` +
              `not value ${line.value}`,
          );
        } else if (creatingSharded && result.shards !== shards) {
          const got = result.shards === undefined ? 'without shards' : `of ${result.shards} shards`;
          fail(pending, `replaying version 1 gave a counter ${got}, not one of ${shards} shards`);
        } else {
          pending.applied = line.version;
          pending.bounds = { min: result.min, max: result.max };
        }
      }
    }
    report();
  }
  await finish(pending);
  report();
  return summary;
}

/** Parses one line of an export; the error names the line and what was wrong with it. */
export function parseLine(text: string, lineNumber: number): ExportLine {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ImportFormatError(lineNumber, 'not JSON');
  }
  const result = exportLine.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ImportFormatError(
      lineNumber,
      `not a line of a ${EXPORT_FORMAT} export` +
        (issue === undefined ? '' : ` (${issue.path.join('.') || 'line'}: ${issue.message})`),
    );
  }
  return result.data;
}

/**
 * How many refusals recorded by earlier runs of the same file one change walks past before it gives
 * up; each earlier run that was refused at this change added one.
 */
const MAX_STALE_REFUSALS = 10;

/** The key of the `round`th attempt at a change whose earlier keys' records hold refusals. */
function nextKey(key: string, round: number): string {
  return `counter-import:${createHash('sha256').update(`${key}#${round}`).digest('hex')}`;
}

function refusalReason(version: number, error: CounterApiError, round: number): string {
  const detail = (error.detail ?? error.message).replace(/\.$/, '');
  if (error.replayed) {
    const runs = round === 0 ? 'an earlier import' : `${round + 1} earlier imports`;
    return (
      `version ${version} was refused by ${runs} of this file (answers are kept 24 hours), the last ` +
      `time with: ${detail}; import with another salt (counter import --salt TEXT) to ask afresh`
    );
  }
  const exists =
    version === 1 && error.status === 412
      ? '; a counter of that name exists apart from this import and was left as it was ' +
        '(delete it to import it)'
      : '';
  return `version ${version} was refused: ${detail}${exists}`;
}

/** Printable ASCII well under the API's 255 characters, whatever the name. */
function importKey(salt: string, ...parts: (string | number)[]): string {
  return `counter-import:${createHash('sha256')
    .update(JSON.stringify([salt, ...parts]))
    .digest('hex')}`;
}

/** A line writer that respects the stream's back-pressure, so an export never buffers without bound. */
export function lineWriter(stream: Writable): (line: string) => Promise<void> {
  return async (line) => {
    if (!stream.write(`${line}\n`)) await once(stream, 'drain');
  };
}
