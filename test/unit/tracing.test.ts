import { createSocket } from 'node:dgram';
import { Readable } from 'node:stream';
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DynamoDBDocumentClient,
  GetCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { ConfiguredRetryStrategy } from '@smithy/core/retry';
import { type HttpRequest, HttpResponse } from '@smithy/protocol-http';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type DynamoDbSubsegment,
  daemonAddress,
  sampledTrace,
  traceDynamoDbCalls,
  udpSender,
} from '../../functions/platform/tracing.ts';
import { TRACING_VARIABLE } from '../../functions/platform/tracing-switch.ts';

const TRACE_ID = '1-5759e988-bd862e3fe1be46a994272793';
const PARENT_ID = '53995c3f42cd8ad8';
const SAMPLED = `Root=${TRACE_ID};Parent=${PARENT_ID};Sampled=1;Lineage=a87bd80c:0`;
const TRACED = { [TRACING_VARIABLE]: 'Active' };

/** One canned DynamoDB answer (JSON 1.0 protocol), or a failure with no answer at all. */
type Answer = { status: number; body: object; requestId?: string } | { noAnswer: Error };

/** A DynamoDB client whose requests are answered from the list, in order, without a network. */
function fakeDynamoDb(answers: Answer[], maxAttempts = 1) {
  const requests: string[] = [];
  const client = new DynamoDBClient({
    region: 'eu-west-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    // Retries without waiting, so a throttled call takes no time in the test.
    retryStrategy: new ConfiguredRetryStrategy(maxAttempts, () => 0),
    requestHandler: {
      handle: async (request: HttpRequest) => {
        requests.push(String(request.headers['x-amz-target']));
        const answer = answers.shift();
        if (answer === undefined) throw new Error('the test gave no answer for this request');
        if ('noAnswer' in answer) throw answer.noAnswer;
        return {
          response: new HttpResponse({
            statusCode: answer.status,
            headers: {
              'content-type': 'application/x-amz-json-1.0',
              ...(answer.requestId === undefined ? {} : { 'x-amzn-requestid': answer.requestId }),
            },
            body: Readable.from([Buffer.from(JSON.stringify(answer.body))]),
          }),
        };
      },
    },
  });
  return { client, requests };
}

function dynamoError(type: string, message: string): object {
  return { __type: `com.amazonaws.dynamodb.v20120810#${type}`, message };
}

/** A traced document client over `answers`, and the datagrams it sent, parsed. */
function tracedClient(answers: Answer[], options: { maxAttempts?: number; environment?: object } = {}) {
  const { client, requests } = fakeDynamoDb(answers, options.maxAttempts);
  const datagrams: string[] = [];
  traceDynamoDbCalls(client, { ...TRACED, ...options.environment }, async (datagram) => {
    datagrams.push(datagram.toString('utf8'));
  });
  const subsegments = (): DynamoDbSubsegment[] =>
    datagrams.map((datagram) => {
      const [header, document, ...rest] = datagram.split('\n');
      expect(header).toBe('{"format":"json","version":1}');
      expect(rest).toEqual([]);
      return JSON.parse(document ?? '');
    });
  return { documents: DynamoDBDocumentClient.from(client), requests, subsegments };
}

const update = new UpdateCommand({
  TableName: 'counters',
  Key: { pk: 'c#a' },
  UpdateExpression: 'ADD #v :one',
  ExpressionAttributeNames: { '#v': 'value' },
  ExpressionAttributeValues: { ':one': 1 },
});

