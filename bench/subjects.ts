import { COUNTER_FUNCTION_ENVIRONMENT } from '../lib/constructs/node-function.ts';
import { HISTORY_CONSUMER, routeFunctions } from '../lib/routes.ts';

/** Something the benchmarks bundle and load: a deployed function or a reference handler. */
export interface Subject {
  id: string;
  /** Relative to the repository root. */
  entry: string;
  kind: 'function' | 'reference';
}

export const INCREMENT_REFERENCE: Subject = {
  id: 'increment-reference',
  entry: 'bench/reference/increment-reference.ts',
  kind: 'reference',
};

export const GET_REFERENCE: Subject = {
  id: 'get-reference',
  entry: 'bench/reference/get-reference.ts',
  kind: 'reference',
};

/** Every function the stack deploys (from the route table, so a new route is measured too), then the references. */
export function subjects(): Subject[] {
  return [
    ...[...routeFunctions(), HISTORY_CONSUMER].map(
      (spec): Subject => ({ id: spec.id, entry: spec.entry, kind: 'function' }),
    ),
    INCREMENT_REFERENCE,
    GET_REFERENCE,
  ];
}

/**
 * The environment a function starts with on Lambda, as far as our code reads it: the house defaults
 * (NODE_OPTIONS with --enable-source-maps among them) and what the local server gives the handlers
 * (table names, region, credentials), without the local engine's endpoint: on Lambda the SDK finds
 * the regional endpoint itself, and nothing connects at import.
 */
export function lambdaEnvironment(handlerEnvironment: Record<string, string>): Record<string, string> {
  const { DYNAMODB_ENDPOINT: _endpoint, ...rest } = handlerEnvironment;
  return { ...COUNTER_FUNCTION_ENVIRONMENT, ...rest };
}

/**
 * The same, for handlers loaded into this process: without NODE_OPTIONS, which would only leak into
 * the processes the benchmark starts later (a running process does not read it again).
 */
export function inProcessEnvironment(handlerEnvironment: Record<string, string>): Record<string, string> {
  const { NODE_OPTIONS: _options, ...rest } = COUNTER_FUNCTION_ENVIRONMENT;
  return { ...rest, ...handlerEnvironment };
}
