import { Metrics } from '@aws-lambda-powertools/metrics';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { BaseAwsDeps } from '../aws-deps.ts';
import { EVENTS_PUT, EventBridgeEventBus, type EventsPut, eventsPutOf } from '../eventbridge-event-bus.ts';
import { MetricsEventBus, TENANT_METRICS, type TenantMetrics, tenantMetricsOf } from '../metrics-event-bus.ts';
import { AWS_ENV, type Env, required } from './env.ts';

/** `CIBA_TENANT_METRICS` (`ciba:tenantMetrics`): the tenant as a metric dimension unless it says `logs`. */
export const tenantMetrics = (env: Env): TenantMetrics => {
  const known = tenantMetricsOf(env[AWS_ENV.tenantMetrics]);
  if (!known)
    throw new Error(`environment variable ${AWS_ENV.tenantMetrics} must be one of ${TENANT_METRICS.join(', ')}`);
  return known;
};

/** `CIBA_EVENTS` (`ciba:events`): `matched` unless it says `all`. */
const eventsPut = (env: Env): EventsPut => {
  const known = eventsPutOf(env[AWS_ENV.events]);
  if (!known) throw new Error(`environment variable ${AWS_ENV.events} must be one of ${EVENTS_PUT.join(', ')}`);
  return known;
};

/** EventBridge, counting each lifecycle event as a CloudWatch metric (every event, put on the bus or not). */
export const eventBus = (env: Env, base: BaseAwsDeps) =>
  new MetricsEventBus(
    new EventBridgeEventBus({
      client: new EventBridgeClient({}),
      eventBusName: required(env, AWS_ENV.eventBusName),
      put: eventsPut(env),
      now: () => base.clock.now(),
      logger: base.logger,
    }),
    new Metrics({
      namespace: env.POWERTOOLS_METRICS_NAMESPACE ?? 'Ciba',
      serviceName: env.POWERTOOLS_SERVICE_NAME ?? 'ciba',
    }),
    { tenantMetrics: tenantMetrics(env) },
  );
