import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { type App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AccountRootPrincipal, Role } from 'aws-cdk-lib/aws-iam';
import { SystemLogLevel, Tracing } from 'aws-cdk-lib/aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidPrefixError } from '../../lib/access.ts';
import type { CounterFunction } from '../../lib/constructs/node-function.ts';
import { CounterStack } from '../../lib/counter-stack.ts';
import { FUNCTIONS, HISTORY_CONSUMER, routeFunctions } from '../../lib/routes.ts';
import { isRecord, synthStack, TEST_ENV, testApp } from './synth.ts';
import {
  asArray,
  at,
  logicalIdOf,
  renderArn,
  resourcesOfType,
  type Statement,
  statementsOfRole,
} from './template-helpers.ts';

// One real synthesis for the whole file: it bundles every function with esbuild, as `cdk synth` does.
let app: App;
let stack: CounterStack;
let template: Template;

beforeAll(() => {
  app = testApp({ bundling: true });
  stack = new CounterStack(app, 'CounterService', { env: TEST_ENV });
  template = Template.fromStack(stack);
});

function routeFunction(id: string): CounterFunction {
  const fn = stack.api.functions.get(id);
  if (fn === undefined) throw new Error(`no function ${id}`);
  return fn;
}

function allFunctions(): [string, CounterFunction][] {
  return [...stack.api.functions.entries(), [HISTORY_CONSUMER.id, stack.historyConsumer.function]];
}

/** The function's table variables with stand-in values: enough to load its bundle. */
function tableEnvironment(fn: CounterFunction): Record<string, string> {
  const variables = at(functionProperties(fn), 'Environment', 'Variables');
  return Object.fromEntries(
    ['COUNTERS_TABLE', 'HISTORY_TABLE', 'IDEMPOTENCY_TABLE', 'ROLLUPS_TABLE'].flatMap((name) =>
      at(variables, name) === undefined ? [] : [[name, name.toLowerCase()]],
    ),
  );
}

function functionProperties(fn: CounterFunction): unknown {
  return at(template.toJSON(), 'Resources', logicalIdOf(fn), 'Properties');
}

/** Every route and the function behind it, written out here: a change of the route table shows up. */
const EXPECTED_ROUTES: Record<string, string> = {
  'GET /counters': 'list-counters',
  'GET /counters/{name}': 'get-counter',
  'POST /counters/{name}': 'increment-counter',
  'PUT /counters/{name}': 'set-counter',
  'DELETE /counters/{name}': 'delete-counter',
  'GET /counters/{name}/history': 'get-history',
  'GET /counters/{name}/series': 'get-series',
  'GET /counter': 'get-counter',
  'POST /counter': 'increment-counter',
  'PUT /counter': 'set-counter',
  'GET /counter/history': 'get-history',
};

