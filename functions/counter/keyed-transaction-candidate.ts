import { GetCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '../shared/dynamodb.ts';
import { requireEnv } from '../shared/env.ts';
import { plainChange, type TransactItem } from './counter-writes.ts';
import { type ChangeCommand, CLAIM_LEASE_MS, fingerprintOf, type StoredAnswer } from './idempotency.ts';
import { expiresAt } from './idempotency-table.ts';
import { type Counter, storedCounter, toCounter } from './schema.ts';

/**
 * CANDIDATE B of issue 12, built only to be measured against the kept design (bench/keyed.ts), then
 * deleted: the claim and the blind ADD in one TransactWriteItems, the counter read after it, and the
 * answer stored. Increments only, fresh keys only (what the bench sends).
 */
export async function keyedIncrementByTransaction(
  id: string,
  command: Extract<ChangeCommand, { op: 'increment' }>,
  render: (counter: Counter) => StoredAnswer,
): Promise<StoredAnswer> {
  const client = documentClient('throttling-only');
  const tables = { counters: requireEnv('COUNTERS_TABLE'), idempotency: requireEnv('IDEMPOTENCY_TABLE') };
  const now = Date.now();
  const write = plainChange(tables.counters, {
    ...command,
    now: new Date(now).toISOString(),
    newIncarnation: crypto.randomUUID(),
  });
  const { ReturnValues: _returnValues, ...update } = write.request;
  await client.send(
    new TransactWriteCommand({
      TransactItems: [
        {
          Put: {
            TableName: tables.idempotency,
            Item: {
              id,
              fingerprint: fingerprintOf(command),
              status: 'applied',
              owner: 'candidate',
              lease_expires_at: now + CLAIM_LEASE_MS,
              expires_at: expiresAt(now),
            },
            ConditionExpression: 'attribute_not_exists(id) OR expires_at < :now_s',
            ExpressionAttributeValues: { ':now_s': Math.floor(now / 1000) },
          },
        },
        { Update: update } as TransactItem,
      ],
    }),
  );
  const { Item } = await documentClient().send(
    new GetCommand({ TableName: tables.counters, Key: { name: command.name }, ConsistentRead: true }),
  );
  const answer = render(toCounter(storedCounter.parse(Item)));
  await client.send(
    new UpdateCommand({
      TableName: tables.idempotency,
      Key: { id },
      UpdateExpression: 'SET #status = :done, #answer = :answer',
      ConditionExpression: '#status = :applied',
      ExpressionAttributeNames: { '#status': 'status', '#answer': 'answer' },
      ExpressionAttributeValues: { ':done': 'done', ':answer': answer, ':applied': 'applied' },
    }),
  );
  return answer;
}
