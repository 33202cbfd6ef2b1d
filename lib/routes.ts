/**
 * Every route of the API, in one table that the CDK stack and the local server both read, so the two
 * can never disagree. A function serves one operation; the seed's `/counter` routes are aliases of the
 * `/counters/{name}` ones for the counter `default` and share their function.
 */
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** What a principal needs to call the route; the grants are built from these. */
export type Access = 'read' | 'increment' | 'write';

/** The service's tables, as the table-access declarations name them. */
export const SERVICE_TABLES = ['counters', 'history', 'rollups', 'idempotency'] as const;
export type ServiceTable = (typeof SERVICE_TABLES)[number];

/** A table, or one of its indexes (`counters/index/by-name`). */
export type TableResource = ServiceTable | `${ServiceTable}/index/${string}`;

/** The DynamoDB actions a function may be given. IAM checks a transaction as these, item by item. */
export type TableAction =
  | 'GetItem'
  | 'BatchGetItem'
  | 'Query'
  | 'PutItem'
  | 'UpdateItem'
  | 'DeleteItem'
  | 'BatchWriteItem'
  | 'ConditionCheckItem';

/**
 * What a function may do, table by table: the one declaration from which the stack derives both the
 * function's IAM actions (exactly these, on exactly these tables and indexes) and its environment
 * (the name of each table it may touch, and no other). Giving a function a new use of a table is an
 * edit of this declaration alone.
 */
export type TableAccess = Readonly<Partial<Record<TableResource, readonly TableAction[]>>>;

/**
 * The variable that carries each table's name to the functions that may touch it. The functions
 * read these same names (functions/counter/wiring.ts, functions/stream/record-history.ts).
 */
export const TABLE_ENVIRONMENT: Readonly<Record<ServiceTable, string>> = {
  counters: 'COUNTERS_TABLE',
  history: 'HISTORY_TABLE',
  rollups: 'ROLLUPS_TABLE',
  idempotency: 'IDEMPOTENCY_TABLE',
};

export interface FunctionSpec {
  /** CDK id and the file under functions/http/ (kebab-case) */
  id: string;
  entry: string;
  description: string;
  tables: TableAccess;
}

export interface RouteSpec {
  method: HttpMethod;
  /** API Gateway path syntax: `{name}` is a path parameter. */
  path: string;
  function: FunctionSpec;
  access: Access;
}

const fn = (id: string, description: string, tables: TableAccess): FunctionSpec => ({
  id,
  entry: `functions/http/${id}.ts`,
  description,
  tables,
});

/**
 * Keyed changes (Idempotency-Key, functions/counter/idempotency.ts): the claim is a conditional put;
 * reaching more items, the answer (also inside a delete's or a sharded creation's transaction), the end
 * of a lease and a recovery's take-over are updates; a recovery reads the record; a claim whose change
 * certainly wrote nothing is released with a conditional delete.
 */
const KEYED_RECORDS: readonly TableAction[] = ['PutItem', 'UpdateItem', 'GetItem', 'DeleteItem'];

// GetItem on counters: a counter's item; a sharded counter's TransactGetItems snapshot of its shards
// is checked as GetItem of each; a recovering keyed change reads the counter's tag.
export const FUNCTIONS = {
  getCounter: fn('get-counter', 'GET a counter', { counters: ['GetItem'] }),
  incrementCounter: fn('increment-counter', 'POST: add to a counter atomically', {
    // UpdateItem: the ADD, and a recovery's fence and probe; ConditionCheckItem: If-Match on a sharded
    // counter checks its other shards.
    counters: ['GetItem', 'UpdateItem', 'ConditionCheckItem'],
    idempotency: KEYED_RECORDS,
  }),
  setCounter: fn('set-counter', 'PUT: set a counter', {
    // PutItem: the transaction that creates a sharded counter's items, only if the name is free.
    counters: ['GetItem', 'UpdateItem', 'PutItem'],
    idempotency: KEYED_RECORDS,
  }),
  deleteCounter: fn('delete-counter', 'DELETE a counter', {
    counters: ['GetItem', 'DeleteItem'],
    // A keyed delete's answer is written in its own transaction: it never needs a recovery's read.
    idempotency: ['PutItem', 'UpdateItem', 'DeleteItem'],
  }),
  listCounters: fn('list-counters', 'GET counters by name', {
    // The keys-only by-name index, then one consistent BatchGetItem of the page's values.
    'counters/index/by-name': ['Query'],
    counters: ['BatchGetItem', 'GetItem'],
  }),
  // History is keyed by the counter's incarnation, which a GetItem reads first; since/until read the
  // minute rollups to find their versions.
  getHistory: fn('get-history', "GET a counter's history", {
    counters: ['GetItem'],
    history: ['Query'],
    rollups: ['Query'],
  }),
  getSeries: fn('get-series', "GET a counter's series", { counters: ['GetItem'], rollups: ['Query'] }),
} as const satisfies Record<string, FunctionSpec>;

export const ROUTES: readonly RouteSpec[] = [
  { method: 'GET', path: '/counters', function: FUNCTIONS.listCounters, access: 'read' },
  { method: 'GET', path: '/counters/{name}', function: FUNCTIONS.getCounter, access: 'read' },
  { method: 'POST', path: '/counters/{name}', function: FUNCTIONS.incrementCounter, access: 'increment' },
  { method: 'PUT', path: '/counters/{name}', function: FUNCTIONS.setCounter, access: 'write' },
  { method: 'DELETE', path: '/counters/{name}', function: FUNCTIONS.deleteCounter, access: 'write' },
  { method: 'GET', path: '/counters/{name}/history', function: FUNCTIONS.getHistory, access: 'read' },
  { method: 'GET', path: '/counters/{name}/series', function: FUNCTIONS.getSeries, access: 'read' },
  // The seed's routes: the counter `default`.
  { method: 'GET', path: '/counter', function: FUNCTIONS.getCounter, access: 'read' },
  { method: 'POST', path: '/counter', function: FUNCTIONS.incrementCounter, access: 'increment' },
  { method: 'PUT', path: '/counter', function: FUNCTIONS.setCounter, access: 'write' },
  { method: 'GET', path: '/counter/history', function: FUNCTIONS.getHistory, access: 'read' },
];

/** The stream consumer, which no route reaches. */
export const HISTORY_CONSUMER: FunctionSpec = {
  id: 'record-history',
  entry: 'functions/stream/record-history.ts',
  description: 'Counters stream -> history table',
  // The stream grant is made by the event source itself.
  tables: {
    // Conditional puts of entries; a purge queries a deleted counter's entries and deletes them in
    // batches; a sharded counter's sequencer is read (GetItem) and advanced (UpdateItem, and Put of
    // a page, in a TransactWriteItems) with its entries.
    history: ['PutItem', 'BatchWriteItem', 'Query', 'GetItem', 'UpdateItem'],
    // One conditional ADD per bucket per batch; a purge queries a series' keys and deletes them.
    rollups: ['UpdateItem', 'BatchWriteItem', 'Query'],
    // Keyed changes' records (functions/counter/keyed-witness.ts): the conditional marks of a write
    // seen (with the counter it made: the answer) and of a probe passed.
    idempotency: ['UpdateItem'],
  },
};

/** The functions, each once, in a stable order. */
export function routeFunctions(): FunctionSpec[] {
  return [...new Map(ROUTES.map((route) => [route.function.id, route.function])).values()];
}
