import { Aws, Stack, Token, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import * as cr from 'aws-cdk-lib/custom-resources';
import type { Construct } from 'constructs';
import { DIRECTORY_SCHEMA, LEDGER_SCHEMA, type TableSchema } from '../lib/adapters/dynamodb-schema.ts';
import { DEPLOYMENT_TAG, KEY_USE_CONTEXT } from '../lib/adapters/kms-keys.ts';
import { platformApplicationName } from '../lib/adapters/sns-push-platforms.ts';
import type { CibaFunction } from './ciba-function.ts';
import type { FunctionAccess, TableAccess } from './function-access.ts';

/** What a function's access (infra/function-access.ts) is granted on. */
export interface AccessTargets {
  directoryTable: dynamodb.ITable;
  ledgerTable: dynamodb.ITable;
  /** The deployment's name: tags of its KMS keys, prefix of its secrets, schedule group, SNS applications. */
  prefix?: string;
  keySealingKey?: kms.IKey;
  eventBus?: events.IEventBus;
  callbackFailures?: sqs.IQueue;
  schedulerRole?: iam.IRole;
  /** The ledger's stream (NEW_AND_OLD_IMAGES) and the failure destination of its event source mapping. */
  ledgerStreamArn?: string;
  decisionFailures?: sqs.IQueue;
  /** The queue the events function hands decisions it could not publish to, and consumes (its second mapping). */
  decisionRetries?: sqs.IQueue;
  /** The verified SES identity approval links are sent from (an address or a domain), when the deployment has one. */
  emailIdentity?: string;
  /**
   * Functions that put events read the bus's rules first (`ciba:events` `matched`, the default): an event no rule may
   * take is not put. False with `ciba:events=all`.
   */
  readEventRules?: boolean;
}

/** The ARN of a tenant's SNS platform application, as a template of `{platform}` and `{tenant}` (the functions' env). */
export const platformApplicationArnTemplate = (prefix: string): string =>
  `arn:${Aws.PARTITION}:sns:${Aws.REGION}:${Aws.ACCOUNT_ID}:app/{platform}/${platformApplicationName(prefix, '{tenant}')}`;

/**
 * An ARN of the scope's stack as cdk-nag names it in a finding, for acknowledging that finding: the stack's partition,
 * region and account where synthesis knows them (`cdk deploy` and `cdk synth` synthesize with the account and region of
 * their credentials, or us-east-1: literals then), `<AWS::Partition>`, `<AWS::Region>`, `<AWS::AccountId>` where they
 * are tokens (an app built without them, as the tests build it).
 */
export const nagArn = (scope: Construct, service: string, resource: string): string => {
  const stack = Stack.of(scope);
  const known = (value: string, placeholder: string) => (Token.isUnresolved(value) ? placeholder : value);
  const partition = known(stack.partition, '<AWS::Partition>');
  return `arn:${partition}:${service}:${known(stack.region, '<AWS::Region>')}:${known(stack.account, '<AWS::AccountId>')}:${resource}`;
};

/** Grants `access` to `role`: the one translation of infra/function-access.ts into IAM statements. */
export const grantAccess = (role: iam.Role, access: FunctionAccess, targets: AccessTargets): void => {
  const stack = Stack.of(role);
  const arn = (service: string, resource: string) =>
    `arn:${stack.partition}:${service}:${stack.region}:${stack.account}:${resource}`;
  const need = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`grantAccess: ${what} is needed for this access`);
    return value;
  };
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

  // The tenants' wrapped keys open only for the uses a function has (the encryption context names the use, `key_use`).
  const uses = [...(access.sign ? ['signing'] : []), ...(access.mac ? ['mac'] : [])];
  if (uses.length > 0) {
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'OpenTenantKeys',
        actions: ['kms:Decrypt'],
        resources: [need(targets.keySealingKey, 'the key sealing key').keyArn],
        conditions: { StringEquals: { [`kms:EncryptionContext:${KEY_USE_CONTEXT}`]: uses } },
      }),
    );
  }
  // KMS keys of the tenants' own (`kms` tenants, and the HMAC keys of deployments before keysets): found by the
  // deployment's tag, so adding a tenant needs no policy change.
  const ownKeyActions = [
    ...(access.sign ? ['kms:Sign'] : []),
    ...(access.mac ? ['kms:GenerateMac'] : []),
    ...(access.tenants ? ['kms:GetPublicKey', 'kms:ScheduleKeyDeletion'] : []),
  ];
  if (ownKeyActions.length > 0) {
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'TenantKmsKeys',
        actions: ownKeyActions,
        resources: [arn('kms', 'key/*')],
        conditions: { StringEquals: { [`aws:ResourceTag/${DEPLOYMENT_TAG}`]: need(targets.prefix, 'the prefix') } },
      }),
    );
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagArn(role, 'kms', 'key/*')}]`,
      reason:
        "Tenants' own KMS keys are created at run time and found by the deployment's tag: an aws:ResourceTag condition limits the statement to the keys this deployment created, so adding a tenant needs no policy change.",
    });
  }
  if (access.tenants) {
    const prefix = need(targets.prefix, 'the prefix');
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'SealTenantKeys',
        actions: ['kms:Encrypt'],
        resources: [need(targets.keySealingKey, 'the key sealing key').keyArn],
        conditions: { StringEquals: { [`kms:EncryptionContext:${KEY_USE_CONTEXT}`]: ['signing', 'mac'] } },
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'CreateTenantKmsKeys',
        actions: ['kms:CreateKey', 'kms:TagResource'],
        resources: ['*'],
        // Only keys that carry the deployment's tag (which then allows their use above).
        conditions: {
          StringEquals: { [`aws:RequestTag/${DEPLOYMENT_TAG}`]: prefix },
          'ForAllValues:StringEquals': { 'aws:TagKeys': [DEPLOYMENT_TAG, 'ciba:tenant'] },
        },
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'PushCredentials',
        actions: ['secretsmanager:GetSecretValue'],
        // The deployment's own secrets only (docs/deploy.md: push credentials are named {prefix}/...).
        resources: [arn('secretsmanager', `secret:${prefix}/*`)],
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'SnsPlatformApplications',
        actions: [
          'sns:CreatePlatformApplication',
          'sns:GetPlatformApplicationAttributes',
          'sns:SetPlatformApplicationAttributes',
          'sns:DeletePlatformApplication',
        ],
        // SNS platform application actions support no resource-level permissions (Service Authorization Reference).
        resources: ['*'],
      }),
    );
    Validations.of(role).acknowledge(
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'kms:CreateKey (conditioned on the deployment tag) and the SNS platform application actions support no resource-level permissions; the statements grant only those actions.',
      },
      {
        id: `AwsSolutions-IAM5[Resource::${nagArn(role, 'secretsmanager', `secret:${prefix}/*`)}]`,
        reason:
          "Push credentials and VAPID keys are named by tenants' settings at run time; the statement is limited to the deployment's own secrets.",
      },
    );
  }

  if (access.events) {
    need(targets.eventBus, 'the event bus').grantPutEventsTo(role);
    if (targets.readEventRules) {
      role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'EventBusRules',
          actions: ['events:ListRules'],
          // ListRules supports no resource-level permissions (Service Authorization Reference).
          resources: ['*'],
        }),
      );
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'The statements on every resource grant only actions without resource-level permissions: events:ListRules (which events a rule on the bus may take), and for the functions that manage tenants kms:CreateKey (conditioned on the deployment tag) and the SNS platform application actions.',
      });
    }
  }
  if (access.deadLetters) need(targets.callbackFailures, 'the callback-failures queue').grantSendMessages(role);
  if (access.schedules) {
    const prefix = need(targets.prefix, 'the prefix');
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'OneTimeSchedules',
        actions: ['scheduler:CreateSchedule', ...(access.deletesSchedules ? ['scheduler:DeleteSchedule'] : [])],
        resources: [arn('scheduler', `schedule/${prefix}/*`)],
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'PassSchedulerRole',
        actions: ['iam:PassRole'],
        resources: [need(targets.schedulerRole, 'the scheduler role').roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
      }),
    );
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagArn(role, 'scheduler', `schedule/${prefix}/*`)}]`,
      reason:
        "Schedules are created per callback retry and per push request at run time (and a decided request's expiry and channel-fallback schedules deleted by the events function); the statement is limited to CreateSchedule (and DeleteSchedule) in this deployment's schedule group.",
    });
  }
  if (access.push === 'publish') {
    const app = platformApplicationName(need(targets.prefix, 'the prefix'), '*');
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'PushToDeviceEndpoints',
        actions: ['sns:Publish'],
        resources: [arn('sns', `endpoint/*/${app}/*`)],
      }),
    );
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagArn(role, 'sns', `endpoint/*/${app}/*`)}]`,
      reason:
        "Device endpoints are created at enrollment, so they cannot be listed; the pattern limits Publish to endpoints of this deployment's platform applications.",
    });
  }
  if (access.channels) {
    if (targets.emailIdentity) {
      role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'SendApprovalLinkEmails',
          actions: ['ses:SendEmail'],
          resources: [arn('ses', `identity/${targets.emailIdentity}`)],
        }),
      );
    }
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'SendApprovalLinkTexts',
        actions: ['sns:Publish'],
        // Publishing to a phone number has no resource in IAM: the statement is `*` (it would allow Publish to the
        // account's topics too; docs/channels.md says so).
        resources: ['*'],
      }),
    );
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'SNS Publish to a phone number (approval links by SMS) has no resource-level permission; the statement grants only Publish.',
    });
  }
  if (access.decisionStream) {
    // What Lambda's event source mapping does with the function's role (Lambda guide, "Execution role permissions"):
    // reads the stream's shards, and sends a record it gave up on to the failure destination.
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ReadDecisionStream',
        actions: ['dynamodb:DescribeStream', 'dynamodb:GetShardIterator', 'dynamodb:GetRecords'],
        resources: [need(targets.ledgerStreamArn, "the ledger's stream")],
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({ sid: 'ListStreams', actions: ['dynamodb:ListStreams'], resources: ['*'] }),
    );
    need(targets.decisionFailures, 'the decision-failures queue').grantSendMessages(role);
    // The function hands a decision it could not publish to the retries queue; its mapping there (Lambda guide, "SQS
    // execution role permissions") receives, deletes and reads the queue's attributes with the same role. The
    // queue's dead letters move to the decision-failures queue by SQS's redrive, which needs no grant.
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'DecisionRetries',
        actions: ['sqs:SendMessage', 'sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
        resources: [need(targets.decisionRetries, 'the decision-retries queue').queueArn],
      }),
    );
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'dynamodb:ListStreams supports no resource-level permissions (Service Authorization Reference); the statement grants only that action, the stream reads are on the stream ARN.',
    });
  }
  if (access.push === 'register') {
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'RegisterDeviceEndpoints',
        actions: ['sns:CreatePlatformEndpoint', 'sns:GetEndpointAttributes', 'sns:SetEndpointAttributes'],
        // SNS mobile push actions support no resource-level permissions.
        resources: ['*'],
      }),
    );
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'SNS CreatePlatformEndpoint, GetEndpointAttributes and SetEndpointAttributes support no resource-level permissions; the statement grants only these three actions.',
    });
  }
};

/** A CDK Provider framework for custom resources handled by `handler`, with its log group. */
export const customResourceProvider = (
  scope: Construct,
  id: string,
  handler: CibaFunction,
  retention: logs.RetentionDays,
): cr.Provider => {
  const provider = new cr.Provider(scope, id, {
    onEventHandler: handler.function,
    logGroup: new logs.LogGroup(scope, `${id}Logs`, { retention }),
  });
  Validations.of(provider).acknowledge(
    {
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason: 'The CDK Provider framework function (deployment time only) uses the basic execution role.',
    },
    {
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(scope).getLogicalId(handler.function.node.defaultChild as never)}.Arn>:*]`,
      reason: 'The CDK Provider framework may invoke any version of its own onEvent function, and only that one.',
    },
  );
  return provider;
};
