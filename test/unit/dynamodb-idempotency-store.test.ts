import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  ProvisionedThroughputExceededException,
  TransactionConflictException,
} from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DynamoIdempotencyStore } from '../../functions/counter/dynamodb-idempotency-store.ts';
import {
  CLAIM_LEASE_MS,
  IDEMPOTENCY_TTL_SECONDS,
  type PlannedChange,
  RequestInFlightError,
  type StoredAnswer,
} from '../../functions/counter/idempotency.ts';
import { cancelled, conditionFailed, expectEveryPlaceholderUsed } from '../support/dynamodb-answers.ts';

const TABLES = { counters: 'counters-table', idempotency: 'idempotency-table' };
const ddbMock = mockClient(DynamoDBDocumentClient);
const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));

const ID = 'a3f1c2d4e5';
const OWNER = 'owner-1';
const NOW_MS = 1_735_689_600_123;
const NOW_S = 1_735_689_600;
const ANSWER: StoredAnswer = {
  statusCode: 200,
  headers: { 'content-type': 'application/json', etag: '"4"' },
  body: '{"name":"a","value":9,"version":4}',
};

function store(): DynamoIdempotencyStore {
  return new DynamoIdempotencyStore(client, TABLES);
}

function input(name = 'a') {
  return {
    name,
    actor: 'arn:aws:iam::000000000000:user/tester',
    now: '2025-01-01T00:00:00.000Z',
    newIncarnation: 'inc-new',
  };
}

function onlyTransaction() {
  const calls = ddbMock.commandCalls(TransactWriteCommand);
  expect(calls).toHaveLength(1);
  expect(ddbMock.calls()).toHaveLength(1);
  const items = calls[0]?.args[0].input.TransactItems ?? [];
  expect(items).toHaveLength(2);
  const [counter, record] = items;
  if (counter === undefined || record === undefined) throw new Error('the transaction lacks an item');
  return { counter, record };
}

beforeEach(() => {
  ddbMock.reset();
});

afterEach(() => {
  ddbMock.reset();
});

describe('DynamoIdempotencyStore.claim', () => {
  it('puts an in-flight record unless a live one exists, returning the old one if it does', async () => {
    // Prepare
    ddbMock.on(PutCommand).resolves({});

    // Act
    const claim = await store().claim(ID, 'fp-1', OWNER, NOW_MS);

    // Assess
    expect(claim).toEqual({ kind: 'claimed' });
    const calls = ddbMock.commandCalls(PutCommand);
    expect(calls).toHaveLength(1);
    const put = calls[0]?.args[0].input;
    expect(put).toEqual({
      TableName: 'idempotency-table',
      Item: {
        id: ID,
        fingerprint: 'fp-1',
        status: 'in-flight',
        owner: OWNER,
        lease_expires_at: NOW_MS + CLAIM_LEASE_MS,
        expires_at: NOW_S + IDEMPOTENCY_TTL_SECONDS,
      },
      ConditionExpression:
        'attribute_not_exists(id) OR expires_at < :now_s OR (#status = :in_flight AND lease_expires_at < :now_ms)',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':now_s': NOW_S, ':now_ms': NOW_MS, ':in_flight': 'in-flight' },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
    if (put !== undefined) expectEveryPlaceholderUsed(put);
  });

  it('leases the claim for the time it was built with', async () => {
    // Prepare
    ddbMock.on(PutCommand).resolves({});

    // Act
    await new DynamoIdempotencyStore(client, TABLES, 2_000).claim(ID, 'fp-1', OWNER, NOW_MS);

    // Assess
    expect(ddbMock.commandCalls(PutCommand)[0]?.args[0].input.Item).toMatchObject({
      lease_expires_at: NOW_MS + 2_000,
    });
  });

  it('keeps the record at least 24 hours, and holds off duplicates for the lease only', () => {
    // Assess: CONTRACT.md section 4 promises replays for at least 24 hours
    expect(IDEMPOTENCY_TTL_SECONDS).toBeGreaterThanOrEqual(24 * 60 * 60);
    expect(CLAIM_LEASE_MS).toBeLessThan(IDEMPOTENCY_TTL_SECONDS * 1000);
  });

  it('returns a done record it found, with its answer, when the condition fails', async () => {
    // Prepare
    ddbMock.on(PutCommand).rejects(
      conditionFailed({
        id: ID,
        fingerprint: 'fp-1',
        status: 'done',
        owner: 'owner-0',
        lease_expires_at: NOW_MS - 1_000,
        expires_at: NOW_S + 3_600,
        answer: ANSWER,
      }),
    );

    // Act
    const claim = await store().claim(ID, 'fp-1', OWNER, NOW_MS);

    // Assess
    expect(claim).toEqual({
      kind: 'existing',
      record: {
        fingerprint: 'fp-1',
        status: 'done',
        owner: 'owner-0',
        leaseExpiresAt: NOW_MS - 1_000,
        answer: ANSWER,
      },
    });
  });

  it('returns an in-flight record it found, without an answer', async () => {
    // Prepare
    ddbMock.on(PutCommand).rejects(
      conditionFailed({
        id: ID,
        fingerprint: 'fp-2',
        status: 'in-flight',
        owner: 'owner-0',
        lease_expires_at: NOW_MS + 5_000,
        expires_at: NOW_S + 3_600,
      }),
    );

    // Act
    const claim = await store().claim(ID, 'fp-1', OWNER, NOW_MS);

    // Assess
    expect(claim).toEqual({
      kind: 'existing',
      record: {
        fingerprint: 'fp-2',
        status: 'in-flight',
        owner: 'owner-0',
        leaseExpiresAt: NOW_MS + 5_000,
        answer: undefined,
      },
    });
  });

  it('refuses a record it found that is not a record rather than trusting it', async () => {
    // Prepare
    ddbMock.on(PutCommand).rejects(conditionFailed({ id: ID, status: 'finished' }));

    // Act
    const claim = store().claim(ID, 'fp-1', OWNER, NOW_MS);

    // Assess
    await expect(claim).rejects.toThrow();
    await expect(claim).rejects.not.toBeInstanceOf(ConditionalCheckFailedException);
  });

  it.each([
    ['a failed condition without the old item', conditionFailed()],
    [
      'a throttled request',
      new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }),
    ],
  ])('passes on %s', async (_, error) => {
    // Prepare
    ddbMock.on(PutCommand).rejects(error);

    // Act
    const claim = store().claim(ID, 'fp-1', OWNER, NOW_MS);

    // Assess
    await expect(claim).rejects.toBe(error);
  });
});

