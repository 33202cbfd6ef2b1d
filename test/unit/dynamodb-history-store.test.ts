import {
  ConditionalCheckFailedException,
  ProvisionedThroughputExceededException,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  type BatchWriteCommandInput,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DynamoHistoryStore } from '../../functions/counter/dynamodb-history-store.ts';
import { SequencerNotReadyError } from '../../functions/counter/errors.ts';
import type { ShardChange } from '../../functions/counter/history.ts';
import { decodePage, encodePage, encodeSources } from '../../functions/counter/history-page.ts';
import type { HistoryEntry } from '../../functions/counter/schema.ts';
import { useDocumentClientMock } from '../support/document-client-mock.ts';
import { ACTOR, at, KEY, shardChange, T0 } from '../support/sharded-changes.ts';

const TABLE = 'history-table';
const ROLLUPS = 'rollups-table';
const TABLES = { history: TABLE, rollups: ROLLUPS };
const { ddbMock, client: documentClient } = useDocumentClientMock();

function historyStore(retentionDays?: number): DynamoHistoryStore {
  return new DynamoHistoryStore(documentClient, TABLES, { retentionDays });
}

const store = historyStore();

const ENTRY: HistoryEntry = {
  version: 3,
  value: 10,
  delta: 2,
  op: 'increment',
  created_at: '2025-01-01T00:00:00.000Z',
  actor: 'arn:me',
};

function keys(from: number, count: number) {
  return Array.from({ length: count }, (_, i) => ({ counter: 'a#inc-1', version: from + i }));
}

function deletedKeys(input: BatchWriteCommandInput | undefined): unknown[] {
  return (input?.RequestItems?.[TABLE] ?? []).map((request) => request.DeleteRequest?.Key);
}

describe('DynamoHistoryStore.record', () => {
  it('puts the entry under its key only if that version is not there yet', async () => {
    // Prepare
    ddbMock.on(PutCommand).resolves({});

    // Act
    const result = await store.record('a#inc-1', ENTRY);

    // Assess
    expect(result).toBe('written');
    expect(ddbMock.commandCalls(PutCommand)[0]?.args[0].input).toEqual({
      TableName: TABLE,
      Item: { counter: 'a#inc-1', ...ENTRY },
      ConditionExpression: 'attribute_not_exists(#version)',
      ExpressionAttributeNames: { '#version': 'version' },
    });
  });

  it("answers 'duplicate' when the version is already recorded", async () => {
    // Prepare
    ddbMock
      .on(PutCommand)
      .rejects(
        new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }),
      );

    // Act
    const result = await store.record('a#inc-1', ENTRY);

    // Assess
    expect(result).toBe('duplicate');
  });

  it('passes any other failure on, so the batch is retried', async () => {
    // Prepare
    const failure = new Error('service unavailable');
    ddbMock.on(PutCommand).rejects(failure);

    // Act
    const recording = store.record('a#inc-1', ENTRY);

    // Assess
    await expect(recording).rejects.toBe(failure);
  });
});

describe('DynamoHistoryStore.purge', () => {
  it('reads every page of the key and deletes in BatchWrites of at most 25', async () => {
    // Prepare
    ddbMock
      .on(QueryCommand, { TableName: TABLE })
      .resolvesOnce({ Items: keys(1, 30), LastEvaluatedKey: { counter: 'a#inc-1', version: 30 } })
      .resolvesOnce({ Items: keys(31, 7) });
    ddbMock.on(QueryCommand, { TableName: ROLLUPS }).resolves({ Items: [] });
    ddbMock.on(BatchWriteCommand).resolves({});

    // Act
    const removed = await store.purge('a#inc-1');

    // Assess
    expect(removed).toBe(37);
    const queries = ddbMock
      .commandCalls(QueryCommand)
      .map((call) => call.args[0].input)
      .filter((input) => input.TableName === TABLE);
    expect(queries).toHaveLength(2);
    expect(queries[0]).toMatchObject({
      TableName: TABLE,
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': 'counter', '#sk': 'version' },
      ExpressionAttributeValues: { ':pk': 'a#inc-1' },
    });
    expect(queries[0]?.ExclusiveStartKey).toBeUndefined();
    expect(queries[1]?.ExclusiveStartKey).toEqual({ counter: 'a#inc-1', version: 30 });
    const batches = ddbMock.commandCalls(BatchWriteCommand).map((call) => deletedKeys(call.args[0].input));
    expect(batches.map((batch) => batch.length)).toEqual([25, 5, 7]);
    expect(batches.flat()).toEqual(keys(1, 37));
  });

  it('sends no BatchWrite when the key has no entries', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({ Items: [] });

    // Act
    const removed = await store.purge('a#inc-1');

    // Assess
    expect(removed).toBe(0);
    expect(ddbMock.commandCalls(BatchWriteCommand)).toHaveLength(0);
  });

  it('retries the deletions a BatchWrite left unprocessed until none remain', async () => {
    // Prepare
    ddbMock.on(QueryCommand, { TableName: TABLE }).resolves({ Items: keys(1, 3) });
    ddbMock.on(QueryCommand, { TableName: ROLLUPS }).resolves({ Items: [] });
    const leftOver = { [TABLE]: [{ DeleteRequest: { Key: { counter: 'a#inc-1', version: 2 } } }] };
    ddbMock
      .on(BatchWriteCommand)
      .resolvesOnce({ UnprocessedItems: leftOver })
      .resolvesOnce({ UnprocessedItems: leftOver })
      .resolves({});

    // Act
    await store.purge('a#inc-1');

    // Assess
    const batches = ddbMock.commandCalls(BatchWriteCommand).map((call) => deletedKeys(call.args[0].input));
    expect(batches).toEqual([
      keys(1, 3),
      [{ counter: 'a#inc-1', version: 2 }],
      [{ counter: 'a#inc-1', version: 2 }],
    ]);
  });

  // The consumer purges right after writing the entries that preceded the deletion in the same batch.
  // An eventually consistent query may not see those writes yet, and nothing would delete them later:
  // they would stay in the table for good, against "deleting a counter deletes its history too".
  it('reads the entries to delete with a strongly consistent query', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({ Items: keys(1, 1) });
    ddbMock.on(BatchWriteCommand).resolves({});

    // Act
    await store.purge('a#inc-1');

    // Assess
    expect(ddbMock.commandCalls(QueryCommand)[0]?.args[0].input.ConsistentRead).toBe(true);
  });

  it('purges the rollups of every interval with the history', async () => {
    // Prepare
    ddbMock.on(QueryCommand, { TableName: TABLE }).resolves({ Items: [] });
    ddbMock.on(QueryCommand, { TableName: ROLLUPS }).resolves({ Items: [{ series: 'x', start: 'y' }] });
    ddbMock.on(BatchWriteCommand).resolves({});

    // Act
    await store.purge('a#inc-1');

    // Assess
    const series = ddbMock
      .commandCalls(QueryCommand)
      .map((call) => call.args[0].input)
      .filter((input) => input.TableName === ROLLUPS)
      .map((input) => input.ExpressionAttributeValues?.[':pk']);
    expect(series).toEqual(['a#inc-1#minute', 'a#inc-1#hour', 'a#inc-1#day']);
    expect(ddbMock.commandCalls(BatchWriteCommand)).toHaveLength(3);
  });
});

