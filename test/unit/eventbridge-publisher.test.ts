import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { type ChangeEvent, changeEventOf, toEventEntry } from '../../functions/counter/change-events.ts';
import {
  callsOf,
  EventBridgePublisher,
  entrySize,
  MAX_BYTES_PER_CALL,
  PutEventsFailedError,
} from '../../functions/counter/eventbridge-publisher.ts';

const BUS = 'arn:aws:events:eu-west-1:111111111111:event-bus/counters';
const eventBridge = mockClient(EventBridgeClient);
const client = new EventBridgeClient({ region: 'eu-west-1' });

/** Change events of counter `c`, versions 1..count. */
function events(count: number, actor = 'arn:aws:iam::111111111111:user/alice'): ChangeEvent[] {
  return Array.from({ length: count }, (_, i) =>
    changeEventOf(
      {
        kind: 'changed',
        index: i,
        key: 'c#inc-1',
        entry: {
          version: i + 1,
          value: i + 1,
          delta: 1,
          op: 'increment',
          created_at: new Date(Date.UTC(2026, 10, 30, 12, 0, i)).toISOString(),
          actor,
        },
      },
      () => '2026-11-30T12:00:00.000Z',
    ),
  );
}

/** The versions each PutEvents call carried, call by call. */
function versionsPerCall(): number[][] {
  return eventBridge
    .commandCalls(PutEventsCommand)
    .map((call) => (call.args[0].input.Entries ?? []).map((entry) => versionOf(entry)));
}

function versionOf(entry: PutEventsRequestEntry): number {
  const detail: unknown = JSON.parse(entry.Detail ?? '{}');
  return typeof detail === 'object' && detail !== null && 'version' in detail ? Number(detail.version) : 0;
}

/** PutEvents' answer when the entries at `failed` (indexes in the call) were refused. */
function answer(count: number, failed: number[] = [], code = 'ThrottlingException') {
  return {
    FailedEntryCount: failed.length,
    Entries: Array.from({ length: count }, (_, i) =>
      failed.includes(i) ? { ErrorCode: code, ErrorMessage: 'Rate exceeded' } : { EventId: `id-${i}` },
    ),
  };
}

function publisher(): EventBridgePublisher {
  return new EventBridgePublisher(client, BUS, { retryBaseMs: 0 });
}

beforeEach(() => {
  eventBridge.reset();
});

describe('EventBridgePublisher', () => {
  it('sends at most 10 entries per PutEvents, each as the rule sees it: source, detail type, detail, bus, time', async () => {
    // Prepare
    eventBridge
      .on(PutEventsCommand)
      .callsFake((input: { Entries?: unknown[] }) => answer(input.Entries?.length ?? 0));

    // Act
    const outcome = await publisher().publish(events(23));

    // Assess
    expect(outcome).toEqual({});
    expect(versionsPerCall().map((versions) => versions.length)).toEqual([10, 10, 3]);
    expect(versionsPerCall().flat()).toEqual(Array.from({ length: 23 }, (_, i) => i + 1));
    const first = eventBridge.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries?.[0];
    expect(first).toEqual({
      Source: 'counter-service',
      DetailType: 'Counter Changed',
      Detail: JSON.stringify({
        name: 'c',
        incarnation: 'inc-1',
        version: 1,
        value: 1,
        previous_value: 0,
        delta: 1,
        op: 'increment',
        actor: 'arn:aws:iam::111111111111:user/alice',
        created_at: '2026-11-30T12:00:00.000Z',
      }),
      EventBusName: BUS,
      Time: new Date('2026-11-30T12:00:00.000Z'),
    });
  });

  it('publishes nothing, and calls nothing, for no events', async () => {
    // Act
    const outcome = await publisher().publish([]);

    // Assess
    expect(outcome).toEqual({});
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(0);
  });

  it('starts a new call before an entry that would take a call past 256 KB', () => {
    // Prepare: entries of ~100 KB (an actor no real ARN reaches), two to a call at most.
    const big = events(5, `arn:aws:iam::111111111111:user/${'x'.repeat(100_000)}`);
    const entries = big.map((event, index) => ({
      index,
      entry: toEventEntry(event, BUS),
    }));

    // Act
    const calls = callsOf(entries);

    // Assess
    expect(calls.map((call) => call.map(({ index }) => index))).toEqual([[0, 1], [2, 3], [4]]);
    for (const call of calls) {
      expect(call.reduce((bytes, { entry }) => bytes + entrySize(entry), 0)).toBeLessThanOrEqual(
        MAX_BYTES_PER_CALL,
      );
    }
  });

  it('counts an entry’s size as EventBridge does: 14 bytes of time, and the UTF-8 bytes of source, detail type and detail', () => {
    expect(
      entrySize({
        Source: 'counter-service',
        DetailType: 'Counter Changed',
        Detail: '{"name":"é"}',
        EventBusName: BUS,
        Time: '',
      }),
    ).toBe(14 + 15 + 15 + 13);
  });

  it('sends again only the entries EventBridge failed, until each is published', async () => {
    // Prepare: versions 2 and 5 throttled the first time, 5 again the second.
    eventBridge
      .on(PutEventsCommand)
      .resolvesOnce(answer(6, [1, 4]))
      .resolvesOnce(answer(2, [1]))
      .resolves(answer(1));

    // Act
    const outcome = await publisher().publish(events(6));

    // Assess
    expect(outcome).toEqual({});
    expect(versionsPerCall()).toEqual([[1, 2, 3, 4, 5, 6], [2, 5], [5]]);
  });

  it('sends a whole call again when the call itself failed', async () => {
    // Prepare
    eventBridge.on(PutEventsCommand).rejectsOnce(new Error('socket hang up')).resolves(answer(3));

    // Act
    const outcome = await publisher().publish(events(3));

    // Assess
    expect(outcome).toEqual({});
    expect(versionsPerCall()).toEqual([
      [1, 2, 3],
      [1, 2, 3],
    ]);
  });

  it('reports the first event still unpublished after 4 tries, with EventBridge’s error, so the batch is delivered again from it', async () => {
    // Prepare: in the first call, version 4 always fails; in the second call, version 13 always fails.
    eventBridge.on(PutEventsCommand).callsFake((input: { Entries?: PutEventsRequestEntry[] }) => {
      const entries = input.Entries ?? [];
      const failed = entries.flatMap((entry, i) => ([4, 13].includes(versionOf(entry)) ? [i] : []));
      return answer(entries.length, failed, 'InternalFailure');
    });

    // Act
    const outcome = await publisher().publish(events(15));

    // Assess
    expect(outcome.failedIndex).toBe(3);
    expect(outcome.error).toBeInstanceOf(PutEventsFailedError);
    expect(outcome.error).toMatchObject({ errorCode: 'InternalFailure' });
    const calls = versionsPerCall();
    expect(calls.filter((versions) => versions.length === 1 && versions[0] === 4)).toHaveLength(3);
    expect(calls.filter((versions) => versions.length === 1 && versions[0] === 13)).toHaveLength(3);
  });

  it('reports the call’s error when every try of the call failed', async () => {
    // Prepare
    const denied = new Error('not authorized to perform: events:PutEvents');
    eventBridge.on(PutEventsCommand).rejects(denied);

    // Act
    const outcome = await publisher().publish(events(2));

    // Assess
    expect(outcome).toEqual({ failedIndex: 0, error: denied });
    expect(eventBridge.commandCalls(PutEventsCommand)).toHaveLength(4);
  });
});