describe('the HTTP API', () => {
  it('has exactly the routes of the route table', () => {
    const routeKeys = resourcesOfType(template, 'AWS::ApiGatewayV2::Route').map(([, route]) =>
      at(route, 'Properties', 'RouteKey'),
    );
    expect(routeKeys.toSorted()).toEqual(Object.keys(EXPECTED_ROUTES).toSorted());
  });

  it('authorizes every route with IAM (SigV4)', () => {
    const routes = resourcesOfType(template, 'AWS::ApiGatewayV2::Route');
    expect(routes.length).toBeGreaterThan(0);
    for (const [id, route] of routes) {
      expect(at(route, 'Properties', 'AuthorizationType'), id).toBe('AWS_IAM');
    }
  });

  it('integrates each route with the function of its operation', () => {
    for (const [routeKey, functionId] of Object.entries(EXPECTED_ROUTES)) {
      const [, integrationRoute] =
        resourcesOfType(template, 'AWS::ApiGatewayV2::Route').find(
          ([, r]) => at(r, 'Properties', 'RouteKey') === routeKey,
        ) ?? [];
      const target = String(at(integrationRoute, 'Properties', 'Target', 'Fn::Join', '1', '1', 'Ref'));
      const integration = at(template.toJSON(), 'Resources', target, 'Properties');
      expect(at(integration, 'IntegrationUri', 'Fn::GetAtt', '0'), routeKey).toBe(
        logicalIdOf(routeFunction(functionId)),
      );
      expect(at(integration, 'PayloadFormatVersion')).toBe('2.0');
    }
  });

  it('logs every request as JSON to its own log group, with the signing principal', () => {
    const stage = resourcesOfType(template, 'AWS::ApiGatewayV2::Stage');
    expect(stage).toHaveLength(1);
    const settings = at(stage[0]?.[1], 'Properties', 'AccessLogSettings');
    expect(at(settings, 'DestinationArn')).toEqual({
      'Fn::GetAtt': [logicalIdOf(stack.api.accessLogGroup), 'Arn'],
    });
    const format: unknown = JSON.parse(String(at(settings, 'Format')));
    expect(format).toMatchObject({
      requestId: '$context.requestId',
      ip: '$context.identity.sourceIp',
      principal: '$context.identity.userArn',
      routeKey: '$context.routeKey',
      status: '$context.status',
      latency: '$context.responseLatency',
      integrationErrorMessage: '$context.integrationErrorMessage',
    });
    const logGroup = at(template.toJSON(), 'Resources', logicalIdOf(stack.api.accessLogGroup), 'Properties');
    expect(at(logGroup, 'RetentionInDays')).toBe(30);
  });

  it('serves the $default stage with the default throttling', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 1000, ThrottlingBurstLimit: 2000 },
    });
  });

  it('outputs the API URL', () => {
    template.hasOutput('ApiUrl', { Value: Match.objectLike({ 'Fn::Join': Match.anyValue() }) });
    template.hasOutput('CountersTableName', {});
    template.hasOutput('HistoryTableName', {});
    template.hasOutput('IdempotencyTableName', {});
  });
});

