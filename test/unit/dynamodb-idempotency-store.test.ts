import {
  ConditionalCheckFailedException,
  ProvisionedThroughputExceededException,
} from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { DynamoIdempotencyStore } from '../../functions/counter/dynamodb-idempotency-store.ts';
import { AttemptFencedError, RequestInFlightError } from '../../functions/counter/errors.ts';
import {
  CLAIM_LEASE_MS,
  IDEMPOTENCY_TTL_SECONDS,
  type StoredAnswer,
} from '../../functions/counter/idempotency.ts';
import { useDocumentClientMock } from '../support/document-client-mock.ts';
import { conditionFailed, expectEveryPlaceholderUsed } from '../support/dynamodb-answers.ts';

const TABLE = 'idempotency-table';
const { ddbMock, client } = useDocumentClientMock();

const ID = 'a3f1c2d4e5';
const OWNER = 'owner-1';
const NOW_MS = 1_735_689_600_123;
const NOW_S = 1_735_689_600;
const ANSWER: StoredAnswer = {
  statusCode: 200,
  headers: { 'content-type': 'application/json', etag: '"4"' },
  body: '{"name":"a","value":9,"version":4}',
};
const COUNTER = {
  name: 'a',
  value: 9,
  version: 4,
  created_at: '2025-01-01T00:00:00.000Z',
  updated_at: '2025-01-01T00:00:01.000Z',
  incarnation: 'inc-1',
  op: 'increment',
  actor: 'arn:aws:iam::000000000000:user/tester',
};

function store(): DynamoIdempotencyStore {
  return new DynamoIdempotencyStore(client, TABLE);
}

/** The only call of `command` made, with every placeholder it declares used. */
function onlyInput<T extends object>(calls: { args: [{ input: T }] }[]): T {
  expect(calls).toHaveLength(1);
  expect(ddbMock.calls()).toHaveLength(1);
  const input = calls[0]?.args[0].input;
  if (input === undefined) throw new Error('no call');
  expectEveryPlaceholderUsed(input);
  return input;
}

