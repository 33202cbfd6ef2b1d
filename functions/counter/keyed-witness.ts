import { storedCounter } from './schema.ts';
import { PROBE, TAG_ATTEMPT, TAG_ID } from './table.ts';

/**
 * The stream consumer's part in keyed changes (idempotency.ts): it meets every write of the counters
 * table in order, item by item. A keyed attempt's write: the record is marked applied, with the
 * counter right after the write, which is the answer of a plain counter's increment or set. A
 * recovery's probe: the record notes that the consumer passed it, so the recovering retry knows
 * whether the attempt's write landed before it.
 */
export interface WitnessStore {
  /** Marks the record applied, if the attempt still holds it in flight. */
  witnessed(id: string, attempt: string, counter: Record<string, unknown> | undefined): Promise<void>;
  /** Records that a probe of `item` was passed, if the attempt still holds the record in flight. */
  probed(id: string, attempt: string, item: string): Promise<void>;
}

export type WitnessEvent =
  /** An attempt's write; with the counter right after it when the item is a plain counter's. */
  | { kind: 'written'; id: string; attempt: string; counter?: Record<string, unknown> | undefined }
  | { kind: 'probe'; id: string; attempt: string; item: string };

/** What one stream record says of keyed changes, if anything. Pure. */
export function witnessEventOf(oldImage: unknown, newImage: unknown): WitnessEvent | undefined {
  if (!isItem(newImage)) return undefined;
  const before = isItem(oldImage) ? oldImage : undefined;
  const id = newImage[TAG_ID];
  const attempt = newImage[TAG_ATTEMPT];
  // Every attempt has its own id, so a write that carries one its item did not have before is its own.
  if (typeof id === 'string' && typeof attempt === 'string' && attempt !== before?.[TAG_ATTEMPT]) {
    const counter = storedCounter.safeParse(newImage);
    return {
      kind: 'written',
      id,
      attempt,
      counter: counter.success && counter.data.shards === undefined ? counter.data : undefined,
    };
  }
  const probe = newImage[PROBE];
  if (typeof probe === 'string' && probe !== before?.[PROBE] && typeof newImage.name === 'string') {
    const [probeId, probeAttempt] = probe.split(' ');
    if (probeId !== undefined && probeAttempt !== undefined) {
      return { kind: 'probe', id: probeId, attempt: probeAttempt, item: newImage.name };
    }
  }
  return undefined;
}

/** The probe value a recovery writes: a fresh nonce, so that even a repeated probe is a change the stream carries. */
export function probeValue(id: string, attempt: string, nonce: string): string {
  return `${id} ${attempt} ${nonce}`;
}

/**
 * Applies a batch's events. Events of one record go in stream order (an attempt's write before a
 * probe that followed it), records independently. Returns the index of the first change whose event
 * failed: it and everything after it must be delivered again (the writes are conditional, so a
 * repeat changes nothing).
 */
export async function witness(
  store: WitnessStore,
  changes: readonly { oldImage?: unknown; newImage?: unknown }[],
): Promise<{ failedIndex?: number; error?: unknown }> {
  const events = changes.flatMap((change, index) => {
    const event = witnessEventOf(change.oldImage, change.newImage);
    return event === undefined ? [] : [{ index, event }];
  });
  if (events.length === 0) return {};
  const byRecord = new Map<string, { index: number; event: WitnessEvent }[]>();
  for (const entry of events) byRecord.set(entry.event.id, [...(byRecord.get(entry.event.id) ?? []), entry]);
  const failures = await Promise.all(
    [...byRecord.values()].map(async (list) => {
      for (const { index, event } of list) {
        try {
          if (event.kind === 'probe') await store.probed(event.id, event.attempt, event.item);
          else await store.witnessed(event.id, event.attempt, event.counter);
        } catch (error) {
          return { index, error };
        }
      }
      return undefined;
    }),
  );
  const failed = failures.filter((failure) => failure !== undefined).sort((a, b) => a.index - b.index)[0];
  return failed === undefined ? {} : { failedIndex: failed.index, error: failed.error };
}

function isItem(image: unknown): image is Record<string, unknown> {
  return typeof image === 'object' && image !== null;
}
