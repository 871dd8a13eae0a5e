import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { tenantMetrics } from '../../../lib/adapters/aws/events.ts';
import { MetricsEventBus, metricOf } from '../../../lib/adapters/metrics-event-bus.ts';
import type { CibaEvent, EventBus } from '../../../lib/ports.ts';

const event = (type: string, detail: Record<string, unknown> = {}): CibaEvent => ({ type, tenantId: 'acme', detail });

describe('MetricsEventBus', () => {
  afterEach(() => vi.restoreAllMocks());

  it('names one metric per lifecycle event, approvals and denials apart', () => {
    expect(metricOf(event('CIBA Request Created'))).toBe('RequestsStarted');
    expect(metricOf(event('CIBA Request Decided', { status: 'approved' }))).toBe('RequestsApproved');
    expect(metricOf(event('CIBA Request Decided', { status: 'denied' }))).toBe('RequestsDenied');
    expect(metricOf(event('CIBA Request Expired'))).toBe('RequestsExpired');
    expect(metricOf(event('CIBA Tokens Issued'))).toBe('TokensIssued');
    expect(metricOf(event('CIBA Callback Failed'))).toBe('CallbacksFailed');
    expect(metricOf(event('CIBA Callback Retry'))).toBeUndefined();
  });

  it('writes an EMF count with the tenant dimension after the bus took the event', async () => {
    const lines: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => {
      lines.push(String(chunk));
      return true;
    });
    const published: CibaEvent[] = [];
    const next: EventBus = { publish: async (events) => void published.push(...events) };
    const bus = new MetricsEventBus(next, new Metrics({ namespace: 'Ciba', serviceName: 'test' }));
    await bus.publish([event('CIBA Tokens Issued')]);
    expect(published).toHaveLength(1);
    const emf = lines
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l))
      .find((o) => o._aws);
    expect(emf).toMatchObject({ TokensIssued: 1, tenant: 'acme', service: 'test' });
    expect(emf._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: 'Ciba',
      Metrics: [{ Name: 'TokensIssued', Unit: 'Count' }],
    });
  });

  it("with tenantMetrics 'logs', keeps the tenant out of the dimensions and in the line (ciba:tenantMetrics=logs)", async () => {
    const lines: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => {
      lines.push(String(chunk));
      return true;
    });
    const emfOf = async (bus: MetricsEventBus) => {
      lines.length = 0;
      await bus.publish([event('CIBA Tokens Issued')]);
      return lines
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l))
        .find((o) => o._aws);
    };
    const next: EventBus = { publish: async () => {} };
    const metrics = () => new Metrics({ namespace: 'Ciba', serviceName: 'test' });
    const totals = await emfOf(new MetricsEventBus(next, metrics(), { tenantMetrics: 'logs' }));
    expect(totals).toMatchObject({ TokensIssued: 1, tenant: 'acme', service: 'test' });
    expect(totals._aws.CloudWatchMetrics[0].Dimensions).toEqual([['service']]);
    const perTenant = await emfOf(new MetricsEventBus(next, metrics()));
    expect(perTenant._aws.CloudWatchMetrics[0].Dimensions).toEqual([['service', 'tenant']]);
  });

  it('takes the switch from CIBA_TENANT_METRICS: the tenant dimension unless it says logs, and nothing else', () => {
    expect(tenantMetrics({})).toBe('dimension');
    expect(tenantMetrics({ CIBA_TENANT_METRICS: 'dimension' })).toBe('dimension');
    expect(tenantMetrics({ CIBA_TENANT_METRICS: 'logs' })).toBe('logs');
    expect(() => tenantMetrics({ CIBA_TENANT_METRICS: 'off' })).toThrow('CIBA_TENANT_METRICS must be one of');
  });

  it('counts nothing when the bus fails, and lets the failure through', async () => {
    const metrics = new Metrics({ namespace: 'Ciba', serviceName: 'test' });
    const add = vi.spyOn(metrics, 'addMetric');
    const bus = new MetricsEventBus({ publish: async () => Promise.reject(new Error('bus down')) }, metrics);
    await expect(bus.publish([event('CIBA Request Created')])).rejects.toThrow('bus down');
    expect(add).not.toHaveBeenCalled();
  });
});
