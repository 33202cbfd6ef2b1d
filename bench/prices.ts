/**
 * The prices the cost figures are computed from: AWS's public on-demand list prices for us-east-1
 * (N. Virginia), in US dollars, before any free tier or discount.
 *
 * They are the figures on the public price lists as known when this file was written; they were
 * recorded on the date below without live access to the pages from the machine that wrote it, so
 * re-check each one against its page before relying on a figure computed from it.
 */
export interface Price {
  /** Dollars per `unit`. */
  value: number;
  unit: string;
  /** The AWS pricing page it is published on. */
  source: string;
  /** When it was taken from that page (see the note above). */
  takenOn: string;
  note?: string;
}

const TAKEN_ON = '2026-11-30';

export const HTTP_API_REQUESTS: Price = {
  value: 1.0,
  unit: 'million requests',
  source: 'https://aws.amazon.com/api-gateway/pricing/ (HTTP APIs, us-east-1)',
  takenOn: TAKEN_ON,
  note: 'first 300 million requests a month ($0.90 beyond); each 512 KB of a request counts as one request',
};

export const LAMBDA_REQUESTS: Price = {
  value: 0.2,
  unit: 'million requests',
  source: 'https://aws.amazon.com/lambda/pricing/ (us-east-1)',
  takenOn: TAKEN_ON,
};

export const LAMBDA_ARM_GB_SECOND: Price = {
  value: 0.0000133334,
  unit: 'GB-second (arm64)',
  source: 'https://aws.amazon.com/lambda/pricing/ (us-east-1, Arm price)',
  takenOn: TAKEN_ON,
  note: 'first 7.5 billion GB-seconds a month; duration is billed in 1 ms steps',
};

export const DYNAMODB_WRITE_REQUEST_UNITS: Price = {
  value: 0.625,
  unit: 'million write request units (on-demand)',
  source: 'https://aws.amazon.com/dynamodb/pricing/on-demand/ (us-east-1, Standard table class)',
  takenOn: TAKEN_ON,
  note: 'the price since the on-demand price cut of 1 November 2024',
};

export const DYNAMODB_READ_REQUEST_UNITS: Price = {
  value: 0.125,
  unit: 'million read request units (on-demand)',
  source: 'https://aws.amazon.com/dynamodb/pricing/on-demand/ (us-east-1, Standard table class)',
  takenOn: TAKEN_ON,
  note: 'the price since the on-demand price cut of 1 November 2024',
};

export const DYNAMODB_STORAGE: Price = {
  value: 0.25,
  unit: 'GB-month of table storage',
  source: 'https://aws.amazon.com/dynamodb/pricing/on-demand/ (us-east-1, Standard table class)',
  takenOn: TAKEN_ON,
  note: 'first 25 GB a month free; every item counts 100 bytes of overhead, in the table and in each index',
};

export const DYNAMODB_STREAM_READS_BY_LAMBDA: Price = {
  value: 0,
  unit: 'stream read request',
  source: 'https://aws.amazon.com/dynamodb/pricing/on-demand/ (DynamoDB Streams)',
  takenOn: TAKEN_ON,
  note: "GetRecords calls made by Lambda's event source mapping for a DynamoDB trigger are free",
};

export const CLOUDWATCH_LOGS_INGESTION: Price = {
  value: 0.5,
  unit: 'GB of log data ingested (Standard log class)',
  source: 'https://aws.amazon.com/cloudwatch/pricing/ (us-east-1, Logs)',
  takenOn: TAKEN_ON,
  note: "the functions' logs and EMF metrics arrive through it; 5 GB a month free",
};

export const XRAY_TRACES_RECORDED: Price = {
  value: 5.0,
  unit: 'million traces recorded',
  source: 'https://aws.amazon.com/xray/pricing/ (us-east-1)',
  takenOn: TAKEN_ON,
  note: 'first 100,000 traces recorded a month free; retrieving or scanning traces is $0.50 a million beyond 1,000,000',
};

export const EVENTBRIDGE_CUSTOM_EVENTS: Price = {
  value: 1.0,
  unit: 'million custom events published',
  source: 'https://aws.amazon.com/eventbridge/pricing/ (us-east-1, event buses: custom events)',
  takenOn: TAKEN_ON,
  note: 'each 64 KB chunk of an event is one event; PutEvents batching does not change the per-event price; the change events of docs/events.md (off by default)',
};

/**
 * X-Ray's default sampling rule, which Lambda's active tracing follows: the first request each second
 * (the reservoir), then this share of the rest.
 */
export const XRAY_DEFAULT_SAMPLING = { reservoirPerSecond: 1, rate: 0.05 } as const;

/**
 * The memory every function gets: CounterFunction's default (lib/constructs/node-function.ts), which
 * no function in the stack overrides. Duration is billed per GB-second of it.
 */
export const LAMBDA_MEMORY_MB = 256;

export const ALL_PRICES = {
  HTTP_API_REQUESTS,
  LAMBDA_REQUESTS,
  LAMBDA_ARM_GB_SECOND,
  DYNAMODB_WRITE_REQUEST_UNITS,
  DYNAMODB_READ_REQUEST_UNITS,
  DYNAMODB_STORAGE,
  DYNAMODB_STREAM_READS_BY_LAMBDA,
  CLOUDWATCH_LOGS_INGESTION,
  XRAY_TRACES_RECORDED,
  EVENTBRIDGE_CUSTOM_EVENTS,
} as const;
