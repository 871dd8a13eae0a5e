import { Duration } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { sumAlarm } from './alarms.ts';
import type { CibaFunction } from './ciba-function.ts';

/** The CloudWatch namespace of the service's own metrics (POWERTOOLS_METRICS_NAMESPACE of every function). */
export const METRICS_NAMESPACE = 'Ciba';

/** What the service stack's alarms watch (docs/deploy.md "Capacity" and "Operate"). */
export interface AlarmTargets {
  readonly stage: apigwv2.HttpStage;
  readonly functions: Record<string, CibaFunction>;
  readonly callbackRule: events.Rule;
  readonly callbackRuleDeadLetters: sqs.Queue;
  readonly callbackFailures: sqs.Queue;
  readonly scheduleDeadLetters: sqs.Queue;
  readonly decisionFailures: sqs.Queue;
}

export interface AlarmProps {
  prefix: string;
  directoryTable: dynamodb.ITable;
  ledgerTable: dynamodb.ITable;
  eventBus: events.IEventBus;
  /** SNS topic for alarm notifications; without it the alarms only show in CloudWatch. */
  alarmTopicArn?: string;
}

/**
 * The service stack's alarms: 5xx answers, throttles, callbacks and their dead letters, per-tenant contributors, and
 * throttling wherever the deployment can reach a limit. Made in the stack's scope: their logical ids are the stack's.
 */
