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
  /** The API's access log (infra/service-stack.ts #stage). */
  readonly accessLogs: logs.ILogGroup;
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

  // Capacity refusals (a client, a tenant over its limits: 503 temporarily_unavailable with Retry-After, by design) are
  // not outages: counted from the lines the functions that start requests log for each one (`refusal: capacity`), and
  // taken off the stage's 5xx, so that one client over its limit does not page anyone (RefusedRequestsByTenant names
  // the tenant). What is left: a function's 500, API Gateway's own 5xx (integration failures, timeouts) and the 503 of
  // a dependency failing or throttling (the functions log "transient dependency failure").
  const capacityRefusals = logMetric({
    id: 'CapacityRefusals',
    logGroups: logGroupsOf(t, ['bc-authorize', 'web']),
    filter: { field: '$.refusal', values: ['capacity'] },
    metricName: 'CapacityRefusals',
  });
  alarm(
    new cloudwatch.Alarm(scope, 'Api5xxAlarm', {
      alarmDescription:
        'ciba: the API answered 5xx, capacity refusals (503 temporarily_unavailable to a client over its limits) not counted: a bug (500), a dependency failing or throttling (503, "transient dependency failure" in the log) or API Gateway failing to reach a function',
      metric: new cloudwatch.MathExpression({
        // FILL: a minute without refusals has no data point of its own, and 5xx without refusals must still count.
        expression: 'FILL(e, 0) - FILL(r, 0)',
        usingMetrics: {
          e: t.stage.metricServerError({ period: minute, statistic: 'Sum' }),
          r: capacityRefusals.with({ period: minute, statistic: 'Sum' }),
        },
        period: minute,
        label: '5xx answers but capacity refusals',
      }),
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
  const byTenant = (id: string, fns: string[], filter: LogFilter, what: string, threshold: number) => {
    const ruleName = contributorRule(scope, props.prefix, id, logGroupsOf(t, fns), filter, '$.tenant');
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
    ['callback'],
    { field: '$.message', values: ['callback failed, retry scheduled', 'callback dead-lettered'] },
    'has failing callbacks',
    10,
  );
  // Every refusal of a request by a limit (the capacity ones and the per-user rate limit, the shield, no device), where
  // requests start: bc-authorize, and the web function when it serves the operator console.
  byTenant(
    'RefusedRequestsByTenant',
    ['bc-authorize', 'web'],
    { field: '$.message', startsWith: 'backchannel request refused' },
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
  const overFiveMinutes = (threshold: number) => ({
    threshold,
    period: Duration.minutes(5),
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  // A problem the functions (or API Gateway) log: counted deployment-wide from the log lines (logMetric), alarmed on the
  // sum, and counted by tenant (by path for the access log) in a Contributor Insights rule that names who has it.
  const loggedProblem = (
    o: {
      id: string;
      alarmId?: string;
      logGroups: logs.ILogGroup[];
      filter: LogFilter;
      metricName: string;
      rule: { id: string; key: '$.tenant' | '$.path' };
      description: string;
      period: Duration;
    } & Omit<cloudwatch.CreateAlarmOptions, 'metric' | 'alarmDescription'>,
  ) => {
    const { id, alarmId, logGroups, filter, metricName, rule, description, period, ...options } = o;
    const metric = logMetric({ id, logGroups, filter, metricName });
    const ruleName = contributorRule(scope, props.prefix, rule.id, logGroups, filter, rule.key);
    alarm(
      new cloudwatch.Alarm(scope, alarmId ?? `${id}Alarm`, {
        ...options,
        alarmDescription: `${description} (by ${rule.key === '$.tenant' ? 'tenant' : 'path'}: Contributor Insights rule ${ruleName})`,
        metric: metric.with({ period }),
      }),
    );
  };
  // API Gateway answers a throttled request 429 and has no metric of its own for it: counted from the access log, and
  // by path (it starts with the tenant: /{tenant}/...) in a Contributor Insights rule.
  loggedProblem({
    id: 'ThrottledRequests',
    alarmId: 'ApiThrottledAlarm',
    logGroups: [t.accessLogs],
    filter: { field: '$.status', values: ['429'] },
    metricName: 'ApiThrottledRequests',
    rule: { id: 'ThrottledRequestsByPath', key: '$.path' },
    description: 'ciba: API Gateway throttled requests (429): a route reached its throttle',
    period: minute,
    ...atLeastOnce,
  });
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
        description:
          'ciba: DynamoDB throttled requests (a hot partition, the account limits of on-demand tables, or a burst that provisioned capacity had not scaled to)',
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
  // SNS refusals (throttling among them) of mobile pushes, where they are sent (bc-authorize; the web function when it
  // serves the console) and of the device endpoints, where they are created (the device function).
  loggedProblem({
    id: 'PushFailures',
    logGroups: logGroupsOf(t, ['bc-authorize', 'web', 'device']),
    filter: { field: '$.message', values: ['push notification failed', 'push endpoint not created'] },
    metricName: 'PushNotificationsFailed',
    rule: { id: 'PushFailuresByTenant', key: '$.tenant' },
    description:
      'ciba: SNS refused push notifications or device endpoints (throttling or push credentials; the log names the error)',
    ...overFiveMinutes(10),
  });
  // Approval links by SMS held back by a tenant's sms_daily_limit (cost protection, docs/channels.md): the functions
  // that send them log each one.
  loggedProblem({
    id: 'SmsDailyLimit',
    logGroups: logGroupsOf(t, ['bc-authorize', 'callback', 'web']),
    filter: { field: '$.message', values: ['approval link not sent: the daily SMS limit is reached'] },
    metricName: 'SmsDailyLimitReached',
    rule: { id: 'SmsDailyLimitByTenant', key: '$.tenant' },
    description: 'ciba: a tenant reached its sms_daily_limit: approval links by SMS are held back',
    ...overFiveMinutes(1),
  });
  // Approval links SNS (SMS) or SES (email) refused: throttling, the SMS sandbox or spending limit, the SES sandbox.
  loggedProblem({
    id: 'LinkSendFailures',
    logGroups: logGroupsOf(t, ['bc-authorize', 'callback', 'web']),
    filter: { field: '$.message', values: ['approval link could not be sent'] },
    metricName: 'ApprovalLinksNotSent',
    rule: { id: 'LinkSendFailuresByTenant', key: '$.tenant' },
    description:
      'ciba: SNS (SMS) or SES (email) refused approval links (throttling, sandbox, spending limit; the log names the channel and error)',
    ...overFiveMinutes(5),
  });
  // A decision the events function could not publish (bus and scheduler failing) is logged at each try.
  loggedProblem({
    id: 'DecisionPublishFailures',
    logGroups: logGroupsOf(t, ['events']),
    filter: { field: '$.message', values: ['decision not published, tried again'] },
    metricName: 'DecisionsNotPublished',
    rule: { id: 'DecisionPublishFailuresByTenant', key: '$.tenant' },
    description:
      'ciba: decisions could not be published (bus and scheduler failing); the decision-retries queue tries them again, then keeps them in the decision-failures queue',
    ...overFiveMinutes(1),
  });
};

/** A log line's field, equal to one of the values or starting with a text. */
export type LogFilter = { field: string } & ({ values: string[] } | { startsWith: string });

const filterPattern = (f: LogFilter): logs.IFilterPattern => {
  if ('startsWith' in f) return logs.FilterPattern.stringValue(f.field, '=', `${f.startsWith}*`);
  const [first, ...more] = f.values.map((v) => logs.FilterPattern.stringValue(f.field, '=', v));
  return more.length === 0 ? first! : logs.FilterPattern.any(first!, ...more);
};

export const logGroupsOf = (t: AlarmTargets, fns: string[]): logs.ILogGroup[] =>
  fns.map((fn) => {
    const f = t.functions[fn];
    if (!f) throw new Error(`alarms: no function ${fn}`);
    return f.logGroup;
  });

/**
 * A metric counted from log lines (a metric filter on each log group, the same metric), deployment-wide: no dimension.
 * A tenant dimension would make a metric per tenant (each billed), and CloudWatch Logs disables a metric filter that
 * makes 1,000 dimension values in an hour; the per-tenant view is a Contributor Insights rule (contributorRule).
 */
const logMetric = (o: {
  id: string;
  logGroups: logs.ILogGroup[];
  filter: LogFilter;
  metricName: string;
}): cloudwatch.Metric => {
  for (const group of o.logGroups) {
    group.addMetricFilter(o.id, {
      metricNamespace: METRICS_NAMESPACE,
      metricName: o.metricName,
      filterPattern: filterPattern(o.filter),
      metricValue: '1',
      defaultValue: 0,
    });
  }
  return new cloudwatch.Metric({ namespace: METRICS_NAMESPACE, metricName: o.metricName, statistic: 'Sum' });
};

/** A Contributor Insights rule counting the matching lines of the log groups by one of their fields; its name. */
const contributorRule = (
  scope: Construct,
  prefix: string,
  id: string,
  logGroups: logs.ILogGroup[],
  f: LogFilter,
  key: '$.tenant' | '$.path',
): string => {
  const ruleName = `${prefix}-${id}`;
  new cloudwatch.CfnInsightRule(scope, `${id}Rule`, {
    ruleName,
    ruleState: 'ENABLED',
    ruleBody: JSON.stringify(ruleBody(logGroups, f, key)),
  });
  return ruleName;
};

const ruleBody = (logGroups: logs.ILogGroup[], f: LogFilter, key: string) => ({
  Schema: { Name: 'CloudWatchLogRule', Version: 1 },
  LogGroupNames: logGroups.map((g) => g.logGroupName),
  LogFormat: 'JSON',
  Contribution: {
    Keys: [key],
    Filters: ['startsWith' in f ? { Match: f.field, StartsWith: [f.startsWith] } : { Match: f.field, In: f.values }],
  },
  AggregateOn: 'Count',
});
