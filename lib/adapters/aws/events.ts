import { Metrics } from '@aws-lambda-powertools/metrics';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { EventBridgeEventBus } from '../eventbridge-event-bus.ts';
import { MetricsEventBus } from '../metrics-event-bus.ts';
import { AWS_ENV, type Env, required } from './env.ts';

/** EventBridge, counting each lifecycle event as a CloudWatch metric. */
export const eventBus = (env: Env) =>
  new MetricsEventBus(
    new EventBridgeEventBus({ client: new EventBridgeClient({}), eventBusName: required(env, AWS_ENV.eventBusName) }),
    new Metrics({
      namespace: env.POWERTOOLS_METRICS_NAMESPACE ?? 'Ciba',
      serviceName: env.POWERTOOLS_SERVICE_NAME ?? 'ciba',
    }),
  );
