import { describe, expect, it } from 'vitest';
import { deadLetters } from '../../../lib/adapters/aws/dead-letters.ts';
import { eventBus } from '../../../lib/adapters/aws/events.ts';
import { tenantKeys } from '../../../lib/adapters/aws/keys.ts';
import { pushNotifier } from '../../../lib/adapters/aws/notifier.ts';
import { outbound } from '../../../lib/adapters/aws/outbound.ts';
import { pushPlatforms } from '../../../lib/adapters/aws/push-platforms.ts';
import { scheduler } from '../../../lib/adapters/aws/scheduler.ts';
import { clients, requests, tenants } from '../../../lib/adapters/aws/store.ts';
import { AWS_CAPABILITIES, buildAwsDeps } from '../../../lib/adapters/aws-deps.ts';
import { EventBridgeEventBus } from '../../../lib/adapters/eventbridge-event-bus.ts';
import { EventBridgeScheduler } from '../../../lib/adapters/eventbridge-scheduler.ts';
import { GuardedOutboundHttp } from '../../../lib/adapters/guarded-outbound-http.ts';
import { MetricsEventBus } from '../../../lib/adapters/metrics-event-bus.ts';
import { PowertoolsLogger } from '../../../lib/adapters/powertools-logger.ts';
import { SnsPushPlatforms } from '../../../lib/adapters/sns-push-platforms.ts';
import { SqsDeadLetters } from '../../../lib/adapters/sqs-dead-letters.ts';
import { TenantKeys } from '../../../lib/adapters/tenant-keys.ts';
import { WebPushDeviceNotifier } from '../../../lib/adapters/web-push-device-notifier.ts';

const ENV = {
  AWS_REGION: 'eu-west-1',
  CIBA_DIRECTORY_TABLE: 'Stateful-Directory-1',
  CIBA_LEDGER_TABLE: 'Stateful-Ledger-1',
  CIBA_EVENT_BUS_NAME: 'ciba-events',
  CIBA_KEY_SEALING_KEY: 'alias/ciba-tenant-keys',
  CIBA_DEPLOYMENT: 'ciba',
  CIBA_SNS_PLATFORM_APP_ARN: 'arn:aws:sns:eu-west-1:111122223333:app/{platform}/ciba-{tenant}',
  CIBA_SCHEDULER_GROUP: 'ciba',
  CIBA_SCHEDULER_TARGET_ARN: 'arn:aws:lambda:eu-west-1:111122223333:function:ciba-callback',
  CIBA_SCHEDULER_ROLE_ARN: 'arn:aws:iam::111122223333:role/ciba-scheduler',
  CIBA_SCHEDULER_DEAD_LETTER_ARN: 'arn:aws:sqs:eu-west-1:111122223333:ciba-schedule-dead-letters',
  CIBA_DEAD_LETTER_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/111122223333/ciba-callback-failures',
};

describe('buildAwsDeps', () => {
  const ALL = {
    keys: tenantKeys,
    platforms: pushPlatforms,
    notifier: pushNotifier,
    events: eventBus,
    scheduler,
    deadLetters,
    outbound,
  };

  it('wires the AWS adapters in aws mode', () => {
    const deps = buildAwsDeps(ALL, {
      ...ENV,
      CIBA_PUBLIC_URL: 'https://id.example.com/',
      CIBA_MTLS_BASE_URL: 'https://mtls.id.example.com/',
    });
    expect(deps.config).toEqual({
      capabilities: AWS_CAPABILITIES,
      publicUrl: 'https://id.example.com',
      mtls: { baseUrl: 'https://mtls.id.example.com' },
    });
    expect(deps.keys).toBeInstanceOf(TenantKeys);
    expect(deps.platforms).toBeInstanceOf(SnsPushPlatforms);
    // Web Push (browser authenticators) in front of SNS mobile push.
    expect(deps.notifier).toBeInstanceOf(WebPushDeviceNotifier);
    expect(deps.events).toBeInstanceOf(MetricsEventBus);
    expect((deps.events as unknown as { next: unknown }).next).toBeInstanceOf(EventBridgeEventBus);
    expect(deps.scheduler).toBeInstanceOf(EventBridgeScheduler);
    expect(deps.outbound).toBeInstanceOf(GuardedOutboundHttp);
    expect(deps.deadLetters).toBeInstanceOf(SqsDeadLetters);
    expect(deps.logger).toBeInstanceOf(PowertoolsLogger);
    expect(deps.tables).toMatchObject({ directory: 'Stateful-Directory-1', ledger: 'Stateful-Ledger-1' });
    expect(Math.abs(deps.clock.now() - Date.now())).toBeLessThan(1000);
  });

  it('builds the store ports a function names, and only those', () => {
    const deps = buildAwsDeps({ tenants, clients, requests }, ENV);
    expect(Object.keys(deps).sort()).toEqual(['clients', 'clock', 'config', 'logger', 'requests', 'tables', 'tenants']);
    expect(typeof deps.requests.create).toBe('function');
    expect(typeof deps.tenants.get).toBe('function');
  });

  it('leaves the public URL to the request when it is not configured', () => {
    expect(buildAwsDeps({}, ENV).config).toEqual({ capabilities: AWS_CAPABILITIES });
  });

  it('builds only the ports a function names (its handler type asks for exactly those)', () => {
    const deps = buildAwsDeps({ keys: tenantKeys }, ENV) as unknown as Record<string, unknown>;
    expect(deps.keys).toBeInstanceOf(TenantKeys);
    expect(Object.keys(deps).sort()).toEqual(['clock', 'config', 'keys', 'logger', 'tables']);
  });

  it.each([
    'CIBA_DIRECTORY_TABLE',
    'CIBA_LEDGER_TABLE',
    'CIBA_EVENT_BUS_NAME',
    'CIBA_KEY_SEALING_KEY',
    'CIBA_DEPLOYMENT',
    'CIBA_SNS_PLATFORM_APP_ARN',
  ])('fails at cold start when %s is missing', (name) => {
    const env: Record<string, string> = { ...ENV };
    delete env[name];
    expect(() => buildAwsDeps(ALL, env)).toThrow(`environment variable ${name} is not set`);
  });
});
