import type { Metrics } from '@aws-lambda-powertools/metrics';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { EVENT } from '../events.ts';
import type { CibaEvent, EventBus } from '../ports.ts';

/** The CloudWatch metric each lifecycle event counts as (namespace from POWERTOOLS_METRICS_NAMESPACE). */
export const metricOf = (event: CibaEvent): string | undefined => {
  switch (event.type) {
    case EVENT.requestCreated:
      return 'RequestsStarted';
    case EVENT.requestDecided:
      return event.detail.status === 'approved' ? 'RequestsApproved' : 'RequestsDenied';
    case EVENT.requestExpired:
      return 'RequestsExpired';
    case EVENT.tokensIssued:
      return 'TokensIssued';
    case EVENT.callbackDelivered:
      return 'CallbacksDelivered';
    case EVENT.callbackFailed:
      return 'CallbacksFailed';
    default:
      return undefined;
  }
};

/**
 * The lifecycle events are exactly what operators count, so metrics come from the one place every event
 * passes: each published event adds 1 to its metric (CloudWatch embedded metric format, one log line each)
 * a few) with the tenant as its dimension, once the bus took it. A metrics failure never fails the publish.
 */
export class MetricsEventBus implements EventBus {
  constructor(
    private readonly next: EventBus,
    private readonly metrics: Metrics,
  ) {}

  async publish(events: CibaEvent[]): Promise<void> {
    await this.next.publish(events);
    for (const event of events) {
      const name = metricOf(event);
      if (!name) continue;
      try {
        this.metrics.addDimension('tenant', event.tenantId);
        this.metrics.addMetric(name, MetricUnit.Count, 1);
        this.metrics.publishStoredMetrics();
      } catch {
        // Metrics are best effort.
      }
    }
  }
}
