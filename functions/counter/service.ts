import type * as z from 'zod/mini';
import { decodeCursor, encodeCursor, historyCursor, listCursor, seriesCursor } from './cursor.ts';
import { CounterNotFoundError, InvalidCursorError } from './errors.ts';
import type { ChangeCommand as Command, Outcome } from './idempotency.ts';
import type { CounterRepository, KeyedAttempt } from './repository.ts';
import { type Counter, DEFAULT_COUNTER, type HistoryEntry, toCounter, untouchedDefault } from './schema.ts';
import { bucketStart, type Interval, type SeriesBucket } from './series.ts';

/** What the use cases need besides storage, injected so tests control time and ids. */
export interface ServiceDeps {
  repository: CounterRepository;
  now: () => string;
  newId: () => string;
}

export interface ChangeCommand {
  name: string;
  actor: string;
  expectedVersion?: number | undefined;
  /** A keyed change's attempt (idempotency.ts); undefined for a change without Idempotency-Key. */
  attempt?: KeyedAttempt | undefined;
}

export interface Listing<T> {
  items: T[];
  /** Present while more remain. */
  cursor?: string | undefined;
}

export async function getCounter(deps: ServiceDeps, name: string): Promise<Counter> {
  const stored = await deps.repository.get(name);
  if (stored !== undefined) return toCounter(stored);
  if (name === DEFAULT_COUNTER) return untouchedDefault();
  throw new CounterNotFoundError(name);
}

/** The counter after the increment, or undefined when it is applied but was not read (repository.ts). */
export async function incrementCounter(
  deps: ServiceDeps,
  command: ChangeCommand & { by: number; readBack?: boolean | undefined },
): Promise<Counter | undefined> {
  const stored = await deps.repository.increment({
    ...command,
    now: deps.now(),
    newIncarnation: deps.newId(),
  });
  return stored === undefined ? undefined : toCounter(stored);
}

export async function setCounter(
  deps: ServiceDeps,
  command: ChangeCommand & {
    value: number;
    shards?: number | undefined;
    min?: number | null | undefined;
    max?: number | null | undefined;
  },
): Promise<Counter> {
  const stored = await deps.repository.set({ ...command, now: deps.now(), newIncarnation: deps.newId() });
  return toCounter(stored);
}

export async function deleteCounter(
  deps: ServiceDeps,
  command: { name: string; expectedVersion?: number | undefined; attempt?: KeyedAttempt | undefined },
): Promise<void> {
  await deps.repository.delete(command);
}

/**
 * A change command as the outcome its answer is made from: the one path of unkeyed and keyed changes
 * (a keyed one passes its attempt; idempotency.ts). Refusals are thrown.
 */
export async function runCommand(
  deps: ServiceDeps,
  command: Command,
  options: { attempt?: KeyedAttempt | undefined; readBack?: boolean | undefined } = {},
): Promise<Outcome> {
  const { attempt } = options;
  if (command.op === 'increment') {
    const counter = await incrementCounter(deps, { ...command, attempt, readBack: options.readBack });
    return counter === undefined ? { kind: 'applied' } : { kind: 'counter', counter };
  }
  if (command.op === 'set')
    return { kind: 'counter', counter: await setCounter(deps, { ...command, attempt }) };
  await deleteCounter(deps, { ...command, attempt });
  return { kind: 'deleted' };
}

export async function listCounters(
  deps: ServiceDeps,
  query: { prefix: string; limit: number; cursor?: string | undefined },
): Promise<Listing<Counter>> {
  let after: string | undefined;
  if (query.cursor !== undefined) {
    const position = decodeCursor(query.cursor, listCursor);
    if (position.p !== query.prefix || !position.a.startsWith(query.prefix)) throw new InvalidCursorError();
    after = position.a;
  }
  const page = await deps.repository.list({ prefix: query.prefix, limit: query.limit, after });
  return {
    items: page.items.map(toCounter),
    cursor:
      page.hasMore && page.lastName !== undefined
        ? encodeCursor({ p: query.prefix, a: page.lastName })
        : undefined,
  };
}

export async function counterHistory(
  deps: ServiceDeps,
  query: {
    name: string;
    limit: number;
    cursor?: string | undefined;
    since?: string | undefined;
    until?: string | undefined;
  },
): Promise<Listing<HistoryEntry>> {
  const counter = await existing(deps, query.name, query.cursor);
  if (counter === undefined) return { items: [] };
  const afterVersion =
    query.cursor === undefined ? undefined : positionIn(counter.incarnation, query.cursor, historyCursor).v;
  // A page never ends past the counter's version (read consistently, and never lower later).
  if (afterVersion !== undefined && afterVersion > counter.version) throw new InvalidCursorError();
  const page = await deps.repository.history({
    name: query.name,
    incarnation: counter.incarnation,
    limit: query.limit,
    afterVersion,
    since: query.since,
    until: query.until,
    shards: counter.shards,
  });
  return {
    items: page.items,
    cursor:
      page.hasMore && page.lastVersion !== undefined
        ? encodeCursor({ i: counter.incarnation, v: page.lastVersion })
        : undefined,
  };
}

export async function counterSeries(
  deps: ServiceDeps,
  query: {
    name: string;
    interval: Interval;
    limit: number;
    cursor?: string | undefined;
    since?: string | undefined;
    until?: string | undefined;
  },
): Promise<Listing<SeriesBucket>> {
  const counter = await existing(deps, query.name, query.cursor);
  if (counter === undefined) return { items: [] };
  const afterStart =
    query.cursor === undefined ? undefined : positionIn(counter.incarnation, query.cursor, seriesCursor).s;
  // A series page ends on a bucket of its own interval.
  if (afterStart !== undefined && bucketStart(afterStart, query.interval) !== afterStart) {
    throw new InvalidCursorError();
  }
  const page = await deps.repository.series({
    name: query.name,
    incarnation: counter.incarnation,
    interval: query.interval,
    limit: query.limit,
    afterStart,
    since: query.since,
    until: query.until,
  });
  const last = page.items.at(-1);
  return {
    items: page.items,
    cursor:
      page.hasMore && last !== undefined
        ? encodeCursor({ i: counter.incarnation, s: last.start })
        : undefined,
  };
}

/** The counter a history or series reads, or undefined for the never-changed default (empty). */
async function existing(deps: ServiceDeps, name: string, cursor: string | undefined) {
  const counter = await deps.repository.get(name);
  if (counter !== undefined) return counter;
  if (name === DEFAULT_COUNTER && cursor === undefined) return undefined;
  throw new CounterNotFoundError(name);
}

/** A cursor's position, refused if it came from an earlier counter of the same name. */
function positionIn<T extends { i: string }>(
  incarnation: string,
  cursor: string,
  schema: z.ZodMiniType<T>,
): T {
  const position = decodeCursor(cursor, schema);
  if (position.i !== incarnation) throw new InvalidCursorError();
  return position;
}
