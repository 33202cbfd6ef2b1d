/**
 * Every failure of the counter domain, in one place. The HTTP adapter maps each to its status
 * (functions/http/problems.ts); the domain knows nothing of HTTP.
 */

/**
 * A change refused by the counter's state: nothing was written, and the refusal is the change's answer
 * (a keyed change records it and replays it).
 */
export abstract class CounterRefusal extends Error {}

export class CounterNotFoundError extends CounterRefusal {
  constructor(readonly counter: string) {
    super(`There is no counter named "${counter}".`);
    this.name = 'CounterNotFoundError';
  }
}

export class CounterOutOfRangeError extends CounterRefusal {
  constructor(
    readonly counter: string,
    readonly current: number,
    readonly attempted: string,
    /** For a sharded counter: its shard count, since each shard holds 1/N of the range. */
    readonly shards?: number,
  ) {
    super(
      shards === undefined
        ? `Counter "${counter}" is ${current}; ${attempted} would leave the range ` +
            `-9007199254740991..9007199254740991, so it was not applied.`
        : `Counter "${counter}" is ${current}; ${attempted} would take one of its ${shards} shards beyond ` +
            `${shardBound(shards)} either way (each shard holds 1/${shards} of the range), so it was not applied.`,
    );
    this.name = 'CounterOutOfRangeError';
  }
}

/** A change that would take a bounded counter below its min or above its max (docs/api.md, bounds). */
export class CounterOutOfBoundsError extends CounterRefusal {
  constructor(
    readonly counter: string,
    readonly current: number,
    readonly attempted: string,
    readonly bound: { side: 'min' | 'max'; value: number },
  ) {
    super(
      `Counter "${counter}" is ${current}; ${attempted} would take it ` +
        `${bound.side === 'min' ? 'below its min' : 'above its max'} ${bound.value}, so it was not applied.`,
    );
    this.name = 'CounterOutOfBoundsError';
  }
}

export class VersionMismatchError extends CounterRefusal {
  constructor(
    readonly counter: string,
    readonly expected: number,
    readonly actual: number | undefined,
  ) {
    super(
      actual === undefined
        ? `If-Match asked for version ${expected} of "${counter}", which does not exist; nothing was changed.`
        : `If-Match asked for version ${expected} of "${counter}", but it is at version ${actual}; nothing was changed.`,
    );
    this.name = 'VersionMismatchError';
  }
}

export class InvalidCursorError extends Error {
  constructor() {
    super('The cursor is not one this API issued for this listing; start again without it.');
    this.name = 'InvalidCursorError';
  }
}

/** A change the layout of a sharded counter does not allow (docs/sharding.md). */
export class ShardLayoutError extends CounterRefusal {
  constructor(
    readonly counter: string,
    detail: string,
  ) {
    super(detail);
    this.name = 'ShardLayoutError';
  }

  /** A set of a sharded counter. */
  static setOfSharded(counter: string, shards: number): ShardLayoutError {
    return new ShardLayoutError(
      counter,
      `Counter "${counter}" is spread over ${shards} shards, which only increments change: a set cannot be ` +
        'ordered against increments landing on the other shards. Delete the counter and create it again ' +
        'with the value wanted.',
    );
  }

  /** Bounds asked of a sharded counter, whose shards could not keep them exact. */
  static bounded(counter: string): ShardLayoutError {
    return new ShardLayoutError(
      counter,
      `Counter "${counter}" cannot be both sharded and bounded: each shard would have to know what the ` +
        'others hold to keep min and max exact. Leave out "shards" to bound it, or leave out "min" and "max".',
    );
  }

  /** `shards` given for a counter that already exists. */
  static exists(counter: string, shards: number | undefined): ShardLayoutError {
    return new ShardLayoutError(
      counter,
      `Counter "${counter}" already exists${shards === undefined ? '' : ` spread over ${shards} shards`}; shards ` +
        'are chosen when a counter is created. Leave out "shards" to set it, or delete it first.',
    );
  }
}

/** How an out-of-range error names the increment it refused. */
export function describeIncrement(by: number): string {
  return by >= 0 ? `adding ${by}` : `subtracting ${-by}`;
}

/** The most each of `shards` shards may hold either way, so that their sum stays within the range. */
export function shardBound(shards: number): number {
  return Math.floor(Number.MAX_SAFE_INTEGER / shards);
}

/**
 * A change that kept meeting other transactions on the same items (DynamoDB's TransactionConflict, a
 * hot sharded counter's snapshots and If-Match changes) through all its retries: nothing was changed.
 * Not throttling, so not a 429: the table has capacity, these items were busy (docs/performance.md).
 */
export class CounterBusyError extends Error {
  constructor(readonly counter: string) {
    super(
      `Counter "${counter}" kept changing while this change tried to get in; nothing was changed. Retry shortly.`,
    );
    this.name = 'CounterBusyError';
  }
}

/**
 * A keyed change's attempt that a recovery has fenced off (idempotency.ts): it wrote nothing, and the
 * attempt that recovers the key now answers for it.
 */
export class AttemptFencedError extends Error {
  constructor() {
    super('A retry of this request is recovering it; retry it shortly with the same key.');
    this.name = 'AttemptFencedError';
  }
}

// Keyed changes (idempotency.ts).

export class IdempotencyKeyReusedError extends Error {
  constructor() {
    super('This Idempotency-Key was already used for a different request; use a new key for a new request.');
    this.name = 'IdempotencyKeyReusedError';
  }
}

export class RequestInFlightError extends Error {
  constructor() {
    super('A request with this Idempotency-Key is still in flight; retry it shortly with the same key.');
    this.name = 'RequestInFlightError';
  }
}

// Signals between the repository's parts (change-rules.ts): never an answer.

/** A sharded counter's layout, found where a plain counter was expected. */
export class CounterIsSharded extends Error {
  constructor(readonly layout: { shards: number; incarnation: string }) {
    super('the counter is sharded');
    this.name = 'CounterIsSharded';
  }
}

/** A shard no longer of the layout (or at the version) the change was made for: look again. */
export class LayoutChanged extends Error {
  constructor() {
    super('the shard changed since it was read');
    this.name = 'LayoutChanged';
  }
}

/** An increment that would take one shard beyond its share of the range. */
export class ShardShareExceeded extends Error {
  constructor() {
    super('the increment would take the shard beyond its share of the range');
    this.name = 'ShardShareExceeded';
  }
}

/** Thrown when a shard's change arrives before the counter's creation was recorded: retried later. */
export class SequencerNotReadyError extends Error {
  constructor(key: string) {
    super(`history of ${key}: a shard's change came before the counter's creation was recorded; retrying`);
    this.name = 'SequencerNotReadyError';
  }
}
