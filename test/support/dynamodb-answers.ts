import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { expect } from 'vitest';

/** DynamoDB's answer to a failed condition, with the item as it was when asked for (ALL_OLD). */
export function conditionFailed(item?: Record<string, unknown>): ConditionalCheckFailedException {
  return new ConditionalCheckFailedException({
    message: 'The conditional request failed',
    $metadata: {},
    ...(item === undefined ? {} : { Item: marshall(item) }),
  });
}

/** A cancelled transaction, one reason per item in order, each with the item when DynamoDB returns it. */
export function cancelledWith(
  reasons: { Code: string; Item?: Record<string, unknown> | undefined }[],
): TransactionCanceledException {
  return new TransactionCanceledException({
    message: 'Transaction cancelled',
    $metadata: {},
    CancellationReasons: reasons.map(({ Code, Item }) => ({
      Code,
      ...(Item === undefined ? {} : { Item: marshall(Item) }),
    })),
  });
}

/** A cancelled transaction with these reason codes, in item order. */
export function cancelled(...codes: string[]): TransactionCanceledException {
  return cancelledWith(codes.map((Code) => ({ Code })));
}

/** DynamoDB refuses a request whose expressions leave a name or value placeholder unused. */
export function expectEveryPlaceholderUsed(request: {
  UpdateExpression?: string | undefined;
  ConditionExpression?: string | undefined;
  ExpressionAttributeNames?: Record<string, string> | undefined;
  ExpressionAttributeValues?: Record<string, unknown> | undefined;
}): void {
  const expressions = `${request.UpdateExpression ?? ''} ${request.ConditionExpression ?? ''}`;
  const used = new Set(expressions.match(/[#:][A-Za-z0-9_]+/g) ?? []);
  const declared = [
    ...Object.keys(request.ExpressionAttributeNames ?? {}),
    ...Object.keys(request.ExpressionAttributeValues ?? {}),
  ];
  expect(declared.filter((placeholder) => !used.has(placeholder))).toEqual([]);
  expect([...used].filter((placeholder) => !declared.includes(placeholder))).toEqual([]);
}