describe('DynamoHistoryStore.purge of a sharded counter', () => {
  const NOW_MS = Date.parse('2025-03-01T12:00:00.000Z');

  beforeEach(() => {
    ddbMock.reset();
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(NOW_MS);
  });

  afterEach(() => {
    ddbMock.reset();
    vi.useRealTimers();
  });

  function serveHistory(versions: number[]): void {
    ddbMock
      .on(QueryCommand, { TableName: 'history-table' })
      .resolves({ Items: versions.map((version) => ({ counter: KEY, version })) });
    ddbMock.on(QueryCommand, { TableName: 'rollups-table' }).resolves({ Items: [] });
    ddbMock.on(BatchWriteCommand).resolves({});
    ddbMock.on(PutCommand).resolves({});
  }

  it('deletes the history, then leaves a tombstone at version 0 that outlives the stream’s 24 hours', async () => {
    // Prepare
    serveHistory([0, 1, 2]);

    // Act
    await historyStore().purge(KEY, { sharded: true });

    // Assess
    const deleted = ddbMock
      .commandCalls(BatchWriteCommand)
      .flatMap((call) => call.args[0].input.RequestItems?.['history-table'] ?? [])
      .map((request) => request.DeleteRequest?.Key);
    expect(deleted).toEqual([
      { counter: KEY, version: 0 },
      { counter: KEY, version: 1 },
      { counter: KEY, version: 2 },
    ]);
    expect(ddbMock.commandCalls(PutCommand).map((call) => call.args[0].input)).toEqual([
      {
        TableName: 'history-table',
        Item: { counter: KEY, version: 0, purged: true, expires_at: NOW_MS / 1000 + 2 * 86_400 },
      },
    ]);
    const order = ddbMock.calls().map((call) => call.args[0].constructor.name);
    expect(order.lastIndexOf('BatchWriteCommand')).toBeLessThan(order.indexOf('PutCommand'));
    expect(order.at(-1)).toBe('PutCommand');
  });

  it('counts the entries it removed, not the sequencer (version 0), as the in-memory store does', async () => {
    // Prepare
    serveHistory([0, 1, 2]);

    // Act
    const removed = await historyStore().purge(KEY, { sharded: true });

    // Assess
    expect(removed).toBe(2);
  });

  it('counts every entry of a page it removed, and deletes each page by its key alone', async () => {
    // Prepare: the sequencer, a page of versions 1..40 and one of 41..41.
    ddbMock.on(QueryCommand, { TableName: 'history-table' }).resolves({
      Items: [
        { counter: KEY, version: 0 },
        { counter: KEY, version: 40, first_version: 1 },
        { counter: KEY, version: 41, first_version: 41 },
      ],
    });
    ddbMock.on(QueryCommand, { TableName: 'rollups-table' }).resolves({ Items: [] });
    ddbMock.on(BatchWriteCommand).resolves({});
    ddbMock.on(PutCommand).resolves({});

    // Act
    const removed = await historyStore().purge(KEY, { sharded: true });

    // Assess
    expect(removed).toBe(41);
    const deleted = ddbMock
      .commandCalls(BatchWriteCommand)
      .flatMap((call) => call.args[0].input.RequestItems?.['history-table'] ?? [])
      .map((request) => request.DeleteRequest?.Key);
    expect(deleted).toEqual([
      { counter: KEY, version: 0 },
      { counter: KEY, version: 40 },
      { counter: KEY, version: 41 },
    ]);
  });

  it('leaves no tombstone for a plain counter', async () => {
    // Prepare
    serveHistory([1, 2]);

    // Act
    const removed = await historyStore().purge(KEY);

    // Assess
    expect(removed).toBe(2);
    expect(ddbMock.commandCalls(PutCommand)).toHaveLength(0);
  });
});

