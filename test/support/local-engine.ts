import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { DynamoDBDocumentClient, type TranslateConfig } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll } from 'vitest';
import { type Engine, startEngine } from '../../lib/local/engine.ts';
import { FaultProxy } from './fault-proxy.ts';

export const LOCAL_REGION = 'us-east-1';
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/** A local engine that `useEngine` starts before a block's tests, with clients made on first use. */
export interface EngineHandle {
  readonly engine: Engine;
  readonly endpoint: string;
  /** A DynamoDB client for the engine (not through the proxy). */
  readonly raw: DynamoDBClient;
  /** A document client over `raw`, with `documents` translation options if given. */
  readonly documents: DynamoDBDocumentClient;
  readonly streams: DynamoDBStreamsClient;
  /**
   * The fault proxy in front of the engine, only with `faultProxy: true`; the object is there at once
   * (so it can be destructured), its `url` once `beforeAll` has started it.
   */
  readonly proxy: FaultProxy;
}

/**
 * Starts the local engine (Dynoxide) in `beforeAll` of the enclosing describe block (or file), and in
 * `afterAll` destroys the clients it made, stops the fault proxy and then the engine. Hooks registered
 * after this call run after the engine started and, in `afterAll`, before it stops.
 */
export function useEngine(
  options: { dbPath?: () => string; faultProxy?: boolean; documents?: TranslateConfig } = {},
): EngineHandle {
  let engine: Engine | undefined;
  const proxy = options.faultProxy === true ? new FaultProxy(() => running().endpoint) : undefined;
  let raw: DynamoDBClient | undefined;
  let documents: DynamoDBDocumentClient | undefined;
  let streams: DynamoDBStreamsClient | undefined;
  const running = (): Engine => {
    if (engine === undefined) throw new Error('the engine is used before beforeAll started it');
    return engine;
  };
  const client = () => {
    raw ??= new DynamoDBClient({
      endpoint: running().endpoint,
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
    });
    return raw;
  };

  beforeAll(async () => {
    engine = await startEngine({ dbPath: options.dbPath?.() });
    await proxy?.start();
  });
  afterAll(async () => {
    documents?.destroy();
    raw?.destroy();
    streams?.destroy();
    await proxy?.stop();
    await engine?.stop();
  });

  return {
    get engine() {
      return running();
    },
    get endpoint() {
      return running().endpoint;
    },
    get raw() {
      return client();
    },
    get documents() {
      documents ??= DynamoDBDocumentClient.from(client(), options.documents);
      return documents;
    },
    get streams() {
      streams ??= new DynamoDBStreamsClient({
        endpoint: running().endpoint,
        region: LOCAL_REGION,
        credentials: LOCAL_CREDENTIALS,
      });
      return streams;
    },
    get proxy() {
      if (proxy === undefined) throw new Error('useEngine was called without faultProxy: true');
      return proxy;
    },
  };
}
