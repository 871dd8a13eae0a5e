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
 * Where the tenant goes in each metric (`ciba:tenantMetrics`, docs/deploy.md "Metrics"): `dimension` (the default)
 * makes it a dimension, so CloudWatch keeps a metric per tenant, function and event (each billed); `logs` keeps only
 * the deployment's totals per function and event, the tenant staying a field of the metric's log line (Logs Insights
 * and Contributor Insights group by it).
 */
export type TenantMetrics = 'dimension' | 'logs';

export const TENANT_METRICS: readonly TenantMetrics[] = ['dimension', 'logs'];

/** The switch's value (unset: `dimension`), or undefined when it is none of TENANT_METRICS. */
export const tenantMetricsOf = (value: string | undefined): TenantMetrics | undefined =>
  value === undefined || value === '' ? 'dimension' : TENANT_METRICS.find((m) => m === value);

/**
 * The lifecycle events are exactly what operators count, so metrics come from the one place every event
 * passes: each published event adds 1 to its metric (CloudWatch embedded metric format, one log line each)
 * with the tenant as its dimension or, with `tenantMetrics: 'logs'`, as a field of the line only, once the bus took
 * it. A metrics failure never fails the publish.
 */
export class MetricsEventBus implements EventBus {
  readonly #tenantDimension: boolean;

  constructor(
    private readonly next: EventBus,
    private readonly metrics: Metrics,
    options: { tenantMetrics?: TenantMetrics } = {},
  ) {
    this.#tenantDimension = (options.tenantMetrics ?? 'dimension') === 'dimension';
  }

  async publish(events: CibaEvent[]): Promise<void> {
    await this.next.publish(events);
    for (const event of events) {
      const name = metricOf(event);
      if (!name) continue;
      try {
        if (this.#tenantDimension) this.metrics.addDimension('tenant', event.tenantId);
        else this.metrics.addMetadata('tenant', event.tenantId);
        this.metrics.addMetric(name, MetricUnit.Count, 1);
        this.metrics.publishStoredMetrics();
      } catch {
        // Metrics are best effort.
      }
    }
  }
}
