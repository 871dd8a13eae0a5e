import { describe, expect, it } from 'vitest';
import { EVENT, matchesCallbackRule, TIMER_EVENT } from '../../lib/events.ts';

const event = (type: string, delivery_mode?: string) => ({
  type,
  tenantId: 'acme',
  detail: { txn: 't1', ...(delivery_mode ? { delivery_mode } : {}) },
});

describe('matchesCallbackRule (the tenant rule to the callback function)', () => {
  it('passes decided ping and push requests', () => {
    expect(matchesCallbackRule(event(EVENT.requestDecided, 'ping'))).toBe(true);
    expect(matchesCallbackRule(event(EVENT.requestDecided, 'push'))).toBe(true);
  });

  it('passes nothing else: poll decisions, other lifecycle events, timer events', () => {
    expect(matchesCallbackRule(event(EVENT.requestDecided, 'poll'))).toBe(false);
    expect(matchesCallbackRule(event(EVENT.requestDecided))).toBe(false);
    for (const type of [EVENT.requestCreated, EVENT.tokensIssued, EVENT.requestExpired, TIMER_EVENT.callbackRetry]) {
      expect(matchesCallbackRule(event(type, 'push'))).toBe(false);
    }
  });
});
