/**
 * What DynamoDB's errors mean for a change, in one place: the HTTP mapping (429), the consumer's log
 * level, the repository's retries and the keyed path's clean-up all ask here. Recognised by name, so
 * the domain needs no SDK import to ask.
 */

const THROTTLING = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
]);
const THROTTLING_REASONS = new Set([
  'ThrottlingError',
  'ProvisionedThroughputExceeded',
  'RequestLimitExceeded',
]);

interface Cancellation {
  name: string;
  CancellationReasons?: { Code?: string | undefined }[] | undefined;
}

function cancellationOf(error: unknown): Cancellation | undefined {
  return error instanceof Error && error.name === 'TransactionCanceledException'
    ? (error as Error & Cancellation)
    : undefined;
}

/** The table (or one of a transaction's items) throttled the request: nothing was written. */
export function isThrottling(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (THROTTLING.has(error.name)) return true;
  return (cancellationOf(error)?.CancellationReasons ?? []).some((reason) =>
    THROTTLING_REASONS.has(reason.Code ?? ''),
  );
}

/**
 * Another transaction held an item of the request (TransactionConflict), and nothing else stood in
 * its way: it wrote nothing, and trying again shortly may succeed.
 */
export function isTransactionConflict(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'TransactionConflictException') return true;
  const reasons = cancellationOf(error)?.CancellationReasons ?? [];
  return (
    reasons.some((reason) => reason.Code === 'TransactionConflict') &&
    reasons.every((reason) => reason.Code === 'TransactionConflict' || reason.Code === 'None')
  );
}

/**
 * The request certainly wrote nothing: throttled, held by a transaction, or a transaction DynamoDB
 * cancelled (all or nothing). Any other failure of a write (a lost answer, a timeout, a 500) may have
 * written it.
 */
export function certainlyNotWritten(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return (
    isThrottling(error) ||
    isTransactionConflict(error) ||
    cancellationOf(error) !== undefined ||
    error.name === 'ConditionalCheckFailedException' ||
    error.name === 'CounterBusyError'
  );
}
