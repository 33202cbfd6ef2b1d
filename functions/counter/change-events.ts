import type { RecordedChange } from './history-recorder.ts';
import type { Operation } from './schema.ts';
import { counterOfHistoryKey } from './table.ts';

/**
 * Change events (docs/events.md): one EventBridge event per change whose history entry is written,
 * and one per deleted counter. Pure: the stream consumer makes them from what recordHistory wrote, a
 * ChangePublisher sends them.
 */

/** The events' `source`; EventBridge rules match on it. */
export const EVENT_SOURCE = 'counter-service';
export const COUNTER_CHANGED = 'Counter Changed';
export const COUNTER_DELETED = 'Counter Deleted';

/**
 * A change, as its history entry tells it, with the value before it, so that a rule can match the
 * moment a value crosses a line. `(name, incarnation, version)` is the change's identity: events are
 * delivered at least once, and a consumer drops a second delivery by it.
 */
export interface CounterChangedDetail {
  name: string;
  /** Fixed when the counter is created: a counter deleted and created again has a new one, and starts at version 1 again. */
  incarnation: string;
  version: number;
  value: number;
  previous_value: number;
  delta: number;
  op: Operation;
  actor: string;
  created_at: string;
  /** The counter's bounds after the change, while it has them. */
  min?: number;
  max?: number;
}

/**
 * A counter deleted. `(name, incarnation)` identifies it: one incarnation is deleted once. The stream
 * does not say who deleted it, nor, for a sharded counter, its value then: the last Counter Changed
 * event of the incarnation has that.
 */
export interface CounterDeletedDetail {
  name: string;
  incarnation: string;
  op: 'delete';
  created_at: string;
}

export type ChangeEvent =
  | { detailType: typeof COUNTER_CHANGED; time: string; detail: CounterChangedDetail }
  | { detailType: typeof COUNTER_DELETED; time: string; detail: CounterDeletedDetail };

/** An event as PutEvents sends it (and as the local events file holds it), with Time as ISO 8601. */
export interface EventEntry {
  Source: string;
  DetailType: string;
  Detail: string;
  EventBusName: string;
  Time: string;
}

/** The events of recorded changes, in the order given. `now` dates a deletion the stream did not. */
export function changeEventsOf(recorded: readonly RecordedChange[], now: () => string): ChangeEvent[] {
  return recorded.map((change) => changeEventOf(change, now));
}

export function changeEventOf(change: RecordedChange, now: () => string): ChangeEvent {
  const { name, incarnation } = counterOfHistoryKey(change.key);
  if (change.kind === 'deleted') {
    const at = change.at ?? now();
    return {
      detailType: COUNTER_DELETED,
      time: at,
      detail: { name, incarnation, op: 'delete', created_at: at },
    };
  }
  const { entry } = change;
  return {
    detailType: COUNTER_CHANGED,
    time: entry.created_at,
    detail: {
      name,
      incarnation,
      version: entry.version,
      value: entry.value,
      previous_value: entry.value - entry.delta,
      delta: entry.delta,
      op: entry.op,
      actor: entry.actor,
      created_at: entry.created_at,
      ...(entry.min === undefined ? {} : { min: entry.min }),
      ...(entry.max === undefined ? {} : { max: entry.max }),
    },
  };
}

export function toEventEntry(event: ChangeEvent, eventBusName: string): EventEntry {
  return {
    Source: EVENT_SOURCE,
    DetailType: event.detailType,
    Detail: JSON.stringify(event.detail),
    EventBusName: eventBusName,
    Time: event.time,
  };
}

/** Where change events go: EventBridge on AWS (eventbridge-publisher.ts), a file locally. */
export interface ChangePublisher {
  /**
   * Publishes the events. Answers the first event not published, if any, with why: every event
   * before it is published; some after it may be too (publishing is at least once).
   */
  publish(events: readonly ChangeEvent[]): Promise<PublishOutcome>;
}

export interface PublishOutcome {
  failedIndex?: number | undefined;
  error?: unknown;
}
