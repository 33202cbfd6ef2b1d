import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CounterApiError, CounterClient } from '../../client/index.ts';
import { createCountJobHandler } from '../../examples/callers/functions/job-counting.ts';
import { JOB_COUNTER_PREFIX } from '../../examples/callers/names.ts';
import { accessPatterns } from '../../lib/access.ts';
import { useServer } from '../support/server-process.ts';
import { ADMIN } from '../support/signed-client.ts';

// The example job worker (examples/callers, docs/callers.md) against the local server, signing as a
// principal with what the example stack grants its role: increment on jobs.*, nothing else.
const WORKER = { accessKeyId: 'job-worker', secretAccessKey: 'job-worker-secret' };

describe('the example job worker', () => {
  let admin: CounterClient;
  let worker: CounterClient;

  const server = useServer(() => {
    const principalsFile = join(process.env.TMPDIR ?? '/tmp', `example-callers-${process.pid}.json`);
    writeFileSync(
      principalsFile,
      JSON.stringify([
        {
          ...WORKER,
          arn: 'arn:aws:sts::000000000000:assumed-role/JobWorkerRole/CounterCallers-JobWorker',
          allow: accessPatterns('increment', JOB_COUNTER_PREFIX),
        },
      ]),
    );
    return { env: { LOCAL_PRINCIPALS: principalsFile } };
  });

  beforeAll(() => {
    admin = new CounterClient({ url: server.url, credentials: ADMIN });
    worker = new CounterClient({ url: server.url, credentials: WORKER, retry: { maxAttempts: 1 } });
  });

  it('counts a run in jobs.<job>, and an invocation retried under its request id counts once', async () => {
    const handler = createCountJobHandler(worker);

    expect(await handler({ job: 'nightly-export' }, { awsRequestId: 'request-1' })).toEqual({
      counter: 'jobs.nightly-export',
      value: 1,
      version: 1,
    });
    // Lambda's retry of a failed asynchronous invocation: same request id, same key, the first answer.
    expect(await handler({ job: 'nightly-export' }, { awsRequestId: 'request-1' })).toMatchObject({
      value: 1,
    });
    expect(await handler({ job: 'nightly-export', by: 5 }, { awsRequestId: 'request-2' })).toMatchObject({
      value: 6,
      version: 2,
    });
    expect(await admin.get('jobs.nightly-export')).toMatchObject({ value: 6, version: 2 });
  });

  it('refuses an event that names no job, or more than a job, before calling the API', async () => {
    const handler = createCountJobHandler(worker);
    for (const event of [
      {},
      { job: '' },
      { job: 'a/b' },
      { job: 'x'.repeat(124) },
      { job: 'refused', by: 0 },
      { job: 'refused', by: 1.5 },
      { job: 'refused', extra: true },
      'refused',
    ]) {
      await expect(
        handler(event, { awsRequestId: 'request-refused' }),
        JSON.stringify(event),
      ).rejects.toThrow();
    }
    await expect(admin.get('jobs.refused')).rejects.toMatchObject({ status: 404 });
  });

  it("cannot change a counter outside jobs. with the worker's credentials: 403 from the grant", async () => {
    const refused = await worker.increment('reports.daily').catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(CounterApiError);
    expect(refused).toMatchObject({ status: 403 });
    const reset = await worker.set('jobs.nightly-export', 0).catch((error: unknown) => error);
    expect(reset).toMatchObject({ status: 403 });
    await expect(admin.get('reports.daily')).rejects.toMatchObject({ status: 404 });
  });
});
