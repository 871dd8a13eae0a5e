import { Aws, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { DIRECTORY_SCHEMA, LEDGER_SCHEMA, type TableSchema } from '../lib/adapters/dynamodb-schema.ts';
import { hmacKeyAlias } from '../lib/adapters/kms-keys.ts';
import { platformApplicationName } from './ciba-tenant.ts';
import type { FunctionAccess, TableAccess } from './function-access.ts';

/** What a function's grants point at: the deployment's tables, bus, key aliases, queue and scheduler role. */
export interface GrantTargets {
  prefix: string;
  directoryTable: dynamodb.ITable;
  ledgerTable: dynamodb.ITable;
  eventBus: events.IEventBus;
  kmsAliasPrefix: string;
  callbackFailures: sqs.IQueue;
  schedulerRole: iam.IRole;
}

/**
 * Turns a function's access (infra/function-access.ts) into IAM statements on its role, each as narrow as the
 * service allows, with the cdk-nag acknowledgements of the few wildcards and why they cannot be narrower.
 */
export const grantFunctionAccess = (role: iam.Role, access: FunctionAccess, targets: GrantTargets): void => {
  const tables: [dynamodb.ITable, TableSchema, TableAccess | undefined, string][] = [
    [targets.directoryTable, DIRECTORY_SCHEMA, access.directory, 'Directory'],
    [targets.ledgerTable, LEDGER_SCHEMA, access.ledger, 'Ledger'],
  ];
  for (const [table, schema, level, sid] of tables) {
    if (!level) continue;
    const read = ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query'];
    const write = ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'];
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: `${sid}${level === 'write' ? 'ReadWrite' : level === 'update' ? 'ReadUpdate' : 'Read'}`,
        actions: level === 'write' ? [...read, ...write] : level === 'update' ? [...read, 'dynamodb:UpdateItem'] : read,
        // The table and its named indexes: no wildcard.
        resources: [table.tableArn, ...schema.indexes.map((index) => `${table.tableArn}/index/${index.name}`)],
      }),
    );
  }
  if (access.keys) {
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'TenantSigningKeys',
        actions: access.keys === 'sign' ? ['kms:GetPublicKey', 'kms:Sign'] : ['kms:GetPublicKey'],
        resources: [`arn:${Aws.PARTITION}:kms:${Aws.REGION}:${Aws.ACCOUNT_ID}:key/*`],
        // Only the keys behind this deployment's aliases (the tenants' signing keys).
        conditions: { 'ForAnyValue:StringLike': { 'kms:ResourceAliases': `${targets.kmsAliasPrefix}*` } },
      }),
    );
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*]',
      reason:
        "Tenant keys live in the stateful stack and are found by alias; the statement is limited by a kms:ResourceAliases condition to the keys behind this deployment's alias prefix, so adding a tenant needs no policy change and no cross-stack export.",
    });
  }
  if (access.mac) {
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'TenantHmacKeys',
        actions: ['kms:GenerateMac'],
        resources: [`arn:${Aws.PARTITION}:kms:${Aws.REGION}:${Aws.ACCOUNT_ID}:key/*`],
        // Only the tenants' HMAC keys (client_secret_jwt derivation), found by their alias.
        conditions: {
          'ForAnyValue:StringLike': { 'kms:ResourceAliases': hmacKeyAlias(targets.kmsAliasPrefix, '*') },
        },
      }),
    );
    if (!access.keys) {
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*]',
        reason:
          "Tenant keys live in the stateful stack and are found by alias; the statement is limited by a kms:ResourceAliases condition to the tenants' HMAC key aliases, so adding a tenant needs no policy change and no cross-stack export.",
      });
    }
  }
  if (access.events) targets.eventBus.grantPutEventsTo(role);
  if (access.deadLetters) targets.callbackFailures.grantSendMessages(role);
  if (access.schedules) {
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'OneTimeSchedules',
        actions: ['scheduler:CreateSchedule'],
        resources: [`arn:${Aws.PARTITION}:scheduler:${Aws.REGION}:${Aws.ACCOUNT_ID}:schedule/${targets.prefix}/*`],
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'PassSchedulerRole',
        actions: ['iam:PassRole'],
        resources: [targets.schedulerRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
      }),
    );
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/${targets.prefix}/*]`,
      reason:
        "Schedules are created per callback retry and per push request at run time; the statement is limited to CreateSchedule in this deployment's schedule group.",
    });
  }
  if (access.push === 'publish') {
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'PushToDeviceEndpoints',
        actions: ['sns:Publish'],
        resources: [
          `arn:${Aws.PARTITION}:sns:${Aws.REGION}:${Aws.ACCOUNT_ID}:endpoint/*/${platformApplicationName(targets.prefix, '*')}/*`,
        ],
      }),
    );
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sns:<AWS::Region>:<AWS::AccountId>:endpoint/*/${platformApplicationName(targets.prefix, '*')}/*]`,
      reason:
        "Device endpoints are created at enrollment, so they cannot be listed; the pattern limits Publish to endpoints of this deployment's platform applications.",
    });
  }
  if (access.push === 'register') {
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'RegisterDeviceEndpoints',
        actions: ['sns:CreatePlatformEndpoint', 'sns:SetEndpointAttributes'],
        // SNS mobile push actions support no resource-level permissions.
        resources: ['*'],
      }),
    );
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'SNS CreatePlatformEndpoint and SetEndpointAttributes support no resource-level permissions; the statement grants only these two actions.',
    });
  }
};
