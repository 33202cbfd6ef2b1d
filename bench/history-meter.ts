import type { MiddlewareStack } from '@smithy/types';
import { consumedOf, tablesOf, WRITE_OPERATIONS } from './capacity-proxy.ts';

/** What one labelled activity cost in DynamoDB requests and capacity units. */
export interface Metered {
  /** Requests by `<operation> <table role>`. */
  requests: Map<string, number>;
  readUnits: number;
  writeUnits: number;
  /** Metered requests whose answer carried no ConsumedCapacity (the engine would then be under-reporting). */
  unreported: number;
}

/** Operations that accept ReturnConsumedCapacity, as the SDK names its commands. */
const METERED = new Set([
  'GetItemCommand',
  'PutItemCommand',
  'UpdateItemCommand',
  'DeleteItemCommand',
  'QueryCommand',
  'ScanCommand',
  'BatchGetItemCommand',
  'BatchWriteItemCommand',
  'TransactGetItemsCommand',
  'TransactWriteItemsCommand',
]);

const MIDDLEWARE_NAME = 'historyScaleCapacityMeter';

/**
 * Asks for `ReturnConsumedCapacity: TOTAL` on every request of the clients it is attached to, and adds
 * up what comes back under the current label. It sits in the client's own middleware stack (rather
 * than on the wire, as bench/capacity-proxy.ts does) so the latency figures measured through the same
 * clients pay no extra HTTP hop; it is attached to the very module-wide clients the service and the
 * stream consumer use (functions/platform/dynamodb.ts), so what is counted is what they send.
 *
 * While no label is set it does nothing, so writes that only build the data set are not counted.
 */
export class CapacityMeter {
  /** The activity requests are counted under; undefined counts nothing. */
  label: string | undefined;
  private readonly byLabel = new Map<string, Metered>();

  /** @param roleOf table name -> the role shown in reports (counters, history, rollups) */
  constructor(private readonly roleOf: ReadonlyMap<string, string>) {}

  attach<Input extends object, Output extends object>(stack: MiddlewareStack<Input, Output>): void {
    stack.add(
      (next, context) => async (args) => {
        const label = this.label;
        const operation = context.commandName ?? '';
        const input: unknown = args.input;
        if (label === undefined || !METERED.has(operation) || !isRecord(input)) return next(args);
        // INDEXES already includes the total; anything else becomes TOTAL.
        const wanted = input.ReturnConsumedCapacity === 'INDEXES' ? 'INDEXES' : 'TOTAL';
        const result = await next({ ...args, input: { ...args.input, ReturnConsumedCapacity: wanted } });
        const output: unknown = result.output;
        const consumed = consumedOf(isRecord(output) ? output.ConsumedCapacity : undefined);
        this.record(label, operation.replace(/Command$/, ''), tablesOf(input), consumed);
        return result;
      },
      { step: 'initialize', name: MIDDLEWARE_NAME, override: true },
    );
  }

  /** What was counted under `label` (all zero if nothing was). */
  get(label: string): Metered {
    return this.byLabel.get(label) ?? { requests: new Map(), readUnits: 0, writeUnits: 0, unreported: 0 };
  }

  /** Every label's total unreported count: zero means every figure came from the engine. */
  unreportedTotal(): number {
    let total = 0;
    for (const metered of this.byLabel.values()) total += metered.unreported;
    return total;
  }

  private record(
    label: string,
    operation: string,
    tables: string[],
    consumed: { table: string; units: number }[],
  ): void {
    const metered = this.get(label);
    this.byLabel.set(label, metered);
    const request = `${operation} ${tables.map((table) => this.roleOf.get(table) ?? table).join('+')}`;
    metered.requests.set(request, (metered.requests.get(request) ?? 0) + 1);
    if (consumed.length === 0) metered.unreported++;
    const units = consumed.reduce((sum, entry) => sum + entry.units, 0);
    if (WRITE_OPERATIONS.has(operation)) metered.writeUnits += units;
    else metered.readUnits += units;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Requests per call, e.g. "1 x GetItem counters, 1 x Query history". */
export function requestsPerCall(requests: ReadonlyMap<string, number>, calls: number): string {
  return [...requests]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([request, count]) => `${Number((count / calls).toFixed(2))} x ${request}`)
    .join(', ');
}