beforeEach(() => {
  vi.stubEnv('_X_AMZN_TRACE_ID', SAMPLED);
});

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('traceDynamoDbCalls on a traced function', () => {
  it('records a sampled call as one DynamoDB subsegment of the invocation, in X-Ray’s aws namespace', async () => {
    const { documents, subsegments } = tracedClient([
      { status: 200, body: { Attributes: { value: { N: '1' } } }, requestId: 'REQ-1' },
    ]);
    const before = Date.now() / 1000;

    await documents.send(update);

    const after = Date.now() / 1000;
    expect(subsegments()).toEqual([
      {
        name: 'DynamoDB',
        id: expect.stringMatching(/^[0-9a-f]{16}$/),
        trace_id: TRACE_ID,
        parent_id: PARENT_ID,
        type: 'subsegment',
        namespace: 'aws',
        start_time: expect.any(Number),
        end_time: expect.any(Number),
        aws: {
          operation: 'UpdateItem',
          region: 'eu-west-1',
          request_id: 'REQ-1',
          retries: 0,
          table_name: 'counters',
        },
        http: { response: { status: 200 } },
      },
    ]);
    const [subsegment] = subsegments();
    expect(subsegment?.start_time).toBeGreaterThanOrEqual(before);
    expect(subsegment?.end_time).toBeGreaterThanOrEqual(subsegment?.start_time ?? Number.NaN);
    expect(subsegment?.end_time).toBeLessThanOrEqual(after);
  });

  it('gives every call a subsegment of its own', async () => {
    const { documents, subsegments } = tracedClient([
      { status: 200, body: {}, requestId: 'REQ-1' },
      { status: 200, body: {}, requestId: 'REQ-2' },
    ]);

    await documents.send(new GetCommand({ TableName: 'counters', Key: { pk: 'c#a' } }));
    await documents.send(update);

    const recorded = subsegments();
    expect(recorded.map((s) => [s.aws.operation, s.aws.request_id])).toEqual([
      ['GetItem', 'REQ-1'],
      ['UpdateItem', 'REQ-2'],
    ]);
    expect(recorded[0]?.id).not.toBe(recorded[1]?.id);
  });

  it('names every table of a transaction, and of a batch', async () => {
    const { documents, subsegments } = tracedClient([
      { status: 200, body: {} },
      { status: 200, body: { Responses: {} } },
    ]);

    await documents.send(
      new TransactWriteCommand({
        TransactItems: [
          { Update: { ...update.input, TableName: 'counters', UpdateExpression: 'ADD #v :one' } },
          { Put: { TableName: 'idempotency', Item: { pk: 'k' } } },
          {
            ConditionCheck: {
              TableName: 'counters',
              Key: { pk: 'c#b' },
              ConditionExpression: 'attribute_exists(pk)',
            },
          },
        ],
      }),
    );
    await documents.send(
      new BatchGetCommand({
        RequestItems: { history: { Keys: [{ pk: 'h' }] }, counters: { Keys: [{ pk: 'c' }] } },
      }),
    );

    expect(subsegments().map((s) => [s.aws.operation, s.aws.table_names, s.aws.table_name])).toEqual([
      ['TransactWriteItems', ['counters', 'idempotency'], undefined],
      ['BatchGetItem', ['counters', 'history'], undefined],
    ]);
  });

  it('flags a refused condition as a client error, not a fault, and passes the same error on', async () => {
    const { documents, subsegments } = tracedClient([
      {
        status: 400,
        body: dynamoError('ConditionalCheckFailedException', 'The conditional request failed'),
        requestId: 'REQ-7',
      },
    ]);

    const failure = await documents.send(update).catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(ConditionalCheckFailedException);
    const [subsegment] = subsegments();
    expect(subsegment).toMatchObject({
      aws: { operation: 'UpdateItem', request_id: 'REQ-7', retries: 0 },
      http: { response: { status: 400 } },
      error: true,
      cause: {
        exceptions: [
          {
            id: expect.stringMatching(/^[0-9a-f]{16}$/),
            type: 'ConditionalCheckFailedException',
            message: 'The conditional request failed',
            remote: true,
          },
        ],
      },
    });
    expect(subsegment?.fault).toBeUndefined();
    expect(subsegment?.throttle).toBeUndefined();
  });

  it('records a call throttled and then retried as one subsegment that counts its retries', async () => {
    const throttled: Answer = {
      status: 400,
      body: dynamoError('ProvisionedThroughputExceededException', 'Rate exceeded'),
    };
    const { documents, requests, subsegments } = tracedClient(
      [throttled, throttled, { status: 200, body: {}, requestId: 'REQ-3' }],
      { maxAttempts: 3 },
    );

    await documents.send(update);

    expect(requests).toHaveLength(3);
    expect(subsegments()).toHaveLength(1);
    expect(subsegments()[0]).toMatchObject({
      aws: { retries: 2, request_id: 'REQ-3' },
      http: { response: { status: 200 } },
    });
    expect(subsegments()[0]?.throttle).toBeUndefined();
    expect(subsegments()[0]?.error).toBeUndefined();
  });

  it('flags a call that stayed throttled as throttled and a client error', async () => {
    const throttled: Answer = { status: 400, body: dynamoError('ThrottlingException', 'Slow down') };
    const { documents, subsegments } = tracedClient([throttled, throttled], { maxAttempts: 2 });

    await expect(documents.send(update)).rejects.toThrow('Slow down');

    expect(subsegments()).toHaveLength(1);
    expect(subsegments()[0]).toMatchObject({
      aws: { retries: 1 },
      http: { response: { status: 400 } },
      throttle: true,
      error: true,
    });
    expect(subsegments()[0]?.fault).toBeUndefined();
  });

  it('flags a DynamoDB server error as a fault', async () => {
    const { documents, subsegments } = tracedClient([
      { status: 500, body: dynamoError('InternalServerError', 'Internal server error') },
    ]);

    await expect(documents.send(update)).rejects.toThrow('Internal server error');

    expect(subsegments()[0]).toMatchObject({ http: { response: { status: 500 } }, fault: true });
    expect(subsegments()[0]?.error).toBeUndefined();
  });

  it('flags a call that got no answer (a reset connection) as a fault, without a status', async () => {
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    const { documents, subsegments } = tracedClient([{ noAnswer: reset }]);

    await expect(documents.send(update)).rejects.toThrow('socket hang up');

    const [subsegment] = subsegments();
    expect(subsegment).toMatchObject({
      aws: { operation: 'UpdateItem', table_name: 'counters' },
      fault: true,
      cause: { exceptions: [{ type: 'Error', message: 'socket hang up', remote: true }] },
    });
    expect(subsegment?.http).toBeUndefined();
    expect(subsegment?.aws.request_id).toBeUndefined();
  });

  it.each([
    ['not sampled', `Root=${TRACE_ID};Parent=${PARENT_ID};Sampled=0`],
    ['without a parent', `Root=${TRACE_ID};Sampled=1`],
    ['with a malformed trace id', `Root=1-xyz;Parent=${PARENT_ID};Sampled=1`],
    ['empty', ''],
  ])(
    'sends nothing for an invocation whose trace header is %s, and the call still succeeds',
    async (_, header) => {
      vi.stubEnv('_X_AMZN_TRACE_ID', header);
      const { documents, subsegments } = tracedClient([
        { status: 200, body: { Item: { pk: { S: 'c#a' } } } },
      ]);

      const result = await documents.send(new GetCommand({ TableName: 'counters', Key: { pk: 'c#a' } }));

      expect(result.Item).toEqual({ pk: 'c#a' });
      expect(subsegments()).toEqual([]);
    },
  );

  it('never fails a call because its subsegment could not be sent', async () => {
    const { client } = fakeDynamoDb([{ status: 200, body: { Attributes: { value: { N: '5' } } } }]);
    traceDynamoDbCalls(client, TRACED, () => Promise.reject(new Error('daemon unreachable')));

    const result = await DynamoDBDocumentClient.from(client).send(update);

    expect(result.Attributes).toEqual({ value: 5 });
  });
});

