import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
import * as z from 'zod/mini';
import { isThrottling } from '../platform/aws-errors.ts';
import { retryPause } from '../platform/retry.ts';
import type { DynamoRollupsStore } from './dynamodb-rollups-store.ts';
import {
  type NumberedChange,
  numberChanges,
  type SequencerState,
  type ShardChange,
  type ShardSource,
} from './history.ts';
import { pageItem, SEQUENCER_VERSION, sourcedEntriesOf } from './history-items.ts';
import type { SequenceOutcome } from './history-store.ts';
import type { HistoryEntry } from './schema.ts';
import { bucketsOf } from './series.ts';
import { EXPIRES_AT, HISTORY_PAGE_ENTRIES, HISTORY_PARTITION_KEY, HISTORY_SORT_KEY } from './table.ts';

/**
 * Rollup updates in one step of a sharded counter's history: TransactWriteItems takes 100 items, two
 * of which are the sequencer's step and the page of entries.
 */
const ROLLUPS_PER_STEP = 98;

/** Reads of the sequencer before giving up on a counter whose shards' batches keep racing. */
const SEQUENCE_ATTEMPTS = 20;

/** The longest pause after a lost race: 10 ms doubling, up to 2^6 of it. */
const RACE_BACKOFF = { baseMs: 10, capMs: 640 };

/** How long a deleted sharded counter's mark outlives it: past the stream's 24 hours of retention. */
const TOMBSTONE_SECONDS = 2 * 86_400;

/** The sequencer item as stored; a deletion's tombstone holds `purged` alone. */
const sequencerItem = z.object({
  last_version: z.optional(z.number()),
  value: z.optional(z.number()),
  absorbed: z.optional(z.record(z.string(), z.number())),
  purged: z.optional(z.boolean()),
});

/**
 * A sharded counter's history, numbered: its shards' changes get counter-wide versions from the
 * sequencer item (version 0 of its history key), each step of it written with its page of entries
 * and their rollups in one transaction, so a batch delivered again, or racing another shard's
 * batch, counts each change once (docs/sharding.md).
 */
