import { CustomResource, Duration, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { CIBA_EVENT_SOURCE } from '../lib/adapters/eventbridge-format.ts';
import { CALLBACK_EVENT } from '../lib/events.ts';
import type { TenantConfig, TenantPushCredentials } from './tenants.ts';

/** SNS platform application name of a tenant; the SNS adapter derives the ARN from the same convention. */
export const platformApplicationName = (prefix: string, tenantId: string): string => `${prefix}-${tenantId}`;

export interface CibaTenantProps {
  tenant: TenantConfig;
  prefix: string;
  eventBus: events.IEventBus;
  callback: lambda.IFunction;
  /** Service token of the tenant-settings provider, and the role of its function (granted the Web Push secret). */
  settingsServiceToken: string;
  settingsRole: iam.IRole;
  /** Service token of the push-platforms provider, and the role of its function (granted each secret). */
  pushPlatformsServiceToken: string;
  pushPlatformsRole: iam.IRole;
}

/**
 * Everything per tenant in the service stack: its settings item (custom resource, through the Store port),
 * its EventBridge rule to the callback function with a retry policy and a dead-letter queue, and its SNS
 * platform applications for APNs and FCM (custom resources: SNS has no CloudFormation type for them).
 * The tenant's signing keys are in the stateful stack (`TenantSigningKey`): they must outlive this stack.
 */
export class CibaTenant extends Construct {
  readonly settings: CustomResource;
  readonly rule: events.Rule;
  readonly deadLetterQueue: sqs.Queue;
  readonly platformApplications: CustomResource[] = [];

  constructor(scope: Construct, id: string, props: CibaTenantProps) {
    super(scope, id);
    const { tenant } = props;

    const web = tenant.push.web;
    this.settings = new CustomResource(this, 'Settings', {
      serviceToken: props.settingsServiceToken,
      resourceType: 'Custom::CibaTenantSettings',
      // CloudFormation turns every property into a string: the settings travel as JSON. Web Push names its secret
      // (read by the provisioner at deployment), never the keys.
      properties: {
        TenantId: tenant.id,
        Settings: JSON.stringify(tenant.settingsInput),
        OnDelete: tenant.onDelete,
        ...(web
          ? { WebPush: JSON.stringify({ subject: web.subject, secret: web.secret }), WebPushVersion: web.version }
          : {}),
      },
    });
    if (web) {
      this.#secret('WebPushKeys', web.secret).grantRead(props.settingsRole);
      // The grant must exist before the provisioner reads the secret.
      this.settings.node.addDependency(props.settingsRole);
    }

    this.deadLetterQueue = new sqs.Queue(this, 'CallbackDeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter queue of the tenant callback rule.',
    });
    this.rule = new events.Rule(this, 'CallbackRule', {
      description: `ciba ${tenant.id}: decided ping/push requests to the callback function`,
      eventBus: props.eventBus,
      eventPattern: {
        source: [CIBA_EVENT_SOURCE],
        detailType: [CALLBACK_EVENT.detailType],
        detail: { tenant_id: [tenant.id], delivery_mode: [...CALLBACK_EVENT.deliveryModes] },
      },
      targets: [
        new targets.LambdaFunction(props.callback, {
          retryAttempts: tenant.callbacks.retryAttempts,
          maxEventAge: Duration.seconds(tenant.callbacks.maxEventAgeSeconds),
          deadLetterQueue: this.deadLetterQueue,
        }),
      ],
    });

    const { apns, fcm } = tenant.push;
    if (apns) this.#platform('Apns', apns.sandbox ? 'APNS_SANDBOX' : 'APNS', apns, props);
    if (fcm) this.#platform('Fcm', 'GCM', fcm, props);
  }

  /** A secret named in the tenants file, by name or ARN (a full ARN's random suffix is dropped). */
  #secret(id: string, nameOrArn: string): secretsmanager.ISecret {
    return nameOrArn.startsWith('arn:')
      ? secretsmanager.Secret.fromSecretPartialArn(this, id, nameOrArn.replace(/-[A-Za-z0-9]{6}$/, ''))
      : secretsmanager.Secret.fromSecretNameV2(this, id, nameOrArn);
  }

  #platform(id: string, platform: string, credentials: TenantPushCredentials, props: CibaTenantProps): void {
    this.#secret(`${id}Credentials`, credentials.secret).grantRead(props.pushPlatformsRole);
    const app = new CustomResource(this, `${id}PlatformApplication`, {
      serviceToken: props.pushPlatformsServiceToken,
      resourceType: 'Custom::CibaPushPlatform',
      properties: {
        Name: platformApplicationName(props.prefix, props.tenant.id),
        Platform: platform,
        // The secret's id, never its value (the provider framework logs every property).
        CredentialsSecretArn: credentials.secret,
        CredentialsVersion: credentials.version,
      },
    });
    // The grant must exist before the provider reads the secret.
    app.node.addDependency(props.pushPlatformsRole);
    this.platformApplications.push(app);
  }
}
