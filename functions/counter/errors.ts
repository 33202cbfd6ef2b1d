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
  ) {
    super(
      `Counter "${counter}" is ${current}; ${attempted} would leave the range ` +
        `-9007199254740991..9007199254740991, so it was not applied.`,
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
