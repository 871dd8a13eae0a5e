import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { Construct } from 'constructs';

/** CloudWatch: an alarm on a math expression may use at most 10 metrics (PutMetricAlarm, and CDK checks it). */
export const MAX_METRICS_PER_ALARM = 10;

export interface SumAlarmProps
  extends Omit<cloudwatch.AlarmProps, 'metric' | 'alarmDescription' | 'comparisonOperator'> {
  description: string;
  label: string;
  period: cloudwatch.MathExpressionProps['period'];
}

/**
 * An alarm on the sum of any number of metrics, within CloudWatch's limit of 10 metrics per alarm: one alarm per
 * group of at most 10, and, when there is more than one group, a composite alarm that is in alarm when any of them
 * is. Returns the alarms that should notify (the one alarm, or the composite).
 */
export const sumAlarm = (
  scope: Construct,
  id: string,
  metrics: cloudwatch.IMetric[],
  props: SumAlarmProps,
): cloudwatch.AlarmBase => {
  const { description, label, period, ...alarmProps } = props;
  const groups: cloudwatch.IMetric[][] = [];
  for (let i = 0; i < metrics.length; i += MAX_METRICS_PER_ALARM)
    groups.push(metrics.slice(i, i + MAX_METRICS_PER_ALARM));
  const alarmOf = (groupId: string, group: cloudwatch.IMetric[], what: string) =>
    new cloudwatch.Alarm(scope, groupId, {
      ...alarmProps,
      alarmDescription: what,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      metric: new cloudwatch.MathExpression({
        expression: group.map((_, i) => `m${i}`).join(' + '),
        usingMetrics: Object.fromEntries(group.map((m, i) => [`m${i}`, m])),
        period,
        label,
      }),
    });
  if (groups.length === 1) return alarmOf(id, groups[0]!, description);
  const parts = groups.map((group, i) =>
    alarmOf(`${id}Part${i + 1}`, group, `${description} (part ${i + 1} of ${groups.length})`),
  );
  return new cloudwatch.CompositeAlarm(scope, id, {
    alarmDescription: description,
    alarmRule: cloudwatch.AlarmRule.anyOf(...parts),
  });
};
