import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { describe, expect, it } from 'vitest';
import { MAX_METRICS_PER_ALARM, sumAlarm } from '../../infra/alarms.ts';

const metrics = (n: number) =>
  Array.from(
    { length: n },
    (_, i) =>
      new cloudwatch.Metric({
        namespace: 'AWS/Lambda',
        metricName: 'Throttles',
        dimensionsMap: { FunctionName: `f${i}` },
      }),
  );

const alarmsOf = (n: number) => {
  const stack = new Stack(new App(), 'Alarms');
  sumAlarm(stack, 'ThrottlesAlarm', metrics(n), {
    description: 'throttles',
    label: 'Throttles',
    period: undefined,
    threshold: 1,
    evaluationPeriods: 1,
  });
  return Template.fromStack(stack);
};

type AlarmProps = { Metrics: { MetricStat?: { Metric: { Dimensions: { Value: string }[] } } }[] };

describe('sumAlarm', () => {
  it('is one alarm on the sum while the metrics fit in one alarm', () => {
    const t = alarmsOf(MAX_METRICS_PER_ALARM);
    t.resourceCountIs('AWS::CloudWatch::Alarm', 1);
    t.resourceCountIs('AWS::CloudWatch::CompositeAlarm', 0);
  });

  it('splits any number of metrics into alarms of at most 10 metrics, under one composite alarm', () => {
    const t = alarmsOf(23);
    const alarms = Object.values(t.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties as AlarmProps);
    expect(alarms).toHaveLength(3);
    const counted = alarms.map((a) => a.Metrics.filter((m) => m.MetricStat).length);
    expect(Math.max(...counted)).toBeLessThanOrEqual(MAX_METRICS_PER_ALARM);
    // Every function's metric is in exactly one part.
    const functions = alarms.flatMap((a) => a.Metrics.flatMap((m) => m.MetricStat?.Metric.Dimensions[0]?.Value ?? []));
    expect(functions.sort()).toEqual(
      metrics(23)
        .map((_, i) => `f${i}`)
        .sort(),
    );
    const composite = Object.values(t.findResources('AWS::CloudWatch::CompositeAlarm'));
    expect(composite).toHaveLength(1);
    expect(JSON.stringify(composite[0]!.Properties)).toMatch(/ALARM\(.*OR.*OR/);
  });
});
