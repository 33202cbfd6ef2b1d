import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach } from 'vitest';

/**
 * For an adapter's unit tests: aws-sdk-client-mock on every DynamoDBDocumentClient (`ddbMock`), reset
 * before and after each test of the file, and a document client (`client`) whose sends it answers.
 * Call it once, at the top of the file.
 */
export function useDocumentClientMock() {
  const ddbMock = mockClient(DynamoDBDocumentClient);
  const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
  beforeEach(() => {
    ddbMock.reset();
  });
  afterEach(() => {
    ddbMock.reset();
  });
  return { ddbMock, client };
}
