import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LocalScheduler } from '../../../lib/local/local-scheduler.ts';
import { jsonLogger } from '../../../lib/logging.ts';
import type { CibaEvent } from '../../../lib/ports.ts';

const event = (type: string): CibaEvent => ({ type, tenantId: 'acme', detail: {} });

describe('LocalScheduler', () => {
  let logs: string[];
  let got: string[];
  let scheduler: LocalScheduler;
  beforeEach(() => {
    vi.useFakeTimers();
    logs = [];
    got = [];
    scheduler = new LocalScheduler({ now: () => Date.now() }, jsonLogger({ write: (line) => logs.push(line) }));
    scheduler.setTarget(async (e) => {
      got.push(e.type);
    });
  });
  afterEach(() => vi.useRealTimers());

  it('hands each event to the target when its time comes, past times at once', async () => {
    await scheduler.schedule(Date.now() + 60, event('later'));
    await scheduler.schedule(Date.now() - 1_000, event('now'));
    await vi.advanceTimersByTimeAsync(59);
    expect(got).toEqual(['now']);
    await vi.advanceTimersByTimeAsync(1);
    expect(got).toEqual(['now', 'later']);
  });

  it('reaches times beyond setTimeout’s ceiling in several hops', async () => {
    const days30 = 30 * 24 * 3600 * 1000;
    await scheduler.schedule(Date.now() + days30, event('month'));
    await vi.advanceTimersByTimeAsync(days30 - 1);
    expect(got).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(got).toEqual(['month']);
  });

  it('withdraws the timers of the same event (type, tenant, detail) and no other; false when none is pending', async () => {
    const expiry = (txn: string): CibaEvent => ({ type: 'expiry', tenantId: 'acme', detail: { txn } });
    await scheduler.schedule(Date.now() + 30, expiry('a'));
    await scheduler.schedule(Date.now() + 40, expiry('a'));
    await scheduler.schedule(Date.now() + 30, expiry('b'));
    await scheduler.schedule(Date.now() + 10, event('soon'));
    expect(await scheduler.cancel({ type: 'expiry', tenantId: 'other', detail: { txn: 'a' } })).toBe(false);
    expect(await scheduler.cancel(expiry('a'))).toBe(true);
    expect(await scheduler.cancel(expiry('a'))).toBe(false);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(got).toEqual(['soon', 'expiry']);
    expect(await scheduler.cancel(expiry('b'))).toBe(false);
    expect(await scheduler.cancel(event('soon'))).toBe(false);
  });

  it('cancels pending timers when stopped, and drops (with a warning) what is scheduled after', async () => {
    await scheduler.schedule(Date.now() + 30, event('pending'));
    scheduler.stop();
    await scheduler.schedule(Date.now() + 30, event('after-stop'));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(got).toEqual([]);
    expect(logs.map((l) => JSON.parse(l))).toEqual([
      expect.objectContaining({
        level: 'warn',
        message: 'scheduled event dropped: the server is stopping',
        type: 'after-stop',
      }),
    ]);
  });
});
