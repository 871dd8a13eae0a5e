import { describe, expect, it } from 'vitest';
import { LocalScheduler } from '../../../lib/local/local-scheduler.ts';
import { silentLogger } from '../../../lib/logging.ts';
import type { CibaEvent } from '../../../lib/ports.ts';

describe('LocalScheduler', () => {
  it('hands each event to the target when its time comes, past times at once', async () => {
    const scheduler = new LocalScheduler({ now: () => Date.now() }, silentLogger);
    const got: string[] = [];
    scheduler.setTarget(async (event) => {
      got.push(event.type);
    });
    const event = (type: string): CibaEvent => ({ type, tenantId: 'acme', detail: {} });
    await scheduler.schedule(Date.now() + 60, event('later'));
    await scheduler.schedule(Date.now() - 1_000, event('now'));
    await new Promise((r) => setTimeout(r, 20));
    expect(got).toEqual(['now']);
    await new Promise((r) => setTimeout(r, 80));
    expect(got).toEqual(['now', 'later']);
  });

  it('cancels pending timers when stopped', async () => {
    const scheduler = new LocalScheduler({ now: () => Date.now() }, silentLogger);
    let ran = false;
    scheduler.setTarget(async () => {
      ran = true;
    });
    await scheduler.schedule(Date.now() + 30, { type: 'x', tenantId: 'acme', detail: {} });
    scheduler.stop();
    await new Promise((r) => setTimeout(r, 60));
    expect(ran).toBe(false);
  });
});
