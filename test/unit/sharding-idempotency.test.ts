import { DynamoDBClient, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DynamoIdempotencyStore } from '../../functions/counter/dynamodb-idempotency-store.ts';
import {
  CounterOutOfRangeError,
  ShardLayoutError,
  VersionMismatchError,
} from '../../functions/counter/errors.ts';
import {
  type ChangeCommand,
  changeIdempotently,
  IDEMPOTENCY_TTL_SECONDS,
  type IdempotentDeps,
  idempotencyId,
  type PlannedChange,
  planChange,
  RequestInFlightError,
  type StoredAnswer,
} from '../../functions/counter/idempotency.ts';
import { type StoredCounter, toCounter } from '../../functions/counter/schema.ts';
import { cancelled, conditionFailed, expectEveryPlaceholderUsed } from '../support/dynamodb-answers.ts';
import { InMemoryIdempotencyStore } from '../support/in-memory-idempotency-store.ts';
import { InMemoryCounterRepository } from '../support/in-memory-repository.ts';
import { renderOutcome } from '../support/render-outcome.ts';

const ACTOR = 'arn:aws:iam::000000000000:user/tester';
const OTHER_ACTOR = 'arn:aws:iam::000000000000:user/someone-else';
const KEY = 'retry-hot-1';
const ID = idempotencyId(ACTOR, KEY);
const T0 = Date.UTC(2025, 0, 1);
const NOW = '2025-03-01T12:00:00.000Z';
/** What each of a 4-shard counter's items may hold either way: floor(MAX / 4). */
const BOUND4 = 2_251_799_813_685_247;

/** Keyed changes' outcomes, rendered as the HTTP adapter would. */
const render = renderOutcome;

function increment(by: number, expectedVersion?: number): ChangeCommand {
  return { op: 'increment', name: 'visits', by, actor: ACTOR, expectedVersion };
}

function set(value: number, shards?: number): ChangeCommand {
  return { op: 'set', name: 'visits', value, shards, actor: ACTOR };
}

/** "visits" spread over 4 shards, as DynamoCounterRepository.get reads it: 17 at version 9. */
function sharded(overrides: Partial<StoredCounter> = {}): StoredCounter {
  return {
    name: 'visits',
    value: 17,
    version: 9,
    created_at: '2024-06-01T00:00:00.000Z',
    updated_at: '2024-06-02T00:00:00.000Z',
    incarnation: 'inc-hot',
    op: 'increment',
    actor: OTHER_ACTOR,
    shards: 4,
    shardVersions: [3, 2, 0, 4],
    ...overrides,
  };
}

