import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { COUNTERS_TABLE } from '../../functions/counter/table.ts';
import { lambdaContext } from '../../lib/local/api-event.ts';
import { type PollerSettings, StreamPoller } from '../../lib/local/stream-poller.ts';
import { ensureTable } from '../../lib/local/tables.ts';
import { HISTORY_STREAM } from '../../lib/stream-settings.ts';
import { type StreamHandler, useHistoryConsumer } from '../support/history-consumer.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION, useEngine } from '../support/local-engine.ts';
import { eventually } from '../support/signed-client.ts';

// lib/local/stream-poller.ts, the local event source mapping, on one local engine: how it reads the
// stream, and the real consumer behind it with faults wrapped around it.
const local = useEngine();

// How lib/local/stream-poller.ts reads the stream (issue 13): on with the iterator each read returns,
// as Lambda's event source mapping does, not a description and a fresh iterator per batch.
describe('the local stream poller', () => {
  beforeAll(async () => {
    await ensureTable(local.raw, 'poller-checkpoints', {
      partitionKey: { name: 'id', type: 'S' },
      indexes: [],
    });
  });

  it('reads batch after batch with the iterator the last read returned, describing the stream and asking for an iterator once', async () => {
    const { streamArn = '' } = await ensureTable(local.raw, 'poller-counters', COUNTERS_TABLE);
    const streams = new DynamoDBStreamsClient({
      endpoint: local.endpoint,
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
    });
    const sent = new Map<string, number>();
    const send = streams.send.bind(streams);
    // Counts each command the poller sends, by name.
    streams.send = ((command: { constructor: { name: string } }, ...rest: unknown[]) => {
      const name = command.constructor.name;
      sent.set(name, (sent.get(name) ?? 0) + 1);
      return (send as (...args: unknown[]) => unknown)(command, ...rest);
    }) as typeof streams.send;
    const delivered: string[] = [];
    const poller = new StreamPoller({
      streams,
      checkpoints: { client: local.documents, table: 'poller-checkpoints' },
      streamArn,
      consumer: 'record-history',
      handler: async (event: DynamoDBStreamEvent) => {
        for (const record of event.Records) delivered.push(record.dynamodb?.NewImage?.value?.N ?? '?');
        return { batchItemFailures: [] };
      },
      settings: { ...HISTORY_STREAM, batchSize: 10 },
      deadLetterFile: join(mkdtempSync(join(tmpdir(), 'dead-letters-')), 'dead-letters.jsonl'),
      region: LOCAL_REGION,
      idleMs: 20,
    });
    try {
      for (let i = 0; i < 50; i++) {
        await local.documents.send(
          new UpdateCommand({
            TableName: 'poller-counters',
            Key: { name: 'c' },
            UpdateExpression: 'ADD #value :one',
            ExpressionAttributeNames: { '#value': 'value' },
            ExpressionAttributeValues: { ':one': 1 },
          }),
        );
      }

      poller.start();
      await eventually(async () => (delivered.length >= 50 ? true : undefined));
      // Idle reads go on with the same iterator too.
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      await poller.stop();
      streams.destroy();
    }

    expect(delivered).toEqual(Array.from({ length: 50 }, (_, i) => String(i + 1)));
    expect(sent.get('DescribeStreamCommand')).toBe(1);
    expect(sent.get('GetShardIteratorCommand')).toBe(1);
    expect(sent.get('GetRecordsCommand')).toBeGreaterThanOrEqual(5);
    expect([...poller.handledThrough().values()]).toEqual(['50']);
  });
});

