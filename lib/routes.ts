/**
 * Every route of the API, in one table that the CDK stack and the local server both read, so the two
 * can never disagree. A function serves one operation; the seed's `/counter` routes are aliases of the
 * `/counters/{name}` ones for the counter `default` and share their function.
 */
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** What a principal needs to call the route; the grants are built from these. */
export type Access = 'read' | 'increment' | 'write';

/** What the function may do to the tables. */
export type TableAccess =
  /** GetItem of one counter (a sharded one's TransactGetItems of its shards is GetItems too). */
  | 'get-counter'
  /** The by-name index and a BatchGetItem of the page; GetItem for sharded counters' snapshots. */
  | 'list-counters'
  /** UpdateItem: increments and sets; ConditionCheckItem: If-Match on a sharded counter. */
  | 'update-counters'
  /** PutItem: the transaction that creates a sharded counter's items. */
  | 'create-sharded-counters'
  /** DeleteItem. */
  | 'delete-counters'
  /** Query of the history, and of its time index for since/until. */
  | 'read-history'
  /** Conditional puts of entries, and the purge of a deleted counter's entries. */
  | 'write-history'
  | 'read-rollups'
  /** Rollup updates, and the purge of a deleted counter's rollups. */
  | 'write-rollups'
  /** Keyed changes: the idempotency record, written in the same transaction as the counter. */
  | 'write-idempotency';

export interface FunctionSpec {
  /** CDK id and the file under functions/http/ (kebab-case) */
  id: string;
  entry: string;
  description: string;
  tables: TableAccess[];
}

export interface RouteSpec {
  method: HttpMethod;
  /** API Gateway path syntax: `{name}` is a path parameter. */
  path: string;
  function: FunctionSpec;
  access: Access;
}

const fn = (id: string, description: string, tables: TableAccess[]): FunctionSpec => ({
  id,
  entry: `functions/http/${id}.ts`,
  description,
  tables,
});

export const FUNCTIONS = {
  getCounter: fn('get-counter', 'GET a counter', ['get-counter']),
  // A keyed change reads the counter it plans from (CONTRACT.md section 4).
  incrementCounter: fn('increment-counter', 'POST: add to a counter atomically', [
    'get-counter',
    'update-counters',
    'write-idempotency',
  ]),
  setCounter: fn('set-counter', 'PUT: set a counter', [
    'get-counter',
    'update-counters',
    'create-sharded-counters',
    'write-idempotency',
  ]),
  deleteCounter: fn('delete-counter', 'DELETE a counter', [
    'get-counter',
    'delete-counters',
    'write-idempotency',
  ]),
  listCounters: fn('list-counters', 'GET counters by name', ['list-counters']),
  // History is keyed by the counter's incarnation, which a GetItem reads first.
  getHistory: fn('get-history', "GET a counter's history", ['get-counter', 'read-history']),
  getSeries: fn('get-series', "GET a counter's series", ['get-counter', 'read-rollups']),
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
  // Reads the stream and writes history; the stream grant is made by the event source itself.
  tables: ['write-history', 'write-rollups'],
};

/** The functions, each once, in a stable order. */
export function routeFunctions(): FunctionSpec[] {
  return [...new Map(ROUTES.map((route) => [route.function.id, route.function])).values()];
}
