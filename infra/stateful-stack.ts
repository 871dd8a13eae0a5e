import { CustomResource, Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { LEGACY_KEYS_RESOURCE } from '../functions/tenant-provisioner/resources.ts';
import { AWS_ENV } from '../lib/adapters/aws/env.ts';
import { DIRECTORY_SCHEMA, LEDGER_SCHEMA, type TableSchema } from '../lib/adapters/dynamodb-schema.ts';
import { BULK_WRITER_SDK_ENV, CibaFunction, type LambdaSystemLogLevel } from './ciba-function.ts';
import { customResourceProvider, grantAccess, nagArn, platformApplicationArnTemplate } from './grants.ts';
import { TenantSigningKey } from './tenant-signing-key.ts';
import type { TenantConfig } from './tenants.ts';

export interface StatefulStackProps extends StackProps {
  prefix: string;
  tenants: TenantConfig[];
  bundling: 'esbuild' | 'stub';
  logRetention: logs.RetentionDays;
  /** Lambda's system log level of its function (default WARN: no START/END/REPORT lines). */
  lambdaSystemLogLevel?: LambdaSystemLogLevel;
  /**
   * Deployments before keysets had per-tenant KMS keys behind aliases in this stack. `true` keeps them in the template
   * for one more deployment (docs/deploy.md "Upgrading": no gap while the running functions still use the aliases).
   */
  keepLegacyKeys: boolean;
  /**
   * The ledger's pending-by-user projection: ALL unless INCLUDE (LEDGER_SCHEMA's, opt-in) is asked for. CloudFormation
   * cannot change an existing index's projection, so a deployment keeps the one it was made with (docs/deploy.md).
   */
  pendingIndexProjection?: 'INCLUDE' | 'ALL';
  /** On demand unless provisioned capacity is asked for (`ciba:tableCapacity`, docs/deploy.md "Table capacity"). */
  tableCapacity?: TableCapacity;
}

/** How the tables pay for reads and writes: on demand, or provisioned units auto scaled between min and max. */
export type TableCapacity = { mode: 'on-demand' } | { mode: 'provisioned'; min: number; max: number };

/** Auto scaling's target: the share of the provisioned units a table or index uses before more are added. */
export const TABLE_TARGET_UTILIZATION_PERCENT = 70;

/**
 * What outlives deployments: the two tables, the event bus and the KMS key that seals the tenants' keys (the keys
 * themselves are data, in the directory table). Changes rarely; everything here is retained when removed from the
 * template. Also the import of the per-tenant KMS keys of deployments before keysets, which must run in the same
 * update that drops their aliases, before CloudFormation deletes them.
 */
export class StatefulStack extends Stack {
  readonly directoryTable: dynamodb.Table;
  readonly ledgerTable: dynamodb.Table;
  readonly eventBus: events.EventBus;
  /** Seals every tenant's wrapped keys (encryption context: the tenant, the key's use and id). */
  readonly keySealingKey: kms.Key;
  readonly keySealingAlias: string;
  /** The aliases of deployments before keysets (`alias/{prefix}/{tenant}`, `/previous`, `/hmac`). */
  readonly legacyAliasPrefix: string;

  constructor(scope: Construct, id: string, props: StatefulStackProps) {
    super(scope, id, props);
    const capacity = props.tableCapacity ?? { mode: 'on-demand' };
    this.directoryTable = table(this, 'Directory', DIRECTORY_SCHEMA, capacity);
    // Its stream carries each decision to the events function (docs/deploy.md "The decision stream"). Enabling a stream
    // is an in-place update of an existing table (CloudFormation: no interruption), its data kept.
    this.ledgerTable = table(
      this,
      'Ledger',
      props.pendingIndexProjection === 'INCLUDE'
        ? LEDGER_SCHEMA
        : {
            ...LEDGER_SCHEMA,
            indexes: LEDGER_SCHEMA.indexes.map((index) =>
              index.name === 'pending-by-user' ? { ...index, projection: 'ALL', nonKeyAttributes: undefined } : index,
            ),
          },
      capacity,
      dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
    );
    // Customers subscribe their own rules to this bus: its name is stable.
    this.eventBus = new events.EventBus(this, 'Events', { eventBusName: `${props.prefix}-events` });
    this.eventBus.applyRemovalPolicy(RemovalPolicy.RETAIN);

    // One key for the whole deployment, whatever the number of tenants (USD 1 a month). Rotated yearly by KMS: old
    // ciphertexts keep decrypting.
    this.keySealingAlias = `alias/${props.prefix}-tenant-keys`;
    this.keySealingKey = new kms.Key(this, 'TenantKeySealing', {
      description: `ciba ${props.prefix}: seals the tenants' signing and MAC keys`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
      pendingWindow: Duration.days(30),
      alias: this.keySealingAlias,
    });

    this.legacyAliasPrefix = `alias/${props.prefix}/`;
    if (props.keepLegacyKeys) {
      for (const tenant of props.tenants) {
        new TenantSigningKey(this, `SigningKey-${tenant.id}`, {
          tenantId: tenant.id,
          aliasPrefix: this.legacyAliasPrefix,
          alg: tenant.settings.signingAlg,
          version: tenant.signingKey.version,
          previousAlg: tenant.signingKey.previousAlg,
        });
      }
    }
    this.#legacyKeyImport(props);
  }

  /**
   * The provisioner, here for one job: reading the aliases of deployments before keysets (ListAliases) and writing each
   * tenant's old keys into its keyset (functions/tenant-provisioner). It runs when this resource is created, i.e. in
   * the update that brings keysets, before that update's cleanup deletes the aliases.
   */
  #legacyKeyImport(props: StatefulStackProps): void {
    const importer = new CibaFunction(this, 'Fn-legacy-key-import', {
      name: 'tenant-provisioner',
      serviceName: 'legacy-key-import',
      description: 'ciba: imports the per-tenant KMS keys of deployments before keysets',
      environment: {
        [AWS_ENV.directoryTable]: this.directoryTable.tableName,
        [AWS_ENV.ledgerTable]: this.ledgerTable.tableName,
        [AWS_ENV.keySealingKey]: this.keySealingAlias,
        [AWS_ENV.deployment]: props.prefix,
        [AWS_ENV.snsPlatformApplicationArn]: platformApplicationArnTemplate(props.prefix),
        [AWS_ENV.legacyKeyAliasPrefix]: this.legacyAliasPrefix,
        ...BULK_WRITER_SDK_ENV,
      },
      timeout: Duration.minutes(5),
      logRetention: props.logRetention,
      ...(props.lambdaSystemLogLevel ? { systemLogLevel: props.lambdaSystemLogLevel } : {}),
      bundling: props.bundling,
    });
    grantAccess(
      importer.role,
      { directory: 'write' },
      {
        directoryTable: this.directoryTable,
        ledgerTable: this.ledgerTable,
      },
    );
    importer.role.addToPolicy(
      new iam.PolicyStatement({ sid: 'ListAliases', actions: ['kms:ListAliases'], resources: ['*'] }),
    );
    importer.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'LegacyTenantKeys',
        actions: ['kms:GetPublicKey'],
        resources: [`arn:${this.partition}:kms:${this.region}:${this.account}:key/*`],
        conditions: { 'ForAnyValue:StringLike': { 'kms:ResourceAliases': `${this.legacyAliasPrefix}*` } },
      }),
    );
    Validations.of(importer.role).acknowledge(
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'kms:ListAliases supports no resource-level permissions; the statement grants only that action.',
      },
      {
        id: `AwsSolutions-IAM5[Resource::${nagArn(importer.role, 'kms', 'key/*')}]`,
        reason:
          "The per-tenant keys of deployments before keysets are found by alias; a kms:ResourceAliases condition limits GetPublicKey to the keys behind this deployment's aliases.",
      },
    );
    const provider = customResourceProvider(this, 'LegacyKeyImportProvider', importer, props.logRetention);
    new CustomResource(this, 'LegacyKeyImport', {
      serviceToken: provider.serviceToken,
      resourceType: LEGACY_KEYS_RESOURCE,
      properties: { AliasPrefix: this.legacyAliasPrefix },
    });
  }
}

