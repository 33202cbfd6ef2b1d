/**
 * The counters the example callers may change, in one place: the stack grants them and the worker's
 * handler names them, so the two cannot drift apart.
 */

/** The job worker may increment every counter whose name starts with this, and no other. */
export const JOB_COUNTER_PREFIX = 'jobs.';

/** The one counter the workflow increments, once per execution. */
export const WORKFLOW_COUNTER = 'workflows.nightly-report';

/**
 * A job's name: what follows the prefix in its counter's name, so it takes the counter-name characters
 * and leaves the name within 128 of them.
 */
export const JOB_NAME_PATTERN = new RegExp(`^[A-Za-z0-9._:-]{1,${128 - JOB_COUNTER_PREFIX.length}}$`);

export function jobCounter(job: string): string {
  return `${JOB_COUNTER_PREFIX}${job}`;
}
