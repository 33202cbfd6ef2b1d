/**
 * The one back-off of the service's own retry loops (the SDK keeps its own for single calls), and of
 * the client's and the local stream poller's: exponential, `baseMs * 2^attempt` capped at `capMs`,
 * with a jitter chosen by the caller:
 *
 * - `full` (the default): a random pause up to the step, so that writers who met each other once do
 *   not meet again at the next try;
 * - `equal`: at least half the step, the rest random, for a caller that must give the other side
 *   time (the client, after a 429 or a 5xx);
 * - `none`: the step itself, for a schedule that must be predictable (the local stream poller
 *   standing in for Lambda's retries).
 */
export interface Backoff {
  /** The step of attempt 0. Default 10 ms. */
  baseMs?: number | undefined;
  /** The longest step. Default 1 s. */
  capMs?: number | undefined;
  jitter?: 'full' | 'equal' | 'none' | undefined;
  /** Replaceable for tests. Default Math.random. */
  random?: (() => number) | undefined;
}

/** The pause before retry `attempt` (its step doubles with each attempt). */
export function backoffMs(attempt: number, options: Backoff = {}): number {
  const step = Math.min(options.capMs ?? 1_000, (options.baseMs ?? 10) * 2 ** attempt);
  const jitter = options.jitter ?? 'full';
  if (jitter === 'none') return step;
  const floor = jitter === 'equal' ? step / 2 : 0;
  return floor + (options.random ?? Math.random)() * (step - floor);
}

/** Waits out the back-off before retry `attempt` (1 for the first retry). */
export function retryPause(attempt: number, options: Backoff = {}): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, backoffMs(attempt, options)));
}

/**
 * Sends `items`, then sends again what the answer left over (a batch call's unprocessed items, a
 * batch's failed entries), after a back-off, at most `retries` times. Answers what is still left.
 */
export async function retryLeftovers<T>(
  items: readonly T[],
  send: (items: T[]) => Promise<T[]>,
  options: Backoff & { retries: number },
): Promise<T[]> {
  let left = [...items];
  for (let attempt = 0; left.length > 0 && attempt <= options.retries; attempt++) {
    if (attempt > 0) await retryPause(attempt, options);
    left = await send(left);
  }
  return left;
}
