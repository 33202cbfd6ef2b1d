import { decodeCursor, encodeCursor, historyCursor, listCursor } from './cursor.ts';
import { CounterNotFoundError, InvalidCursorError } from './errors.ts';
import type { CounterRepository } from './repository.ts';
import { type Counter, DEFAULT_COUNTER, type HistoryEntry, toCounter, untouchedDefault } from './schema.ts';

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

export async function incrementCounter(
  deps: ServiceDeps,
  command: ChangeCommand & { by: number },
): Promise<Counter> {
  const stored = await deps.repository.increment({
    ...command,
    now: deps.now(),
    newIncarnation: deps.newId(),
  });
  return toCounter(stored);
}

export async function setCounter(
  deps: ServiceDeps,
  command: ChangeCommand & { value: number },
): Promise<Counter> {
  const stored = await deps.repository.set({ ...command, now: deps.now(), newIncarnation: deps.newId() });
  return toCounter(stored);
}

export async function deleteCounter(
  deps: ServiceDeps,
  command: { name: string; expectedVersion?: number | undefined },
): Promise<void> {
  const deleted = await deps.repository.delete(command);
  if (deleted === undefined) throw new CounterNotFoundError(command.name);
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
  query: { name: string; limit: number; cursor?: string | undefined },
): Promise<Listing<HistoryEntry>> {
  const counter = await deps.repository.get(query.name);
  if (counter === undefined) {
    if (query.name === DEFAULT_COUNTER && query.cursor === undefined) return { items: [] };
    throw new CounterNotFoundError(query.name);
  }
  let afterVersion: number | undefined;
  if (query.cursor !== undefined) {
    const position = decodeCursor(query.cursor, historyCursor);
    // A cursor from an earlier counter of the same name must not read into the new one's history.
    if (position.i !== counter.incarnation) throw new InvalidCursorError();
    afterVersion = position.v;
  }
  const page = await deps.repository.history({
    name: query.name,
    incarnation: counter.incarnation,
    limit: query.limit,
    afterVersion,
  });
  const last = page.items.at(-1);
  return {
    items: page.items,
    cursor:
      page.hasMore && last !== undefined
        ? encodeCursor({ i: counter.incarnation, v: last.version })
        : undefined,
  };
}
