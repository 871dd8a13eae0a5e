import { Logger as PowertoolsBaseLogger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { withSettingsCache } from '../cache.ts';
import { GuardedOutboundHttp } from '../http/outbound.ts';
import type { Clock, Deps } from '../ports.ts';
import { DynamoDbStore } from './dynamodb-store.ts';
import { EventBridgeEventBus } from './eventbridge-event-bus.ts';
import { EventBridgeScheduler } from './eventbridge-scheduler.ts';
import { KmsKeys } from './kms-keys.ts';
import { MetricsEventBus } from './metrics-event-bus.ts';
import { PowertoolsLogger } from './powertools-logger.ts';
import { SnsDeviceNotifier } from './sns-device-notifier.ts';
import { SqsDeadLetters } from './sqs-dead-letters.ts';
import { WebPushDeviceNotifier } from './web-push-device-notifier.ts';

/**
 * The environment every function gets from the CDK stack (infra/service-stack.ts sets exactly these).
 * `CIBA_PUBLIC_URL` is optional: without it the base URL is derived from the request.
 */
export const AWS_ENV = {
  directoryTable: 'CIBA_DIRECTORY_TABLE',
  ledgerTable: 'CIBA_LEDGER_TABLE',
  eventBusName: 'CIBA_EVENT_BUS_NAME',
  kmsAliasPrefix: 'CIBA_KMS_ALIAS_PREFIX',
  snsPlatformApplicationArn: 'CIBA_SNS_PLATFORM_APP_ARN',
  schedulerGroup: 'CIBA_SCHEDULER_GROUP',
  schedulerTargetArn: 'CIBA_SCHEDULER_TARGET_ARN',
  schedulerRoleArn: 'CIBA_SCHEDULER_ROLE_ARN',
  deadLetterQueueUrl: 'CIBA_DEAD_LETTER_QUEUE_URL',
  publicUrl: 'CIBA_PUBLIC_URL',
} as const;

type Env = Record<string, string | undefined>;

const required = (env: Env, name: string): string => {
  const value = env[name];
  if (!value) throw new Error(`environment variable ${name} is not set`);
  return value;
};

/** Builds the AWS adapters from the environment. Use `awsDeps()` in a Lambda entry; this is for tests. */
export const buildAwsDeps = (env: Env = process.env): Deps => {
  const clock: Clock = { now: Date.now };
  const logger = new PowertoolsLogger(new PowertoolsBaseLogger({ serviceName: env.POWERTOOLS_SERVICE_NAME ?? 'ciba' }));
  const store = new DynamoDbStore({
    client: new DynamoDBClient({}),
    directoryTable: required(env, AWS_ENV.directoryTable),
    ledgerTable: required(env, AWS_ENV.ledgerTable),
  });
  const publicUrl = env[AWS_ENV.publicUrl]?.replace(/\/+$/, '');
  const cachedStore = withSettingsCache(store, clock);
  return {
    store: cachedStore,
    scheduler: new EventBridgeScheduler({
      client: new SchedulerClient({}),
      groupName: required(env, AWS_ENV.schedulerGroup),
      targetArn: required(env, AWS_ENV.schedulerTargetArn),
      roleArn: required(env, AWS_ENV.schedulerRoleArn),
      clock,
    }),
    deadLetters: new SqsDeadLetters({ client: new SQSClient({}), queueUrl: required(env, AWS_ENV.deadLetterQueueUrl) }),
    outbound: new GuardedOutboundHttp(),
    keys: new KmsKeys({ client: new KMSClient({}), aliasPrefix: required(env, AWS_ENV.kmsAliasPrefix), clock }),
    // Web Push for browser authenticators in front of SNS mobile push.
    notifier: new WebPushDeviceNotifier({
      next: new SnsDeviceNotifier({
        client: new SNSClient({}),
        platformApplicationArnTemplate: required(env, AWS_ENV.snsPlatformApplicationArn),
        logger,
        clock,
      }),
      directory: cachedStore,
      logger,
    }),
    events: new MetricsEventBus(
      new EventBridgeEventBus({ client: new EventBridgeClient({}), eventBusName: required(env, AWS_ENV.eventBusName) }),
      new Metrics({
        namespace: env.POWERTOOLS_METRICS_NAMESPACE ?? 'Ciba',
        serviceName: env.POWERTOOLS_SERVICE_NAME ?? 'ciba',
      }),
    ),
    clock,
    logger,
    config: { mode: 'aws', ...(publicUrl ? { publicUrl } : {}) },
  };
};

let instance: Deps | undefined;

/** The AWS deps, built once per cold start (module scope outlives invocations); SDK clients are reused. */
export const awsDeps = (): Deps => {
  instance ??= buildAwsDeps();
  return instance;
};
