import { describe, expect, it } from 'vitest';
import { EVENT, TIMER_EVENT } from '../../../lib/events.ts';
import { recoverTimers, timerFor } from '../../../lib/local/recover-timers.ts';
import type { AuthRequest } from '../../../lib/model.ts';

const NOW = 1_800_000_000_000;
const request = (over: Partial<AuthRequest>): AuthRequest =>
  ({
    txn: 'txn1',
    tenantId: 'acme',
    clientId: 'c1',
    sub: 'alice',
    deliveryMode: 'push',
    status: 'pending',
    expiresAt: NOW + 120_000,
    ...over,
  }) as AuthRequest;

describe('timerFor: the timer an unfinished callback needs after a restart', () => {
  it('a pending push request: its expiry push, at its expiry', () => {
    const timer = timerFor({ request: request({}) }, NOW);
    expect(timer).toEqual({ at: NOW + 120_000, event: expect.objectContaining({ type: TIMER_EVENT.requestExpiry }) });
  });

  it('a pending ping request: nothing (a ping is sent only after the decision)', () => {
    expect(timerFor({ request: request({ deliveryMode: 'ping' }) }, NOW)).toBeUndefined();
  });

  it('a decided request whose callback never started: attempt 1 now, as the decision starts it', () => {
    const timer = timerFor({ request: request({ status: 'approved', decidedAt: NOW - 5_000 }) }, NOW);
    expect(timer?.at).toBe(NOW);
    expect(timer?.event).toMatchObject({ type: EVENT.requestDecided, detail: { txn: 'txn1', status: 'approved' } });
  });

  it('an attempt that finished (failed): the next one now', () => {
    const timer = timerFor({ request: request({ status: 'denied', deliveryMode: 'ping' }), claimed: 2 }, NOW);
    expect(timer).toEqual({
      at: NOW,
      event: expect.objectContaining({ type: TIMER_EVENT.callbackRetry, detail: { txn: 'txn1', attempt: 3 } }),
    });
  });

  it('an attempt whose worker stopped mid-way: the same attempt once its lease has passed', () => {
    const decided = timerFor({ request: request({ status: 'approved' }), claimed: 1, leaseUntil: NOW + 20_000 }, NOW);
    expect(decided?.at).toBe(NOW + 21_000);
    expect(decided?.event.type).toBe(EVENT.requestDecided);
    const expiry = timerFor({ request: request({ expiresAt: NOW - 1 }), claimed: 1, leaseUntil: NOW - 60_000 }, NOW);
    expect(expiry).toEqual({ at: NOW, event: expect.objectContaining({ type: TIMER_EVENT.requestExpiry }) });
    const retry = timerFor({ request: request({ status: 'approved' }), claimed: 4, leaseUntil: NOW + 1 }, NOW);
    expect(retry?.event.detail).toEqual({ txn: 'txn1', attempt: 4 });
  });
});

describe('recoverTimers: the channel fallbacks of pending requests', () => {
  it('sets each fallback again at its time, or at once when it has passed', async () => {
    const scheduled: { at: number; type: string; txn: string }[] = [];
    const pending = [
      request({ txn: 'later', deliveryMode: 'poll', fallbackAt: NOW + 30_000 }),
      request({ txn: 'due', deliveryMode: 'poll', fallbackAt: NOW - 30_000 }),
    ];
    const count = await recoverTimers({
      store: {
        openCallbacks: async function* () {},
        pendingFallbacks: async function* () {
          yield* pending;
        },
      },
      scheduler: {
        schedule: async (at, event) => {
          scheduled.push({ at, type: event.type, txn: (event.detail as { txn: string }).txn });
        },
      },
      feed: () => {},
      clock: { now: () => NOW },
      logger: { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} } as never,
    });
    expect(count).toBe(2);
    expect(scheduled).toEqual([
      { at: NOW + 30_000, type: TIMER_EVENT.channelFallback, txn: 'later' },
      { at: NOW, type: TIMER_EVENT.channelFallback, txn: 'due' },
    ]);
  });
});

describe('recoverTimers: decisions whose event was still in the feed', () => {
  it('feeds a decided request whose callback never started again, and sets timers for the rest', async () => {
    const scheduled: { at: number; type: string }[] = [];
    const fed: { txn: string; status: string; decidedAt: number }[] = [];
    const count = await recoverTimers({
      store: {
        openCallbacks: async function* () {
          yield { request: request({ txn: 'unstarted', status: 'denied', decidedAt: NOW - 5_000 }) };
          yield { request: request({ txn: 'failed', status: 'approved', deliveryMode: 'ping' }), claimed: 1 };
          yield { request: request({ txn: 'pending' }) };
        },
        pendingFallbacks: async function* () {},
      },
      scheduler: {
        schedule: async (at, event) => {
          scheduled.push({ at, type: event.type });
        },
      },
      feed: (d) => fed.push({ txn: d.request.txn, status: d.status, decidedAt: d.decidedAt }),
      clock: { now: () => NOW },
      logger: { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} } as never,
    });
    expect(fed).toEqual([{ txn: 'unstarted', status: 'denied', decidedAt: NOW - 5_000 }]);
    expect(scheduled).toEqual([
      { at: NOW, type: TIMER_EVENT.callbackRetry },
      { at: NOW + 120_000, type: TIMER_EVENT.requestExpiry },
    ]);
    expect(count).toBe(3);
  });
});