export const serviceAlarms = (scope: Construct, t: AlarmTargets, props: AlarmProps): void => {
  const topic = props.alarmTopicArn ? sns.Topic.fromTopicArn(scope, 'AlarmTopic', props.alarmTopicArn) : undefined;
  const alarm = <A extends cloudwatch.AlarmBase>(a: A): A => {
    if (topic) a.addAlarmAction(new cwActions.SnsAction(topic));
    return a;
  };
  const minute = Duration.minutes(1);

  alarm(
    new cloudwatch.Alarm(scope, 'Api5xxAlarm', {
      alarmDescription: 'ciba: the API answered 5xx (every bad input must be a 4xx; a 5xx is a bug or an outage)',
      metric: t.stage.metricServerError({ period: minute, statistic: 'Sum' }),
      threshold: 5,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }),
  );

  // Summed over every function, in groups of at most 10 metrics (CloudWatch's limit per alarm), so adding a
  // function never fails the deployment.
  alarm(
    sumAlarm(
      scope,
      'ThrottlesAlarm',
      Object.values(t.functions).map((f) => f.function.metricThrottles({ period: minute })),
      {
        description: 'ciba: Lambda throttled invocations (account concurrency exhausted?)',
        label: 'Throttles',
        period: minute,
        threshold: 1,
        evaluationPeriods: 5,
        datapointsToAlarm: 2,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      },
    ),
  );

  alarm(
    new cloudwatch.Alarm(scope, 'CallbackErrorsAlarm', {
      alarmDescription: 'ciba: callback deliveries are failing (Lambda retries them, then the failures queue)',
      metric: t.functions.callback!.function.metricErrors({ period: Duration.minutes(5) }),
      threshold: 5,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }),
  );

  // The decision stream's consumer (docs/deploy.md "The decision stream"): its errors, and the age of the records it
  // reads. An old record is a decision whose callback waits.
  const events = t.functions.events!.function;
  alarm(
    new cloudwatch.Alarm(scope, 'DecisionStreamErrorsAlarm', {
      alarmDescription: 'ciba: the events function failed (decisions wait in the stream, retried, then dead-lettered)',
      metric: events.metricErrors({ period: Duration.minutes(5) }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }),
  );
  alarm(
    new cloudwatch.Alarm(scope, 'DecisionStreamIteratorAgeAlarm', {
      alarmDescription:
        "ciba: the decision stream's records wait over a minute (ping/push callbacks are late; see the events function's log)",
      metric: events.metric('IteratorAge', { period: minute, statistic: 'Maximum' }),
      threshold: 60_000,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }),
  );

  const depth = (id: string, queue: sqs.IQueue, what: string) =>
    alarm(
      new cloudwatch.Alarm(scope, id, {
        alarmDescription: `ciba: ${what}`,
        metric: queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
  depth('CallbackFailuresDepthAlarm', t.callbackFailures, 'callbacks that failed after every retry');
  depth(
    'ScheduleDeadLettersDepthAlarm',
    t.scheduleDeadLetters,
    'schedules (callback retries, push-mode expiries) Scheduler could not hand to the callback function',
  );
  depth(
    'DecisionFailuresDepthAlarm',
    t.decisionFailures,
    'decisions the events function could not publish after the stream mapping retried them (callbacks not started)',
  );
  depth(
    'CallbackRuleDeadLettersDepthAlarm',
    t.callbackRuleDeadLetters,
    'decided ping/push events EventBridge could not hand to the callback function for 24 h (the tenant is in each)',
  );
  alarm(
    new cloudwatch.Alarm(scope, 'CallbackRuleFailuresAlarm', {
      alarmDescription: 'ciba: EventBridge failed to invoke the callback function',
      metric: new cloudwatch.Metric({
        namespace: 'AWS/Events',
        metricName: 'FailedInvocations',
        dimensionsMap: { RuleName: t.callbackRule.ruleName, EventBusName: props.eventBus.eventBusName },
        period: Duration.minutes(5),
        statistic: 'Sum',
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }),
  );

  // Per tenant without a resource per tenant: Contributor Insights counts log lines by their `tenant` field, and the
  // alarm watches the top contributor; the rule's report names the tenant.
  const byTenant = (id: string, fn: string, filter: Record<string, unknown>, what: string, threshold: number) => {
    const ruleName = `${props.prefix}-${id}`;
    new cloudwatch.CfnInsightRule(scope, `${id}Rule`, {
      ruleName,
      ruleState: 'ENABLED',
      ruleBody: JSON.stringify({
        Schema: { Name: 'CloudWatchLogRule', Version: 1 },
        LogGroupNames: [t.functions[fn]!.logGroup.logGroupName],
        LogFormat: 'JSON',
        Contribution: { Keys: ['$.tenant'], Filters: [filter] },
        AggregateOn: 'Count',
      }),
    });
    alarm(
      new cloudwatch.Alarm(scope, `${id}Alarm`, {
        alarmDescription: `ciba: one tenant ${what} (Contributor Insights rule ${ruleName} names it)`,
        metric: new cloudwatch.MathExpression({
          expression: `INSIGHT_RULE_METRIC('${ruleName}', 'MaxContributorValue')`,
          usingMetrics: {},
          period: Duration.minutes(5),
          label: `${what}, top tenant`,
        }),
        threshold,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
  };
  byTenant(
    'CallbackFailuresByTenant',
    'callback',
    { Match: '$.message', In: ['callback failed, retry scheduled', 'callback dead-lettered'] },
    'has failing callbacks',
    10,
  );
  byTenant(
    'RefusedRequestsByTenant',
    'bc-authorize',
    { Match: '$.message', StartsWith: ['backchannel request refused'] },
    'reaches its request limits',
    20,
  );

  capacityAlarms(scope, t, props, alarm);
};

/** Throttling wherever the deployment can reach a limit (docs/deploy.md "Capacity"). */
const capacityAlarms = (
  scope: Construct,
  t: AlarmTargets,
  props: AlarmProps,
  alarm: <A extends cloudwatch.AlarmBase>(a: A) => A,
): void => {
  const minute = Duration.minutes(1);
  const atLeastOnce = {
    threshold: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 5,
    datapointsToAlarm: 2,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  };
  alarm(
    new cloudwatch.Alarm(scope, 'ApiThrottledAlarm', {
      alarmDescription: 'ciba: API Gateway throttled requests (429): a route reached its throttle',
      metric: new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName: 'ApiThrottledRequests',
        period: minute,
        statistic: 'Sum',
      }),
      ...atLeastOnce,
    }),
  );
  const tables: [string, dynamodb.ITable][] = [
    ['Directory', props.directoryTable],
    ['Ledger', props.ledgerTable],
  ];
  alarm(
    sumAlarm(
      scope,
      'DynamoDbThrottlesAlarm',
      tables.flatMap(([, table]) =>
        ['ReadThrottleEvents', 'WriteThrottleEvents'].map(
          (name) =>
            new cloudwatch.Metric({
              namespace: 'AWS/DynamoDB',
              metricName: name,
              dimensionsMap: { TableName: table.tableName },
              period: minute,
              statistic: 'Sum',
            }),
        ),
      ),
      {
        description: 'ciba: DynamoDB throttled requests (a hot partition, or the account limits of on-demand tables)',
        label: 'Throttle events',
        period: minute,
        ...atLeastOnce,
      },
    ),
  );
  // KMS request quotas are per account and region, shared with everything else in it: alarmed at 80 %.
  const kmsOperations = [
    'CryptographicOperationsSymmetric',
    'CryptographicOperationsEcc',
    'CryptographicOperationsRsa',
  ];
  alarm(
    new cloudwatch.Alarm(scope, 'KmsQuotaAlarm', {
      alarmDescription:
        'ciba: KMS cryptographic requests above 80 % of the account quota (kms tenants sign each token in KMS)',
      metric: new cloudwatch.MathExpression({
        expression: `MAX([${kmsOperations.map((_, i) => `100 * k${i} / PERIOD(k${i}) / SERVICE_QUOTA(k${i})`).join(', ')}])`,
        usingMetrics: Object.fromEntries(
          kmsOperations.map((resource, i) => [
            `k${i}`,
            new cloudwatch.Metric({
              namespace: 'AWS/Usage',
              metricName: 'CallCount',
              dimensionsMap: { Service: 'KMS', Type: 'API', Resource: resource, Class: 'None' },
              period: minute,
              statistic: 'Sum',
            }),
          ]),
        ),
        period: minute,
        label: 'KMS quota used (%)',
      }),
      threshold: 80,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }),
  );
  // Problems the functions log, counted from their logs (a metric filter per log group) and alarmed on their sum.
  const logCountAlarm = (
    id: string,
    o: { functions: string[]; message: string; metricName: string; description: string; threshold: number },
  ) => {
    for (const name of o.functions) {
      t.functions[name]!.logGroup.addMetricFilter(id, {
        metricNamespace: METRICS_NAMESPACE,
        metricName: o.metricName,
        filterPattern: logs.FilterPattern.stringValue('$.message', '=', o.message),
        metricValue: '1',
        defaultValue: 0,
      });
    }
    alarm(
      new cloudwatch.Alarm(scope, `${id}Alarm`, {
        alarmDescription: o.description,
        metric: new cloudwatch.Metric({
          namespace: METRICS_NAMESPACE,
          metricName: o.metricName,
          period: Duration.minutes(5),
          statistic: 'Sum',
        }),
        threshold: o.threshold,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
  };
  // A decision the events function could not publish (bus and scheduler failing) is logged before its retry.
  logCountAlarm('DecisionPublishFailures', {
    functions: ['events'],
    message: 'decision not published, the stream retries it',
    metricName: 'DecisionsNotPublished',
    description: 'ciba: decisions could not be published (bus and scheduler failing); the stream retries them',
    threshold: 1,
  });
  // SNS refusals (throttling among them) show in the notifier's log: counted there.
  logCountAlarm('PushFailures', {
    functions: ['bc-authorize'],
    message: 'push notification failed',
    metricName: 'PushNotificationsFailed',
    description: 'ciba: SNS refused push notifications (throttling or push credentials; the log names the error)',
    threshold: 10,
  });
  // Approval links by SMS held back by a tenant's sms_daily_limit (cost protection, docs/channels.md): the functions
  // that send them log each one.
  logCountAlarm('SmsDailyLimit', {
    functions: ['bc-authorize', 'callback'],
    message: 'approval link not sent: the daily SMS limit is reached',
    metricName: 'SmsDailyLimitReached',
    description:
      'ciba: a tenant reached its sms_daily_limit: approval links by SMS are held back (the log names the tenant)',
    threshold: 1,
  });
};