describe('planChange of a sharded counter', () => {
  it('refuses a set with ShardLayoutError naming the shards', () => {
    // Act
    const plan = planChange(set(100), sharded(), NOW, 'inc-new');

    // Assess
    expect(plan.kind).toBe('refused');
    expect(plan.kind === 'refused' && plan.error).toEqual(ShardLayoutError.setOfSharded('visits', 4));
    expect(plan.kind === 'refused' && plan.error.message).toMatch(
      /^Counter "visits" is spread over 4 shards/,
    );
  });

  it('refuses a set with shards of a sharded counter as a set of it', () => {
    // Act
    const plan = planChange(set(1, 8), sharded(), NOW, 'inc-new');

    // Assess
    expect(plan.kind === 'refused' && plan.error).toEqual(ShardLayoutError.setOfSharded('visits', 4));
  });

  it('refuses shards for a plain counter that exists with ShardLayoutError', () => {
    // Act
    const plan = planChange(
      set(1, 8),
      sharded({ shards: undefined, shardVersions: undefined }),
      NOW,
      'inc-new',
    );

    // Assess
    expect(plan.kind === 'refused' && plan.error).toEqual(ShardLayoutError.exists('visits', undefined));
    expect(plan.kind === 'refused' && plan.error.message).toMatch(/^Counter "visits" already exists; shards/);
  });

  it('plans an increment without If-Match from the incarnation and shard versions seen, its answer read after the commit', () => {
    // Act
    const plan = planChange(increment(5), sharded(), NOW, 'inc-new');

    // Assess
    expect(plan).toEqual({
      kind: 'change',
      change: {
        kind: 'increment',
        input: { name: 'visits', actor: ACTOR, now: NOW, newIncarnation: 'inc-new', by: 5 },
        seen: { version: 9, incarnation: 'inc-hot', shardVersions: [3, 2, 0, 4] },
      },
      outcome: 'read-after-commit',
    });
  });

  it('plans an increment with If-Match as an exact counter: the total plus by, at the next version', () => {
    // Act
    const plan = planChange(increment(5, 9), sharded(), NOW, 'inc-new');

    // Assess
    expect(plan).toEqual({
      kind: 'change',
      change: {
        kind: 'increment',
        input: {
          name: 'visits',
          actor: ACTOR,
          now: NOW,
          newIncarnation: 'inc-new',
          expectedVersion: 9,
          by: 5,
        },
        seen: { version: 9, incarnation: 'inc-hot', shardVersions: [3, 2, 0, 4] },
      },
      outcome: {
        kind: 'counter',
        counter: {
          name: 'visits',
          value: 22,
          version: 10,
          created_at: '2024-06-01T00:00:00.000Z',
          updated_at: NOW,
          shards: 4,
        },
      },
    });
  });

  it('refuses an If-Match for another total version with VersionMismatchError', () => {
    // Act
    const plan = planChange(increment(5, 3), sharded(), NOW, 'inc-new');

    // Assess
    expect(plan.kind === 'refused' && plan.error).toEqual(new VersionMismatchError('visits', 3, 9));
  });

  it('plans a delete from the shard versions seen', () => {
    // Act
    const plan = planChange({ op: 'delete', name: 'visits', actor: ACTOR }, sharded(), NOW, 'inc-new');

    // Assess
    expect(plan).toEqual({
      kind: 'change',
      change: {
        kind: 'delete',
        name: 'visits',
        seen: { version: 9, incarnation: 'inc-hot', shardVersions: [3, 2, 0, 4] },
      },
      outcome: { kind: 'deleted' },
    });
  });

  it('plans the creation of a sharded counter at version 1 with its shards, from no version', () => {
    // Act
    const plan = planChange(set(7, 3), undefined, NOW, 'inc-new');

    // Assess
    expect(plan).toEqual({
      kind: 'change',
      change: {
        kind: 'set',
        input: { name: 'visits', actor: ACTOR, now: NOW, newIncarnation: 'inc-new', value: 7, shards: 3 },
        seen: undefined,
      },
      outcome: {
        kind: 'counter',
        counter: { name: 'visits', value: 7, version: 1, created_at: NOW, updated_at: NOW, shards: 3 },
      },
    });
  });

  it('refuses to create a sharded counter beyond what one shard may hold, and allows exactly the bound', () => {
    // Act
    const over = planChange(set(-BOUND4 - 1, 4), undefined, NOW, 'inc-new');
    const at = planChange(set(-BOUND4, 4), undefined, NOW, 'inc-new');

    // Assess
    expect(over.kind === 'refused' && over.error).toBeInstanceOf(CounterOutOfRangeError);
    expect(over.kind === 'refused' && over.error).toMatchObject({
      counter: 'visits',
      current: 0,
      attempted: `setting ${-BOUND4 - 1}`,
      shards: 4,
    });
    expect(at).toMatchObject({ kind: 'change', outcome: { counter: { value: -BOUND4, shards: 4 } } });
  });
});

function setup() {
  const repository = new InMemoryCounterRepository();
  const store = new InMemoryIdempotencyStore(repository);
  let tick = 0;
  let ids = 0;
  const read = vi.fn((name: string) => repository.get(name));
  const deps: IdempotentDeps = {
    store,
    read,
    now: () => new Date(T0 + 1000 * tick++).toISOString(),
    newId: () => `id-${++ids}`,
    sleep: async () => undefined,
  };
  const run = (command: ChangeCommand, key = KEY) =>
    changeIdempotently(deps, { id: idempotencyId(command.actor, key), command }, render);
  const otherWriter = (by: number) =>
    repository.increment({ name: 'visits', by, actor: OTHER_ACTOR, now: 'later', newIncarnation: 'other' });
  return { repository, store, deps, read, run, otherWriter };
}

