import { createHash } from 'node:crypto';
import type { Change, Counter } from './counter-client.ts';
import type { CounterApiError } from './errors.ts';
import type { HistoryLine } from './export-format.ts';

/** A counter of the file, as far as the import has brought it. */
export interface PendingCounter {
  counter: Counter;
  /** The last version this import brought the counter to. */
  applied: number;
  failed: boolean;
  replayedAll: boolean;
  /** The bounds the replayed history has given the counter so far. */
  bounds: { min?: number | undefined; max?: number | undefined };
}

/** The change that replays one history entry, and the Idempotency-Key it is sent with. */
export interface Replay {
  change: Change;
  key: string;
  /** The set that creates a sharded counter, which carries its `shards`. */
  creatingSharded: boolean;
}

/**
 * How one history entry replays onto the counter: a set for `op=set`, an increment by `delta` for
 * `op=increment`, an increment by 0 as a set of the same value; or, as a string, why it cannot.
 */
export function replayOf(entry: HistoryLine, pending: PendingCounter, salt: string): Replay | string {
  const refusal = refusalOf(entry, pending);
  if (refusal !== undefined) return refusal;
  const { shards } = pending.counter;
  const creatingSharded = entry.version === 1 && shards !== undefined;
  const zeroIncrement = entry.op === 'increment' && entry.delta === 0;
  const bounds = boundsGiven(entry, pending);
  const change: Change =
    entry.op === 'set' || zeroIncrement
      ? {
          op: 'set',
          value: entry.value,
          ...(creatingSharded ? { shards } : {}),
          ...Object.fromEntries(bounds),
        }
      : { op: 'increment', by: entry.delta };
  // `shards` only when sent, so a plain counter's keys are those of earlier versions of the import.
  const key = importKey(
    salt,
    entry.name,
    entry.version,
    entry.op,
    entry.value,
    entry.delta,
    entry.created_at,
    ...(creatingSharded ? [shards] : []),
    ...bounds.map(([side, bound]) => `${side}=${bound}`),
  );
  return { change, key, creatingSharded };
}

/** Why the entry cannot be replayed onto the counter as the file has it, if it cannot. */
function refusalOf(entry: HistoryLine, pending: PendingCounter): string | undefined {
  const { counter, applied } = pending;
  if (entry.version !== applied + 1 || entry.version > counter.version) {
    return `its history jumps from version ${applied} to ${entry.version} (counter at ${counter.version})`;
  }
  // Only the set that creates a counter can spread it over shards (re-sharding is refused), so
  // that is where the counter line's `shards` go.
  const { shards } = counter;
  if (entry.version === 1 && shards !== undefined && entry.op !== 'set') {
    return (
      `it is spread over ${shards} shards, which only the set that creates it can give, ` +
      `but version 1 in the file is an ${entry.op}; not imported`
    );
  }
  // The service refuses an increment by 0 (it would change nothing), but history written before
  // that rule may hold one. A set of the value it left changes the value by 0 and the version by
  // 1 just the same, so the rest of the history still replays onto the same versions; the new
  // history shows it as a set. A sharded counter refuses sets, so there it cannot be replayed.
  if (entry.op === 'increment' && entry.delta === 0 && shards !== undefined) {
    return (
      `version ${entry.version} in the file is an increment by 0, which the service refuses, and a ` +
      `counter spread over ${shards} shards cannot take the set that would stand in for it; ` +
      `imported up to version ${applied}`
    );
  }
  return undefined;
}

/**
 * A set's entry holds the bounds in force after it: the set gives those that changed (null for one it
 * removed), and only those, so an unbounded counter's sets are sent as they always were.
 */
function boundsGiven(
  entry: HistoryLine,
  pending: PendingCounter,
): (readonly ['min' | 'max', number | null])[] {
  if (entry.op !== 'set') return [];
  return (['min', 'max'] as const).flatMap((side) =>
    entry[side] === pending.bounds[side] ? [] : [[side, entry[side] ?? null] as const],
  );
}

/** Why the counter the service answered is not the one the entry records, if it is not. */
export function mismatchOf(result: Counter, entry: HistoryLine, replay: Replay, shards: number | undefined) {
  if (result.version !== entry.version || result.value !== entry.value) {
    return (
      `replaying version ${entry.version} gave value ${result.value} version ${result.version}, ` +
      `not value ${entry.value}`
    );
  }
  if (replay.creatingSharded && result.shards !== shards) {
    const got = result.shards === undefined ? 'without shards' : `of ${result.shards} shards`;
    return `replaying version 1 gave a counter ${got}, not one of ${shards} shards`;
  }
  return undefined;
}

/**
 * How many refusals recorded by earlier runs of the same file one change walks past before it gives
 * up; each earlier run that was refused at this change added one.
 */
export const MAX_STALE_REFUSALS = 10;

/** The key of the `round`th attempt at a change whose earlier keys' records hold refusals. */
export function nextKey(key: string, round: number): string {
  return `counter-import:${createHash('sha256').update(`${key}#${round}`).digest('hex')}`;
}

export function refusalReason(version: number, error: CounterApiError, round: number): string {
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