describe('traceDynamoDbCalls on an untraced function', () => {
  it('adds nothing to the client, so a sampled invocation sends nothing', async () => {
    const { client } = fakeDynamoDb([{ status: 200, body: {} }]);
    const sent: Buffer[] = [];

    traceDynamoDbCalls(client, {}, async (datagram) => {
      sent.push(datagram);
    });
    await DynamoDBDocumentClient.from(client).send(update);

    expect(client.middlewareStack.identify().some((entry) => entry.includes('counterXRaySubsegment'))).toBe(
      false,
    );
    expect(sent).toEqual([]);
  });
});

describe('sampledTrace', () => {
  it('reads the root and parent of a sampled header, whatever the order and extra fields', () => {
    expect(sampledTrace(`Sampled=1;Parent=${PARENT_ID};Root=${TRACE_ID};Self=1-abc`)).toEqual({
      traceId: TRACE_ID,
      parentId: PARENT_ID,
    });
  });

  it.each([
    undefined,
    '',
    'garbage',
    `Root=${TRACE_ID};Parent=${PARENT_ID}`,
    `Root=${TRACE_ID};Parent=xyz;Sampled=1`,
  ])('finds no sampled trace in %j', (header) => {
    expect(sampledTrace(header)).toBeUndefined();
  });
});