describe('DynamoIdempotencyStore.claim', () => {
  it('puts an in-flight record with the items its attempt may write, unless a live one exists', async () => {
    // Prepare
    ddbMock.on(PutCommand).resolves({});

    // Act
    const claim = await store().claim(
      { id: ID, fingerprint: 'fp-1', attempt: OWNER, targets: ['a', 'a#1'], minimal: false },
      NOW_MS,
    );

    // Assess
    expect(claim).toEqual({ kind: 'claimed' });
    expect(onlyInput(ddbMock.commandCalls(PutCommand))).toEqual({
      TableName: TABLE,
      Item: {
        id: ID,
        fingerprint: 'fp-1',
        status: 'in-flight',
        owner: OWNER,
        lease_expires_at: NOW_MS + CLAIM_LEASE_MS,
        targets: new Set(['a', 'a#1']),
        expires_at: NOW_S + IDEMPOTENCY_TTL_SECONDS,
      },
      // An abandoned claim is not taken over here: a retry recovers it (idempotency.ts).
      ConditionExpression: 'attribute_not_exists(id) OR expires_at < :now_s',
      ExpressionAttributeValues: { ':now_s': NOW_S },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  });

  it('leases the claim for the time it was built with', async () => {
    // Prepare
    ddbMock.on(PutCommand).resolves({});

    // Act
    await new DynamoIdempotencyStore(client, TABLE, 2_000).claim(
      { id: ID, fingerprint: 'fp-1', attempt: OWNER, targets: ['a'], minimal: false },
      NOW_MS,
    );

    // Assess
    expect(ddbMock.commandCalls(PutCommand)[0]?.args[0].input.Item).toMatchObject({
      lease_expires_at: NOW_MS + 2_000,
    });
  });

  it('keeps the record at least 24 hours, and holds off duplicates for the lease only', () => {
    // Assess: the API promises replays for at least 24 hours
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
        targets: new Set(['a']),
        expires_at: NOW_S + 3_600,
        answer: ANSWER,
      }),
    );

    // Act
    const claim = await store().claim(
      { id: ID, fingerprint: 'fp-1', attempt: OWNER, targets: ['a'], minimal: false },
      NOW_MS,
    );

    // Assess
    expect(claim).toEqual({
      kind: 'existing',
      record: {
        id: ID,
        fingerprint: 'fp-1',
        minimal: false,
        status: 'done',
        owner: 'owner-0',
        leaseExpiresAt: NOW_MS - 1_000,
        targets: ['a'],
        probed: [],
        counter: undefined,
        answer: ANSWER,
      },
    });
  });

  it('returns an applied record with the counter the stream consumer saw right after the write', async () => {
    // Prepare
    ddbMock.on(PutCommand).rejects(
      conditionFailed({
        id: ID,
        fingerprint: 'fp-2',
        status: 'applied',
        owner: 'owner-0',
        lease_expires_at: NOW_MS - 5_000,
        targets: new Set(['a']),
        probed: new Set(['a']),
        counter: COUNTER,
        expires_at: NOW_S + 3_600,
      }),
    );

    // Act
    const claim = await store().claim(
      { id: ID, fingerprint: 'fp-2', attempt: OWNER, targets: ['a'], minimal: false },
      NOW_MS,
    );

    // Assess
    expect(claim).toMatchObject({
      kind: 'existing',
      record: { status: 'applied', owner: 'owner-0', targets: ['a'], probed: ['a'], counter: COUNTER },
    });
  });

  it('refuses a record it found that is not a record rather than trusting it', async () => {
    // Prepare
    ddbMock.on(PutCommand).rejects(conditionFailed({ id: ID, status: 'finished' }));

    // Act
    const claim = store().claim(
      { id: ID, fingerprint: 'fp-1', attempt: OWNER, targets: ['a'], minimal: false },
      NOW_MS,
    );

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
    const claim = store().claim(
      { id: ID, fingerprint: 'fp-1', attempt: OWNER, targets: ['a'], minimal: false },
      NOW_MS,
    );

    // Assess
    await expect(claim).rejects.toBe(error);
  });
});

describe('DynamoIdempotencyStore.reach', () => {
  it('adds items to the targets only while the attempt holds the record in flight', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});

    // Act
    await store().reach(ID, OWNER, ['a#3']);

    // Assess
    expect(onlyInput(ddbMock.commandCalls(UpdateCommand))).toEqual({
      TableName: TABLE,
      Key: { id: ID },
      UpdateExpression: 'ADD #targets :items',
      ConditionExpression: '#owner = :owner AND #status = :in_flight',
      ExpressionAttributeNames: { '#owner': 'owner', '#status': 'status', '#targets': 'targets' },
      ExpressionAttributeValues: { ':items': new Set(['a#3']), ':owner': OWNER, ':in_flight': 'in-flight' },
    });
  });

  it('tells the attempt it was fenced off when a retry took the record over', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(conditionFailed());

    // Act
    const reaching = store().reach(ID, OWNER, ['a#3']);

    // Assess
    await expect(reaching).rejects.toBeInstanceOf(AttemptFencedError);
  });
});