// The real consumer behind the local event source mapping (lib/local/stream-poller.ts), with faults
// wrapped around it: docs/api.md section 3's exact history when a consumer fails or crashes mid-batch.
describe('the history consumer under faults', () => {
  const consumer = useHistoryConsumer(local, 'faults');
  let table = 0;
  const pollers: StreamPoller[] = [];

  afterEach(async () => {
    await Promise.all(pollers.splice(0).map((poller) => poller.stop()));
  });

  /** A fresh counters table (so a fresh stream) and a poller feeding `handler` from it. */
  const setUp = async (handler: StreamHandler, settings: Partial<PollerSettings> = {}) => {
    const name = `faults-counters-${++table}`;
    const { streamArn = '' } = await ensureTable(local.raw, name, COUNTERS_TABLE);
    const deadLetterFile = join(mkdtempSync(join(tmpdir(), 'dead-letters-')), 'dead-letters.jsonl');
    const poller = new StreamPoller({
      streams: local.streams,
      checkpoints: { client: local.documents, table: consumer.tables.checkpoints },
      streamArn,
      consumer: `record-history-${table}`,
      handler: (event) => handler(event, lambdaContext('record-history', 'test')),
      settings: { ...HISTORY_STREAM, batchSize: 10, retryAttempts: 2, ...settings },
      deadLetterFile,
      region: LOCAL_REGION,
      idleMs: 50,
      retryBaseMs: 10,
    });
    pollers.push(poller);
    return { table: name, poller, deadLetterFile };
  };

  /** Increments through the same UpdateItem shape the service uses, so the stream carries counters. */
  const increment = async (tableName: string, name: string, times: number) => {
    for (let i = 0; i < times; i++) await consumer.increment(tableName, name, `inc-${tableName}`);
  };

  const versionsOf = (tableName: string, name: string) => consumer.versionsOf(name, `inc-${tableName}`);

  const upTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

  it('gathers a short batch for the batching window before invoking, as historyBatchingWindow does', async () => {
    const deliveries: number[] = [];
    const { table: t, poller } = await setUp(
      async (event, context) => {
        deliveries.push(event.Records.length);
        return consumer.handler(event, context);
      },
      { batchingWindowSeconds: 3 },
    );
    poller.start();

    // Five changes 100 ms apart: without a window the poller, idle 50 ms at a time, sees them apart.
    for (let i = 0; i < 5; i++) {
      await increment(t, 'gathered', 1);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    await eventually(async () => ((await versionsOf(t, 'gathered')).length === 5 ? true : undefined), 10_000);
    expect(await versionsOf(t, 'gathered')).toEqual(upTo(5));
    expect(deliveries).toEqual([5]);
  });

  it('does not hold a full batch for the batching window', async () => {
    const deliveries: number[] = [];
    const { table: t, poller } = await setUp(
      async (event, context) => {
        deliveries.push(event.Records.length);
        return consumer.handler(event, context);
      },
      { batchingWindowSeconds: 60 },
    );
    await increment(t, 'full', 10);

    poller.start();

    // Within 10 s, where the 60 s window would hold a batch short of the 10 records.
    await eventually(async () => ((await versionsOf(t, 'full')).length === 10 ? true : undefined), 10_000);
    expect(deliveries).toEqual([10]);
  });

  it('resumes a batch from the record that failed, leaving the history complete with no duplicate', async () => {
    let failedOnce = false;
    const deliveries: string[] = [];
    const { table: t, poller } = await setUp(async (event, context) => {
      const versions = event.Records.map((record) => record.dynamodb?.NewImage?.version?.N);
      deliveries.push(`${versions[0]}-${versions.at(-1)}`);
      const seventh = event.Records.findIndex((record) => record.dynamodb?.NewImage?.version?.N === '7');
      if (seventh !== -1 && !failedOnce) {
        failedOnce = true;
        // Apply what precedes it, then fail on it, as a consumer that crashed at that record reports.
        await consumer.handler({ Records: event.Records.slice(0, seventh) }, context);
        return {
          batchItemFailures: [{ itemIdentifier: event.Records[seventh]?.dynamodb?.SequenceNumber ?? '' }],
        };
      }
      return consumer.handler(event, context);
    });
    await increment(t, 'resumed', 25);

    poller.start();

    await eventually(async () => ((await versionsOf(t, 'resumed')).length === 25 ? true : undefined), 10_000);
    expect(await versionsOf(t, 'resumed')).toEqual(upTo(25));
    expect(failedOnce).toBe(true);
    // Batches of ten: the first fails at version 7, and the retry starts exactly there.
    expect(deliveries).toEqual(['1-10', '7-16', '17-25']);
  });

  it('retries a batch whose consumer crashed after writing part of it, writing nothing twice', async () => {
    let crashes = 0;
    const { table: t, poller } = await setUp(async (event, context) => {
      const result = await consumer.handler(event, context);
      if (crashes < 2) {
        crashes++;
        throw new Error('consumer crashed after its writes');
      }
      return result;
    });
    await increment(t, 'crashed', 15);

    poller.start();

    await eventually(async () => ((await versionsOf(t, 'crashed')).length === 15 ? true : undefined), 10_000);
    await eventually(async () => (crashes === 2 ? true : undefined));
    expect(await versionsOf(t, 'crashed')).toEqual(upTo(15));
  });

  it('sends a record that always fails to the dead-letter file after the retries, and the shard moves on', async () => {
    const {
      table: t,
      poller,
      deadLetterFile,
    } = await setUp(async (event, context) => {
      const poison = event.Records.findIndex((record) => record.dynamodb?.NewImage?.version?.N === '4');
      if (poison === -1) return consumer.handler(event, context);
      await consumer.handler({ Records: event.Records.slice(0, poison) }, context);
      return {
        batchItemFailures: [{ itemIdentifier: event.Records[poison]?.dynamodb?.SequenceNumber ?? '' }],
      };
    });
    await increment(t, 'poisoned', 12);

    poller.start();

    await eventually(
      async () => ((await versionsOf(t, 'poisoned')).length === 11 ? true : undefined),
      10_000,
    );
    expect(await versionsOf(t, 'poisoned')).toEqual(upTo(12).filter((version) => version !== 4));
    const letters = readFileSync(deadLetterFile, 'utf8')
      .trim()
      .split('\n')
      .map(
        (line) =>
          JSON.parse(line) as {
            requestContext: { condition: string };
            records: DynamoDBStreamEvent['Records'];
          },
      );
    expect(letters).toHaveLength(1);
    expect(letters[0]?.requestContext.condition).toBe('RetryAttemptsExhausted');
    // Bisection narrowed the failing batch down to the one bad record.
    expect(letters[0]?.records.map((record) => record.dynamodb?.NewImage?.version?.N)).toEqual(['4']);
  });
});
