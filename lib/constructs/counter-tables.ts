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
import {
  COUNTERS_TABLE,
  HISTORY_TABLE,
  IDEMPOTENCY_TABLE,
  type KeySpec,
  ROLLUPS_TABLE,
  type TableSchema,
} from '../../functions/counter/table.ts';
import { SERVICE_TABLES, type ServiceTable, TABLE_ENVIRONMENT, type TableAccess } from '../routes.ts';

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
 * table, built from functions/counter/table.ts so the local server creates exactly the same keys.
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
    this.history = new TableV2(this, 'History', { ...common, ...tableKeys(HISTORY_TABLE) });
    this.idempotency = new TableV2(this, 'Idempotency', { ...common, ...tableKeys(IDEMPOTENCY_TABLE) });
    this.rollups = new TableV2(this, 'Rollups', { ...common, ...tableKeys(ROLLUPS_TABLE) });
  }

  /**
   * Grants exactly the declared DynamoDB actions on exactly the declared tables and indexes (named
   * ARNs only: no `index/*`, no `*`), so a reading function cannot write.
   */
  public grantAccess(grantee: iam.IGrantable, access: TableAccess): iam.Grant[] {
    return declared(access).map(({ table, index, actions }) => {
      const tableArn = this.tableOf(table).tableArn;
      return iam.Grant.addToPrincipal({
        grantee,
        actions: actions.map((action) => `dynamodb:${action}`),
        resourceArns: [index === undefined ? tableArn : `${tableArn}/index/${index}`],
      });
    });
  }

  /** The variables naming each table the declaration touches (TABLE_ENVIRONMENT), and no other table. */
  public environmentFor(access: TableAccess): Record<string, string> {
    const tables = new Set(declared(access).map(({ table }) => table));
    return Object.fromEntries(
      [...tables].map((table) => [TABLE_ENVIRONMENT[table], this.tableOf(table).tableName]),
    );
  }

  private tableOf(table: ServiceTable): TableV2 {
    const tables = {
      counters: this.counters,
      history: this.history,
      rollups: this.rollups,
      idempotency: this.idempotency,
    };
    return tables[table];
  }
}

const SCHEMAS: Readonly<Record<ServiceTable, TableSchema>> = {
  counters: COUNTERS_TABLE,
  history: HISTORY_TABLE,
  rollups: ROLLUPS_TABLE,
  idempotency: IDEMPOTENCY_TABLE,
};

interface DeclaredAccess {
  table: ServiceTable;
  index?: string | undefined;
  actions: readonly string[];
}

/**
 * The declaration's entries that grant something, in declaration order; a table or index the
 * schemas do not have fails the synthesis rather than granting a name that matches nothing.
 */
function declared(access: TableAccess): DeclaredAccess[] {
  return Object.entries(access).flatMap(([resource, actions]): DeclaredAccess[] => {
    if (actions === undefined || actions.length === 0) return [];
    const [name, kind, index, ...rest] = resource.split('/');
    const table = SERVICE_TABLES.find((known) => known === name);
    const wellFormed = kind === undefined || (kind === 'index' && index !== undefined && rest.length === 0);
    if (table === undefined || !wellFormed) throw new Error(`Unknown table in a table access: ${resource}`);
    if (
      index !== undefined &&
      !SCHEMAS[table].indexes.some((declaredIndex) => declaredIndex.name === index)
    ) {
      throw new Error(`The ${table} table has no index ${JSON.stringify(index)} (table access ${resource})`);
    }
    return [{ table, index, actions }];
  });
}

function attribute(key: KeySpec): Attribute {
  return { name: key.name, type: key.type === 'S' ? AttributeType.STRING : AttributeType.NUMBER };
}

function tableKeys(schema: TableSchema) {
  return {
    partitionKey: attribute(schema.partitionKey),
    ...(schema.sortKey === undefined ? {} : { sortKey: attribute(schema.sortKey) }),
    ...(schema.stream === undefined ? {} : { dynamoStream: StreamViewType[schema.stream] }),
    ...(schema.ttlAttribute === undefined ? {} : { timeToLiveAttribute: schema.ttlAttribute }),
    globalSecondaryIndexes: schema.indexes.map((index) => ({
      indexName: index.name,
      partitionKey: attribute(index.partitionKey),
      sortKey: attribute(index.sortKey),
      projectionType: ProjectionType[index.projection],
    })),
  };
}