describe('DynamoIdempotencyStore.complete', () => {
  it('records the answer of the record the owner holds, in flight or applied, renewing the TTL', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});
    const refusal: StoredAnswer = {
      statusCode: 404,
      headers: { 'content-type': 'application/problem+json' },
      body: '{"status":404}',
    };

    // Act
    const standing = await store().complete(ID, OWNER, refusal, NOW_MS);

    // Assess
    expect(standing).toEqual(refusal);
    expect(onlyInput(ddbMock.commandCalls(UpdateCommand))).toEqual({
      TableName: TABLE,
      Key: { id: ID },
      UpdateExpression: 'SET #status = :done, #answer = :answer, expires_at = :expires REMOVE #counter',
      ConditionExpression: '#owner = :owner AND #status IN (:in_flight, :applied)',
      ExpressionAttributeNames: {
        '#owner': 'owner',
        '#status': 'status',
        '#answer': 'answer',
        '#counter': 'counter',
      },
      ExpressionAttributeValues: {
        ':done': 'done',
        ':answer': refusal,
        ':expires': NOW_S + IDEMPOTENCY_TTL_SECONDS,
        ':owner': OWNER,
        ':in_flight': 'in-flight',
        ':applied': 'applied',
      },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  });

  it('returns the answer that was stored first (by the change itself, or another attempt)', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(
      conditionFailed({
        id: ID,
        fingerprint: 'fp-1',
        status: 'done',
        owner: OWNER,
        lease_expires_at: NOW_MS,
        answer: ANSWER,
      }),
    );

    // Act
    const standing = await store().complete(ID, OWNER, { ...ANSWER, body: '{}' }, NOW_MS);

    // Assess
    expect(standing).toEqual(ANSWER);
  });

  it('tells the caller to ask again when another attempt holds the record', async () => {
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

describe('DynamoIdempotencyStore.release and abandon', () => {
  it('deletes the record only while the claim is ours and in flight', async () => {
    // Prepare
    ddbMock.on(DeleteCommand).resolves({});

    // Act
    await store().release(ID, OWNER);

    // Assess
    expect(onlyInput(ddbMock.commandCalls(DeleteCommand))).toEqual({
      TableName: TABLE,
      Key: { id: ID },
      ConditionExpression: '#owner = :owner AND #status = :in_flight',
      ExpressionAttributeNames: { '#owner': 'owner', '#status': 'status' },
      ExpressionAttributeValues: { ':owner': OWNER, ':in_flight': 'in-flight' },
    });
  });

  it('ends the lease at once, only while the claim is ours and in flight, so a retry recovers now', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});

    // Act
    await store().abandon(ID, OWNER);

    // Assess
    expect(onlyInput(ddbMock.commandCalls(UpdateCommand))).toEqual({
      TableName: TABLE,
      Key: { id: ID },
      UpdateExpression: 'SET lease_expires_at = :over',
      ConditionExpression: '#owner = :owner AND #status = :in_flight',
      ExpressionAttributeNames: { '#owner': 'owner', '#status': 'status' },
      ExpressionAttributeValues: { ':over': 0, ':owner': OWNER, ':in_flight': 'in-flight' },
    });
  });

  it('leaves alone, without failing, a record that is done or someone else’s', async () => {
    // Prepare
    ddbMock.on(DeleteCommand).rejects(conditionFailed());
    ddbMock.on(UpdateCommand).rejects(conditionFailed());

    // Act
    const releasing = store().release(ID, OWNER);
    const abandoning = store().abandon(ID, OWNER);

    // Assess
    await expect(releasing).resolves.toBeUndefined();
    await expect(abandoning).resolves.toBeUndefined();
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

describe('DynamoIdempotencyStore.read and takeOver', () => {
  it('reads the record consistently', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({
      Item: {
        id: ID,
        fingerprint: 'fp-1',
        status: 'in-flight',
        owner: OWNER,
        lease_expires_at: NOW_MS,
        targets: new Set(['a']),
        probed: new Set(['a']),
      },
    });

    // Act
    const record = await store().read(ID);

    // Assess
    expect(ddbMock.commandCalls(GetCommand)[0]?.args[0].input).toEqual({
      TableName: TABLE,
      Key: { id: ID },
      ConsistentRead: true,
    });
    expect(record).toMatchObject({ status: 'in-flight', owner: OWNER, targets: ['a'], probed: ['a'] });
  });

  it('answers undefined for a record that is gone', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({});

    // Act
    const record = await store().read(ID);

    // Assess
    expect(record).toBeUndefined();
  });

  it('hands the record over only if the fenced attempt still holds it with the targets that were probed', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});

    // Act
    const taken = await store().takeOver(
      ID,
      { attempt: 'gone', targets: 2 },
      { attempt: OWNER, targets: ['a'] },
      NOW_MS,
    );

    // Assess
    expect(taken).toBe(true);
    expect(onlyInput(ddbMock.commandCalls(UpdateCommand))).toEqual({
      TableName: TABLE,
      Key: { id: ID },
      UpdateExpression: 'SET #owner = :to, lease_expires_at = :lease, #targets = :targets REMOVE #probed',
      ConditionExpression: '#owner = :owner AND #status = :in_flight AND size(#targets) = :count',
      ExpressionAttributeNames: {
        '#owner': 'owner',
        '#status': 'status',
        '#targets': 'targets',
        '#probed': 'probed',
      },
      ExpressionAttributeValues: {
        ':to': OWNER,
        ':lease': NOW_MS + CLAIM_LEASE_MS,
        ':targets': new Set(['a']),
        ':owner': 'gone',
        ':in_flight': 'in-flight',
        ':count': 2,
      },
    });
  });

  it('answers false when the record changed hands or reached further meanwhile', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(conditionFailed());

    // Act
    const taken = await store().takeOver(
      ID,
      { attempt: 'gone', targets: 1 },
      { attempt: OWNER, targets: ['a'] },
      NOW_MS,
    );

    // Assess
    expect(taken).toBe(false);
  });
});

