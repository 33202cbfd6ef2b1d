import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { emfLine } from '../../functions/platform/metrics.ts';
import { counterItem } from '../support/counter-items.ts';
import { type Handlers, invoke, loadHandlers } from '../support/http-handlers.ts';

const ddbMock = mockClient(DynamoDBDocumentClient);
let handlers: Handlers;
let printed: string[] = [];

/** The EMF documents the handlers printed: the metric names each carries. */
function publishedMetrics(): string[] {
  return printed.flatMap((line) => {
    try {
      const document: unknown = JSON.parse(line);
      const directives =
        typeof document === 'object' && document !== null && '_aws' in document
          ? JSON.stringify(document)
          : '';
      return [...directives.matchAll(/"Name":"(\w+)"/g)].flatMap((match) =>
        match[1] === undefined ? [] : [match[1]],
      );
    } catch {
      return [];
    }
  });
}

beforeAll(async () => {
  // This file, alone, publishes metrics, to check what they say.
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
  handlers = await loadHandlers();
});

afterAll(() => {
  vi.unstubAllEnvs();
});

afterEach(() => {
  ddbMock.reset();
  vi.restoreAllMocks();
  printed = [];
});

function capture(): void {
  const keep = (chunk: unknown) => {
    printed.push(
      ...String(chunk)
        .split('\n')
        .filter((line) => line.trim() !== ''),
    );
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(keep);
  vi.spyOn(console, 'log').mockImplementation(keep);
}

describe('business metrics', () => {
  it('counts an increment', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({ Attributes: counterItem({ value: 1 }) });
    capture();

    // Act
    const result = await invoke(handlers.increment, {
      routeKey: 'POST /counters/{name}',
      path: '/counters/a',
      pathParameters: { name: 'a' },
    });

    // Assess
    expect(result.statusCode).toBe(200);
    expect(publishedMetrics()).toEqual(['Increments']);
  });

  it('counts a set refused by If-Match as a conflict, not as a set', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(
      new ConditionalCheckFailedException({
        message: 'The conditional request failed',
        $metadata: {},
        Item: marshall(counterItem({ version: 3 })),
      }),
    );
    capture();

    // Act
    const result = await invoke(handlers.set, {
      routeKey: 'PUT /counters/{name}',
      path: '/counters/a',
      pathParameters: { name: 'a' },
      body: '{"value": 1}',
      headers: { 'if-match': '"9"' },
    });

    // Assess
    expect(result.statusCode).toBe(412);
    expect(publishedMetrics()).toEqual(['Conflicts']);
  });

  it('publishes nothing for a read', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({ Item: counterItem() });
    capture();

    // Act
    await invoke(handlers.get, {
      routeKey: 'GET /counters/{name}',
      path: '/counters/a',
      pathParameters: { name: 'a' },
    });

    // Assess
    expect(publishedMetrics()).toEqual([]);
  });
});

describe('emfLine', () => {
  it('writes the EMF document Powertools Metrics wrote: namespace, the service dimension, a count of 1 each', () => {
    // Act
    const line = emfLine(['Replays', 'Conflicts'], 1796008181246, 'counter-service');

    // Assess: byte for byte what Powertools Metrics 2 printed for the same metrics.
    expect(line).toBe(
      '{"_aws":{"Timestamp":1796008181246,"CloudWatchMetrics":[{"Namespace":"CounterService",' +
        '"Dimensions":[["service"]],"Metrics":[{"Name":"Replays","Unit":"Count"},{"Name":"Conflicts","Unit":"Count"}]}]},' +
        '"service":"counter-service","Replays":1,"Conflicts":1}',
    );
  });
});
