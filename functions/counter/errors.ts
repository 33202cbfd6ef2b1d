/** Domain failures. The HTTP adapter maps each to its status; the domain knows nothing of HTTP. */

export class CounterNotFoundError extends Error {
  constructor(readonly counter: string) {
    super(`There is no counter named "${counter}".`);
    this.name = 'CounterNotFoundError';
  }
}

export class CounterOutOfRangeError extends Error {
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

export class VersionMismatchError extends Error {
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
export class ShardLayoutError extends Error {
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

/** A change that kept meeting other changes of the same items (a hot sharded counter's transactions). */
export class CounterBusyError extends Error {
  constructor(readonly counter: string) {
    super(
      `Counter "${counter}" kept changing while this change tried to get in; nothing was changed. Retry shortly.`,
    );
    this.name = 'CounterBusyError';
  }
}