describe('DynamoIdempotencyStore.commit', () => {
  it('writes an increment of an absent counter and the answer in one transaction, only if the counter is still absent and the claim ours', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});
    const change: PlannedChange = { kind: 'increment', input: { ...input(), by: 5 }, seen: undefined };

    // Act
    const result = await store().commit(ID, OWNER, change, ANSWER, NOW_MS);

    // Assess
    expect(result).toBe('committed');
    const { counter, record } = onlyTransaction();
    expect(counter.Update?.TableName).toBe('counters-table');
    expect(counter.Update?.Key).toEqual({ name: 'a' });
    expect(counter.Update?.UpdateExpression).toContain('ADD #value :by, #version :one');
    expect(counter.Update?.ConditionExpression).toBe('attribute_not_exists(#value)');
    expect(counter.Update?.ExpressionAttributeValues).toMatchObject({
      ':by': 5,
      ':incarnation': 'inc-new',
      ':now': '2025-01-01T00:00:00.000Z',
    });
    expect(counter.Update?.ExpressionAttributeValues).not.toHaveProperty(':seen');
    expect(record).toEqual({
      Update: {
        TableName: 'idempotency-table',
        Key: { id: ID },
        UpdateExpression: 'SET #status = :done, #answer = :answer, expires_at = :expires',
        ConditionExpression: '#owner = :owner AND #status = :in_flight',
        ExpressionAttributeNames: { '#status': 'status', '#answer': 'answer', '#owner': 'owner' },
        ExpressionAttributeValues: {
          ':done': 'done',
          ':answer': ANSWER,
          ':expires': NOW_S + IDEMPOTENCY_TTL_SECONDS,
          ':owner': OWNER,
          ':in_flight': 'in-flight',
        },
      },
    });
    if (counter.Update !== undefined) expectEveryPlaceholderUsed(counter.Update);
    if (record.Update !== undefined) expectEveryPlaceholderUsed(record.Update);
  });

  it('conditions an increment of an existing counter on the version it was planned from', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});
    const change: PlannedChange = {
      kind: 'increment',
      input: { ...input(), by: -2 },
      seen: { version: 3, incarnation: 'inc-1' },
    };

    // Act
    await store().commit(ID, OWNER, change, ANSWER, NOW_MS);

    // Assess
    const { counter } = onlyTransaction();
    expect(counter.Update?.UpdateExpression).toContain('ADD #value :by');
    expect(counter.Update?.ConditionExpression).toBe('#version = :seen AND #incarnation = :seen_incarnation');
    expect(counter.Update?.ExpressionAttributeValues).toMatchObject({
      ':seen': 3,
      ':seen_incarnation': 'inc-1',
      ':by': -2,
    });
    expect(counter.Update?.ExpressionAttributeNames).toMatchObject({
      '#version': 'version',
      '#value': 'value',
    });
    if (counter.Update !== undefined) expectEveryPlaceholderUsed(counter.Update);
  });

  it.each<[string, { version: number; incarnation: string } | undefined, string]>([
    ['an absent counter', undefined, 'attribute_not_exists(#value)'],
    [
      'an existing counter',
      { version: 7, incarnation: 'inc-1' },
      '#version = :seen AND #incarnation = :seen_incarnation',
    ],
  ])('writes a set of %s with SET #value = :value under the planned state', async (_, seen, condition) => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});
    const change: PlannedChange = { kind: 'set', input: { ...input(), value: 42 }, seen };

    // Act
    await store().commit(ID, OWNER, change, ANSWER, NOW_MS);

    // Assess
    const { counter, record } = onlyTransaction();
    expect(counter.Update?.UpdateExpression).toContain('SET #value = :value');
    expect(counter.Update?.UpdateExpression).not.toContain('ADD #value');
    expect(counter.Update?.ExpressionAttributeValues).toMatchObject({ ':value': 42 });
    expect(counter.Update?.ConditionExpression).toBe(condition);
    expect(record.Update?.ConditionExpression).toBe('#owner = :owner AND #status = :in_flight');
    if (counter.Update !== undefined) expectEveryPlaceholderUsed(counter.Update);
  });

  it('writes a delete conditioned on the version it was planned from, with the answer', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});
    const change: PlannedChange = { kind: 'delete', name: 'a', seen: { version: 4, incarnation: 'inc-1' } };
    const noContent: StoredAnswer = { statusCode: 204, headers: {}, body: '' };

    // Act
    const result = await store().commit(ID, OWNER, change, noContent, NOW_MS);

    // Assess
    expect(result).toBe('committed');
    const { counter, record } = onlyTransaction();
    expect(counter).toEqual({
      Delete: {
        TableName: 'counters-table',
        Key: { name: 'a' },
        ConditionExpression: '#version = :seen AND #incarnation = :seen_incarnation',
        ExpressionAttributeNames: { '#version': 'version', '#incarnation': 'incarnation' },
        ExpressionAttributeValues: { ':seen': 4, ':seen_incarnation': 'inc-1' },
      },
    });
    expect(record.Update?.ExpressionAttributeValues).toMatchObject({ ':answer': noContent, ':owner': OWNER });
    if (counter.Delete !== undefined) expectEveryPlaceholderUsed(counter.Delete);
  });

  it.each<[string, string[], 'stale' | 'lost']>([
    ['the counter moved', ['ConditionalCheckFailed', 'None'], 'stale'],
    ['the claim is no longer ours', ['None', 'ConditionalCheckFailed'], 'lost'],
    [
      'both the counter moved and the claim is gone',
      ['ConditionalCheckFailed', 'ConditionalCheckFailed'],
      'lost',
    ],
    ['another transaction held the counter', ['TransactionConflict', 'None'], 'stale'],
    ['another transaction held the record', ['None', 'TransactionConflict'], 'stale'],
  ])('answers %s as %s, from the cancellation reasons', async (_, codes, expected) => {
    // Prepare
    ddbMock.on(TransactWriteCommand).rejects(cancelled(...codes));
    const change: PlannedChange = {
      kind: 'increment',
      input: { ...input(), by: 1 },
      seen: { version: 2, incarnation: 'inc-1' },
    };

    // Act
    const result = await store().commit(ID, OWNER, change, ANSWER, NOW_MS);

    // Assess
    expect(result).toBe(expected);
  });

  it('answers a TransactionConflictException as stale', async () => {
    // Prepare
    ddbMock
      .on(TransactWriteCommand)
      .rejects(new TransactionConflictException({ message: 'conflict', $metadata: {} }));
    const change: PlannedChange = { kind: 'delete', name: 'a', seen: { version: 1, incarnation: 'inc-1' } };

    // Act
    const result = await store().commit(ID, OWNER, change, ANSWER, NOW_MS);

    // Assess
    expect(result).toBe('stale');
  });

  it.each([
    ['a cancellation for a throttled item', cancelled('ThrottlingError', 'None')],
    ['a cancellation without reasons', cancelled()],
    [
      'a throttled request',
      new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }),
    ],
    ['any other failure', new Error('socket hang up')],
  ])('passes on %s', async (_, error) => {
    // Prepare
    ddbMock.on(TransactWriteCommand).rejects(error);
    const change: PlannedChange = {
      kind: 'increment',
      input: { ...input(), by: 1 },
      seen: { version: 2, incarnation: 'inc-1' },
    };

    // Act
    const commit = store().commit(ID, OWNER, change, ANSWER, NOW_MS);

    // Assess
    await expect(commit).rejects.toBe(error);
  });
});