describe('DynamoIdempotencyStore as the stream consumer’s witness store', () => {
  it('keeps a request for no body (Prefer: return=minimal) in its claim, so replays answer so too', async () => {
    // Prepare
    ddbMock.on(PutCommand).resolves({});

    // Act
    await store().claim(
      { id: ID, fingerprint: 'fp-1', attempt: OWNER, targets: ['a'], minimal: true },
      NOW_MS,
    );

    // Assess
    expect(ddbMock.commandCalls(PutCommand)[0]?.args[0].input.Item).toMatchObject({ minimal: true });
  });

  it('marks a record applied, with the counter after the write, only while the attempt holds it in flight', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});

    // Act
    await store().witnessed(ID, OWNER, COUNTER);

    // Assess
    expect(onlyInput(ddbMock.commandCalls(UpdateCommand))).toEqual({
      TableName: TABLE,
      Key: { id: ID },
      UpdateExpression: 'SET #status = :applied, #counter = :counter',
      ConditionExpression: '#owner = :owner AND #status = :in_flight',
      ExpressionAttributeNames: { '#owner': 'owner', '#status': 'status', '#counter': 'counter' },
      ExpressionAttributeValues: {
        ':applied': 'applied',
        ':owner': OWNER,
        ':in_flight': 'in-flight',
        ':counter': COUNTER,
      },
    });
  });

  it('records a passed probe of an item only while the fenced attempt holds the record in flight', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});

    // Act
    await store().probed(ID, 'gone', 'a#2');

    // Assess
    expect(onlyInput(ddbMock.commandCalls(UpdateCommand))).toEqual({
      TableName: TABLE,
      Key: { id: ID },
      UpdateExpression: 'ADD #probed :item',
      ConditionExpression: '#owner = :owner AND #status = :in_flight',
      ExpressionAttributeNames: { '#owner': 'owner', '#status': 'status', '#probed': 'probed' },
      ExpressionAttributeValues: { ':item': new Set(['a#2']), ':owner': 'gone', ':in_flight': 'in-flight' },
    });
  });

  it('does nothing, without failing, for a record that is done or held by another attempt', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(conditionFailed());

    // Act
    const witnessing = store().witnessed(ID, OWNER, undefined);
    const probing = store().probed(ID, OWNER, 'a');

    // Assess
    await expect(witnessing).resolves.toBeUndefined();
    await expect(probing).resolves.toBeUndefined();
  });
});
