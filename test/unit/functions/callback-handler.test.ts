import { describe, expect, it } from 'vitest';
import { createHandler, triggerOf } from '../../../functions/callback/handler.ts';
import { toEventBridgeEvent } from '../../../lib/adapters/eventbridge-format.ts';
import type { Deps } from '../../../lib/ports.ts';
import { AUTH_REQ_ID, fakeWorld, TXN } from '../../helpers/callback-fakes.ts';

const envelope = (type: string, detail: Record<string, unknown>, tenantId = 'acme') =>
  toEventBridgeEvent({ type, tenantId, detail }, { id: 'e-1', time: Date.UTC(2025, 0, 1) });

describe('the callback function', () => {
  it('builds the EventBridge envelope with the tenant in the detail', () => {
    expect(envelope('CIBA Request Decided', { txn: TXN, tenant_id: 'other' })).toEqual({
      version: '0',
      id: 'e-1',
      'detail-type': 'CIBA Request Decided',
      source: 'ciba',
      account: '000000000000',
      time: '2025-01-01T00:00:00Z',
      region: 'local',
      resources: [],
      detail: { txn: TXN, tenant_id: 'acme' },
    });
  });

  it('turns a decided ping or push request into attempt 1', () => {
    for (const mode of ['ping', 'push']) {
      expect(
        triggerOf(envelope('CIBA Request Decided', { txn: TXN, delivery_mode: mode, status: 'approved' })),
      ).toEqual({
        tenantId: 'acme',
        txn: TXN,
        attempt: 1,
        reason: 'decided',
      });
    }
  });

  it('turns scheduler events into retries and expiry checks', () => {
    expect(triggerOf(envelope('CIBA Callback Retry', { txn: TXN, attempt: 4 }))).toEqual({
      tenantId: 'acme',
      txn: TXN,
      attempt: 4,
      reason: 'retry',
    });
    expect(triggerOf(envelope('CIBA Request Expiry', { txn: TXN }))).toEqual({
      tenantId: 'acme',
      txn: TXN,
      attempt: 1,
      reason: 'expiry',
    });
  });

  it.each([
    ['a poll request', envelope('CIBA Request Decided', { txn: TXN, delivery_mode: 'poll' })],
    ['another detail-type', envelope('CIBA Tokens Issued', { txn: TXN })],
    ['another source', { ...envelope('CIBA Request Decided', { txn: TXN, delivery_mode: 'ping' }), source: 'x' }],
    ['a malformed txn', envelope('CIBA Request Decided', { txn: 'nope', delivery_mode: 'ping' })],
    ['a retry without an attempt', envelope('CIBA Callback Retry', { txn: TXN })],
    ['a malformed tenant', envelope('CIBA Request Expiry', { txn: TXN }, 'Not A Tenant')],
  ])('ignores %s', (_name, event) => {
    expect(triggerOf(event)).toBeUndefined();
  });

  it('delivers through the core when invoked with a decided event', async () => {
    const w = fakeWorld({ mode: 'ping' });
    const handler = createHandler(w.deps as unknown as Deps);
    const outcome = await handler(
      envelope('CIBA Request Decided', { txn: TXN, delivery_mode: 'ping', status: 'approved' }),
      {} as never,
    );
    expect(outcome).toEqual({ outcome: 'delivered', attempt: 1, status: 204 });
    expect(w.posts.map((p) => p.body)).toEqual([{ auth_req_id: AUTH_REQ_ID }]);
  });
});
