import { RemovalPolicy } from 'aws-cdk-lib';
import {
  type Attribute,
  AttributeType,
  Billing,
  ProjectionType,
  StreamViewType,
  TableEncryptionV2,
  TableV2,
} from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import type { TableAccess } from '../routes.ts';
import {
  COUNTERS_TABLE,
  HISTORY_TABLE,
  HISTORY_TTL_ATTRIBUTE,
  IDEMPOTENCY_TABLE,
  IDEMPOTENCY_TTL_ATTRIBUTE,
  type KeySpec,
  ROLLUPS_TABLE,
  type TableSchema,
} from '../table-schemas.ts';

export interface CounterTablesProps {
  /**
   * What happens to both tables (and their data) when they leave the stack. Dev stacks may pass
   * DESTROY; production data must outlive a mistaken `cdk destroy`.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * Whether DynamoDB refuses to delete the tables until this is turned off.
   * @default - true, unless removalPolicy is DESTROY (a destroyable table must be deletable)
   */
  readonly deletionProtection?: boolean;
}

/**
 * The counters table (with its stream and by-name index), the history table and the idempotency
 * table, built from lib/table-schemas.ts so the local server creates exactly the same keys.
 *
 * Encryption: DynamoDB's default, an AWS-owned key. Every item is encrypted at rest; an AWS-managed
 * or customer-managed KMS key would add per-request KMS cost and, for a customer key, grants on
 * every reader and the stream consumer, for an audit trail this data does not need today.
 */
export class CounterTables extends Construct {
  public readonly counters: TableV2;
  public readonly history: TableV2;
  /** Idempotency-Key records, expired by TTL once their replay window has passed. */
  public readonly idempotency: TableV2;
  /** Series rollups per minute, hour and day, kept by the stream consumer; they never expire. */
  public readonly rollups: TableV2;

  constructor(scope: Construct, id: string, props: CounterTablesProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const deletionProtection = props.deletionProtection ?? removalPolicy !== RemovalPolicy.DESTROY;
    const common = {
      billing: Billing.onDemand(),
      encryption: TableEncryptionV2.dynamoOwnedKey(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection,
      removalPolicy,
    };

    this.counters = new TableV2(this, 'Counters', { ...common, ...tableKeys(COUNTERS_TABLE) });
    this.history = new TableV2(this, 'History', {
      ...common,
      ...tableKeys(HISTORY_TABLE),
      timeToLiveAttribute: HISTORY_TTL_ATTRIBUTE,
    });
    this.idempotency = new TableV2(this, 'Idempotency', {
      ...common,
      ...tableKeys(IDEMPOTENCY_TABLE),
      timeToLiveAttribute: IDEMPOTENCY_TTL_ATTRIBUTE,
    });
    this.rollups = new TableV2(this, 'Rollups', { ...common, ...tableKeys(ROLLUPS_TABLE) });
  }

  /**
   * Grants exactly the DynamoDB actions the handlers use for one kind of table access, on the named
   * table and index ARNs only (no `index/*`), so a reading function cannot write.
   */
  public grant(grantee: iam.IGrantable, access: TableAccess): iam.Grant {
    const counters = this.counters.tableArn;
    const history = this.history.tableArn;
    const idempotency = this.idempotency.tableArn;
    switch (access) {
      case 'get-counter':
        return allow(grantee, ['dynamodb:GetItem'], [counters]);
      case 'list-counters':
        // GetItem: a sharded counter's total is a TransactGetItems of its shards, which IAM checks as GetItems.
        return allow(grantee, ['dynamodb:BatchGetItem', 'dynamodb:GetItem'], [counters]).combine(
          allow(grantee, ['dynamodb:Query'], indexArns(counters, COUNTERS_TABLE)),
        );
      case 'update-counters':
        // Every increment or set is one UpdateItem; ReturnValues needs no read permission. If-Match on
        // a sharded counter checks its other shards' versions (ConditionCheckItem).
        return allow(grantee, ['dynamodb:UpdateItem', 'dynamodb:ConditionCheckItem'], [counters]);
      case 'create-sharded-counters':
        // The counter's own item and its shards, put in one transaction, only if the name is free.
        return allow(grantee, ['dynamodb:PutItem'], [counters]);
      case 'delete-counters':
        return allow(grantee, ['dynamodb:DeleteItem'], [counters]);
      case 'read-history':
        // since/until read the minute rollups to find their versions.
        return allow(grantee, ['dynamodb:Query'], [history, this.rollups.tableArn]);
      case 'write-history':
        // Conditional puts of entries; a purge queries an entry's keys and deletes them in batches; a
        // sharded counter's sequencer is read (GetItem) and advanced (UpdateItem) with its entries.
        return allow(
          grantee,
          [
            'dynamodb:PutItem',
            'dynamodb:BatchWriteItem',
            'dynamodb:Query',
            'dynamodb:GetItem',
            'dynamodb:UpdateItem',
          ],
          [history],
        );
      case 'read-rollups':
        return allow(grantee, ['dynamodb:Query'], [this.rollups.tableArn]);
      case 'write-rollups':
        // One conditional ADD per bucket per batch; a purge queries a series' keys and deletes them.
        return allow(
          grantee,
          ['dynamodb:UpdateItem', 'dynamodb:BatchWriteItem', 'dynamodb:Query'],
          [this.rollups.tableArn],
        );
      case 'write-idempotency':
        // Claim (conditional put), answer (update, also inside the counter's TransactWriteItems, which
        // IAM checks as its UpdateItem/DeleteItem parts), release (conditional delete).
        return allow(
          grantee,
          ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
          [idempotency],
        );
    }
  }
}

function allow(grantee: iam.IGrantable, actions: string[], resourceArns: string[]): iam.Grant {
  return iam.Grant.addToPrincipal({ grantee, actions, resourceArns });
}

function indexArns(tableArn: string, schema: TableSchema): string[] {
  return schema.indexes.map((index) => `${tableArn}/index/${index.name}`);
}

function attribute(key: KeySpec): Attribute {
  return { name: key.name, type: key.type === 'S' ? AttributeType.STRING : AttributeType.NUMBER };
}

function tableKeys(schema: TableSchema) {
  return {
    partitionKey: attribute(schema.partitionKey),
    ...(schema.sortKey === undefined ? {} : { sortKey: attribute(schema.sortKey) }),
    ...(schema.stream === undefined ? {} : { dynamoStream: StreamViewType[schema.stream] }),
    globalSecondaryIndexes: schema.indexes.map((index) => ({
      indexName: index.name,
      partitionKey: attribute(index.partitionKey),
      sortKey: attribute(index.sortKey),
      projectionType: ProjectionType[index.projection],
    })),
  };
}
