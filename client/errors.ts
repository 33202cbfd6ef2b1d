/** Failures a caller of the counter client can tell apart, and act on differently. */

export interface ApiErrorDetails {
  status: number;
  /** The problem type, such as `/problems/not-found`; absent on API Gateway's own answers. */
  type?: string | undefined;
  title?: string | undefined;
  /** What was wrong, in the API's words: the problem's `detail`, or API Gateway's `message`. */
  detail?: string | undefined;
  /** The API Gateway request id, which the service's logs carry as their correlation id. */
  requestId?: string | undefined;
  /** Seconds the API asked us to wait (429, and 409 while a keyed request is in flight). */
  retryAfterSeconds?: number | undefined;
  /** How many times the request was sent before giving up. */
  attempts?: number | undefined;
  /**
   * The refusal was an earlier request's, answered again for its Idempotency-Key
   * (`Idempotent-Replayed: true`): it said what was true then, which may no longer hold.
   */
  replayed?: boolean | undefined;
}

/**
 * The API answered with an error status: a problem+json answer from the service (404, 400, 409, 412,
 * 422, ...), or API Gateway's own `{"message": "Forbidden"}` for an unsigned, badly signed or
 * unauthorized request.
 */
export class CounterApiError extends Error {
  readonly status: number;
  readonly type: string | undefined;
  readonly title: string | undefined;
  readonly detail: string | undefined;
  readonly requestId: string | undefined;
  readonly retryAfterSeconds: number | undefined;
  readonly attempts: number;
  readonly replayed: boolean;

  constructor(details: ApiErrorDetails) {
    super(
      `${details.status}${details.title === undefined ? '' : ` ${details.title}`}: ${details.detail ?? 'no detail given'}`,
    );
    this.name = 'CounterApiError';
    this.status = details.status;
    this.type = details.type;
    this.title = details.title;
    this.detail = details.detail;
    this.requestId = details.requestId;
    this.retryAfterSeconds = details.retryAfterSeconds;
    this.attempts = details.attempts ?? 1;
    this.replayed = details.replayed ?? false;
  }

  /** Refused by IAM authorization (or, on some gateways, unauthenticated): not a problem with the input. */
  get isAuthError(): boolean {
    return this.status === 401 || this.status === 403;
  }

  /** The problem type's last segment (`not-found`, `out-of-range`, `request-in-flight`, ...). */
  get problem(): string | undefined {
    return this.type?.split('/').at(-1);
  }
}

/** The API could not be reached, or did not answer in time, on every attempt. */
export class CounterNetworkError extends Error {
  readonly attempts: number;

  constructor(message: string, options: { cause?: unknown; attempts: number }) {
    super(message, { cause: options.cause });
    this.name = 'CounterNetworkError';
    this.attempts = options.attempts;
  }
}

/** No credentials to sign with: the default chain found none, or a provider failed. */
export class CounterCredentialsError extends Error {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'CounterCredentialsError';
  }
}

/** The API answered 2xx with a body that is not what its contract promises. */
export class UnexpectedAnswerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnexpectedAnswerError';
  }
}