describe('daemonAddress', () => {
  it.each([
    ['169.254.79.129:2000', { host: '169.254.79.129', port: 2000 }],
    ['udp:10.0.0.1:2001 tcp:10.0.0.1:2002', { host: '10.0.0.1', port: 2001 }],
    ['tcp:10.0.0.1:2002 udp:10.0.0.2:2001', { host: '10.0.0.2', port: 2001 }],
    [undefined, { host: '127.0.0.1', port: 2000 }],
    ['no-port', { host: '127.0.0.1', port: 2000 }],
    ['host:99999', { host: '127.0.0.1', port: 2000 }],
  ])('reads %j as %j (X-Ray’s default when it cannot)', (value, expected) => {
    expect(daemonAddress(value)).toEqual(expected);
  });
});

describe('udpSender', () => {
  it('delivers the subsegment to the daemon’s UDP port as one datagram: the protocol header, then the document', async () => {
    const daemon = createSocket('udp4');
    const received = new Promise<Buffer>((resolve) => daemon.once('message', resolve));
    await new Promise<void>((resolve) => daemon.bind(0, '127.0.0.1', resolve));
    const { port } = daemon.address();
    try {
      const { client } = fakeDynamoDb([{ status: 200, body: {}, requestId: 'REQ-U' }]);
      traceDynamoDbCalls(client, { ...TRACED, AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${port}` });

      await DynamoDBDocumentClient.from(client).send(update);

      const [header, document] = (await received).toString('utf8').split('\n');
      expect(header).toBe('{"format":"json","version":1}');
      expect(JSON.parse(document ?? '')).toMatchObject({
        name: 'DynamoDB',
        trace_id: TRACE_ID,
        parent_id: PARENT_ID,
        aws: { request_id: 'REQ-U' },
      });
    } finally {
      daemon.close();
    }
  });

  it('sends every subsegment of an execution environment from one socket', async () => {
    const daemon = createSocket('udp4');
    const senders: number[] = [];
    const both = new Promise<void>((resolve) =>
      daemon.on('message', (_, from) => {
        senders.push(from.port);
        if (senders.length === 2) resolve();
      }),
    );
    await new Promise<void>((resolve) => daemon.bind(0, '127.0.0.1', resolve));
    try {
      const send = udpSender({ host: '127.0.0.1', port: daemon.address().port });

      await send(Buffer.from('first'));
      await send(Buffer.from('second'));
      await both;

      expect(senders[0]).toBe(senders[1]);
    } finally {
      daemon.close();
    }
  });

  it('resolves even when the datagram cannot be sent', async () => {
    await expect(udpSender({ host: '127.0.0.1', port: 9 })(Buffer.alloc(70_000))).resolves.toBeUndefined();
  });
});
