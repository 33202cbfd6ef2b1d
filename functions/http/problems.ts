import {
  AttemptFencedError,
  CounterBusyError,
  CounterNotFoundError,
  CounterOutOfBoundsError,
  CounterOutOfRangeError,
  IdempotencyKeyReusedError,
  InvalidCursorError,
  RequestInFlightError,
  ShardLayoutError,
  VersionMismatchError,
} from '../counter/errors.ts';
import { isThrottling } from '../platform/aws-errors.ts';
import type { HttpResult } from './http.ts';

/**
 * Errors a caller can act on. Each carries its HTTP status and a problem type; the HTTP error
 * middleware turns them into application/problem+json (RFC 9457). Anything else is a 500 whose
 * detail is never shown.
 */
export class HttpProblemError extends Error {
  readonly status: number;
  readonly type: string;
  readonly title: string;
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    slug: string,
    title: string,
    detail: string,
    headers: Record<string, string> = {},
  ) {
    super(detail);
    this.name = 'HttpProblemError';
    this.status = status;
    this.type = `/problems/${slug}`;
    this.title = title;
    this.headers = headers;
  }
}

export class BadRequestError extends HttpProblemError {
  constructor(detail: string) {
    super(400, 'invalid-request', 'Invalid request', detail);
    this.name = 'BadRequestError';
  }
}

export class NotFoundError extends HttpProblemError {
  constructor(detail: string) {
    super(404, 'not-found', 'Not found', detail);
    this.name = 'NotFoundError';
  }
}

export class ConflictError extends HttpProblemError {
  constructor(slug: string, title: string, detail: string) {
    super(409, slug, title, detail);
    this.name = 'ConflictError';
  }
}

export class PreconditionFailedError extends HttpProblemError {
  constructor(detail: string) {
    super(412, 'precondition-failed', 'Precondition failed', detail);
    this.name = 'PreconditionFailedError';
  }
}

export class PayloadTooLargeError extends HttpProblemError {
  constructor(limitBytes: number) {
    super(
      413,
      'payload-too-large',
      'Payload too large',
      `The request body must be at most ${limitBytes} bytes.`,
    );
    this.name = 'PayloadTooLargeError';
  }
}

export class UnprocessableError extends HttpProblemError {
  constructor(slug: string, title: string, detail: string) {
    super(422, slug, title, detail);
    this.name = 'UnprocessableError';
  }
}

export class ThrottledError extends HttpProblemError {
  constructor(retryAfterSeconds: number) {
    super(
      429,
      'throttled',
      'Too many requests',
      `The counter store is busy; retry after ${retryAfterSeconds} second(s).`,
      { 'retry-after': String(retryAfterSeconds) },
    );
    this.name = 'ThrottledError';
  }
}

/** Every error as the problem it is for the caller: the one mapping of failures to HTTP statuses. */
export function toProblem(error: unknown): HttpProblemError {
  if (error instanceof HttpProblemError) return error;
  if (error instanceof CounterNotFoundError) return new NotFoundError(error.message);
  if (error instanceof CounterOutOfRangeError)
    return new ConflictError('out-of-range', 'Out of range', error.message);
  if (error instanceof CounterOutOfBoundsError)
    return new ConflictError('out-of-bounds', 'Out of bounds', error.message);
  if (error instanceof ShardLayoutError)
    return new ConflictError('sharded', 'Sharded counter', error.message);
  if (error instanceof VersionMismatchError) return new PreconditionFailedError(error.message);
  if (error instanceof InvalidCursorError) return new BadRequestError(error.message);
  if (error instanceof IdempotencyKeyReusedError) {
    return new UnprocessableError('idempotency-key-reused', 'Idempotency-Key reused', error.message);
  }
  if (error instanceof RequestInFlightError || error instanceof AttemptFencedError) {
    return new HttpProblemError(409, 'request-in-flight', 'Request in flight', error.message, {
      'retry-after': '1',
    });
  }
  // Other transactions held the counter's items through every retry: busy, not throttled (no 429).
  if (error instanceof CounterBusyError) {
    return new HttpProblemError(503, 'contended', 'Counter busy', error.message, { 'retry-after': '1' });
  }
  if (isThrottling(error)) return new ThrottledError(1);
  return new HttpProblemError(
    500,
    'internal',
    'Internal error',
    'The request failed on our side. A read is safe to retry; a change may or may not have been ' +
      'applied: retry it with the same Idempotency-Key, or read the counter before sending it again.',
  );
}

export function problemResponse(problem: HttpProblemError): HttpResult {
  return {
    statusCode: problem.status,
    headers: { 'content-type': 'application/problem+json', ...problem.headers },
    body: JSON.stringify({
      type: problem.type,
      title: problem.title,
      status: problem.status,
      detail: problem.message,
    }),
  };
}
