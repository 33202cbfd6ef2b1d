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
