import { Aws, CfnOutput, Duration, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as lambdaDestinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { AWS_ENV } from '../lib/adapters/aws/env.ts';
import { DECISION_STREAM_FILTER } from '../lib/adapters/dynamodb/stream.ts';
import type { EventsPut } from '../lib/adapters/eventbridge-event-bus.ts';
import { callbackRulePattern } from '../lib/adapters/eventbridge-format.ts';
import type { TenantMetrics } from '../lib/adapters/metrics-event-bus.ts';
import { type FunctionName, ROUTES } from '../lib/http/routes.ts';
import { API_FUNCTIONS } from './bundling.ts';
import { BULK_WRITER_SDK_ENV, CibaFunction, type LambdaSystemLogLevel } from './ciba-function.ts';
import { CibaTenants } from './ciba-tenant.ts';
import { CONSOLE_WEB_ACCESS, FUNCTION_ACCESS, type FunctionAccess, PROVISIONER_ACCESS } from './function-access.ts';
import { type AccessTargets, customResourceProvider, grantAccess, platformApplicationArnTemplate } from './grants.ts';
import { serviceAlarms } from './service-alarms.ts';
import type { TenantConfig } from './tenants.ts';

export interface CustomDomainConfig {
  domainName: string;
  /** ACM certificate for `domainName`, in the stack's region. */
  certificateArn: string;
}

/**
 * The second custom domain, for mutual-TLS clients (RFC 8705 `mtls_endpoint_aliases`): the same API, but API Gateway
 * asks every client for a certificate there. The main domain never does.
 */
export interface MtlsDomainConfig extends CustomDomainConfig {
  /** The PEM bundle of CAs whose client certificates API Gateway accepts. */
  truststore: { bucketName: string; key: string; version?: string };
  /**
   * With an imported or private-CA certificate as `certificateArn`: a public ACM certificate for the same name that
   * proves the domain is yours (API Gateway's ownership verification certificate).
   */
  ownershipCertificateArn?: string;
}

/** Throttling of a group of routes: requests per second, and the burst, for each route of the group. */
export interface RouteThrottle {
  rateLimit: number;
  burstLimit: number;
}

/** Per route group (the function that serves it), or `default` for the rest; API Gateway applies them per route. */
export type ThrottleConfig = Partial<Record<FunctionName | 'default', RouteThrottle>>;

/**
 * The throttle of each route of a group when the deployment sets none (docs/deploy.md "Capacity"): every route has its
 * own budget, and the account's regional API Gateway limit (10,000 requests/s) is shared by all of them.
 */
export const THROTTLE_DEFAULTS: Record<FunctionName | 'default', RouteThrottle> = {
  default: { rateLimit: 500, burstLimit: 1000 },
  discovery: { rateLimit: 500, burstLimit: 1000 },
  'bc-authorize': { rateLimit: 500, burstLimit: 1000 },
  token: { rateLimit: 2000, burstLimit: 4000 },
  userinfo: { rateLimit: 500, burstLimit: 1000 },
  // The device API's two functions (consent retrieval and device responses) have the same budget per route.
  consent: { rateLimit: 1000, burstLimit: 2000 },
  device: { rateLimit: 1000, burstLimit: 2000 },
  admin: { rateLimit: 50, burstLimit: 100 },
  web: { rateLimit: 200, burstLimit: 400 },
};

export interface ServiceStackProps extends StackProps {
  prefix: string;
  tenants: TenantConfig[];
  directoryTable: dynamodb.ITable;
  ledgerTable: dynamodb.ITable;
  eventBus: events.IEventBus;
  keySealingKey: kms.IKey;
  keySealingAlias: string;
  bundling: 'esbuild' | 'stub';
  throttles: ThrottleConfig;
  logRetention: logs.RetentionDays;
  /** Lambda's system log level of every function (default WARN: no START/END/REPORT lines). */
  lambdaSystemLogLevel?: LambdaSystemLogLevel;
  customDomain?: CustomDomainConfig;
  mtlsDomain?: MtlsDomainConfig;
  /** SNS topic for alarm notifications; without it the alarms only show in CloudWatch. */
  alarmTopicArn?: string;
  /** The operator console is served in AWS (tenants still opt in with `console_client_id`). */
  console?: boolean;
  /** Approval links by email (docs/channels.md): the verified SES identity's address (`ciba:emailFrom`). */
  emailFrom?: string;
  /** Approval links by SMS: the alphanumeric sender ID (`ciba:smsSenderId`), where the country allows one. */
  smsSenderId?: string;
  /** The tenant in the lifecycle metrics (`ciba:tenantMetrics`): a dimension (default), or only in their log lines. */
  tenantMetrics?: TenantMetrics;
  /**
   * Which lifecycle events are put on the bus (`ciba:events`): `matched` (default) those that an enabled rule on the
   * bus may take (the functions read the bus's rules, `events:ListRules`), `all` every one (docs/events.md).
   */
  events?: EventsPut;
  /**
   * Reserved concurrency of the callback function (`ciba:callbackReservedConcurrency`): callbacks then never take more
   * than that of the account's concurrency from the API's functions, and always have it (docs/deploy.md "Callbacks").
   * None by default: reserving needs that much unreserved concurrency left in the account (new accounts may have 10).
   */
  callbackReservedConcurrency?: number;
}

/**
 * The part that changes with every release: functions, the HTTP API, the callback rule, the tenants' provisioning (one
 * custom resource per 100 tenants: tenants are data), the custom-resource providers and the alarms. Replaceable at
 * will; it holds no data. Nothing in it is per tenant: its resource count does not grow with the tenants.
 */
export class ServiceStack extends Stack {
  readonly api: apigwv2.HttpApi;
  readonly stage: apigwv2.HttpStage;
  readonly functions: Record<string, CibaFunction> = {};
  readonly tenants: CibaTenants;
  readonly callbackRule: events.Rule;
  readonly callbackRuleDeadLetters: sqs.Queue;
  readonly callbackFailures: sqs.Queue;
  /** Decisions of the ledger's stream the events function could not publish after the mapping's retries. */
  readonly decisionFailures: sqs.Queue;
  /** Decisions the events function could not publish at once, as letters with their tenant, retried from there. */
  readonly decisionRetries: sqs.Queue;
  readonly decisionStream: lambda.EventSourceMapping;
  readonly decisionRetriesMapping: lambda.EventSourceMapping;
  readonly scheduleDeadLetters: sqs.Queue;
  readonly scheduleGroup: scheduler.CfnScheduleGroup;
  accessLogs!: logs.LogGroup;
  readonly schedulerRole: iam.Role;

  constructor(scope: Construct, id: string, props: ServiceStackProps) {
    super(scope, id, props);
    const { prefix } = props;
    const domain = props.customDomain;

    // With a custom domain the execute-api endpoint is disabled: there is one issuer URL.
    this.api = new apigwv2.HttpApi(this, 'Api', {
      apiName: `${prefix}-api`,
      description: 'ciba-service: OpenID Connect CIBA',
      createDefaultStage: false,
      disableExecuteApiEndpoint: domain !== undefined,
    });
    const publicUrl = domain ? `https://${domain.domainName}` : this.api.apiEndpoint;
    const mtlsBaseUrl = props.mtlsDomain ? `https://${props.mtlsDomain.domainName}` : undefined;

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
    this.scheduleDeadLetters = deadLetterQueue(
      this,
      'ScheduleDeadLetters',
      'the dead-letter queue of the runtime schedules',
    );
    this.scheduleDeadLetters.grantSendMessages(this.schedulerRole);

    // Callbacks given up on (SqsDeadLetters), and callback invocations that failed after Lambda's own
    // retries (on-failure destination). Per-tenant rule DLQs catch events EventBridge could not hand over.
    this.callbackFailures = deadLetterQueue(
      this,
      'CallbackFailures',
      'the on-failure destination (dead letters) of the callback function',
    );
    // Decisions the events function could not publish (docs/deploy.md "The decision stream"): it hands each to the
    // decision-retries queue as a letter with its tenant; the same function publishes them from there, and a letter
    // still failing after DECISION_RETRIES.receives tries moves, as it is, to the decision-failures queue. That queue
    // is also the stream mapping's failure destination (Lambda's batch record), for a decision the retries queue
    // refused too.
    this.decisionFailures = deadLetterQueue(
      this,
      'DecisionFailures',
      "the dead-letter queue of the decision retries and the on-failure destination of the decision stream's mapping",
    );
    this.decisionRetries = new sqs.Queue(this, 'DecisionRetries', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: DECISION_RETRIES.visibilityTimeout,
      // A letter's age in the dead-letter queue counts from its first sending: a day here, 14 days there.
      retentionPeriod: Duration.days(1),
      deadLetterQueue: { queue: this.decisionFailures, maxReceiveCount: DECISION_RETRIES.receives },
    });
    const environment: Record<string, string> = {
      [AWS_ENV.directoryTable]: props.directoryTable.tableName,
      [AWS_ENV.ledgerTable]: props.ledgerTable.tableName,
      [AWS_ENV.eventBusName]: props.eventBus.eventBusName,
      [AWS_ENV.keySealingKey]: props.keySealingAlias,
      [AWS_ENV.deployment]: prefix,
      [AWS_ENV.snsPlatformApplicationArn]: platformApplicationArnTemplate(prefix),
      [AWS_ENV.publicUrl]: publicUrl,
      ...(mtlsBaseUrl ? { [AWS_ENV.mtlsBaseUrl]: mtlsBaseUrl } : {}),
      [AWS_ENV.schedulerGroup]: prefix,
      [AWS_ENV.schedulerTargetArn]: callbackArn,
      [AWS_ENV.schedulerRoleArn]: this.schedulerRole.roleArn,
      [AWS_ENV.schedulerDeadLetterArn]: this.scheduleDeadLetters.queueArn,
      [AWS_ENV.deadLetterQueueUrl]: this.callbackFailures.queueUrl,
      ...(props.emailFrom ? { [AWS_ENV.emailFrom]: props.emailFrom } : {}),
      ...(props.smsSenderId ? { [AWS_ENV.smsSenderId]: props.smsSenderId } : {}),
      ...(props.tenantMetrics === 'logs' ? { [AWS_ENV.tenantMetrics]: 'logs' } : {}),
      ...(props.events === 'all' ? { [AWS_ENV.events]: 'all' } : {}),
    };
    const fn = (name: (typeof API_FUNCTIONS)[number] | 'callback' | 'events', description: string, timeout = 10) =>
      new CibaFunction(this, `Fn-${name}`, {
        name,
        ...(name === 'callback' ? { functionName: callbackName } : {}),
        description,
        environment,
        timeout: Duration.seconds(timeout),
        logRetention: props.logRetention,
        ...(props.lambdaSystemLogLevel ? { systemLogLevel: props.lambdaSystemLogLevel } : {}),
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
    if (props.callbackReservedConcurrency !== undefined) {
      (callback.function.node.defaultChild as lambda.CfnFunction).reservedConcurrentExecutions =
        props.callbackReservedConcurrency;
    }
    callback.function.configureAsyncInvoke({
      retryAttempts: 2,
      maxEventAge: Duration.hours(6),
      onFailure: new lambdaDestinations.SqsDestination(this.callbackFailures),
    });

    const ledgerStreamArn = props.ledgerTable.tableStreamArn;
    if (!ledgerStreamArn) throw new Error('ServiceStack: the ledger table has no stream');
    this.functions.events = fn('events', "ciba: the ledger stream's decisions to the bus (CIBA Request Decided)", 30);
    this.decisionStream = this.#decisionStream(this.functions.events, ledgerStreamArn);
    this.functions.events.function.addEnvironment(AWS_ENV.decisionRetriesQueueUrl, this.decisionRetries.queueUrl);
    this.decisionRetriesMapping = new lambda.EventSourceMapping(this, 'DecisionRetriesMapping', {
      target: this.functions.events.function,
      eventSourceArn: this.decisionRetries.queueArn,
      batchSize: 10,
      // Each letter fails or succeeds on its own: a failed one comes back after the visibility timeout.
      reportBatchItemFailures: true,
    });

    const grantTargets: AccessTargets = {
      directoryTable: props.directoryTable,
      ledgerTable: props.ledgerTable,
      prefix,
      keySealingKey: props.keySealingKey,
      eventBus: props.eventBus,
      callbackFailures: this.callbackFailures,
      ledgerStreamArn,
      decisionFailures: this.decisionFailures,
      decisionRetries: this.decisionRetries,
      schedulerRole: this.schedulerRole,
      // SES authorizes SendEmail on the identity the address belongs to: the address's domain (verify the domain).
      ...(props.emailFrom ? { emailIdentity: props.emailFrom.split('@').pop()! } : {}),
      readEventRules: props.events !== 'all',
    };
    for (const [name, access] of Object.entries(FUNCTION_ACCESS)) {
      const granted: FunctionAccess = name === 'web' && props.console ? CONSOLE_WEB_ACCESS : access;
      grantAccess(this.functions[name]!.role, granted, grantTargets);
    }

    this.stage = this.#stage(props);
    this.#routes(props.console === true, props.throttles);
    if (domain) this.#customDomain('Domain', domain);
    if (props.mtlsDomain) this.#customDomain('MtlsDomain', props.mtlsDomain, props.mtlsDomain);

    // The tenants' provisioning (custom resources): tenants from the tenants file, as data.
    const provisioner = new CibaFunction(this, 'Fn-tenant-provisioner', {
      name: 'tenant-provisioner',
      description: 'ciba: provisions the tenants file at deployment',
      environment: {
        [AWS_ENV.directoryTable]: environment[AWS_ENV.directoryTable]!,
        [AWS_ENV.ledgerTable]: environment[AWS_ENV.ledgerTable]!,
        [AWS_ENV.keySealingKey]: props.keySealingAlias,
        [AWS_ENV.deployment]: prefix,
        [AWS_ENV.snsPlatformApplicationArn]: platformApplicationArnTemplate(prefix),
        // A batch of 100 tenants at deployment, 8 at a time.
        ...BULK_WRITER_SDK_ENV,
      },
      timeout: Duration.minutes(15),
      memorySize: 1024,
      logRetention: props.logRetention,
      ...(props.lambdaSystemLogLevel ? { systemLogLevel: props.lambdaSystemLogLevel } : {}),
      bundling: props.bundling,
    });
    this.functions['tenant-provisioner'] = provisioner;
    grantAccess(provisioner.role, PROVISIONER_ACCESS, grantTargets);
    // The logical id of deployments before batches: their per-tenant settings resources are released through it.
    const provider = customResourceProvider(this, 'TenantSettingsProvider', provisioner, props.logRetention);
    // Deployments before batches made SNS platform applications through this provider; kept (now answered by the
    // provisioner) so that dropping those resources releases the applications instead of deleting them.
    customResourceProvider(this, 'PushPlatformsProvider', provisioner, props.logRetention);

    // The tenants file's (parsed by buildCibaApp), and CibaTenant constructs added to this stack later.
    this.tenants = CibaTenants.of(this);
    this.tenants.serviceToken = provider.serviceToken;
    this.tenants.prefix = prefix;
    for (const tenant of props.tenants) this.tenants.add(tenant);

    ({ rule: this.callbackRule, deadLetters: this.callbackRuleDeadLetters } = this.#callbackRule(
      props.eventBus,
      callback,
    ));

    serviceAlarms(this, this, props);

    new CfnOutput(this, 'BaseUrl', {
      value: publicUrl,
      description: 'Base URL; each tenant is its own issuer at {BaseUrl}/{tenant}',
    });
    new CfnOutput(this, 'ApiId', { value: this.api.apiId });
    new CfnOutput(this, 'CallbackFailuresQueueUrl', { value: this.callbackFailures.queueUrl });
    new CfnOutput(this, 'ScheduleDeadLettersQueueUrl', { value: this.scheduleDeadLetters.queueUrl });
    new CfnOutput(this, 'DecisionFailuresQueueUrl', { value: this.decisionFailures.queueUrl });
  }

  /**
   * The ledger's stream to the events function: only decisions pass the filter (an update of a request item from
   * pending to decided), so the function runs once per decision and never for other writes. A decision it cannot
   * publish goes to the decision-retries queue; only one that queue refuses too is reported in batchItemFailures and
   * retried from there; after the retries or the record age, the batch's description goes to the decision-failures
   * queue and the shard moves on.
   */
  #decisionStream(events: CibaFunction, streamArn: string): lambda.EventSourceMapping {
    return new lambda.EventSourceMapping(this, 'DecisionStream', {
      target: events.function,
      eventSourceArn: streamArn,
      // From the stream's first record: an upgrade enables the stream (stateful stack) before the new functions stop
      // publishing and the mapping is enabled (service stack, in no set order), so a decision of a new function made
      // before the mapping runs is read, not lost. The old functions' decisions of those minutes are published twice.
      startingPosition: lambda.StartingPosition.TRIM_HORIZON,
      batchSize: 10,
      maxBatchingWindow: Duration.seconds(0),
      filters: [lambda.FilterCriteria.filter(DECISION_STREAM_FILTER)],
      reportBatchItemFailures: true,
      retryAttempts: 10,
      maxRecordAge: Duration.hours(6),
      // The queue's ARN only: SqsDlq would grant SendMessage itself, and the grants are infra/grants.ts's (the events
      // function's `decisionStream` access), so that removing one shows in the tests.
      onFailure: { bind: () => ({ destination: this.decisionFailures.queueArn }) },
    });
  }

  #stage(props: ServiceStackProps): apigwv2.HttpStage {
    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', { retention: props.logRetention });
    // Its throttled requests (429) are counted by infra/service-alarms.ts.
    const defaults = { ...THROTTLE_DEFAULTS.default, ...props.throttles.default };
    return new apigwv2.HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: defaults,
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(this.accessLogs),
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

  #routes(console: boolean, configured: ThrottleConfig): void {
    const throttles: Partial<Record<FunctionName, RouteThrottle>> = {};
    for (const fn of Object.keys(THROTTLE_DEFAULTS) as (FunctionName | 'default')[]) {
      // The device API's reads (consent) follow the `device` group unless the deployment names `consent` itself.
      const inherited = fn === 'consent' ? configured.device : undefined;
      if (fn !== 'default') throttles[fn] = { ...THROTTLE_DEFAULTS[fn], ...inherited, ...configured[fn] };
    }
    const routeSettings: Record<string, { ThrottlingRateLimit: number; ThrottlingBurstLimit: number }> = {};
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
      const [added] = this.api.addRoutes({
        path: route.path,
        methods: [apigwv2.HttpMethod[route.method]],
        integration,
        ...(route.admin ? { authorizer: iamAuthorizer } : {}),
      });
      // Each route's own throttle, from its group's (the stage's default applies to the others).
      const throttle = throttles[route.fn];
      if (throttle) {
        routeSettings[`${route.method} ${route.path}`] = {
          ThrottlingRateLimit: throttle.rateLimit,
          ThrottlingBurstLimit: throttle.burstLimit,
        };
        // A stage's route settings name routes that must exist first.
        this.stage.node.addDependency(added!);
      }
    }
    (this.stage.node.defaultChild as apigwv2.CfnStage).routeSettings = routeSettings;
    // OAuth, discovery and device endpoints authenticate in the function (client authentication, bearer
    // tokens, DPoP) as the specifications require; only the admin API is IAM authorized.
    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        'Public OpenID/CIBA endpoints: discovery and JWKS are public by specification; bc-authorize and token authenticate the client (RFC 6749 §2.3), userinfo the bearer token, device routes the DPoP proof. Admin routes use the IAM authorizer.',
    });
  }

  #customDomain(id: string, domain: CustomDomainConfig, mtls?: MtlsDomainConfig): void {
    const domainName = new apigwv2.DomainName(this, id, {
      domainName: domain.domainName,
      certificate: acm.Certificate.fromCertificateArn(this, `${id}Certificate`, domain.certificateArn),
      securityPolicy: apigwv2.SecurityPolicy.TLS_1_2,
      ...(mtls
        ? {
            mtls: {
              bucket: s3.Bucket.fromBucketName(this, `${id}Truststore`, mtls.truststore.bucketName),
              key: mtls.truststore.key,
              ...(mtls.truststore.version ? { version: mtls.truststore.version } : {}),
            },
            ...(mtls.ownershipCertificateArn
              ? {
                  ownershipCertificate: acm.Certificate.fromCertificateArn(
                    this,
                    `${id}OwnershipCertificate`,
                    mtls.ownershipCertificateArn,
                  ),
                }
              : {}),
          }
        : {}),
    });
    new apigwv2.ApiMapping(this, `${id}Mapping`, { api: this.api, domainName, stage: this.stage });
    new CfnOutput(this, `${id}Target`, {
      value: domainName.regionalDomainName,
      description: `CNAME (or alias A record) target for ${domain.domainName}`,
    });
  }

  /**
   * Decided ping/push requests of every tenant to the callback function: one rule, one dead-letter queue, one
   * permission. Per tenant, callbacks stay independent: each event is its own invocation, retried (Scheduler) and
   * dead-lettered on its own with the tenant in it, and a failing receiver costs one bounded attempt per retry
   * (docs/deploy.md "Callbacks").
   */
  #callbackRule(bus: events.IEventBus, callback: CibaFunction): { rule: events.Rule; deadLetters: sqs.Queue } {
    const deadLetters = deadLetterQueue(this, 'CallbackRuleDeadLetters', 'the dead-letter queue of the callback rule');
    const pattern = callbackRulePattern();
    const rule = new events.Rule(this, 'CallbackRule', {
      description: 'ciba: decided ping/push requests of every tenant to the callback function',
      eventBus: bus,
      eventPattern: { source: pattern.source, detailType: pattern['detail-type'], detail: pattern.detail },
      targets: [
        new targets.LambdaFunction(callback.function, {
          // EventBridge's longest: a throttled callback function is retried for 24 h before a dead letter.
          retryAttempts: 185,
          maxEventAge: Duration.hours(24),
          deadLetterQueue: deadLetters,
        }),
      ],
    });
    return { rule, deadLetters };
  }
}

/**
 * The decision-retries queue: a failed letter comes back after the visibility timeout (six times the events
 * function's 30 s timeout, as Lambda advises for a queue it consumes) and is tried `receives` times in all, about half
 * an hour, before it moves to the decision-failures queue.
 */
export const DECISION_RETRIES = { visibilityTimeout: Duration.minutes(3), receives: 10 } as const;

/** A queue of dead letters: encrypted, TLS only, 14 days; it has no dead-letter queue of its own (cdk-nag SQS3). */
const deadLetterQueue = (scope: Construct, id: string, what: string): sqs.Queue => {
  const queue = new sqs.Queue(scope, id, {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
  Validations.of(queue).acknowledge({ id: 'AwsSolutions-SQS3', reason: `This queue is itself ${what}.` });
  return queue;
};