export class HistorySequencer {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tables: { readonly history: string },
    private readonly rollups: DynamoRollupsStore,
    private readonly retentionDays: number | undefined,
  ) {}

  async sequence(key: string, changes: ShardChange[]): Promise<SequenceOutcome> {
    let written = 0;
    // The entries this call wrote, by source: the rest were written before (a batch delivered again).
    const numbered = new Map<string, HistoryEntry>();
    // Another shard's batch may be numbering the same counter's changes at the same moment: the loser
    // of each step reads again and numbers after the winner.
    for (let attempt = 0; attempt < SEQUENCE_ATTEMPTS; attempt++) {
      const state = await this.state(key);
      const { entries } = numberChanges(state, key, changes);
      let last = state?.lastVersion;
      let raced = false;
      for (const chunk of steps(entries)) {
        const end = chunk.at(-1);
        if (end === undefined) break;
        if (!(await this.step(key, last, chunk))) {
          raced = true;
          await retryPause(attempt, RACE_BACKOFF);
          break;
        }
        written += chunk.length;
        for (const { entry, source } of chunk) numbered.set(sourceKey(source), entry);
        last = end.entry.version;
      }
      if (!raced) return this.sequenced(key, changes, numbered, written, state);
    }
    throw new Error(`history of ${key}: its sequencer kept changing under the consumer`);
  }

  /** Leaves the mark of a deleted counter, so that its shards' late changes are not recorded again. */
  async tombstone(key: string): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.tables.history,
        Item: {
          [HISTORY_PARTITION_KEY]: key,
          [HISTORY_SORT_KEY]: SEQUENCER_VERSION,
          purged: true,
          [EXPIRES_AT]: Math.floor(Date.now() / 1000) + TOMBSTONE_SECONDS,
        },
      }),
    );
  }

  /**
   * One step: the sequencer moved from `last` to the chunk's end, the chunk's page and its rollups,
   * in one transaction. False when another batch moved the sequencer first (a lost race).
   */
  private async step(
    key: string,
    last: number | undefined,
    chunk: readonly NumberedChange[],
  ): Promise<boolean> {
    const end = chunk.at(-1);
    if (end === undefined) return true;
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
            this.advance(key, last, end.entry.version, end.entry.value, end.absorbed),
            { Put: { TableName: this.tables.history, Item: pageItem(key, chunk, this.retentionDays) } },
            ...this.rollups.transactUpdates(
              key,
              chunk.map(({ entry }) => entry),
            ),
          ],
        }),
      );
      return true;
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      // Throttled: fail the batch, which Lambda retries later, rather than spin on a busy table.
      if (isThrottling(error)) throw error;
      return false;
    }
  }

  /** The outcome of a sequence: what it wrote, and the entries the changes it did not write were given before. */
  private async sequenced(
    key: string,
    changes: readonly ShardChange[],
    numbered: ReadonlyMap<string, HistoryEntry>,
    written: number,
    state: SequencerState | undefined,
  ): Promise<SequenceOutcome> {
    const earlier = changes.filter((change) => !numbered.has(sourceKey(change)));
    // A deleted counter's history is gone, and with it what its changes were given.
    const found =
      earlier.length === 0 || state?.purged === true ? new Map() : await this.findSequenced(key, earlier);
    return {
      written,
      duplicates: changes.length - written,
      entries: changes.map((change) => numbered.get(sourceKey(change)) ?? found.get(sourceKey(change))),
    };
  }

  /**
   * The entries that shard changes were given when they were recorded before, read from the history's
   * pages, newest first, until each is found or shown absent: a shard's changes reach the history in
   * its order, so once a page starts at or before a sought change of that shard, no older page holds
   * it. A batch is delivered again moments after its first delivery, so this reads a page or a few.
   */
  private async findSequenced(
    key: string,
    wanted: readonly ShardSource[],
  ): Promise<Map<string, HistoryEntry>> {
    const found = new Map<string, HistoryEntry>();
    const open = new Map(wanted.map((source) => [sourceKey(source), source]));
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tables.history,
          KeyConditionExpression: '#counter = :key AND #version > :sequencer',
          ExpressionAttributeNames: { '#counter': HISTORY_PARTITION_KEY, '#version': HISTORY_SORT_KEY },
          ExpressionAttributeValues: { ':key': key, ':sequencer': SEQUENCER_VERSION },
          ScanIndexForward: false,
          ConsistentRead: true,
          Limit: 10,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) {
        const { entries, sources = [] } = sourcedEntriesOf(item);
        for (const [i, source] of sources.entries()) {
          const entry = entries[i];
          if (entry === undefined || !open.has(sourceKey(source))) continue;
          found.set(sourceKey(source), entry);
          open.delete(sourceKey(source));
        }
        for (const [k, source] of open) {
          const first = sources.find((candidate) => candidate.shard === source.shard);
          if (first !== undefined && first.shardVersion <= source.shardVersion) open.delete(k);
        }
        if (open.size === 0) return found;
      }
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
    return found;
  }

  private async state(key: string): Promise<SequencerState | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tables.history,
        Key: { [HISTORY_PARTITION_KEY]: key, [HISTORY_SORT_KEY]: SEQUENCER_VERSION },
        ConsistentRead: true,
      }),
    );
    if (Item === undefined) return undefined;
    const item = sequencerItem.parse(Item);
    return {
      lastVersion: item.last_version ?? 0,
      value: item.value ?? 0,
      absorbed: item.absorbed ?? {},
      purged: item.purged === true,
    };
  }

  /** The sequencer's step from `from` (undefined: not yet there) to `to`: the condition that numbers each change once. */
  private advance(
    key: string,
    from: number | undefined,
    to: number,
    value: number,
    absorbed: Record<string, number>,
  ) {
    return {
      Update: {
        TableName: this.tables.history,
        Key: { [HISTORY_PARTITION_KEY]: key, [HISTORY_SORT_KEY]: SEQUENCER_VERSION },
        UpdateExpression: 'SET #last = :to, #value = :value, #absorbed = :absorbed',
        ConditionExpression:
          from === undefined
            ? 'attribute_not_exists(#last)'
            : '#last = :from AND attribute_not_exists(#purged)',
        ExpressionAttributeNames: {
          '#last': 'last_version',
          '#value': 'value',
          '#absorbed': 'absorbed',
          ...(from === undefined ? {} : { '#purged': 'purged' }),
        },
        ExpressionAttributeValues: {
          ':to': to,
          ':value': value,
          ':absorbed': absorbed,
          ...(from === undefined ? {} : { ':from': from }),
        },
      },
    };
  }
}

function sourceKey(source: ShardSource): string {
  return `${source.shard}:${source.shardVersion}`;
}

/**
 * A sharded counter's numbered changes cut into the steps of its sequencer: each at most
 * HISTORY_PAGE_ENTRIES entries (one page) whose rollups fit the step's transaction.
 */
function steps<T extends { entry: HistoryEntry }>(numbered: readonly T[]): T[][] {
  const cut: T[][] = [];
  let step: T[] = [];
  for (const change of numbered) {
    const grown = [...step, change];
    const fits =
      grown.length <= HISTORY_PAGE_ENTRIES &&
      bucketsOf(grown.map(({ entry }) => entry)).length <= ROLLUPS_PER_STEP;
    if (fits || step.length === 0) {
      step = grown;
    } else {
      cut.push(step);
      step = [change];
    }
  }
  if (step.length > 0) cut.push(step);
  return cut;
}
