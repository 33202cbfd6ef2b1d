import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { deletePartition } from './delete-partition.ts';
import { DynamoRollupsStore } from './dynamodb-rollups-store.ts';
import type { ShardChange } from './history.ts';
import { entriesIn, entriesOf, entryItem } from './history-items.ts';
import { HistorySequencer } from './history-sequencer.ts';
import type { HistoryStore, SequenceOutcome } from './history-store.ts';
import type { HistoryPage, HistoryQuery, HistoryReader, Page, SeriesQuery } from './repository.ts';
import type { HistoryEntry } from './schema.ts';
import type { Interval, RollupChange, SeriesBucket } from './series.ts';
import {
  EXPIRES_AT,
  HISTORY_PAGE_CHANGES_KEY,
  HISTORY_PAGE_ENTRIES,
  HISTORY_PAGE_FIRST_KEY,
  HISTORY_PARTITION_KEY,
  HISTORY_SORT_KEY,
  HISTORY_TIME_KEY,
  historyKey,
} from './table.ts';

/** Pages a sharded counter's history read asks for first; later reads size themselves by what came. */
const FIRST_PAGES_READ = 4;

export interface HistoryStoreOptions {
  /** Raw history entries expire this many days after their change; undefined keeps them. */
  retentionDays?: number | undefined;
}

/** The versions a history read may answer: from `from`, up to `to` when it has an end. */
interface VersionWindow {
  from: number;
  to: number | undefined;
}

/**
 * The history and rollups tables, written by the stream consumer and read for GET .../history and
 * .../series, in one place: a plain counter's entries one item each (record), a sharded counter's
 * numbered into pages (history-sequencer.ts), each counter's series in the rollups
 * (dynamodb-rollups-store.ts). Its items' format is history-items.ts.
 *
 * The tables' names are read at each use, so a function that never reads a table needs no name.
 */