describe('the functions', () => {
  it('are one per operation plus the stream consumer', () => {
    template.resourceCountIs('AWS::Lambda::Function', routeFunctions().length + 1);
    expect([...stack.api.functions.keys()]).toEqual(routeFunctions().map((spec) => spec.id));
  });

  it('run Node.js 22 on arm64 without X-Ray tracing, with explicit memory and timeout', () => {
    for (const [id, fn] of allFunctions()) {
      const properties = functionProperties(fn);
      expect(at(properties, 'Runtime'), id).toBe('nodejs22.x');
      expect(at(properties, 'Architectures'), id).toEqual(['arm64']);
      expect(at(properties, 'TracingConfig'), id).toBeUndefined();
      expect(at(properties, 'Environment', 'Variables', 'COUNTER_TRACING'), id).toBeUndefined();
      expect(at(properties, 'MemorySize'), id).toBe(256);
      expect(at(properties, 'Timeout'), id).toBeTypeOf('number');
      expect(at(properties, 'Environment', 'Variables'), id).toMatchObject({
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: 'counter-service',
        POWERTOOLS_LOG_LEVEL: 'INFO',
      });
    }
    expect(at(functionProperties(routeFunction(FUNCTIONS.getCounter.id)), 'Timeout')).toBe(10);
  });

  it('each log to a log group of their own, with a retention', () => {
    const logGroups = allFunctions().map(([id, fn]) => {
      const properties = functionProperties(fn);
      const logGroupId = logicalIdOf(fn.functionLogGroup);
      expect(at(properties, 'LoggingConfig', 'LogGroup'), id).toEqual({ Ref: logGroupId });
      expect(at(properties, 'LoggingConfig', 'LogFormat'), id).toBe('JSON');
      // The functions' own lines at INFO (EMF metrics are INFO lines); Lambda's per-invocation start
      // and report lines dropped (docs/cost.md).
      expect(at(properties, 'LoggingConfig', 'ApplicationLogLevel'), id).toBe('INFO');
      expect(at(properties, 'LoggingConfig', 'SystemLogLevel'), id).toBe('WARN');
      expect(at(template.toJSON(), 'Resources', logGroupId, 'Properties', 'RetentionInDays'), id).toBe(30);
      return logGroupId;
    });
    expect(new Set(logGroups).size).toBe(logGroups.length);
  });

  it('know the names of exactly the tables they may touch, and of no other', () => {
    const table = (name: 'counters' | 'history' | 'rollups' | 'idempotency') => ({
      Ref: logicalIdOf(stack.tables[name]),
    });
    // Written out here, not derived from lib/routes.ts: a change of a declaration must show up here.
    const expected: Record<string, Record<string, unknown>> = {
      'get-counter': { COUNTERS_TABLE: table('counters') },
      'increment-counter': { COUNTERS_TABLE: table('counters'), IDEMPOTENCY_TABLE: table('idempotency') },
      'set-counter': { COUNTERS_TABLE: table('counters'), IDEMPOTENCY_TABLE: table('idempotency') },
      'delete-counter': { COUNTERS_TABLE: table('counters'), IDEMPOTENCY_TABLE: table('idempotency') },
      'list-counters': { COUNTERS_TABLE: table('counters') },
      'get-history': {
        COUNTERS_TABLE: table('counters'),
        HISTORY_TABLE: table('history'),
        ROLLUPS_TABLE: table('rollups'),
      },
      'get-series': { COUNTERS_TABLE: table('counters'), ROLLUPS_TABLE: table('rollups') },
      'record-history': {
        HISTORY_TABLE: table('history'),
        ROLLUPS_TABLE: table('rollups'),
        IDEMPOTENCY_TABLE: table('idempotency'),
      },
    };
    const actual = Object.fromEntries(
      allFunctions().map(([id, fn]) => {
        const variables = at(functionProperties(fn), 'Environment', 'Variables');
        const tables = Object.entries(isRecord(variables) ? variables : {}).filter(([name]) =>
          name.endsWith('_TABLE'),
        );
        return [id, Object.fromEntries(tables)];
      }),
    );
    expect(actual).toEqual(expected);
  });

  it('are bundled as ESM that defines require and loads on Node.js 22', () => {
    for (const [id, fn] of allFunctions()) {
      const key = String(at(functionProperties(fn), 'Code', 'S3Key'));
      const bundle = path.join(app.outdir, `asset.${key.replace(/\.zip$/, '')}`, 'index.mjs');
      expect(existsSync(bundle), id).toBe(true);
      expect(existsSync(`${bundle}.map`), id).toBe(true);
      expect(readFileSync(bundle, 'utf8').slice(0, 200), id).toMatch(
        /^import \{ createRequire as \w+ \}.*require/,
      );
      // Loading runs the module's cold start (clients, env reading) without calling AWS, with the
      // variables the stack gives this function; a failure prints its message, not the bundle.
      const url = JSON.stringify(pathToFileURL(bundle).href);
      const loaded = execFileSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `try { const m = await import(${url}); process.stdout.write(typeof m.handler); } ` +
            'catch (e) { process.stdout.write(String(e)); }',
        ],
        {
          env: { PATH: process.env.PATH, AWS_REGION: 'eu-west-1', ...tableEnvironment(fn) },
          encoding: 'utf8',
        },
      );
      expect(loaded, id).toBe('function');
    }
  });
});

