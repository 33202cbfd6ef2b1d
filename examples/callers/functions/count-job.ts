import { CounterClient } from '../../../client/index.ts';
import { requireEnv } from '../../../functions/platform/env.ts';
import { createCountJobHandler } from './job-counting.ts';

// Created once per execution environment. Lambda puts the role's credentials in the environment,
// where the client's default chain finds them; the region is read from the API's URL.
const client = new CounterClient({
  url: requireEnv('COUNTER_API_URL'),
  // Inside the function's 30-second timeout: at most 4 attempts of at most 5 seconds, with back-off.
  retry: { maxAttempts: 4 },
  timeoutMs: 5_000,
});

export const handler = createCountJobHandler(client);