/** "visits" created spread over 4 shards at 10, its creation taken off the stream. */
async function createSharded(repository: InMemoryCounterRepository): Promise<void> {
  await repository.set({
    name: 'visits',
    value: 10,
    shards: 4,
    actor: OTHER_ACTOR,
    now: '2024-06-01T00:00:00.000Z',
    newIncarnation: 'inc-hot',
  });
  repository.takeStream();
}

async function counterNow(repository: InMemoryCounterRepository) {
  const counter = await repository.get('visits');
  return counter === undefined ? undefined : toCounter(counter);
}

describe('changeIdempotently with a sharded counter', () => {
  it('creates a sharded counter with a keyed set, answering it with its shards', async () => {
    // Prepare
    const { repository, store, run } = setup();

    // Act
    const result = await run(set(7, 4));

    // Assess
    expect(result.replayed).toBe(false);
    expect(JSON.parse(result.answer.body)).toEqual({
      name: 'visits',
      value: 7,
      version: 1,
      created_at: '2025-01-01T00:00:00.000Z',
      updated_at: '2025-01-01T00:00:00.000Z',
      shards: 4,
    });
    expect(await counterNow(repository)).toEqual(JSON.parse(result.answer.body));
    expect(store.peek(ID)).toMatchObject({ status: 'done', answer: result.answer });
  });

  it('commits an increment with no answer, then settles the answer it reads after the commit', async () => {
    // Prepare
    const { repository, store, run } = setup();
    await createSharded(repository);
    const commit = vi.spyOn(store, 'commit');
    const settle = vi.spyOn(store, 'settle');

    // Act
    const result = await run(increment(5));

    // Assess
    expect(commit).toHaveBeenCalledTimes(1);
    expect(commit.mock.calls[0]?.[3]).toBeUndefined();
    expect(settle).toHaveBeenCalledTimes(1);
    expect(result.replayed).toBe(false);
    expect(result.answer.statusCode).toBe(200);
    expect(JSON.parse(result.answer.body)).toEqual({
      name: 'visits',
      value: 15,
      version: 2,
      created_at: '2024-06-01T00:00:00.000Z',
      updated_at: '2025-01-01T00:00:00.000Z',
      shards: 4,
    });
    expect(store.peek(ID)).toMatchObject({ status: 'done', answer: result.answer });
    expect(repository.takeStream()).toHaveLength(1);
  });

  it('replays the settled answer to a repeat with the same body, changing nothing', async () => {
    // Prepare
    const { repository, run, otherWriter } = setup();
    await createSharded(repository);
    const first = await run(increment(5));
    await otherWriter(100);

    // Act
    const repeat = await run(increment(5));

    // Assess
    expect(repeat.replayed).toBe(true);
    expect(repeat.answer).toEqual(first.answer);
    expect(JSON.parse(repeat.answer.body)).toMatchObject({ value: 15, version: 2 });
    expect(await counterNow(repository)).toMatchObject({ value: 115, version: 3 });
    expect(repository.takeStream()).toHaveLength(2);
  });

  it('answers the counter as read after the commit, which holds changes made meanwhile', async () => {
    // Prepare
    const { repository, read, run, otherWriter } = setup();
    await createSharded(repository);
    read.mockImplementationOnce((name) => repository.get(name));
    read.mockImplementationOnce(async (name) => {
      await otherWriter(100);
      return repository.get(name);
    });

    // Act
    const result = await run(increment(5));

    // Assess
    expect(read).toHaveBeenCalledTimes(2);
    expect(JSON.parse(result.answer.body)).toMatchObject({ value: 115, version: 3, shards: 4 });
  });

  it('settles a record left applied by an attempt that died after its commit, and counts the change once', async () => {
    // Prepare
    const { repository, store, run } = setup();
    await createSharded(repository);
    store.failAfterNextCommit(new Error('Lambda died before hearing back'));
    await expect(run(increment(5))).rejects.toThrow('Lambda died before hearing back');
    const left = store.peek(ID);

    // Act
    const repeat = await run(increment(5));

    // Assess
    expect(left).toMatchObject({ status: 'applied' });
    expect(left?.answer).toBeUndefined();
    expect(repeat.replayed).toBe(true);
    expect(repeat.answer.statusCode).toBe(200);
    expect(JSON.parse(repeat.answer.body)).toMatchObject({
      name: 'visits',
      value: 15,
      version: 2,
      shards: 4,
    });
    expect(store.peek(ID)).toMatchObject({ status: 'done', answer: repeat.answer });
    expect(await counterNow(repository)).toMatchObject({ value: 15, version: 2 });
    expect(repository.takeStream()).toHaveLength(1);
    expect(store.calls.commit).toBe(1);
  });

  it('settles a record left applied when the read after the commit failed, and counts the change once', async () => {
    // Prepare
    const { repository, store, read, run } = setup();
    await createSharded(repository);
    read.mockImplementationOnce((name) => repository.get(name));
    read.mockRejectedValueOnce(new Error('TransactGetItems throttled'));
    await expect(run(increment(5))).rejects.toThrow('TransactGetItems throttled');

    // Act
    const repeat = await run(increment(5));
    const again = await run(increment(5));

    // Assess
    expect(repeat.replayed).toBe(true);
    expect(JSON.parse(repeat.answer.body)).toMatchObject({ value: 15, version: 2 });
    expect(again).toEqual(repeat);
    expect(store.calls.release).toBe(1);
    expect(store.calls.commit).toBe(1);
    expect(repository.takeStream()).toHaveLength(1);
  });

  it('answers the first settled answer to both attempts when a repeat settles before the first attempt does', async () => {
    // Prepare
    const { repository, store, read, run, otherWriter } = setup();
    await createSharded(repository);
    let resume: () => void = () => undefined;
    const paused = new Promise<void>((resolve) => {
      resume = resolve;
    });
    read.mockImplementationOnce((name) => repository.get(name));
    read.mockImplementationOnce(async (name) => {
      await paused;
      return repository.get(name);
    });
    const first = run(increment(5));
    await vi.waitFor(() => expect(store.peek(ID)?.status).toBe('applied'));
    const repeat = await run(increment(5));
    await otherWriter(100);

    // Act
    resume();
    const firstResult = await first;

    // Assess
    expect(repeat.replayed).toBe(true);
    expect(JSON.parse(repeat.answer.body)).toMatchObject({ value: 15, version: 2 });
    expect(firstResult.replayed).toBe(false);
    expect(firstResult.answer).toEqual(repeat.answer);
    expect(await counterNow(repository)).toMatchObject({ value: 115, version: 3 });
  });

  it('answers a keyed increment with If-Match exactly, in its commit, with no settling', async () => {
    // Prepare
    const { repository, store, run } = setup();
    await createSharded(repository);
    const settle = vi.spyOn(store, 'settle');

    // Act
    const result = await run(increment(5, 1));

    // Assess
    expect(settle).not.toHaveBeenCalled();
    expect(JSON.parse(result.answer.body)).toEqual({
      name: 'visits',
      value: 15,
      version: 2,
      created_at: '2024-06-01T00:00:00.000Z',
      updated_at: '2025-01-01T00:00:00.000Z',
      shards: 4,
    });
    expect(await counterNow(repository)).toEqual(JSON.parse(result.answer.body));
  });

  it('refuses a keyed set of a sharded counter with 409 and replays the refusal, changing nothing', async () => {
    // Prepare
    const { repository, run } = setup();
    await createSharded(repository);

    // Act
    const refused = await run(set(100));
    const repeat = await run(set(100));

    // Assess
    expect(refused.answer.statusCode).toBe(409);
    expect(JSON.parse(refused.answer.body).detail).toMatch(/^Counter "visits" is spread over 4 shards/);
    expect(repeat).toEqual({ answer: refused.answer, replayed: true });
    expect(await counterNow(repository)).toMatchObject({ value: 10, version: 1 });
    expect(repository.takeStream()).toHaveLength(0);
  });
});

