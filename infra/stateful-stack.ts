import { RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import type { Construct } from 'constructs';
import { DIRECTORY_SCHEMA, LEDGER_SCHEMA, type TableSchema } from '../lib/adapters/dynamodb-schema.ts';
import { TenantSigningKey } from './tenant-signing-key.ts';
import type { TenantConfig } from './tenants.ts';

export interface StatefulStackProps extends StackProps {
  prefix: string;
  tenants: TenantConfig[];
}

/**
 * What outlives deployments: the two tables, the event bus and the tenants' signing keys. Changes rarely;
 * everything here is retained when removed from the template.
 */
export class StatefulStack extends Stack {
  readonly directoryTable: dynamodb.Table;
  readonly ledgerTable: dynamodb.Table;
  readonly eventBus: events.EventBus;
  readonly kmsAliasPrefix: string;
  readonly signingKeys: Record<string, TenantSigningKey> = {};

  constructor(scope: Construct, id: string, props: StatefulStackProps) {
    super(scope, id, props);
    this.directoryTable = table(this, 'Directory', DIRECTORY_SCHEMA);
    this.ledgerTable = table(this, 'Ledger', LEDGER_SCHEMA);
    // Customers subscribe their own rules to this bus: its name is stable.
    this.eventBus = new events.EventBus(this, 'Events', { eventBusName: `${props.prefix}-events` });
    this.eventBus.applyRemovalPolicy(RemovalPolicy.RETAIN);

    this.kmsAliasPrefix = `alias/${props.prefix}/`;
    for (const tenant of props.tenants) {
      this.signingKeys[tenant.id] = new TenantSigningKey(this, `SigningKey-${tenant.id}`, {
        tenantId: tenant.id,
        aliasPrefix: this.kmsAliasPrefix,
        alg: tenant.settings.signingAlg,
        version: tenant.signingKey.version,
        previousAlg: tenant.signingKey.previousAlg,
      });
    }
  }
}

/** A table from the shared schema description: on demand, PITR, deletion protection, retained, encrypted. */
const table = (scope: Construct, id: string, schema: TableSchema): dynamodb.Table => {
  const t = new dynamodb.Table(scope, id, {
    partitionKey: { name: schema.partitionKey, type: dynamodb.AttributeType.STRING },
    ...(schema.sortKey ? { sortKey: { name: schema.sortKey, type: dynamodb.AttributeType.STRING } } : {}),
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    deletionProtection: true,
    removalPolicy: RemovalPolicy.RETAIN,
    encryption: dynamodb.TableEncryption.AWS_MANAGED,
    ...(schema.ttlAttribute ? { timeToLiveAttribute: schema.ttlAttribute } : {}),
  });
  for (const index of schema.indexes) {
    t.addGlobalSecondaryIndex({
      indexName: index.name,
      partitionKey: { name: index.partitionKey, type: dynamodb.AttributeType.STRING },
      ...(index.sortKey
        ? {
            sortKey: {
              name: index.sortKey.name,
              type: index.sortKey.type === 'N' ? dynamodb.AttributeType.NUMBER : dynamodb.AttributeType.STRING,
            },
          }
        : {}),
      projectionType: index.projection === 'ALL' ? dynamodb.ProjectionType.ALL : dynamodb.ProjectionType.KEYS_ONLY,
    });
  }
  return t;
};
