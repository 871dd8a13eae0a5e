import { Aws, CfnOutput, Duration, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambdaDestinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as cr from 'aws-cdk-lib/custom-resources';
import type { Construct } from 'constructs';
import { AWS_ENV } from '../lib/adapters/aws/env.ts';
import { ROUTES } from '../lib/http/routes.ts';
import { sumAlarm } from './alarms.ts';
import { API_FUNCTIONS } from './bundling.ts';
import { CibaFunction } from './ciba-function.ts';
import { CibaTenant, platformApplicationName } from './ciba-tenant.ts';
import { CONSOLE_WEB_ACCESS, FUNCTION_ACCESS, type FunctionAccess } from './function-access.ts';
import { grantFunctionAccess } from './function-grants.ts';
import type { TenantConfig } from './tenants.ts';

export interface CustomDomainConfig {
  domainName: string;
  /** ACM certificate for `domainName`, in the stack's region. */
  certificateArn: string;
  /** Mutual TLS: the PEM bundle of CAs whose client certificates API Gateway accepts. */
  truststore?: { bucketName: string; key: string; version?: string };
}

export interface ServiceStackProps extends StackProps {
  prefix: string;
  tenants: TenantConfig[];
  directoryTable: dynamodb.ITable;
  ledgerTable: dynamodb.ITable;
  eventBus: events.IEventBus;
  kmsAliasPrefix: string;
  bundling: 'esbuild' | 'stub';
  throttle: { rateLimit: number; burstLimit: number };
  logRetention: logs.RetentionDays;
  customDomain?: CustomDomainConfig;
  /** SNS topic for alarm notifications; without it the alarms only show in CloudWatch. */
  alarmTopicArn?: string;
  /** The operator console is served in AWS (tenants still opt in with `console_client_id`). */
  console?: boolean;
}

/**
 * The part that changes with every release: functions, the HTTP API, the per-tenant rules and settings,
 * the custom-resource providers and the alarms. Replaceable at will; it holds no data.
 */
export class ServiceStack extends Stack {
  readonly api: apigwv2.HttpApi;
  readonly stage: apigwv2.HttpStage;
  readonly functions: Record<string, CibaFunction> = {};
  readonly tenants: Record<string, CibaTenant> = {};
  readonly callbackFailures: sqs.Queue;
  readonly scheduleDeadLetters: sqs.Queue;
  readonly scheduleGroup: scheduler.CfnScheduleGroup;
  readonly schedulerRole: iam.Role;

  constructor(scope: Construct, id: string, props: ServiceStackProps) {
    super(scope, id, props);
    const { prefix } = props;
    const domain = props.customDomain;

    // With a custom domain the execute-api endpoint is disabled: mTLS cannot be bypassed and there is one issuer.
    this.api = new apigwv2.HttpApi(this, 'Api', {
      apiName: `${prefix}-api`,
      description: 'ciba-service: OpenID Connect CIBA',
      createDefaultStage: false,
      disableExecuteApiEndpoint: domain !== undefined,
    });
    const publicUrl = domain ? `https://${domain.domainName}` : this.api.apiEndpoint;

    // Callback retries and push-mode expiry: one-time schedules in this group invoke the callback function,
    // whose name is fixed so that its ARN can be given to the functions that schedule (no reference cycle).
    const callbackName = `${prefix}-callback`;
    const callbackArn = `arn:${Aws.PARTITION}:lambda:${Aws.REGION}:${Aws.ACCOUNT_ID}:function:${callbackName}`;
    this.scheduleGroup = new scheduler.CfnScheduleGroup(this, 'Schedules', { name: prefix });
    this.schedulerRole = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
      description: 'EventBridge Scheduler invokes the ciba callback function',
    });
    this.schedulerRole.addToPolicy(
      new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [callbackArn] }),
    );
    // What Scheduler could not hand to the callback function after its retries (10 attempts or an hour): a
    // push-mode expiry or a callback retry would otherwise vanish. Scheduler sends with the schedule's role.
    this.scheduleDeadLetters = new sqs.Queue(this, 'ScheduleDeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.scheduleDeadLetters).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter queue of the runtime schedules.',
    });
    this.scheduleDeadLetters.grantSendMessages(this.schedulerRole);

    // Callbacks given up on (SqsDeadLetters), and callback invocations that failed after Lambda's own
    // retries (on-failure destination). Per-tenant rule DLQs catch events EventBridge could not hand over.
    this.callbackFailures = new sqs.Queue(this, 'CallbackFailures', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.callbackFailures).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the on-failure destination (dead letters) of the callback function.',
    });
    const environment: Record<string, string> = {
      [AWS_ENV.directoryTable]: props.directoryTable.tableName,
      [AWS_ENV.ledgerTable]: props.ledgerTable.tableName,
      [AWS_ENV.eventBusName]: props.eventBus.eventBusName,
      [AWS_ENV.kmsAliasPrefix]: props.kmsAliasPrefix,
      [AWS_ENV.snsPlatformApplicationArn]: `arn:${Aws.PARTITION}:sns:${Aws.REGION}:${Aws.ACCOUNT_ID}:app/{platform}/${platformApplicationName(prefix, '{tenant}')}`,
      [AWS_ENV.publicUrl]: publicUrl,
      [AWS_ENV.schedulerGroup]: prefix,
      [AWS_ENV.schedulerTargetArn]: callbackArn,
      [AWS_ENV.schedulerRoleArn]: this.schedulerRole.roleArn,
      [AWS_ENV.schedulerDeadLetterArn]: this.scheduleDeadLetters.queueArn,
      [AWS_ENV.deadLetterQueueUrl]: this.callbackFailures.queueUrl,
    };
    const fn = (name: (typeof API_FUNCTIONS)[number] | 'callback', description: string, timeout = 10) =>
      new CibaFunction(this, `Fn-${name}`, {
        name,
        ...(name === 'callback' ? { functionName: callbackName } : {}),
        description,
        environment,
        timeout: Duration.seconds(timeout),
        logRetention: props.logRetention,
        bundling: props.bundling,
      });

    const descriptions: Record<(typeof API_FUNCTIONS)[number], string> = {
      discovery: 'ciba: OpenID discovery and JWKS',
      'bc-authorize': 'ciba: backchannel authentication endpoint',
      token: 'ciba: token endpoint (CIBA grant, refresh)',
      userinfo: 'ciba: userinfo endpoint',
      consent: 'ciba: device API consent retrieval (profile, pending list, consent details)',
      device: 'ciba: device API responses (decisions, enrollment, push channel, passkeys)',
      admin: 'ciba: admin API (IAM authorized)',
      web: 'ciba: web authenticator',
    };
    for (const name of API_FUNCTIONS) this.functions[name] = fn(name, descriptions[name]);

    const callback = fn('callback', 'ciba: ping/push callbacks to client notification endpoints', 60);
    this.functions.callback = callback;
    callback.function.configureAsyncInvoke({
      retryAttempts: 2,
      maxEventAge: Duration.hours(6),
      onFailure: new lambdaDestinations.SqsDestination(this.callbackFailures),
    });

    for (const [name, access] of Object.entries(FUNCTION_ACCESS)) {
      this.#grant(this.functions[name]!, name === 'web' && props.console ? CONSOLE_WEB_ACCESS : access, props);
    }

    this.stage = this.#stage(props);
    this.#routes(props.console === true);
    if (domain) this.#customDomain(domain);

    // Custom-resource providers: tenant settings through the Store port, SNS platform applications.
    const provisioner = new CibaFunction(this, 'Fn-tenant-provisioner', {
      name: 'tenant-provisioner',
      description: 'ciba: writes tenant settings at deployment',
      environment: {
        [AWS_ENV.directoryTable]: environment[AWS_ENV.directoryTable]!,
        [AWS_ENV.ledgerTable]: environment[AWS_ENV.ledgerTable]!,
      },
      timeout: Duration.seconds(60),
      logRetention: props.logRetention,
      bundling: props.bundling,
    });
    this.functions['tenant-provisioner'] = provisioner;
    this.#grant(provisioner, { directory: 'write' }, props);
    const settingsProvider = this.#provider('TenantSettingsProvider', provisioner, props.logRetention);

    const pushPlatforms = new CibaFunction(this, 'Fn-push-platforms', {
      name: 'push-platforms',
      description: 'ciba: manages SNS platform applications at deployment',
      environment: {},
      timeout: Duration.seconds(60),
      logRetention: props.logRetention,
      bundling: props.bundling,
    });
    this.functions['push-platforms'] = pushPlatforms;
    pushPlatforms.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'SnsPlatformApplications',
        actions: [
          'sns:CreatePlatformApplication',
          'sns:SetPlatformApplicationAttributes',
          'sns:DeletePlatformApplication',
        ],
        // SNS mobile push actions support no resource-level permissions (Service Authorization Reference).
        resources: ['*'],
      }),
    );
    Validations.of(pushPlatforms.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'SNS CreatePlatformApplication/SetPlatformApplicationAttributes/DeletePlatformApplication support no resource-level permissions; the statement grants only these three actions.',
    });
    const pushProvider = this.#provider('PushPlatformsProvider', pushPlatforms, props.logRetention);

    for (const tenant of props.tenants) {
      this.tenants[tenant.id] = new CibaTenant(this, `Tenant-${tenant.id}`, {
        tenant,
        prefix,
        eventBus: props.eventBus,
        callback: callback.function,
        settingsServiceToken: settingsProvider.serviceToken,
        settingsRole: provisioner.role,
        pushPlatformsServiceToken: pushProvider.serviceToken,
        pushPlatformsRole: pushPlatforms.role,
      });
    }

    this.#alarms(props);

    new CfnOutput(this, 'BaseUrl', {
      value: publicUrl,
      description: 'Base URL; each tenant is its own issuer at {BaseUrl}/{tenant}',
    });
    new CfnOutput(this, 'ApiId', { value: this.api.apiId });
    new CfnOutput(this, 'CallbackFailuresQueueUrl', { value: this.callbackFailures.queueUrl });
    new CfnOutput(this, 'ScheduleDeadLettersQueueUrl', { value: this.scheduleDeadLetters.queueUrl });
  }

  #grant(fn: CibaFunction, access: FunctionAccess, props: ServiceStackProps): void {
    grantFunctionAccess(fn.role, access, {
      prefix: props.prefix,
      directoryTable: props.directoryTable,
      ledgerTable: props.ledgerTable,
      eventBus: props.eventBus,
      kmsAliasPrefix: props.kmsAliasPrefix,
      callbackFailures: this.callbackFailures,
      schedulerRole: this.schedulerRole,
    });
  }

  #stage(props: ServiceStackProps): apigwv2.HttpStage {
    const accessLogs = new logs.LogGroup(this, 'AccessLogs', { retention: props.logRetention });
    return new apigwv2.HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: props.throttle,
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(accessLogs),
        // No query strings, headers or bodies: they may carry hints and credentials.
        format: apigw.AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            time: '$context.requestTimeEpoch',
            method: '$context.httpMethod',
            route: '$context.routeKey',
            path: '$context.path',
            status: '$context.status',
            latency: '$context.responseLatency',
            integrationError: '$context.integrationErrorMessage',
            caller: '$context.identity.userArn',
            clientCertSerial: '$context.identity.clientCert.serialNumber',
          }),
        ),
      },
    });
  }

  #routes(console: boolean): void {
    const integrations = new Map<string, HttpLambdaIntegration>();
    const iamAuthorizer = new HttpIamAuthorizer();
    // Without the console flag its routes do not exist: API Gateway answers 404 before any function runs, whatever
    // a tenant's console_client_id says (the web function's role has none of the console's permissions then).
    for (const route of ROUTES.filter((r) => console || !r.console)) {
      const target = this.functions[route.fn];
      if (!target) throw new Error(`route ${route.method} ${route.path}: no function ${route.fn}`);
      let integration = integrations.get(route.fn);
      if (!integration) {
        integration = new HttpLambdaIntegration(`Integration-${route.fn}`, target.function, {
          payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
        });
        integrations.set(route.fn, integration);
      }
      this.api.addRoutes({
        path: route.path,
        methods: [apigwv2.HttpMethod[route.method]],
        integration,
        ...(route.admin ? { authorizer: iamAuthorizer } : {}),
      });
    }
    // OAuth, discovery and device endpoints authenticate in the function (client authentication, bearer
    // tokens, DPoP) as the specifications require; only the admin API is IAM authorized.
    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        'Public OpenID/CIBA endpoints: discovery and JWKS are public by specification; bc-authorize and token authenticate the client (RFC 6749 §2.3), userinfo the bearer token, device routes the DPoP proof. Admin routes use the IAM authorizer.',
    });
  }

  #customDomain(domain: CustomDomainConfig): void {
    const domainName = new apigwv2.DomainName(this, 'Domain', {
      domainName: domain.domainName,
      certificate: acm.Certificate.fromCertificateArn(this, 'Certificate', domain.certificateArn),
      securityPolicy: apigwv2.SecurityPolicy.TLS_1_2,
      ...(domain.truststore
        ? {
            mtls: {
              bucket: s3.Bucket.fromBucketName(this, 'Truststore', domain.truststore.bucketName),
              key: domain.truststore.key,
              ...(domain.truststore.version ? { version: domain.truststore.version } : {}),
            },
          }
        : {}),
    });
    new apigwv2.ApiMapping(this, 'DomainMapping', { api: this.api, domainName, stage: this.stage });
    new CfnOutput(this, 'DomainTarget', {
      value: domainName.regionalDomainName,
      description: `CNAME (or alias A record) target for ${domain.domainName}`,
    });
  }

  #provider(id: string, handler: CibaFunction, retention: logs.RetentionDays): cr.Provider {
    const provider = new cr.Provider(this, id, {
      onEventHandler: handler.function,
      logGroup: new logs.LogGroup(this, `${id}Logs`, { retention }),
    });
    Validations.of(provider).acknowledge(
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason: 'The CDK Provider framework function (deployment time only) uses the basic execution role.',
      },
      {
        id: `AwsSolutions-IAM5[Resource::<${this.getLogicalId(handler.function.node.defaultChild as never)}.Arn>:*]`,
        reason: 'The CDK Provider framework may invoke any version of its own onEvent function, and only that one.',
      },
    );
    return provider;
  }

  #alarms(props: ServiceStackProps): void {
    const topic = props.alarmTopicArn ? sns.Topic.fromTopicArn(this, 'AlarmTopic', props.alarmTopicArn) : undefined;
    const alarm = (a: cloudwatch.Alarm) => {
      if (topic) a.addAlarmAction(new cwActions.SnsAction(topic));
      return a;
    };
    const minute = Duration.minutes(1);

    alarm(
      new cloudwatch.Alarm(this, 'Api5xxAlarm', {
        alarmDescription: 'ciba: the API answered 5xx (every bad input must be a 4xx; a 5xx is a bug or an outage)',
        metric: this.stage.metricServerError({ period: minute, statistic: 'Sum' }),
        threshold: 5,
        evaluationPeriods: 5,
        datapointsToAlarm: 3,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );

    // Summed over every function, in groups of at most 10 metrics (CloudWatch's limit per alarm), so adding a
    // function never fails the deployment.
    const throttles = sumAlarm(
      this,
      'ThrottlesAlarm',
      Object.values(this.functions).map((f) => f.function.metricThrottles({ period: minute })),
      {
        description: 'ciba: Lambda throttled invocations (account concurrency exhausted?)',
        label: 'Throttles',
        period: minute,
        threshold: 1,
        evaluationPeriods: 5,
        datapointsToAlarm: 2,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      },
    );
    if (topic) throttles.addAlarmAction(new cwActions.SnsAction(topic));

    alarm(
      new cloudwatch.Alarm(this, 'CallbackErrorsAlarm', {
        alarmDescription: 'ciba: callback deliveries are failing (Lambda retries them, then the failures queue)',
        metric: this.functions.callback!.function.metricErrors({ period: Duration.minutes(5) }),
        threshold: 5,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );

    const depth = (id: string, queue: sqs.IQueue, what: string) =>
      alarm(
        new cloudwatch.Alarm(this, id, {
          alarmDescription: `ciba: ${what}`,
          metric: queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
          threshold: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    depth('CallbackFailuresDepthAlarm', this.callbackFailures, 'callbacks that failed after every retry');
    depth(
      'ScheduleDeadLettersDepthAlarm',
      this.scheduleDeadLetters,
      'schedules (callback retries, push-mode expiries) Scheduler could not hand to the callback function',
    );
    for (const [tenantId, tenant] of Object.entries(this.tenants)) {
      depth(
        `DeadLettersAlarm-${tenantId}`,
        tenant.deadLetterQueue,
        `${tenantId}: events EventBridge could not deliver`,
      );
      alarm(
        new cloudwatch.Alarm(this, `RuleFailuresAlarm-${tenantId}`, {
          alarmDescription: `ciba: ${tenantId}: EventBridge failed to invoke the callback function`,
          metric: new cloudwatch.Metric({
            namespace: 'AWS/Events',
            metricName: 'FailedInvocations',
            dimensionsMap: { RuleName: tenant.rule.ruleName, EventBusName: props.eventBus.eventBusName },
            period: Duration.minutes(5),
            statistic: 'Sum',
          }),
          threshold: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    }
  }
}