describe('DynamoIdempotencyStore.complete', () => {
  it('records the answer only while the claim is ours and in flight, renewing the TTL', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});
    const refusal: StoredAnswer = {
      statusCode: 404,
      headers: { 'content-type': 'application/problem+json' },
      body: '{"status":404}',
    };

    // Act
    await store().complete(ID, OWNER, refusal, NOW_MS);

    // Assess
    const calls = ddbMock.commandCalls(UpdateCommand);
    expect(calls).toHaveLength(1);
    expect(ddbMock.calls()).toHaveLength(1);
    const update = calls[0]?.args[0].input;
    expect(update).toEqual({
      TableName: 'idempotency-table',
      Key: { id: ID },
      UpdateExpression: 'SET #status = :done, #answer = :answer, expires_at = :expires',
      ConditionExpression: '#owner = :owner AND #status = :in_flight',
      ExpressionAttributeNames: { '#status': 'status', '#answer': 'answer', '#owner': 'owner' },
      ExpressionAttributeValues: {
        ':done': 'done',
        ':answer': refusal,
        ':expires': NOW_S + IDEMPOTENCY_TTL_SECONDS,
        ':owner': OWNER,
        ':in_flight': 'in-flight',
      },
    });
  });

  it('tells the caller to ask again when the claim was taken over, since the other attempt answers', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(conditionFailed());

    // Act
    const completing = store().complete(ID, OWNER, ANSWER, NOW_MS);

    // Assess
    await expect(completing).rejects.toBeInstanceOf(RequestInFlightError);
  });

  it('passes on any other failure', async () => {
    // Prepare
    const error = new Error('socket hang up');
    ddbMock.on(UpdateCommand).rejects(error);

    // Act
    const completing = store().complete(ID, OWNER, ANSWER, NOW_MS);

    // Assess
    await expect(completing).rejects.toBe(error);
  });
});

