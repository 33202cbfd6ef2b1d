import type { Context } from 'aws-lambda';
import { z } from 'zod';
import type { CounterClient } from '../../../client/index.ts';
import { JOB_COUNTER_PREFIX, JOB_NAME_PATTERN, jobCounter } from '../names.ts';

/**
 * What the job worker is invoked with: `{"job": "nightly-export"}` adds 1 to `jobs.nightly-export`;
 * `{"job": ..., "by": N}` adds N (say, the items the job handled).
 */
export const countJobEvent = z.strictObject({
  job: z
    .string()
    .regex(
      JOB_NAME_PATTERN,
      `a job name is 1 to ${128 - JOB_COUNTER_PREFIX.length} characters from A-Z a-z 0-9 . _ : -`,
    ),
  by: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
});
export type CountJobEvent = z.infer<typeof countJobEvent>;

export interface CountJobResult {
  counter: string;
  value: number;
  version: number;
}

/**
 * Counts one run of a job through the API, signed with SigV4 by whatever credentials the client has
 * (on Lambda, the function's role, which may increment `jobs.*` and nothing else).
 */
export function createCountJobHandler(client: CounterClient) {
  return async (event: unknown, context: Pick<Context, 'awsRequestId'>): Promise<CountJobResult> => {
    const { job, by } = countJobEvent.parse(event);
    // Lambda retries a failed asynchronous invocation under the same request id, so the retry sends
    // the same key and gets the first attempt's answer instead of counting twice (CONTRACT.md §4).
    const counter = await client.increment(jobCounter(job), by, {
      idempotencyKey: `count-job:${context.awsRequestId}`,
    });
    return { counter: counter.name, value: counter.value, version: counter.version };
  };
}
