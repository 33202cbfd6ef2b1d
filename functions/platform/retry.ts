/**
 * The one back-off of the service's own retry loops (the SDK keeps its own for single calls):
 * exponential with full jitter (a random pause up to `baseMs * 2^attempt`, at most `capMs`), so that
 * writers who met each other once do not meet again at the next try.
 */
export function backoffMs(attempt: number, options: { baseMs?: number; capMs?: number } = {}): number {
  const ceiling = Math.min(options.capMs ?? 1_000, (options.baseMs ?? 10) * 2 ** attempt);
  return Math.random() * ceiling;
}

/** Waits out the back-off before retry `attempt` (1 for the first retry). */
export function retryPause(
  attempt: number,
  options: { baseMs?: number; capMs?: number } = {},
): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, backoffMs(attempt, options)));
}