const ddbMock = mockClient(DynamoDBDocumentClient);
const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const TABLES = { counters: 'counters-table', idempotency: 'idempotency-table' };
const OWNER = 'owner-1';
const NOW_MS = 1_735_689_600_123;
const NOW_S = 1_735_689_600;
const ANSWER: StoredAnswer = {
  statusCode: 200,
  headers: { 'content-type': 'application/json', etag: '"10"' },
  body: '{"name":"hot","value":22,"version":10,"shards":4}',
};

function dynamoStore(): DynamoIdempotencyStore {
  return new DynamoIdempotencyStore(client, TABLES);
}

function input() {
  return { name: 'hot', actor: ACTOR, now: NOW, newIncarnation: 'inc-new' };
}

const SEEN = { version: 9, incarnation: 'inc-hot', shardVersions: [3, 2, 0, 4] };

function onlyTransaction() {
  const calls = ddbMock.commandCalls(TransactWriteCommand);
  expect(calls).toHaveLength(1);
  expect(ddbMock.calls()).toHaveLength(1);
  return calls[0]?.args[0].input.TransactItems ?? [];
}

const SHARD_INCREMENT_NAMES = {
  '#value': 'value',
  '#version': 'version',
  '#updated': 'updated_at',
  '#op': 'op',
  '#actor': 'actor',
  '#incarnation': 'incarnation',
};

