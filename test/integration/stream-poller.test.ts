import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { COUNTERS_TABLE } from '../../functions/counter/table.ts';
import { StreamPoller } from '../../lib/local/stream-poller.ts';
import { ensureTable } from '../../lib/local/tables.ts';
import { HISTORY_STREAM } from '../../lib/stream-settings.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION, useEngine } from '../support/local-engine.ts';
import { eventually } from '../support/signed-client.ts';

// How lib/local/stream-poller.ts reads the stream (issue 13): on with the iterator each read returns,
// as Lambda's event source mapping does, not a description and a fresh iterator per batch.
describe('the local stream poller', () => {
  const local = useEngine();

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
