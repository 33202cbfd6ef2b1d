import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import { retryPause } from '../platform/retry.ts';
import {
  type ChangeEvent,
  type ChangePublisher,
  type EventEntry,
  type PublishOutcome,
  toEventEntry,
} from './change-events.ts';

/** PutEvents takes at most 10 entries, of at most 256 KB together. */
export const MAX_ENTRIES_PER_CALL = 10;
export const MAX_BYTES_PER_CALL = 256 * 1024;

/** Tries of an entry, its first included, before the batch is reported failed (and Lambda retries it). */
const ATTEMPTS = 4;

/** Thrown into the outcome when EventBridge refused entries: its error code and message for the first. */
export class PutEventsFailedError extends Error {
  constructor(
    readonly errorCode: string,
    message: string,
    readonly failedCount: number,
  ) {
    super(`PutEvents left ${failedCount} event(s) unpublished: ${errorCode} ${message}`);
    this.name = 'PutEventsFailedError';
  }
}

/**
 * An entry's size as EventBridge counts it against the 256 KB of a call: Time's 14 bytes, and the
 * UTF-8 bytes of Source, DetailType and Detail (its documented "Calculating PutEvents event entry size").
 */
export function entrySize(entry: EventEntry): number {
  return (
    14 +
    Buffer.byteLength(entry.Source) +
    Buffer.byteLength(entry.DetailType) +
    Buffer.byteLength(entry.Detail)
  );
}

/** Entries cut into calls, in order: at most 10, and 256 KB, each. */
export function callsOf<T extends { entry: EventEntry }>(entries: readonly T[]): T[][] {
  const calls: T[][] = [];
  let call: T[] = [];
  let bytes = 0;
  for (const item of entries) {
    const size = entrySize(item.entry);
    if (call.length > 0 && (call.length === MAX_ENTRIES_PER_CALL || bytes + size > MAX_BYTES_PER_CALL)) {
      calls.push(call);
      call = [];
      bytes = 0;
    }
    call.push(item);
    bytes += size;
  }
  if (call.length > 0) calls.push(call);
  return calls;
}

/**
 * Publishes change events to one event bus with PutEvents: batched (callsOf), the calls concurrent,
 * and an entry EventBridge failed (its own error code in the answer, or the whole call failed) sent
 * again after a back-off, up to ATTEMPTS tries. What still fails is reported, so the consumer has
 * Lambda deliver the batch again from that change. EventBridge keeps no order among events;
 * consumers order a counter's changes by version.
 */
export class EventBridgePublisher implements ChangePublisher {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly eventBusName: string,
    private readonly options: { retryBaseMs?: number } = {},
  ) {}

  async publish(events: readonly ChangeEvent[]): Promise<PublishOutcome> {
    const entries = events.map((event, index) => ({ index, entry: toEventEntry(event, this.eventBusName) }));
    const failures = await Promise.all(callsOf(entries).map((call) => this.send(call)));
    const failed = failures.flat().sort((a, b) => a.index - b.index);
    const first = failed[0];
    return first === undefined ? {} : { failedIndex: first.index, error: first.error };
  }

  /** One call's entries, retried until published or out of tries; answers those left unpublished. */
  private async send(
    call: { index: number; entry: EventEntry }[],
  ): Promise<{ index: number; error: unknown }[]> {
    let pending = call;
    let failed: { index: number; error: unknown }[] = [];
    for (let attempt = 0; attempt < ATTEMPTS && pending.length > 0; attempt++) {
      if (attempt > 0) await retryPause(attempt, { baseMs: this.options.retryBaseMs ?? 50, capMs: 1_000 });
      failed = await this.put(pending);
      const again = new Set(failed.map(({ index }) => index));
      pending = pending.filter(({ index }) => again.has(index));
    }
    return failed;
  }

  private async put(
    call: { index: number; entry: EventEntry }[],
  ): Promise<{ index: number; error: unknown }[]> {
    try {
      const answer = await this.client.send(
        new PutEventsCommand({ Entries: call.map(({ entry }) => toRequestEntry(entry)) }),
      );
      if ((answer.FailedEntryCount ?? 0) === 0) return [];
      // The answer's entries line up with the request's: a failed one carries an ErrorCode.
      const results = answer.Entries ?? [];
      const failedCount = answer.FailedEntryCount ?? 0;
      return call.flatMap(({ index }, i) => {
        const result = results[i];
        if (result?.ErrorCode === undefined && result !== undefined) return [];
        return [
          {
            index,
            error: new PutEventsFailedError(
              result?.ErrorCode ?? 'Unknown',
              result?.ErrorMessage ?? 'no result for the entry',
              failedCount,
            ),
          },
        ];
      });
    } catch (error) {
      // The whole call failed (after the SDK's own retries): every entry of it is tried again.
      return call.map(({ index }) => ({ index, error }));
    }
  }
}

function toRequestEntry(entry: EventEntry): PutEventsRequestEntry {
  return { ...entry, Time: new Date(entry.Time) };
}