describe('DynamoHistoryStore.history', () => {
  function entry(version: number) {
    return {
      counter: 'a#inc-1',
      version,
      value: version,
      delta: 1,
      op: 'increment',
      created_at: '2025-01-01T00:00:00.000Z',
      actor: 'arn:me',
    };
  }

  /** The minute rollups, newest first as the mark's read asks, holding versions up to `last`. */
  function rolledUpTo(last: number) {
    ddbMock.on(QueryCommand, { TableName: 'rollups-table' }).resolves({
      Items: [
        { series: 'a#inc-1#minute', start: '2025-01-01T00:01:00.000Z', last_version: last },
        { series: 'a#inc-1#minute', start: '2025-01-01T00:00:00.000Z', last_version: last - 1 },
      ],
    });
  }

  /** The history table as DynamoDB answers a Query: stored versions within the key condition, up to Limit. */
  function storedVersions(versions: number[]) {
    ddbMock.on(QueryCommand, { TableName: 'history-table' }).callsFake(async (input: QueryCommandInput) => {
      const values = input.ExpressionAttributeValues ?? {};
      const from = Number(values[':from']);
      const to = values[':to'] === undefined ? Number.POSITIVE_INFINITY : Number(values[':to']);
      const matching = versions.filter((version) => version >= from && version <= to);
      const items = matching.slice(0, input.Limit).map(entry);
      const last = items.at(-1);
      return {
        Items: items,
        ...(matching.length > items.length && last !== undefined
          ? { LastEvaluatedKey: { counter: 'a#inc-1', version: last.version } }
          : {}),
      };
    });
  }

  it('queries the incarnation key for versions after the cursor up to the mark, one more than the limit', async () => {
    // Prepare
    rolledUpTo(10);
    storedVersions([4, 5, 6]);

    // Act
    const page = await historyStore().history({ name: 'a', incarnation: 'inc-1', limit: 2, afterVersion: 3 });

    // Assess
    const query = ddbMock.commandCalls(QueryCommand, { TableName: 'history-table' })[0]?.args[0].input;
    expect(query).toMatchObject({
      TableName: 'history-table',
      KeyConditionExpression: '#counter = :counter AND #version BETWEEN :from AND :to',
      FilterExpression: '(attribute_not_exists(#expires) OR #expires > :now)',
      ExpressionAttributeNames: { '#counter': 'counter', '#version': 'version', '#expires': 'expires_at' },
      ExpressionAttributeValues: { ':counter': 'a#inc-1', ':from': 4, ':to': 10 },
      Limit: 3,
    });
    expect(page.items.map((item) => item.version)).toEqual([4, 5]);
    expect(page.lastVersion).toBe(5);
    expect(page.items[0]).not.toHaveProperty('counter');
    expect(page.hasMore).toBe(true);
  });

  it('starts after version 0 without a cursor and reports no more on a short page', async () => {
    // Prepare
    rolledUpTo(1);
    storedVersions([1]);

    // Act
    const page = await historyStore().history({ name: 'a', incarnation: 'inc-1', limit: 2 });

    // Assess
    const query = ddbMock.commandCalls(QueryCommand, { TableName: 'history-table' })[0]?.args[0].input;
    expect(query?.ExpressionAttributeValues).toMatchObject({ ':from': 1 });
    expect(page.hasMore).toBe(false);
  });

  it('answers no version past the last one the minute rollups hold, however many are stored, reading consistently', async () => {
    // Prepare: versions 4 and 6 are stored, 5 is still being written, so the consumer has rolled up 4.
    rolledUpTo(4);
    storedVersions([1, 2, 3, 4, 6]);

    // Act
    const page = await historyStore().history({ name: 'a', incarnation: 'inc-1', limit: 10 });

    // Assess
    expect(page).toMatchObject({ hasMore: false, lastVersion: 4 });
    expect(page.items.map((item) => item.version)).toEqual([1, 2, 3, 4]);
    expect(ddbMock.commandCalls(QueryCommand, { TableName: 'rollups-table' })[0]?.args[0].input).toEqual({
      TableName: 'rollups-table',
      KeyConditionExpression: '#series = :series',
      ExpressionAttributeNames: { '#series': 'series' },
      ExpressionAttributeValues: { ':series': 'a#inc-1#minute' },
      ScanIndexForward: false,
      Limit: 2,
    });
    // The mark comes from another table: an eventually consistent replica might hold 4's successor only.
    expect(
      ddbMock.commandCalls(QueryCommand, { TableName: 'history-table' })[0]?.args[0].input,
    ).toMatchObject({
      ConsistentRead: true,
    });
  });

  it('answers nothing, and reads no history, while the rollups hold no version of a plain counter', async () => {
    // Prepare
    ddbMock.on(QueryCommand, { TableName: 'rollups-table' }).resolves({ Items: [] });
    storedVersions([2]);

    // Act
    const page = await historyStore().history({ name: 'a', incarnation: 'inc-1', limit: 10 });

    // Assess
    expect(page).toEqual({ items: [], hasMore: false });
    expect(ddbMock.commandCalls(QueryCommand, { TableName: 'history-table' })).toHaveLength(0);
  });

  it('pages with cursors through every version once while entries land out of order under the mark', async () => {
    // Prepare: each read sees more: entries land in the order 1, 3, 2, 5, 4, 6; the mark follows the
    // gap-free run, as the consumer's rollups do.
    const landed = [1, 3, 2, 5, 4, 6];
    let step = 0;
    const seen: number[] = [];
    let afterVersion: number | undefined;

    // Act
    for (let read = 0; read < 20 && seen.length < 6; read++) {
      step = Math.min(landed.length, step + 1);
      const stored = landed.slice(0, step);
      let mark = 0;
      while (stored.includes(mark + 1)) mark++;
      ddbMock.reset();
      rolledUpTo(mark);
      storedVersions([...stored].sort((a, b) => a - b));
      const page = await historyStore().history({ name: 'a', incarnation: 'inc-1', limit: 1, afterVersion });
      seen.push(...page.items.map((item) => item.version));
      if (page.items.length > 0) afterVersion = page.lastVersion;
    }

    // Assess
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('turns since and until into a version window with two-item reads of the minute rollups', async () => {
    // Prepare
    // Versions and times disagree across one minute boundary on each side: the next minute holds an
    // earlier version than the first minute's, the previous minute a later one than the last's.
    ddbMock.on(QueryCommand, { TableName: 'rollups-table', ScanIndexForward: true }).resolves({
      Items: [
        { series: 'a#inc-1#minute', start: '2025-01-01T00:00:00.000Z', first_version: 40 },
        { series: 'a#inc-1#minute', start: '2025-01-01T00:01:00.000Z', first_version: 38 },
      ],
    });
    ddbMock.on(QueryCommand, { TableName: 'rollups-table', ScanIndexForward: false }).resolves({
      Items: [
        { series: 'a#inc-1#minute', start: '2025-01-01T23:59:00.000Z', last_version: 45 },
        { series: 'a#inc-1#minute', start: '2025-01-01T23:58:00.000Z', last_version: 47 },
      ],
    });
    ddbMock.on(QueryCommand, { TableName: 'history-table' }).resolves({ Items: [entry(40)] });

    // Act
    await historyStore().history({
      name: 'a',
      incarnation: 'inc-1',
      limit: 10,
      since: '2025-01-01T00:00:30.000Z',
      until: '2025-01-02T00:00:00.000Z',
    });

    // Assess
    const queries = ddbMock.commandCalls(QueryCommand).map((call) => call.args[0].input);
    expect(queries.filter((query) => query.TableName === 'rollups-table')).toEqual([
      expect.objectContaining({
        KeyConditionExpression: '#series = :series AND #start >= :start',
        ExpressionAttributeValues: { ':series': 'a#inc-1#minute', ':start': '2025-01-01T00:00:00.000Z' },
        Limit: 2,
      }),
      expect.objectContaining({
        KeyConditionExpression: '#series = :series AND #start < :start',
        ExpressionAttributeValues: { ':series': 'a#inc-1#minute', ':start': '2025-01-02T00:00:00.000Z' },
        Limit: 2,
      }),
    ]);
    // The edge minutes may hold changes just outside the window: those are filtered out by time.
    expect(queries.find((query) => query.TableName === 'history-table')).toMatchObject({
      KeyConditionExpression: '#counter = :counter AND #version BETWEEN :from AND :to',
      FilterExpression:
        '(attribute_not_exists(#expires) OR #expires > :now) AND #time >= :since AND #time < :until',
      ExpressionAttributeValues: { ':from': 38, ':to': 47, ':since': '2025-01-01T00:00:30.000Z' },
    });
  });

  it('reads nothing more when no change falls in the window', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({ Items: [] });

    // Act
    const page = await historyStore().history({
      name: 'a',
      incarnation: 'inc-1',
      limit: 10,
      since: '2030-01-01T00:00:00.000Z',
    });

    // Assess
    expect(page).toEqual({ items: [], hasMore: false });
    expect(ddbMock.commandCalls(QueryCommand, { TableName: 'history-table' })).toHaveLength(0);
  });
});

describe('DynamoHistoryStore.history of a sharded counter (pages)', () => {
  const T = (second: number) => new Date(Date.UTC(2025, 0, 1, 0, 0, second)).toISOString();

  function entry(version: number): HistoryEntry {
    return { version, value: version, delta: 1, op: 'increment', created_at: T(version), actor: 'arn:me' };
  }

  /** A page of versions first..last, stored under its last as the consumer writes it. */
  function page(first: number, last: number) {
    const entries = Array.from({ length: last - first + 1 }, (_, i) => entry(first + i));
    return { counter: 'a#inc-1', version: last, ...encodePage(entries) };
  }

  /**
   * The history table's Query as DynamoDB answers it: items by sort key within the key condition,
   * after ExclusiveStartKey, at most Limit of them, with LastEvaluatedKey when it stopped at Limit.
   * (Filter expressions are not applied: these items are never expired, and pages pass the time filter.)
   */
  function serve(items: ReturnType<typeof page>[]) {
    ddbMock.on(QueryCommand, { TableName: 'history-table' }).callsFake(async (input) => {
      const values = input.ExpressionAttributeValues ?? {};
      const after = Number(input.ExclusiveStartKey?.version ?? -1);
      const inRange = items.filter(
        (item) =>
          item.version >= values[':from'] &&
          (values[':to'] === undefined || item.version <= values[':to']) &&
          item.version > after,
      );
      const taken = inRange.slice(0, input.Limit);
      const stopped = taken.length === input.Limit;
      const last = taken.at(-1);
      return {
        Items: taken,
        ...(stopped && last !== undefined
          ? { LastEvaluatedKey: { counter: 'a#inc-1', version: last.version } }
          : {}),
      };
    });
  }

  async function allPages(limit: number, window: { since?: string; until?: string } = {}) {
    const pages: { versions: number[]; lastVersion: number | undefined; hasMore: boolean }[] = [];
    let afterVersion: number | undefined;
    for (let guard = 0; guard < 100; guard++) {
      const result = await historyStore().history({
        name: 'a',
        incarnation: 'inc-1',
        limit,
        afterVersion,
        shards: 3,
        ...window,
      });
      pages.push({
        versions: result.items.map((item) => item.version),
        lastVersion: result.lastVersion,
        hasMore: result.hasMore,
      });
      if (!result.hasMore) break;
      afterVersion = result.lastVersion;
    }
    return pages;
  }

  it('unpacks pages into entries, a page of the API cutting through a stored page where the limit falls', async () => {
    // Prepare
    serve([page(1, 40), page(41, 41), page(42, 120)]);

    // Act
    const pages = await allPages(50);

    // Assess: every version once, in order, 50 a page; the cursor is the last entry given.
    expect(
      pages.map((p) => [p.versions[0], p.versions.at(-1), p.versions.length, p.lastVersion, p.hasMore]),
    ).toEqual([
      [1, 50, 50, 50, true],
      [51, 100, 50, 100, true],
      [101, 120, 20, 120, false],
    ]);
    // A later page starts at the stored page holding its first version.
    const froms = ddbMock
      .commandCalls(QueryCommand)
      .map((call) => call.args[0].input.ExpressionAttributeValues?.[':from']);
    expect(froms).toContain(51);
    expect(pages.flatMap((p) => p.versions)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
  });

  it('reads on, sizing each read by the entries per page seen, until the limit is filled by one-entry pages', async () => {
    // Prepare: quiet traffic, one change per step.
    serve(Array.from({ length: 120 }, (_, i) => page(i + 1, i + 1)));

    // Act
    const result = await historyStore().history({ name: 'a', incarnation: 'inc-1', limit: 50, shards: 3 });

    // Assess
    expect(result.items.map((item) => item.version)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(result.hasMore).toBe(true);
    expect(result.lastVersion).toBe(50);
    const limits = ddbMock.commandCalls(QueryCommand).map((call) => call.args[0].input.Limit ?? 0);
    // A first small read, then the rest at once: 51 pages in all, in few requests.
    expect(limits[0]).toBe(4);
    expect(limits.reduce((sum, limit) => sum + limit, 0)).toBe(51);
    expect(limits.length).toBeLessThanOrEqual(3);
  });

  it('reads one small request when the first pages already hold more than the limit', async () => {
    // Prepare
    serve([page(1, 100), page(101, 200)]);

    // Act
    const result = await historyStore().history({ name: 'a', incarnation: 'inc-1', limit: 10, shards: 3 });

    // Assess
    expect(result.items.map((item) => item.version)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    expect(result).toMatchObject({ hasMore: true, lastVersion: 10 });
    expect(ddbMock.commandCalls(QueryCommand)).toHaveLength(1);
  });

  it('keeps to the time window inside pages, and looks past the window’s last version for the page holding it', async () => {
    // Prepare: the minute rollups bound the window by versions 1..75 (the edge minutes go past its
    // times); the page holding 75 is stored under 80, above that bound.
    ddbMock.on(QueryCommand, { TableName: 'rollups-table', ScanIndexForward: true }).resolves({
      Items: [{ series: 'a#inc-1#minute', start: '2025-01-01T00:00:00.000Z', first_version: 1 }],
    });
    ddbMock.on(QueryCommand, { TableName: 'rollups-table', ScanIndexForward: false }).resolves({
      Items: [{ series: 'a#inc-1#minute', start: '2025-01-01T00:01:00.000Z', last_version: 75 }],
    });
    serve([page(1, 40), page(41, 80), page(81, 120)]);

    // Act
    const pages = await allPages(100, { since: T(30), until: T(71) });

    // Assess
    expect(pages.flatMap((p) => p.versions)).toEqual(Array.from({ length: 41 }, (_, i) => 30 + i));
    const query = ddbMock
      .commandCalls(QueryCommand)
      .find((call) => call.args[0].input.TableName === 'history-table')?.args[0].input;
    expect(query).toMatchObject({
      KeyConditionExpression: '#counter = :counter AND #version BETWEEN :from AND :to',
      FilterExpression:
        '(attribute_not_exists(#expires) OR #expires > :now) AND (attribute_exists(#changes) OR (#time >= :since AND #time < :until))',
      ExpressionAttributeNames: { '#changes': 'changes', '#time': 'created_at' },
      ExpressionAttributeValues: { ':from': 1, ':to': 75 + 99 },
    });
  });
});

describe('a time window of a sharded counter’s history', () => {
  beforeEach(() => {
    ddbMock.reset();
  });

  afterEach(() => {
    ddbMock.reset();
  });

  it('holds a change of the window that was numbered before a change of an earlier minute', async () => {
    // Prepare: shard 1's batch, a change at 12:05:00, is numbered (v10) before shard 2's batch, a change
    // at 12:04:59 that its stream shard delivered later (v11).
    const state9 = sequencerItem({ last_version: 9, value: 9, absorbed: { '0': 1, '1': 4, '2': 4 } });
    const state10 = sequencerItem({ last_version: 10, value: 10, absorbed: { '0': 1, '1': 5, '2': 4 } });
    ddbMock.on(GetCommand).resolvesOnce({ Item: state9 }).resolves({ Item: state10 });
    ddbMock.on(TransactWriteCommand).resolves({});
    const late = { ...shardChange(2, 5, 1), created_at: '2025-01-01T12:04:59.000Z' };
    const early = { ...shardChange(1, 5, 1), created_at: '2025-01-01T12:05:00.000Z' };
    await historyStore().sequence(KEY, [early]);
    await historyStore().sequence(KEY, [late]);
    // The minute rollups as those two transactions left them: the consumer's index on time.
    const minutes = transactions()
      .flat()
      .flatMap((item) => (item.Update?.Key?.series === `${KEY}#minute` ? [item.Update] : []))
      .map((update) => ({
        start: String(update.Key?.start),
        first_version: update.ExpressionAttributeValues?.[':first'],
        last_version: update.ExpressionAttributeValues?.[':last'],
      }))
      .sort((a, b) => a.start.localeCompare(b.start));
    ddbMock.reset();
    ddbMock.on(QueryCommand, { TableName: 'rollups-table' }).callsFake(async (input) => {
      const start = String(input.ExpressionAttributeValues?.[':start']);
      // As DynamoDB answers the lookup: minutes from `start` on, oldest first, at most Limit of them.
      return { Items: minutes.filter((minute) => minute.start >= start).slice(0, input.Limit ?? 1) };
    });
    ddbMock.on(QueryCommand, { TableName: 'history-table' }).resolves({ Items: [] });

    // Act
    await historyStore().history({
      name: 'hot',
      incarnation: 'inc-hot',
      limit: 100,
      since: '2025-01-01T12:04:00.000Z',
      shards: 3,
    });

    // Assess: v10 (12:05:00) is inside the window, so the version window must start at or before it.
    expect(minutes.map((minute) => [minute.start, minute.first_version])).toEqual([
      ['2025-01-01T12:04:00.000Z', 11],
      ['2025-01-01T12:05:00.000Z', 10],
    ]);
    const query = ddbMock
      .commandCalls(QueryCommand)
      .find((call) => call.args[0].input.TableName === 'history-table')?.args[0].input;
    expect(query?.ExpressionAttributeValues?.[':from']).toBeLessThanOrEqual(10);
  });
});

function cancelled(): TransactionCanceledException {
  return new TransactionCanceledException({
    message: 'Transaction cancelled',
    $metadata: {},
    CancellationReasons: [{ Code: 'ConditionalCheckFailed' }, { Code: 'None' }],
  });
}

function entryOf(
  version: number,
  value: number,
  delta: number,
  op: 'set' | 'increment' = 'increment',
): HistoryEntry {
  return { version, value, delta, op, created_at: T0, actor: ACTOR };
}

/** A page item as DynamoHistoryStore stores it, with its entries' sources. */
function storedPageOf(numbered: { source: { shard: number; shardVersion: number }; entry: HistoryEntry }[]) {
  const entries = numbered.map(({ entry }) => entry);
  return {
    counter: KEY,
    version: entries.at(-1)?.version,
    ...encodePage(entries),
    ...encodeSources(numbered.map(({ source }) => source)),
  };
}

function sequencerItem(state: {
  last_version?: number;
  value?: number;
  absorbed?: object;
  purged?: boolean;
}) {
  return { counter: KEY, version: 0, ...state };
}

function transactions(): NonNullable<TransactWriteCommandInput['TransactItems']>[] {
  return ddbMock.commandCalls(TransactWriteCommand).map((call) => call.args[0].input.TransactItems ?? []);
}

/** The entries of the page a step's transaction puts, as readers decode them. */
function pageOf(items: NonNullable<TransactWriteCommandInput['TransactItems']>): HistoryEntry[] {
  const page = items.find((item) => item.Put !== undefined)?.Put?.Item;
  return page === undefined ? [] : decodePage(page);
}

const ROLLUP_NAMES = {
  '#delta': 'delta',
  '#count': 'count',
  '#value': 'value',
  '#last': 'last_version',
  '#first': 'first_version',
};

function rollupUpdate(
  interval: string,
  start: string,
  rollup: { delta: number; count: number; value: number; first: number; last: number },
) {
  return {
    Update: {
      TableName: 'rollups-table',
      Key: { series: `${KEY}#${interval}`, start },
      UpdateExpression:
        'ADD #delta :delta, #count :count SET #value = :value, #last = :last, #first = if_not_exists(#first, :first)',
      ExpressionAttributeNames: ROLLUP_NAMES,
      ExpressionAttributeValues: {
        ':delta': rollup.delta,
        ':count': rollup.count,
        ':value': rollup.value,
        ':last': rollup.last,
        ':first': rollup.first,
      },
    },
  };
}

/** Shard 0's creation (+1), then `count - 1` increments of shard 1 by 1, all in the first minute. */
function manyChanges(count: number): ShardChange[] {
  return [
    shardChange(0, 1, 1),
    ...Array.from({ length: count - 1 }, (_, i) => shardChange(1, i + 1, 1, (i % 50) + 1)),
  ];
}

describe('DynamoHistoryStore.sequence', () => {
  beforeEach(() => {
    ddbMock.reset();
    // No pause between a lost race and the next read.
    vi.spyOn(Math, 'random').mockReturnValue(0);
  });

  afterEach(() => {
    ddbMock.reset();
    vi.restoreAllMocks();
  });

  it('reads the sequencer, then writes the entries as one page, their rollups and its first step in one transaction', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({});
    ddbMock.on(TransactWriteCommand).resolves({});

    // Act
    const result = await historyStore().sequence(KEY, [shardChange(0, 1, 10), shardChange(1, 1, 2, 61)]);

    // Assess
    expect(result).toEqual({
      written: 2,
      duplicates: 0,
      entries: [
        { version: 1, value: 10, delta: 10, op: 'set', created_at: T0, actor: ACTOR },
        { version: 2, value: 12, delta: 2, op: 'increment', created_at: at(61), actor: ACTOR },
      ],
    });
    expect(ddbMock.commandCalls(GetCommand).map((call) => call.args[0].input)).toEqual([
      { TableName: 'history-table', Key: { counter: KEY, version: 0 }, ConsistentRead: true },
    ]);
    expect(transactions()).toEqual([
      [
        {
          Update: {
            TableName: 'history-table',
            Key: { counter: KEY, version: 0 },
            UpdateExpression: 'SET #last = :to, #value = :value, #absorbed = :absorbed',
            ConditionExpression: 'attribute_not_exists(#last)',
            ExpressionAttributeNames: { '#last': 'last_version', '#value': 'value', '#absorbed': 'absorbed' },
            ExpressionAttributeValues: { ':to': 2, ':value': 12, ':absorbed': { '0': 1, '1': 1 } },
          },
        },
        {
          Put: {
            TableName: 'history-table',
            // The page is stored under its last version, compactly (history-page.ts): versions from the
            // first, values from the one before, the actor once, times in ms after the first's.
            Item: {
              counter: KEY,
              version: 2,
              first_version: 1,
              value_before: 0,
              time: T0,
              actors: [ACTOR],
              changes: [
                [10, 0, 0, 'set'],
                [2, 61_000, 0],
              ],
              // Which shard change each entry was (history-page.ts encodeSources).
              shards: '01',
              shard_first: { '0': 1, '1': 1 },
            },
          },
        },
        rollupUpdate('minute', T0, { delta: 10, count: 1, value: 10, first: 1, last: 1 }),
        rollupUpdate('hour', T0, { delta: 12, count: 2, value: 12, first: 1, last: 2 }),
        rollupUpdate('day', T0, { delta: 12, count: 2, value: 12, first: 1, last: 2 }),
        rollupUpdate('minute', '2025-01-01T00:01:00.000Z', {
          delta: 2,
          count: 1,
          value: 12,
          first: 2,
          last: 2,
        }),
      ],
    ]);
  });

  it('conditions a later step on the sequencer’s last version and on no purge, numbering after it', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({
      Item: sequencerItem({ last_version: 5, value: 20, absorbed: { '0': 2, '1': 2, '2': 1 } }),
    });
    ddbMock.on(TransactWriteCommand).resolves({});
    ddbMock.on(QueryCommand).resolves({ Items: [] });

    // Act
    const result = await historyStore().sequence(KEY, [shardChange(1, 2, 4), shardChange(2, 2, 3)]);

    // Assess
    expect(result).toEqual({
      written: 1,
      duplicates: 1,
      entries: [
        undefined,
        { version: 6, value: 23, delta: 3, op: 'increment', created_at: T0, actor: ACTOR },
      ],
    });
    const [items] = transactions();
    expect(items?.[0]).toEqual({
      Update: {
        TableName: 'history-table',
        Key: { counter: KEY, version: 0 },
        UpdateExpression: 'SET #last = :to, #value = :value, #absorbed = :absorbed',
        ConditionExpression: '#last = :from AND attribute_not_exists(#purged)',
        ExpressionAttributeNames: {
          '#last': 'last_version',
          '#value': 'value',
          '#absorbed': 'absorbed',
          '#purged': 'purged',
        },
        ExpressionAttributeValues: {
          ':to': 6,
          ':value': 23,
          ':absorbed': { '0': 2, '1': 2, '2': 2 },
          ':from': 5,
        },
      },
    });
    expect(items?.[1]).toEqual({
      Put: {
        TableName: 'history-table',
        Item: {
          counter: KEY,
          version: 6,
          first_version: 6,
          value_before: 20,
          time: T0,
          actors: [ACTOR],
          changes: [[3, 0, 0]],
          shards: '2',
          shard_first: { '2': 2 },
        },
      },
    });
    expect(items).toHaveLength(5);
  });

  it('writes nothing when every change is already absorbed', async () => {
    // Prepare
    ddbMock
      .on(GetCommand)
      .resolves({ Item: sequencerItem({ last_version: 3, value: 9, absorbed: { '0': 1, '1': 2 } }) });
    ddbMock.on(QueryCommand).resolves({ Items: [] });

    // Act
    const result = await historyStore().sequence(KEY, [shardChange(1, 1, 4), shardChange(1, 2, 4)]);

    // Assess
    expect(result).toEqual({ written: 0, duplicates: 2, entries: [undefined, undefined] });
    expect(ddbMock.commandCalls(TransactWriteCommand)).toHaveLength(0);
  });

  it('answers the entries the changes of a batch delivered again were given, read from the newest pages', async () => {
    // Prepare: history 1..5 in two pages (1-3, 4-5); shard 1's v1 and v2 came as versions 2 and 4.
    const history = [
      { source: { shard: 0, shardVersion: 1 }, entry: entryOf(1, 10, 10, 'set') },
      { source: { shard: 1, shardVersion: 1 }, entry: entryOf(2, 12, 2) },
      { source: { shard: 2, shardVersion: 1 }, entry: entryOf(3, 15, 3) },
      { source: { shard: 1, shardVersion: 2 }, entry: entryOf(4, 19, 4) },
      { source: { shard: 2, shardVersion: 2 }, entry: entryOf(5, 20, 1) },
    ];
    ddbMock.on(GetCommand).resolves({
      Item: sequencerItem({ last_version: 5, value: 20, absorbed: { '0': 1, '1': 2, '2': 2 } }),
    });
    ddbMock.on(TransactWriteCommand).resolves({});
    ddbMock
      .on(QueryCommand)
      .resolves({ Items: [storedPageOf(history.slice(3)), storedPageOf(history.slice(0, 3))] });

    // Act: shard 1's v1 and v2 again, and its new v3.
    const result = await historyStore().sequence(KEY, [
      shardChange(1, 1, 2),
      shardChange(1, 2, 4),
      shardChange(1, 3, 5),
    ]);

    // Assess
    expect(result).toEqual({
      written: 1,
      duplicates: 2,
      entries: [entryOf(2, 12, 2), entryOf(4, 19, 4), entryOf(6, 25, 5)],
    });
    expect(ddbMock.commandCalls(QueryCommand).map((call) => call.args[0].input)).toEqual([
      {
        TableName: 'history-table',
        KeyConditionExpression: '#counter = :key AND #version > :sequencer',
        ExpressionAttributeNames: { '#counter': 'counter', '#version': 'version' },
        ExpressionAttributeValues: { ':key': KEY, ':sequencer': 0 },
        ScanIndexForward: false,
        ConsistentRead: true,
        Limit: 10,
      },
    ]);
  });

  it('stops reading older pages once a page starts at or before a sought change of its shard', async () => {
    // Prepare: shard 1's v4 is in no page (written before entries kept their sources, say): the
    // page of its v2 and v3 starts before it, so no older page can hold it.
    ddbMock
      .on(GetCommand)
      .resolves({ Item: sequencerItem({ last_version: 9, value: 9, absorbed: { '0': 1, '1': 6 } }) });
    ddbMock.on(QueryCommand).resolves({
      Items: [
        storedPageOf([
          { source: { shard: 1, shardVersion: 5 }, entry: entryOf(8, 8, 1) },
          { source: { shard: 1, shardVersion: 6 }, entry: entryOf(9, 9, 1) },
        ]),
        storedPageOf([
          { source: { shard: 1, shardVersion: 2 }, entry: entryOf(6, 6, 1) },
          { source: { shard: 1, shardVersion: 3 }, entry: entryOf(7, 7, 1) },
        ]),
      ],
      LastEvaluatedKey: { counter: KEY, version: 6 },
    });

    // Act
    const result = await historyStore().sequence(KEY, [shardChange(1, 4, 1), shardChange(1, 6, 1)]);

    // Assess
    expect(result).toEqual({ written: 0, duplicates: 2, entries: [undefined, entryOf(9, 9, 1)] });
    expect(ddbMock.commandCalls(QueryCommand)).toHaveLength(1);
  });

  it('writes nothing for a purged counter: its tombstone makes every change a duplicate', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({ Item: sequencerItem({ purged: true }) });

    // Act
    const result = await historyStore().sequence(KEY, [shardChange(2, 7, 1)]);

    // Assess: and no history is read for the entries it had, which its deletion removed.
    expect(result).toEqual({ written: 0, duplicates: 1, entries: [undefined] });
    expect(ddbMock.commandCalls(TransactWriteCommand)).toHaveLength(0);
    expect(ddbMock.commandCalls(QueryCommand)).toHaveLength(0);
  });

  it('throws SequencerNotReadyError for a shard’s change before the creation, writing nothing', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({});

    // Act
    const sequencing = historyStore().sequence(KEY, [shardChange(1, 1, 2)]);

    // Assess
    await expect(sequencing).rejects.toBeInstanceOf(SequencerNotReadyError);
    expect(ddbMock.commandCalls(TransactWriteCommand)).toHaveLength(0);
  });

  it('writes a page of at most 100 entries per transaction, each step conditioned on the one before', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({});
    ddbMock.on(TransactWriteCommand).resolves({});

    // Act
    const result = await historyStore().sequence(KEY, manyChanges(250));

    // Assess
    expect(result).toEqual({ written: 250, duplicates: 0, entries: expect.any(Array) });
    expect(result.entries.map((entry) => entry?.version)).toEqual(
      Array.from({ length: 250 }, (_, i) => 1 + i),
    );
    expect(ddbMock.commandCalls(GetCommand)).toHaveLength(1);
    const steps = transactions();
    expect(steps.map((items) => items.filter((item) => item.Put !== undefined).length)).toEqual([1, 1, 1]);
    expect(steps.map((items) => pageOf(items).map((entry) => entry.version))).toEqual([
      Array.from({ length: 100 }, (_, i) => 1 + i),
      Array.from({ length: 100 }, (_, i) => 101 + i),
      Array.from({ length: 50 }, (_, i) => 201 + i),
    ]);
    expect(steps.map((items) => [items[1]?.Put?.Item?.first_version, items[1]?.Put?.Item?.version])).toEqual([
      [1, 100],
      [101, 200],
      [201, 250],
    ]);
    expect(steps.map((items) => items[0]?.Update?.ConditionExpression)).toEqual([
      'attribute_not_exists(#last)',
      '#last = :from AND attribute_not_exists(#purged)',
      '#last = :from AND attribute_not_exists(#purged)',
    ]);
    expect(
      steps.map((items) => [
        items[0]?.Update?.ExpressionAttributeValues?.[':from'],
        items[0]?.Update?.ExpressionAttributeValues?.[':to'],
        items[0]?.Update?.ExpressionAttributeValues?.[':value'],
      ]),
    ).toEqual([
      [undefined, 100, 100],
      [100, 200, 200],
      [200, 250, 250],
    ]);
    expect(steps[1]?.find((item) => item.Update?.Key?.series === `${KEY}#hour`)).toEqual(
      rollupUpdate('hour', T0, { delta: 100, count: 100, value: 200, first: 101, last: 200 }),
    );
  });

  it('cuts a step where its rollups would not fit the transaction: 98 of them, beside the step and the page', async () => {
    // Prepare: 40 changes a minute apart, each its own minute; hours and days shared.
    ddbMock.on(GetCommand).resolves({});
    ddbMock.on(TransactWriteCommand).resolves({});
    const changes = manyChanges(40).map((change, i) => ({ ...change, created_at: at(60 * i) }));

    // Act
    const result = await historyStore().sequence(KEY, changes);

    // Assess
    expect(result).toEqual({ written: 40, duplicates: 0, entries: expect.any(Array) });
    const steps = transactions();
    for (const items of steps) expect(items.length).toBeLessThanOrEqual(100);
    expect(steps.flatMap((items) => pageOf(items).map((entry) => entry.version))).toEqual(
      Array.from({ length: 40 }, (_, i) => 1 + i),
    );
    // 40 minutes, 1 hour, 1 day: 42 updates in one transaction of 44 items.
    expect(steps).toHaveLength(1);
    expect(steps[0]).toHaveLength(44);

    // Act: 120 changes a minute apart need 120 minute updates: more than one step takes.
    ddbMock.reset();
    ddbMock.on(GetCommand).resolves({});
    ddbMock.on(TransactWriteCommand).resolves({});
    await historyStore().sequence(
      KEY,
      manyChanges(120).map((change, i) => ({ ...change, created_at: at(60 * i) })),
    );

    // Assess: every step within 100 items, every version once and in order.
    const more = transactions();
    expect(more.length).toBeGreaterThan(1);
    for (const items of more) expect(items.length).toBeLessThanOrEqual(100);
    expect(more.flatMap((items) => pageOf(items).map((entry) => entry.version))).toEqual(
      Array.from({ length: 120 }, (_, i) => 1 + i),
    );
  });

  it('reads the sequencer again after losing a race to another shard’s batch, and numbers after the winner', async () => {
    // Prepare
    ddbMock
      .on(GetCommand)
      .resolvesOnce({
        Item: sequencerItem({ last_version: 5, value: 20, absorbed: { '0': 2, '1': 2, '2': 1 } }),
      })
      .resolves({
        Item: sequencerItem({ last_version: 7, value: 22, absorbed: { '0': 2, '1': 2, '2': 3 } }),
      });
    ddbMock.on(TransactWriteCommand).rejectsOnce(cancelled()).resolves({});

    // Act
    const result = await historyStore().sequence(KEY, [shardChange(1, 3, 4), shardChange(1, 4, 1)]);

    // Assess
    expect(result).toEqual({
      written: 2,
      duplicates: 0,
      entries: [
        { version: 8, value: 26, delta: 4, op: 'increment', created_at: T0, actor: ACTOR },
        { version: 9, value: 27, delta: 1, op: 'increment', created_at: T0, actor: ACTOR },
      ],
    });
    expect(ddbMock.commandCalls(GetCommand)).toHaveLength(2);
    const [lost, won] = transactions();
    expect(lost?.[0]?.Update?.ExpressionAttributeValues).toEqual({
      ':to': 7,
      ':value': 25,
      ':absorbed': { '0': 2, '1': 4, '2': 1 },
      ':from': 5,
    });
    expect(won?.[0]?.Update?.ExpressionAttributeValues).toEqual({
      ':to': 9,
      ':value': 27,
      ':absorbed': { '0': 2, '1': 4, '2': 3 },
      ':from': 7,
    });
    expect(won?.filter((item) => item.Put !== undefined).map((item) => item.Put?.Item?.version)).toEqual([9]);
    expect(pageOf(won ?? [])).toEqual([
      { version: 8, value: 26, delta: 4, op: 'increment', created_at: T0, actor: ACTOR },
      { version: 9, value: 27, delta: 1, op: 'increment', created_at: T0, actor: ACTOR },
    ]);
  });

  it('numbers only the rest after a race lost in a later step, its committed steps skipped as absorbed', async () => {
    // Prepare: the first 100 commit; another shard's batch then takes versions 101 and 102.
    ddbMock
      .on(GetCommand)
      .resolvesOnce({})
      .resolves({
        Item: sequencerItem({ last_version: 102, value: 102, absorbed: { '0': 1, '1': 99, '2': 2 } }),
      });
    ddbMock.on(TransactWriteCommand).resolvesOnce({}).rejectsOnce(cancelled()).resolves({});

    // Act
    const result = await historyStore().sequence(KEY, manyChanges(106));

    // Assess
    expect(result.written).toBe(106);
    const steps = transactions();
    expect(steps).toHaveLength(3);
    expect(steps[2]?.[0]?.Update?.ExpressionAttributeValues).toMatchObject({
      ':from': 102,
      ':to': 108,
      ':value': 108,
    });
    expect(pageOf(steps[2] ?? []).map((entry) => entry.version)).toEqual([103, 104, 105, 106, 107, 108]);
  });

  it('reports the changes it wrote before a race lost in a later step as written, not also as duplicates', async () => {
    // Prepare: the first 100 commit; another shard's batch then takes versions 101 and 102.
    ddbMock
      .on(GetCommand)
      .resolvesOnce({})
      .resolves({
        Item: sequencerItem({ last_version: 102, value: 102, absorbed: { '0': 1, '1': 99, '2': 2 } }),
      });
    ddbMock.on(TransactWriteCommand).resolvesOnce({}).rejectsOnce(cancelled()).resolves({});

    // Act
    const result = await historyStore().sequence(KEY, manyChanges(106));

    // Assess: 106 changes, each written once by this call, none of them delivered before; each with
    // the version it was given, around the two the other batch took.
    expect(result).toEqual({ written: 106, duplicates: 0, entries: expect.any(Array) });
    expect(result.entries.map((entry) => entry?.version)).toEqual([
      ...Array.from({ length: 100 }, (_, i) => 1 + i),
      ...Array.from({ length: 6 }, (_, i) => 103 + i),
    ]);
  });

  it('passes on a failure that is no lost race, without trying again', async () => {
    // Prepare
    const throttled = new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} });
    ddbMock.on(GetCommand).resolves({});
    ddbMock.on(TransactWriteCommand).rejects(throttled);

    // Act
    const sequencing = historyStore().sequence(KEY, [shardChange(0, 1, 10)]);

    // Assess
    await expect(sequencing).rejects.toBe(throttled);
    expect(ddbMock.commandCalls(TransactWriteCommand)).toHaveLength(1);
  });

  it('fails at once when the transaction was cancelled by throttling, which is no race to retry at once', async () => {
    // Prepare: DynamoDB cancels a transaction with a ThrottlingError reason when one of its items is over its rate.
    const throttled = new TransactionCanceledException({
      message: 'Transaction cancelled',
      $metadata: {},
      CancellationReasons: [{ Code: 'ThrottlingError' }, { Code: 'None' }],
    });
    ddbMock.on(GetCommand).resolves({});
    ddbMock.on(TransactWriteCommand).rejects(throttled);

    // Act
    const sequencing = historyStore().sequence(KEY, [shardChange(0, 1, 10)]);

    // Assess
    await expect(sequencing).rejects.toBe(throttled);
    expect(ddbMock.commandCalls(TransactWriteCommand)).toHaveLength(1);
  });

  it('gives each page the expiry of its last entry when a retention is configured, so none leaves early', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({});
    ddbMock.on(TransactWriteCommand).resolves({});

    // Act
    await historyStore(2).sequence(KEY, [shardChange(0, 1, 10), shardChange(1, 1, 2, 30)]);

    // Assess
    const page = transactions()[0]?.[1]?.Put?.Item;
    expect(page?.expires_at).toBe(Date.parse(at(30)) / 1000 + 2 * 86_400);
    expect(page?.changes).toHaveLength(2);
  });
});