export class DynamoHistoryStore implements HistoryStore, HistoryReader {
  private readonly rollups: DynamoRollupsStore;
  private readonly sequencer: HistorySequencer;

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tables: { readonly history: string; readonly rollups: string },
    private readonly options: HistoryStoreOptions = {},
  ) {
    this.rollups = new DynamoRollupsStore(client, tables);
    this.sequencer = new HistorySequencer(client, tables, this.rollups, options.retentionDays);
  }

  async record(key: string, entry: HistoryEntry): Promise<'written' | 'duplicate'> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tables.history,
          Item: entryItem(key, entry, this.options.retentionDays),
          ConditionExpression: 'attribute_not_exists(#version)',
          ExpressionAttributeNames: { '#version': HISTORY_SORT_KEY },
        }),
      );
      return 'written';
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return 'duplicate';
      throw error;
    }
  }

  rollUp(key: string, interval: Interval, start: string, changes: RollupChange[]): Promise<void> {
    return this.rollups.rollUp(key, interval, start, changes);
  }

  sequence(key: string, changes: ShardChange[]): Promise<SequenceOutcome> {
    return this.sequencer.sequence(key, changes);
  }

  async purge(key: string, options: { sharded?: boolean } = {}): Promise<number> {
    const removed = await deletePartition(
      this.client,
      {
        table: this.tables.history,
        partitionKey: HISTORY_PARTITION_KEY,
        sortKey: HISTORY_SORT_KEY,
        value: key,
      },
      // A page's first version too, to count the entries it held.
      {
        read: [HISTORY_PAGE_FIRST_KEY],
        count: (item) => entriesIn(item[HISTORY_SORT_KEY], item[HISTORY_PAGE_FIRST_KEY]),
      },
    );
    await this.rollups.purge(key);
    if (options.sharded === true) await this.sequencer.tombstone(key);
    return removed;
  }

  series(query: SeriesQuery): Promise<Page<SeriesBucket>> {
    return this.rollups.series(query);
  }

  async history(input: HistoryQuery): Promise<HistoryPage> {
    const key = historyKey(input.name, input.incarnation);
    // A sharded counter's history is stored in pages (history-items.ts), a plain one's entry by entry.
    const paged = input.shards !== undefined;
    const window = await this.versionWindow(key, input, paged);
    if (window === undefined) return { items: [], hasMore: false };
    return this.readWindow(key, input, window, paged);
  }

  /**
   * The versions a read may answer; undefined for none. A plain counter's entries of one batch are
   * written concurrently, so version v + 1 may be stored before v, and a reader that answered it
   * would move its cursor past v for good. So a plain history answers only up to the last version the
   * minute rollups hold: the consumer rolls versions up only once they and every version before them
   * are written (history-recorder.ts), which makes it a high-water mark below which there is no gap
   * (docs/history.md). A sharded counter's pages are written in order, each in its sequencer's
   * transaction, and need no mark. A time window becomes a version window through the same rollups:
   * two one-item reads, however long the history, which go out together.
   */
  private async versionWindow(
    key: string,
    input: HistoryQuery,
    paged: boolean,
  ): Promise<VersionWindow | undefined> {
    const [first, last] = await Promise.all([
      input.since === undefined ? undefined : this.rollups.versionAtTime(key, '>=', input.since),
      input.until === undefined && paged ? undefined : this.rollups.versionAtTime(key, '<', input.until),
    ]);
    if (
      (input.since !== undefined && first === undefined) ||
      ((input.until !== undefined || !paged) && last === undefined)
    ) {
      return undefined;
    }
    const from = Math.max((input.afterVersion ?? 0) + 1, first ?? 1);
    if (last !== undefined && last < from) return undefined;
    return { from, to: last };
  }

  /**
   * The entries of the window, from one read of limit + 1 entries; a sharded counter's pages hold 1
   * to HISTORY_PAGE_ENTRIES entries each, so its reads go on, each sized by the entries per page seen
   * so far, until there are enough.
   */
  private async readWindow(
    key: string,
    input: HistoryQuery,
    window: VersionWindow,
    paged: boolean,
  ): Promise<HistoryPage> {
    const { since, until } = input;
    const inWindow = (entry: HistoryEntry) =>
      entry.version >= window.from &&
      (window.to === undefined || entry.version <= window.to) &&
      (since === undefined || entry.created_at >= since) &&
      (until === undefined || entry.created_at < until);
    const found: HistoryEntry[] = [];
    let start: Record<string, unknown> | undefined;
    let items = 0;
    let limit = paged ? Math.min(input.limit + 1, FIRST_PAGES_READ) : input.limit + 1;
    do {
      const { Items = [], LastEvaluatedKey } = await this.client.send(
        new QueryCommand({
          ...windowQuery(this.tables.history, key, input, window, paged),
          Limit: limit,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of Items) found.push(...entriesOf(item).filter(inWindow));
      items += Items.length;
      start = LastEvaluatedKey;
      const perPage = Math.max(1, found.length / Math.max(1, items));
      limit = Math.max(1, Math.min(input.limit + 1, Math.ceil((input.limit + 1 - found.length) / perPage)));
    } while (paged && start !== undefined && found.length <= input.limit);
    return pageOf(found, input.limit, start);
  }
}

/** The history table's query for a version window, its edge minutes' stray changes filtered out. */
function windowQuery(
  table: string,
  key: string,
  input: HistoryQuery,
  { from, to }: VersionWindow,
  paged: boolean,
): QueryCommandInput {
  const { since, until } = input;
  const timeFilter = [
    ...(since === undefined ? [] : ['#time >= :since']),
    ...(until === undefined ? [] : ['#time < :until']),
  ].join(' AND ');
  return {
    TableName: table,
    // A page holding `to` is stored under a version up to HISTORY_PAGE_ENTRIES - 1 above it.
    KeyConditionExpression:
      to === undefined
        ? '#counter = :counter AND #version >= :from'
        : '#counter = :counter AND #version BETWEEN :from AND :to',
    // TTL deletes lazily: an entry past its expiry is gone for readers at once. The window's edge
    // minutes may hold changes just outside it; a page's entries are filtered after the read.
    FilterExpression: [
      '(attribute_not_exists(#expires) OR #expires > :now)',
      ...(timeFilter === '' ? [] : [paged ? `(attribute_exists(#changes) OR (${timeFilter}))` : timeFilter]),
    ].join(' AND '),
    ExpressionAttributeNames: {
      '#counter': HISTORY_PARTITION_KEY,
      '#version': HISTORY_SORT_KEY,
      '#expires': EXPIRES_AT,
      ...(timeFilter === '' ? {} : { '#time': HISTORY_TIME_KEY }),
      ...(timeFilter !== '' && paged ? { '#changes': HISTORY_PAGE_CHANGES_KEY } : {}),
    },
    ExpressionAttributeValues: {
      ':counter': key,
      ':from': from,
      ...(to === undefined ? {} : { ':to': paged ? to + HISTORY_PAGE_ENTRIES - 1 : to }),
      ':now': Math.floor(Date.now() / 1000),
      ...(since === undefined ? {} : { ':since': since }),
      ...(until === undefined ? {} : { ':until': until }),
    },
    // The mark came from another table: read every entry written before it was, not a replica that
    // may hold v + 1 and not yet v.
    ...(paged ? {} : { ConsistentRead: true }),
  };
}

/** Up to `limit` of the entries found, and where the page ended for the cursor. */
function pageOf(
  found: HistoryEntry[],
  limit: number,
  start: Record<string, unknown> | undefined,
): HistoryPage {
  const more = found.length > limit;
  const page = found.slice(0, limit);
  const evaluated = start?.[HISTORY_SORT_KEY];
  return {
    items: page,
    hasMore: more || start !== undefined,
    lastVersion: more
      ? page.at(-1)?.version
      : typeof evaluated === 'number'
        ? evaluated
        : page.at(-1)?.version,
  };
}