const RECORD_ANSWER = {
  Update: {
    TableName: 'idempotency-table',
    Key: { id: 'rec-1' },
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
};

describe('DynamoIdempotencyStore with a sharded counter', () => {
  beforeEach(() => {
    ddbMock.reset();
    // Shard 1 of 4.
    vi.spyOn(Math, 'random').mockReturnValue(0.3);
  });

  afterEach(() => {
    ddbMock.reset();
    vi.restoreAllMocks();
  });

  it('commits an increment without an answer as one shard’s update and the record set to applied, last', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});
    const change: PlannedChange = { kind: 'increment', input: { ...input(), by: 5 }, seen: SEEN };

    // Act
    const result = await dynamoStore().commit('rec-1', OWNER, change, undefined, NOW_MS);

    // Assess
    expect(result).toBe('committed');
    const items = onlyTransaction();
    expect(items).toEqual([
      {
        Update: {
          TableName: 'counters-table',
          Key: { name: 'hot#1' },
          UpdateExpression: 'ADD #value :by, #version :one SET #updated = :now, #op = :op, #actor = :actor',
          ConditionExpression: '#incarnation = :layout AND #value <= :bound',
          ExpressionAttributeNames: SHARD_INCREMENT_NAMES,
          ExpressionAttributeValues: {
            ':by': 5,
            ':one': 1,
            ':now': NOW,
            ':op': 'increment',
            ':actor': ACTOR,
            ':layout': 'inc-hot',
            ':bound': BOUND4 - 5,
          },
          // So a refusal by the range can be told from a stale plan.
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        },
      },
      {
        Update: {
          TableName: 'idempotency-table',
          Key: { id: 'rec-1' },
          UpdateExpression: 'SET #status = :applied',
          ConditionExpression: '#owner = :owner AND #status = :in_flight',
          ExpressionAttributeNames: { '#status': 'status', '#owner': 'owner' },
          ExpressionAttributeValues: { ':applied': 'applied', ':owner': OWNER, ':in_flight': 'in-flight' },
        },
      },
    ]);
    for (const item of items) if (item.Update !== undefined) expectEveryPlaceholderUsed(item.Update);
  });

  it('sends shard 0’s increment to the counter’s own item with its full update', async () => {
    // Prepare
    vi.spyOn(Math, 'random').mockReturnValue(0.1);
    ddbMock.on(TransactWriteCommand).resolves({});
    const change: PlannedChange = { kind: 'increment', input: { ...input(), by: -2 }, seen: SEEN };

    // Act
    await dynamoStore().commit('rec-1', OWNER, change, undefined, NOW_MS);

    // Assess
    const update = onlyTransaction()[0]?.Update;
    expect(update?.Key).toEqual({ name: 'hot' });
    expect(update?.ConditionExpression).toBe('#incarnation = :layout AND #value >= :bound');
    expect(update?.ExpressionAttributeValues).toMatchObject({ ':bound': -BOUND4 + 2, ':layout': 'inc-hot' });
    expect(update?.UpdateExpression).toContain('#incarnation = if_not_exists(#incarnation, :incarnation)');
    if (update !== undefined) expectEveryPlaceholderUsed(update);
  });

  it('commits an increment with If-Match as one update and a check of every other shard’s version, with the answer', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});
    const change: PlannedChange = {
      kind: 'increment',
      input: { ...input(), expectedVersion: 9, by: 5 },
      seen: SEEN,
    };

    // Act
    const result = await dynamoStore().commit('rec-1', OWNER, change, ANSWER, NOW_MS);

    // Assess
    expect(result).toBe('committed');
    const check = (name: string, version: number) => ({
      ConditionCheck: {
        TableName: 'counters-table',
        Key: { name },
        ConditionExpression: '#incarnation = :layout AND #version = :seen',
        ExpressionAttributeNames: { '#incarnation': 'incarnation', '#version': 'version' },
        ExpressionAttributeValues: { ':layout': 'inc-hot', ':seen': version },
      },
    });
    const items = onlyTransaction();
    expect(items).toEqual([
      check('hot', 3),
      {
        Update: {
          TableName: 'counters-table',
          Key: { name: 'hot#1' },
          UpdateExpression: 'ADD #value :by, #version :one SET #updated = :now, #op = :op, #actor = :actor',
          ConditionExpression: '#incarnation = :layout AND #version = :seen AND #value <= :bound',
          ExpressionAttributeNames: SHARD_INCREMENT_NAMES,
          ExpressionAttributeValues: {
            ':by': 5,
            ':one': 1,
            ':now': NOW,
            ':op': 'increment',
            ':actor': ACTOR,
            ':layout': 'inc-hot',
            ':seen': 2,
            ':bound': BOUND4 - 5,
          },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        },
      },
      check('hot#2', 0),
      check('hot#3', 4),
      RECORD_ANSWER,
    ]);
    for (const item of items) {
      if (item.Update !== undefined) expectEveryPlaceholderUsed(item.Update);
      if (item.ConditionCheck !== undefined) expectEveryPlaceholderUsed(item.ConditionCheck);
    }
  });

  it('commits a delete as a delete of every item conditioned on the incarnation, with the answer', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});
    const change: PlannedChange = { kind: 'delete', name: 'hot', seen: SEEN };

    // Act
    await dynamoStore().commit('rec-1', OWNER, change, ANSWER, NOW_MS);

    // Assess
    expect(onlyTransaction()).toEqual([
      ...['hot', 'hot#1', 'hot#2', 'hot#3'].map((name) => ({
        Delete: {
          TableName: 'counters-table',
          Key: { name },
          ConditionExpression: '#incarnation = :layout',
          ExpressionAttributeNames: { '#incarnation': 'incarnation' },
          ExpressionAttributeValues: { ':layout': 'inc-hot' },
        },
      })),
      RECORD_ANSWER,
    ]);
  });

  it('commits a delete with If-Match conditioned on every item’s version', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});
    const change: PlannedChange = { kind: 'delete', name: 'hot', seen: SEEN, expectedVersion: 9 };

    // Act
    await dynamoStore().commit('rec-1', OWNER, change, ANSWER, NOW_MS);

    // Assess
    const conditions = onlyTransaction()
      .slice(0, -1)
      .map((item) => [item.Delete?.ConditionExpression, item.Delete?.ExpressionAttributeValues?.[':seen']]);
    expect(conditions).toEqual([
      ['#incarnation = :layout AND #version = :seen', 3],
      ['#incarnation = :layout AND #version = :seen', 2],
      ['#incarnation = :layout AND #version = :seen', 0],
      ['#incarnation = :layout AND #version = :seen', 4],
    ]);
  });

  it('commits the creation of a sharded counter: its item only if the name is free, the shards, then the record', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});
    const change: PlannedChange = {
      kind: 'set',
      input: { ...input(), value: 7, shards: 3 },
      seen: undefined,
    };

    // Act
    await dynamoStore().commit('rec-1', OWNER, change, ANSWER, NOW_MS);

    // Assess
    const items = onlyTransaction();
    expect(items).toHaveLength(4);
    expect(items[0]).toEqual({
      Put: {
        TableName: 'counters-table',
        Item: {
          name: 'hot',
          value: 7,
          version: 1,
          created_at: NOW,
          updated_at: NOW,
          incarnation: 'inc-new',
          op: 'set',
          actor: ACTOR,
          shards: 3,
          kind: 'counter',
        },
        ConditionExpression: 'attribute_not_exists(#name)',
        ExpressionAttributeNames: { '#name': 'name' },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      },
    });
    expect(items.slice(1, 3).map((item) => item.Put?.Item)).toEqual(
      [1, 2].map((shard) => ({
        name: `hot#${shard}`,
        counter: 'hot',
        shard,
        value: 0,
        version: 0,
        updated_at: NOW,
        incarnation: 'inc-new',
        op: 'increment',
        actor: ACTOR,
      })),
    );
    expect(items[3]).toEqual(RECORD_ANSWER);
  });

  it('answers stale when the shard’s condition failed, and lost when the record’s did', async () => {
    // Prepare
    const change: PlannedChange = { kind: 'increment', input: { ...input(), by: 5 }, seen: SEEN };
    ddbMock
      .on(TransactWriteCommand)
      .rejectsOnce(cancelled('ConditionalCheckFailed', 'None'))
      .rejectsOnce(cancelled('None', 'ConditionalCheckFailed'));

    // Act
    const stale = await dynamoStore().commit('rec-1', OWNER, change, undefined, NOW_MS);
    const lost = await dynamoStore().commit('rec-1', OWNER, change, undefined, NOW_MS);

    // Assess
    expect([stale, lost]).toEqual(['stale', 'lost']);
  });

  it('refuses a keyed increment larger than any shard may take with 409, as an unkeyed one is refused', async () => {
    // Prepare: a 4-shard counter at 0; +BOUND4+1 fits the range but no shard (each holds at most BOUND4).
    ddbMock.on(PutCommand).resolves({});
    // The shard's update is refused by its range condition alone: it comes back (ALL_OLD) as seen.
    ddbMock.on(TransactWriteCommand).rejects(
      new TransactionCanceledException({
        message: 'Transaction cancelled',
        $metadata: {},
        CancellationReasons: [
          {
            Code: 'ConditionalCheckFailed',
            Item: marshall({
              name: 'visits#1',
              counter: 'visits',
              shard: 1,
              value: 0,
              version: 0,
              incarnation: 'inc-hot',
            }),
          },
          { Code: 'None' },
        ],
      }),
    );
    ddbMock.on(UpdateCommand).resolves({});
    ddbMock.on(DeleteCommand).resolves({});
    let ids = 0;
    const deps: IdempotentDeps = {
      store: dynamoStore(),
      read: async () => sharded({ value: 0, version: 1, shardVersions: [1, 0, 0, 0] }),
      now: () => NOW,
      newId: () => `id-${++ids}`,
      sleep: async () => undefined,
    };

    // Act
    const changing = changeIdempotently(deps, { id: ID, command: increment(BOUND4 + 1) }, render);

    // Assess
    await expect(changing).resolves.toMatchObject({ answer: { statusCode: 409 }, replayed: false });
  });

  it('answers 204 (applied) when the counter is gone by the time its answer is read, not 404', async () => {
    // Prepare: the plan reads the sharded counter; by the read after the commit it was deleted.
    ddbMock.on(PutCommand).resolves({});
    ddbMock.on(TransactWriteCommand).resolves({});
    ddbMock.on(UpdateCommand).resolves({});
    const reads = [sharded(), undefined];
    let ids = 0;
    const deps: IdempotentDeps = {
      store: dynamoStore(),
      read: async () => reads.shift(),
      now: () => NOW,
      newId: () => `id-${++ids}`,
      sleep: async () => undefined,
    };

    // Act
    const changing = changeIdempotently(deps, { id: ID, command: increment(1) }, render);

    // Assess
    await expect(changing).resolves.toMatchObject({
      answer: { statusCode: 204, headers: { applied: 'true' } },
      replayed: false,
    });
    expect(reads).toEqual([]);
  });

  it('settles an applied record with the answer, conditioned on its being applied', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});

    // Act
    const answer = await dynamoStore().settle('rec-1', ANSWER, NOW_MS);

    // Assess
    expect(answer).toEqual(ANSWER);
    const calls = ddbMock.commandCalls(UpdateCommand);
    expect(calls).toHaveLength(1);
    const update = calls[0]?.args[0].input;
    expect(update).toEqual({
      TableName: 'idempotency-table',
      Key: { id: 'rec-1' },
      UpdateExpression: 'SET #status = :done, #answer = :answer, expires_at = :expires',
      ConditionExpression: '#status = :applied',
      ExpressionAttributeNames: { '#status': 'status', '#answer': 'answer' },
      ExpressionAttributeValues: {
        ':done': 'done',
        ':answer': ANSWER,
        ':expires': NOW_S + IDEMPOTENCY_TTL_SECONDS,
        ':applied': 'applied',
      },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
    if (update !== undefined) expectEveryPlaceholderUsed(update);
  });

  it('answers the answer another attempt settled first when the record is already done', async () => {
    // Prepare
    const theirs: StoredAnswer = { statusCode: 200, headers: { etag: '"11"' }, body: '{"value":23}' };
    ddbMock.on(UpdateCommand).rejects(
      conditionFailed({
        id: 'rec-1',
        fingerprint: 'fp-1',
        status: 'done',
        owner: 'owner-0',
        lease_expires_at: NOW_MS,
        expires_at: NOW_S + 3_600,
        answer: theirs,
      }),
    );

    // Act
    const answer = await dynamoStore().settle('rec-1', ANSWER, NOW_MS);

    // Assess
    expect(answer).toEqual(theirs);
  });

  it('tells the caller to retry when the record it would settle is neither applied nor done', async () => {
    // Prepare
    ddbMock
      .on(UpdateCommand)
      .rejectsOnce(
        conditionFailed({
          id: 'rec-1',
          fingerprint: 'fp-1',
          status: 'in-flight',
          owner: 'owner-0',
          lease_expires_at: NOW_MS,
          expires_at: NOW_S + 3_600,
        }),
      )
      .rejectsOnce(conditionFailed());

    // Act
    const inFlight = dynamoStore().settle('rec-1', ANSWER, NOW_MS);
    const gone = dynamoStore().settle('rec-1', ANSWER, NOW_MS);

    // Assess
    await expect(inFlight).rejects.toBeInstanceOf(RequestInFlightError);
    await expect(gone).rejects.toBeInstanceOf(RequestInFlightError);
  });

  it('passes on a settle failure that is no failed condition', async () => {
    // Prepare
    const failure = new Error('socket hang up');
    ddbMock.on(UpdateCommand).rejects(failure);

    // Act
    const settling = dynamoStore().settle('rec-1', ANSWER, NOW_MS);

    // Assess
    await expect(settling).rejects.toBe(failure);
  });

  it('leaves an applied record when releasing: only an in-flight claim is released', async () => {
    // Prepare
    ddbMock.on(DeleteCommand).rejects(conditionFailed());

    // Act
    await dynamoStore().release('rec-1', OWNER);

    // Assess
    expect(ddbMock.commandCalls(DeleteCommand)[0]?.args[0].input.ConditionExpression).toBe(
      '#owner = :owner AND #status = :in_flight',
    );
  });
});