/**
 * A table from the shared schema description: on demand (or provisioned and auto scaled: `capacity`), PITR, deletion
 * protection, retained, encrypted; its stream.
 */
const table = (
  scope: Construct,
  id: string,
  schema: TableSchema,
  capacity: TableCapacity,
  stream?: dynamodb.StreamViewType,
): dynamodb.Table => {
  // Provisioned: every table and index starts at the minimum, reads and writes each scaled up to the maximum.
  const units = capacity.mode === 'provisioned' ? { readCapacity: capacity.min, writeCapacity: capacity.min } : {};
  const t = new dynamodb.Table(scope, id, {
    partitionKey: { name: schema.partitionKey, type: dynamodb.AttributeType.STRING },
    ...(schema.sortKey ? { sortKey: { name: schema.sortKey, type: dynamodb.AttributeType.STRING } } : {}),
    billingMode:
      capacity.mode === 'provisioned' ? dynamodb.BillingMode.PROVISIONED : dynamodb.BillingMode.PAY_PER_REQUEST,
    ...units,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    deletionProtection: true,
    removalPolicy: RemovalPolicy.RETAIN,
    encryption: dynamodb.TableEncryption.AWS_MANAGED,
    ...(schema.ttlAttribute ? { timeToLiveAttribute: schema.ttlAttribute } : {}),
    ...(stream ? { stream } : {}),
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
      projectionType: dynamodb.ProjectionType[index.projection],
      ...(index.projection === 'INCLUDE' ? { nonKeyAttributes: index.nonKeyAttributes ?? [] } : {}),
      ...units,
    });
  }
  if (capacity.mode === 'provisioned') {
    const scaling = { minCapacity: capacity.min, maxCapacity: capacity.max };
    const onUse = { targetUtilizationPercent: TABLE_TARGET_UTILIZATION_PERCENT };
    t.autoScaleReadCapacity(scaling).scaleOnUtilization(onUse);
    t.autoScaleWriteCapacity(scaling).scaleOnUtilization(onUse);
    for (const index of schema.indexes) {
      t.autoScaleGlobalSecondaryIndexReadCapacity(index.name, scaling).scaleOnUtilization(onUse);
      t.autoScaleGlobalSecondaryIndexWriteCapacity(index.name, scaling).scaleOnUtilization(onUse);
    }
  }
  return t;
};