describe('DynamoIdempotencyStore.release', () => {
  it('deletes the record only while the claim is ours and in flight', async () => {
    // Prepare
    ddbMock.on(DeleteCommand).resolves({});

    // Act
    await store().release(ID, OWNER);

    // Assess
    const calls = ddbMock.commandCalls(DeleteCommand);
    expect(calls).toHaveLength(1);
    const request = calls[0]?.args[0].input;
    expect(request).toEqual({
      TableName: 'idempotency-table',
      Key: { id: ID },
      ConditionExpression: '#owner = :owner AND #status = :in_flight',
      ExpressionAttributeNames: { '#owner': 'owner', '#status': 'status' },
      ExpressionAttributeValues: { ':owner': OWNER, ':in_flight': 'in-flight' },
    });
    if (request !== undefined) expectEveryPlaceholderUsed(request);
  });

  it('leaves alone, without failing, a record that is done or someone else’s', async () => {
    // Prepare
    ddbMock.on(DeleteCommand).rejects(conditionFailed());

    // Act
    const releasing = store().release(ID, OWNER);

    // Assess
    await expect(releasing).resolves.toBeUndefined();
  });

  it('passes on any other failure', async () => {
    // Prepare
    const error = new Error('socket hang up');
    ddbMock.on(DeleteCommand).rejects(error);

    // Act
    const releasing = store().release(ID, OWNER);

    // Assess
    await expect(releasing).rejects.toBe(error);
  });
});