describe('the tables', () => {
  it('store counters on demand, with a new-and-old-images stream, PITR, retention and deletion protection', () => {
    const counters = at(template.toJSON(), 'Resources', logicalIdOf(stack.tables.counters));
    expect(at(counters, 'DeletionPolicy')).toBe('Retain');
    expect(at(counters, 'UpdateReplacePolicy')).toBe('Retain');
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      KeySchema: [{ AttributeName: 'name', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
      StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
      Replicas: [
        Match.objectLike({
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          DeletionProtectionEnabled: true,
        }),
      ],
    });
  });

  it('index counters by name, keys only', () => {
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      KeySchema: [{ AttributeName: 'name', KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [
        {
          IndexName: 'by-name',
          KeySchema: [
            { AttributeName: 'kind', KeyType: 'HASH' },
            { AttributeName: 'name', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'KEYS_ONLY' },
        },
      ],
    });
  });

  it('key history by counter and version, with PITR, retention and a TTL attribute', () => {
    const history = at(template.toJSON(), 'Resources', logicalIdOf(stack.tables.history));
    expect(at(history, 'DeletionPolicy')).toBe('Retain');
    expect(at(history, 'Properties', 'KeySchema')).toEqual([
      { AttributeName: 'counter', KeyType: 'HASH' },
      { AttributeName: 'version', KeyType: 'RANGE' },
    ]);
    expect(at(history, 'Properties', 'AttributeDefinitions')).toEqual(
      expect.arrayContaining([
        { AttributeName: 'counter', AttributeType: 'S' },
        { AttributeName: 'version', AttributeType: 'N' },
      ]),
    );
    expect(at(history, 'Properties', 'TimeToLiveSpecification')).toEqual({
      AttributeName: 'expires_at',
      Enabled: true,
    });
    expect(at(history, 'Properties', 'Replicas', '0', 'PointInTimeRecoverySpecification')).toEqual({
      PointInTimeRecoveryEnabled: true,
    });
  });

  it('key idempotency records by id, expiring through TTL', () => {
    const idempotency = at(template.toJSON(), 'Resources', logicalIdOf(stack.tables.idempotency));
    expect(at(idempotency, 'DeletionPolicy')).toBe('Retain');
    expect(at(idempotency, 'Properties', 'BillingMode')).toBe('PAY_PER_REQUEST');
    expect(at(idempotency, 'Properties', 'KeySchema')).toEqual([{ AttributeName: 'id', KeyType: 'HASH' }]);
    expect(at(idempotency, 'Properties', 'TimeToLiveSpecification')).toEqual({
      AttributeName: 'expires_at',
      Enabled: true,
    });
  });
});

describe('the history consumer', () => {
  it('reads the counters stream with the shared stream settings and a dead-letter queue', () => {
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalIdOf(stack.historyConsumer.function) },
      EventSourceArn: { 'Fn::GetAtt': [logicalIdOf(stack.tables.counters), 'StreamArn'] },
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: 100,
      BisectBatchOnFunctionError: true,
      // Given up by age, not by count: 6 hours of retries, leaving 18 of the stream's 24 for a replay.
      MaximumRetryAttempts: 10_000,
      MaximumRecordAgeInSeconds: 6 * 60 * 60,
      ParallelizationFactor: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      DestinationConfig: {
        OnFailure: {
          Destination: { 'Fn::GetAtt': [logicalIdOf(stack.historyConsumer.deadLetterQueue), 'Arn'] },
        },
      },
    });
  });

  it('dead-letters into an encrypted, TLS-only queue that keeps messages 14 days', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 60 * 60,
    });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });
});

