import {
  DescribeStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type _Record as StreamRecord,
} from '@aws-sdk/client-dynamodb-streams';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type {
  APIGatewayProxyEventV2WithIAMAuthorizer,
  Context,
  DynamoDBBatchResponse,
  DynamoDBStreamEvent,
} from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  COUNTERS_TABLE,
  HISTORY_TABLE,
  IDEMPOTENCY_TABLE,
  ROLLUPS_TABLE,
} from '../../functions/counter/table.ts';
import { lambdaContext, toApiGatewayEvent } from '../../lib/local/api-event.ts';
import { toLambdaRecord } from '../../lib/local/stream-poller.ts';
import { ensureTable } from '../../lib/local/tables.ts';
import { useEngine } from '../support/local-engine.ts';

type HttpHandler = (
  event: APIGatewayProxyEventV2WithIAMAuthorizer,
  context: Context,
) => Promise<{ statusCode?: number }>;
type StreamHandler = (event: DynamoDBStreamEvent, context: Context) => Promise<DynamoDBBatchResponse>;

const region = 'us-east-1';
const admin = {
  accessKeyId: 'local',
  secretAccessKey: 'local',
  arn: 'arn:aws:iam::000000000000:user/test',
  allow: ['*'],
};

// The real consumer against the real stream of a local engine, with no poller in between: the test
// plays Lambda and delivers batches twice, as Lambda may.
describe('the history consumer', () => {
  const local = useEngine();
  let streamArn: string;
  let increment: HttpHandler;
  let consumer: StreamHandler;

  beforeAll(async () => {
    const db = local.raw;
    const counters = await ensureTable(db, 'replay-counters', COUNTERS_TABLE);
    await ensureTable(db, 'replay-history', HISTORY_TABLE);
    await ensureTable(db, 'replay-idempotency', IDEMPOTENCY_TABLE);
    await ensureTable(db, 'replay-rollups', ROLLUPS_TABLE);
    streamArn = counters.streamArn ?? '';
    Object.assign(process.env, {
      AWS_REGION: region,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      DYNAMODB_ENDPOINT: local.endpoint,
      COUNTERS_TABLE: 'replay-counters',
      HISTORY_TABLE: 'replay-history',
      IDEMPOTENCY_TABLE: 'replay-idempotency',
      ROLLUPS_TABLE: 'replay-rollups',
      POWERTOOLS_LOG_LEVEL: 'ERROR',
    });
    ({ handler: increment } = await import('../../functions/http/increment-counter.ts'));
    ({ handler: consumer } = await import('../../functions/stream/record-history.ts'));
  });

  const incrementCounter = async (name: string, by: number) => {
    const event = toApiGatewayEvent(
      {
        method: 'POST',
        rawPath: `/counters/${name}`,
        rawQueryString: '',
        headers: { host: 'local' },
        body: Buffer.from(JSON.stringify({ by })),
      },
      'POST /counters/{name}',
      { name },
      admin,
      '127.0.0.1',
    );
    const result = await increment(event, lambdaContext('increment-counter', event.requestContext.requestId));
    expect(result.statusCode).toBe(200);
  };

  const readStream = async (): Promise<StreamRecord[]> => {
    const { StreamDescription } = await local.streams.send(
      new DescribeStreamCommand({ StreamArn: streamArn }),
    );
    const records: StreamRecord[] = [];
    for (const shard of StreamDescription?.Shards ?? []) {
      let { ShardIterator: iterator } = await local.streams.send(
        new GetShardIteratorCommand({
          StreamArn: streamArn,
          ShardId: shard.ShardId,
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      );
      while (iterator !== undefined) {
        const page = await local.streams.send(new GetRecordsCommand({ ShardIterator: iterator }));
        records.push(...(page.Records ?? []));
        if ((page.Records ?? []).length === 0) break;
        iterator = page.NextShardIterator;
      }
    }
    return records;
  };

  const deliver = (records: StreamRecord[]) =>
    consumer(
      { Records: records.map((record) => toLambdaRecord(record, streamArn, region)) },
      lambdaContext('record-history', 'test'),
    );

  it('writes each change once when the same batch is delivered twice, and once more overlapping', async () => {
    for (let i = 1; i <= 30; i++) await incrementCounter('replayed', i);
    const records = await readStream();
    expect(records).toHaveLength(30);

    const first = await deliver(records);
    const second = await deliver(records);
    const overlapping = await deliver(records.slice(10, 20));

    expect(first.batchItemFailures).toEqual([]);
    expect(second.batchItemFailures).toEqual([]);
    expect(overlapping.batchItemFailures).toEqual([]);
    const key = `replayed#${String(records[0]?.dynamodb?.NewImage?.incarnation?.S)}`;
    const { Items = [] } = await local.documents.send(
      new QueryCommand({
        TableName: 'replay-history',
        KeyConditionExpression: '#counter = :key',
        ExpressionAttributeNames: { '#counter': 'counter' },
        ExpressionAttributeValues: { ':key': key },
      }),
    );
    expect(Items.map((item) => item.version)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    let value = 0;
    for (const item of Items) {
      value += Number(item.delta);
      expect(item.value).toBe(value);
    }
    expect(value).toBe((30 * 31) / 2);
  });
});
