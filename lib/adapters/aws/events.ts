import { Metrics } from '@aws-lambda-powertools/metrics';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { EventBridgeEventBus } from '../eventbridge-event-bus.ts';
import { MetricsEventBus, TENANT_METRICS, type TenantMetrics, tenantMetricsOf } from '../metrics-event-bus.ts';
import { AWS_ENV, type Env, required } from './env.ts';

/** `CIBA_TENANT_METRICS` (`ciba:tenantMetrics`): the tenant as a metric dimension unless it says `logs`. */
export const tenantMetrics = (env: Env): TenantMetrics => {
  const known = tenantMetricsOf(env[AWS_ENV.tenantMetrics]);
  if (!known)
    throw new Error(`environment variable ${AWS_ENV.tenantMetrics} must be one of ${TENANT_METRICS.join(', ')}`);
  return known;
};

/** EventBridge, counting each lifecycle event as a CloudWatch metric. */
export const eventBus = (env: Env) =>
  new MetricsEventBus(
    new EventBridgeEventBus({ client: new EventBridgeClient({}), eventBusName: required(env, AWS_ENV.eventBusName) }),
    new Metrics({
      namespace: env.POWERTOOLS_METRICS_NAMESPACE ?? 'Ciba',
      serviceName: env.POWERTOOLS_SERVICE_NAME ?? 'ciba',
    }),
    { tenantMetrics: tenantMetrics(env) },
  );