/** What a statement's resource is, in words: `counters`, `counters/index/by-name`, `history`, ... */
function describeResource(resource: unknown): string {
  const json = JSON.stringify(resource);
  const counters = logicalIdOf(stack.tables.counters);
  const history = logicalIdOf(stack.tables.history);
  if (resource === '*') return '*';
  if (json.includes(counters)) {
    if (json.includes('StreamArn')) return 'counters/stream';
    const index = /\/index\/([^"]+)"/.exec(json)?.[1];
    return index === undefined ? 'counters' : `counters/index/${index}`;
  }
  if (json.includes(history)) {
    const index = /\/index\/([^"]+)"/.exec(json)?.[1];
    return index === undefined ? 'history' : `history/index/${index}`;
  }
  if (json.includes(logicalIdOf(stack.tables.idempotency))) return 'idempotency';
  if (json.includes(logicalIdOf(stack.tables.rollups))) return 'rollups';
  return json;
}

/** DynamoDB actions granted to the function, by resource. */
function dynamoGrants(fn: CounterFunction): Record<string, string[]> {
  const grants: Record<string, Set<string>> = {};
  for (const statement of roleStatements(fn)) {
    expect(statement.effect).toBe('Allow');
    for (const resource of statement.resources) {
      for (const action of statement.actions.filter((a) => a.startsWith('dynamodb:'))) {
        const key = describeResource(resource);
        grants[key] ??= new Set();
        grants[key].add(action);
      }
    }
  }
  return Object.fromEntries(Object.entries(grants).map(([key, actions]) => [key, [...actions].toSorted()]));
}

function roleStatements(fn: CounterFunction): Statement[] {
  if (fn.role === undefined) throw new Error('function without a role');
  return statementsOfRole(template, logicalIdOf(fn.role));
}

/**
 * Each function's DynamoDB actions by resource, written out here rather than derived from the
 * declarations in lib/routes.ts, so that a change of a declaration shows up as a change of this test.
 */
const EXPECTED_GRANTS: Record<string, Record<string, string[]>> = {
  'get-counter': { counters: ['dynamodb:GetItem'] },
  'increment-counter': {
    // ConditionCheckItem: If-Match on a sharded counter checks its other shards.
    counters: ['dynamodb:ConditionCheckItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem'],
    // GetItem: a recovering keyed change reads the record the stream consumer marks.
    idempotency: ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
  },
  'set-counter': {
    // PutItem: only set creates (sharded) counters by puts; no ConditionCheckItem, which set never sends.
    counters: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
    idempotency: ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
  },
  'delete-counter': {
    counters: ['dynamodb:DeleteItem', 'dynamodb:GetItem'],
    idempotency: ['dynamodb:DeleteItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
  },
  'list-counters': {
    counters: ['dynamodb:BatchGetItem', 'dynamodb:GetItem'],
    'counters/index/by-name': ['dynamodb:Query'],
  },
  'get-history': {
    counters: ['dynamodb:GetItem'],
    history: ['dynamodb:Query'],
    rollups: ['dynamodb:Query'],
  },
  'get-series': { counters: ['dynamodb:GetItem'], rollups: ['dynamodb:Query'] },
};

const WRITES = ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'];

describe('least privilege', () => {
  it('gives each route function exactly the table actions it uses', () => {
    const actual = Object.fromEntries(
      routeFunctions().map((spec) => [spec.id, dynamoGrants(routeFunction(spec.id))]),
    );
    expect(actual).toEqual(EXPECTED_GRANTS);
  });

  it('lets the reading functions write nothing', () => {
    for (const spec of [FUNCTIONS.getCounter, FUNCTIONS.listCounters, FUNCTIONS.getHistory]) {
      const actions = roleStatements(routeFunction(spec.id)).flatMap((statement) => statement.actions);
      for (const write of WRITES) expect(actions, spec.id).not.toContain(write);
    }
  });

  it('lets the increment function update counters and touch no history', () => {
    const grants = dynamoGrants(routeFunction(FUNCTIONS.incrementCounter.id));
    expect(grants.counters).toContain('dynamodb:UpdateItem');
    expect(Object.keys(grants)).not.toContain('history');
  });

  it('lets each writing function do only its own kind of write: no deletes from increment or set, no updates from delete', () => {
    const counterWrites = (id: string) =>
      (dynamoGrants(routeFunction(id)).counters ?? []).filter((action) => WRITES.includes(action));
    expect(counterWrites(FUNCTIONS.incrementCounter.id)).toEqual(['dynamodb:UpdateItem']);
    expect(counterWrites(FUNCTIONS.setCounter.id)).toEqual(['dynamodb:PutItem', 'dynamodb:UpdateItem']);
    expect(counterWrites(FUNCTIONS.deleteCounter.id)).toEqual(['dynamodb:DeleteItem']);
  });

  it('lets the consumer read only the counters stream, write history, and mark keyed records', () => {
    expect(dynamoGrants(stack.historyConsumer.function)).toEqual({
      'counters/stream': [
        'dynamodb:DescribeStream',
        'dynamodb:GetRecords',
        'dynamodb:GetShardIterator',
        'dynamodb:ListStreams',
      ],
      // GetItem and UpdateItem: a sharded counter's sequencer (version 0 of its history).
      history: [
        'dynamodb:BatchWriteItem',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:Query',
        'dynamodb:UpdateItem',
      ],
      rollups: ['dynamodb:BatchWriteItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
      // Keyed changes' records: the marks of a write seen (with the counter it made) or a probe passed
      // (UpdateItem): never a read, a put or a delete.
      idempotency: ['dynamodb:UpdateItem'],
    });
  });

  it('grants nothing else but logs to its own group and (consumer) the dead-letter queue', () => {
    for (const [id, fn] of allFunctions()) {
      const others = roleStatements(fn).filter((statement) =>
        statement.actions.some((action) => !action.startsWith('dynamodb:')),
      );
      for (const statement of others) {
        const [service] = statement.actions[0]?.split(':') ?? [];
        expect(
          statement.actions.every((action) => action.startsWith(`${service}:`)),
          id,
        ).toBe(true);
        const resources = statement.resources.map((resource) => JSON.stringify(resource));
        if (service === 'logs') {
          expect(statement.actions.toSorted(), id).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents']);
          expect(resources, id).toEqual([
            JSON.stringify({ 'Fn::GetAtt': [logicalIdOf(fn.functionLogGroup), 'Arn'] }),
          ]);
        } else {
          expect(service, id).toBe('sqs');
          expect(id).toBe(HISTORY_CONSUMER.id);
          expect(resources).toEqual([
            JSON.stringify({ 'Fn::GetAtt': [logicalIdOf(stack.historyConsumer.deadLetterQueue), 'Arn'] }),
          ]);
        }
      }
      // No wildcard resource at all: the only one a function needs is X-Ray's, and tracing is off.
      const wildcard = roleStatements(fn).filter((statement) => statement.resources.includes('*'));
      expect(wildcard, id).toEqual([]);
    }
  });

  it('uses no managed policies and no inline role policies', () => {
    for (const [id, role] of resourcesOfType(template, 'AWS::IAM::Role')) {
      expect(at(role, 'Properties', 'ManagedPolicyArns'), id).toBeUndefined();
      expect(at(role, 'Properties', 'Policies'), id).toBeUndefined();
    }
  });
});

describe('the alarms', () => {
  function alarmsWith(metricName: string, namespace: string): unknown[] {
    return resourcesOfType(template, 'AWS::CloudWatch::Alarm')
      .map(([, alarm]) => at(alarm, 'Properties'))
      .filter((alarm) => at(alarm, 'MetricName') === metricName && at(alarm, 'Namespace') === namespace);
  }

  function dimension(alarm: unknown): unknown {
    return at(asArray(at(alarm, 'Dimensions'))[0], 'Value');
  }

  it('fire when history lags the stream by over a minute for 5 minutes', () => {
    const [alarm, ...rest] = alarmsWith('IteratorAge', 'AWS/Lambda');
    expect(rest).toHaveLength(0);
    expect(alarm).toMatchObject({
      Statistic: 'Maximum',
      Period: 60,
      EvaluationPeriods: 5,
      Threshold: 60_000,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    expect(dimension(alarm)).toEqual({ Ref: logicalIdOf(stack.historyConsumer.function) });
  });

  it('fire on any dead-lettered batch', () => {
    const [alarm] = alarmsWith('ApproximateNumberOfMessagesVisible', 'AWS/SQS');
    expect(alarm).toMatchObject({ Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
    expect(dimension(alarm)).toEqual({
      'Fn::GetAtt': [logicalIdOf(stack.historyConsumer.deadLetterQueue), 'QueueName'],
    });
  });

  it('fire on any 5xx answer of the API', () => {
    const [alarm] = alarmsWith('5xx', 'AWS/ApiGateway');
    expect(alarm).toMatchObject({
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    expect(dimension(alarm)).toEqual({ Ref: logicalIdOf(stack.api.httpApi) });
  });

  it('watch errors and throttles of every function', () => {
    const errors = alarmsWith('Errors', 'AWS/Lambda').map(dimension);
    const throttles = alarmsWith('Throttles', 'AWS/Lambda').map(dimension);
    for (const [id, fn] of allFunctions()) {
      expect(errors, id).toContainEqual({ Ref: logicalIdOf(fn) });
      expect(throttles, id).toContainEqual({ Ref: logicalIdOf(fn) });
    }
  });

  it('are shown on a dashboard with requests, errors, p99 latency, throttles, history lag and dead letters', () => {
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const body = JSON.stringify(resourcesOfType(template, 'AWS::CloudWatch::Dashboard')[0]?.[1]);
    for (const shown of [
      'Count',
      '5xx',
      '4xx',
      'p99',
      'Throttles',
      'IteratorAge',
      'ApproximateNumberOfMessagesVisible',
    ]) {
      expect(body, shown).toContain(shown);
    }
  });
});

describe('grants to principals of other stacks', () => {
  let service: CounterStack;
  let consumer: Stack;
  let consumerTemplate: Template;
  let apiId: string;
  const roles: Record<string, Role> = {};

  beforeAll(() => {
    // Only templates are read here, so the functions need no bundles.
    const grantsApp = testApp({ bundling: false });
    service = new CounterStack(grantsApp, 'Service', { env: TEST_ENV });
    consumer = new Stack(grantsApp, 'Consumer', { env: TEST_ENV });
    const role = (id: string) => {
      roles[id] = new Role(consumer, id, { assumedBy: new AccountRootPrincipal() });
      return roles[id];
    };
    service.api.grantRead(role('Reader'));
    service.api.grantIncrement(role('ShopIncrementer'), { prefix: 'shop.' });
    service.api.grantWrite(role('Writer'));
    service.api.grantWrite(role('DefaultWriter'), { prefix: 'def' });
    consumerTemplate = Template.fromStack(consumer);

    // The consumer stack imports the API id; check the import is the service's API, then name it.
    const imports = new Set(
      JSON.stringify(consumerTemplate.toJSON())
        .match(/"Fn::ImportValue":"[^"]+"/g)
        ?.map((found) => found.slice('"Fn::ImportValue":"'.length, -1)),
    );
    expect(imports.size).toBe(1);
    const [exportName] = imports;
    const outputs: Record<string, unknown> = Template.fromStack(service).findOutputs('*', {
      Export: { Name: exportName },
    });
    expect(Object.values(outputs).map((output) => at(output, 'Value'))).toEqual([
      { Ref: logicalIdOf(service.api.httpApi) },
    ]);
    apiId = `<import:${exportName}>`;
  });

  function invokeArns(roleId: string): string[] {
    const role = roles[roleId];
    if (role === undefined) throw new Error(`no role ${roleId}`);
    const statements = statementsOfRole(consumerTemplate, logicalIdOf(role));
    for (const statement of statements) expect(statement.actions).toEqual(['execute-api:Invoke']);
    return statements.flatMap((statement) => statement.resources.map(renderArn)).toSorted();
  }

  const arn = (pattern: string) =>
    `arn:aws:execute-api:${TEST_ENV.region}:${TEST_ENV.account}:${apiId}/*/${pattern}`;

  it('grantRead allows every GET route, on any stage', () => {
    expect(invokeArns('Reader')).toEqual(
      [
        'GET/counters',
        'GET/counters/*',
        'GET/counters/*/history',
        'GET/counters/*/series',
        'GET/counter',
        'GET/counter/history',
      ]
        .map(arn)
        .toSorted(),
    );
  });

  it('grantIncrement with a prefix allows POST of those counters only', () => {
    expect(invokeArns('ShopIncrementer')).toEqual([arn('POST/counters/shop.*')]);
  });

  it('grantWrite allows POST, PUT and DELETE of counters, and the seed counter', () => {
    expect(invokeArns('Writer')).toEqual(
      ['POST/counters/*', 'PUT/counters/*', 'DELETE/counters/*', 'POST/counter', 'PUT/counter']
        .map(arn)
        .toSorted(),
    );
  });

  it('includes the seed routes in a prefix grant when "default" starts with the prefix', () => {
    expect(invokeArns('DefaultWriter')).toEqual(
      ['POST/counters/def*', 'PUT/counters/def*', 'DELETE/counters/def*', 'POST/counter', 'PUT/counter']
        .map(arn)
        .toSorted(),
    );
  });

  it('refuses a prefix that is empty, too long, or holds a wildcard or slash', () => {
    const role = new Role(consumer, 'Refused', { assumedBy: new AccountRootPrincipal() });
    for (const prefix of ['', 'shop*', 'sh?p', 'a/b', 'x'.repeat(128)]) {
      expect(() => service.api.grantRead(role, { prefix }), prefix).toThrow(InvalidPrefixError);
    }
  });
});

describe('the stack props', () => {
  it('set the API throttling and let dev stacks destroy their tables', () => {
    const { stack: devStack, template: dev } = synthStack(
      { throttle: { rateLimit: 10, burstLimit: 20 }, tableRemovalPolicy: RemovalPolicy.DESTROY },
      { id: 'Dev' },
    );
    dev.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 10, ThrottlingBurstLimit: 20 },
    });
    for (const table of [devStack.tables.counters, devStack.tables.history, devStack.tables.idempotency]) {
      const resource = at(dev.toJSON(), 'Resources', logicalIdOf(table));
      expect(at(resource, 'DeletionPolicy')).toBe('Delete');
      // A table that may be destroyed must not refuse deletion.
      expect(at(resource, 'Properties', 'Replicas', '0', 'DeletionProtectionEnabled')).toBe(false);
      expect(at(resource, 'Properties', 'Replicas', '0', 'PointInTimeRecoverySpecification')).toEqual({
        PointInTimeRecoveryEnabled: true,
      });
    }
  });

  it('trace every function with X-Ray when asked: active mode, the X-Ray permissions, DynamoDB subsegments on', () => {
    const { stack: traced, template } = synthStack({ tracing: Tracing.ACTIVE }, { id: 'Traced' });
    const functions = [...traced.api.functions.values(), traced.historyConsumer.function];
    expect(functions).toHaveLength(routeFunctions().length + 1);
    for (const fn of functions) {
      const properties = at(template.toJSON(), 'Resources', logicalIdOf(fn), 'Properties');
      expect(at(properties, 'TracingConfig'), fn.node.id).toEqual({ Mode: 'Active' });
      expect(at(properties, 'Environment', 'Variables', 'COUNTER_TRACING'), fn.node.id).toBe('Active');
      if (fn.role === undefined) throw new Error('function without a role');
      const xray = statementsOfRole(template, logicalIdOf(fn.role)).filter((statement) =>
        statement.actions.some((action) => action.startsWith('xray:')),
      );
      expect(xray, fn.node.id).toEqual([
        {
          effect: 'Allow',
          actions: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'],
          resources: ['*'],
        },
      ]);
    }
  });

  it("bring back Lambda's start and report lines on every function when asked", () => {
    const { stack: verbose } = synthStack({ functionSystemLogLevel: SystemLogLevel.INFO }, { id: 'Verbose' });
    const functions = [...verbose.api.functions.values(), verbose.historyConsumer.function];
    expect(functions).toHaveLength(routeFunctions().length + 1);
    const levels = functions.map((fn) =>
      at(
        Template.fromStack(verbose).toJSON(),
        'Resources',
        logicalIdOf(fn),
        'Properties',
        'LoggingConfig',
        'SystemLogLevel',
      ),
    );
    expect(levels).toEqual(functions.map(() => 'INFO'));
  });
});
