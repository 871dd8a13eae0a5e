import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CountedRequest } from '../../../lib/ciba/user-rate-window.ts';
import { admitUserRequest, RateWindowHints, refundUserRequest } from '../../../lib/ciba/user-rate-window.ts';
import { memoryStore } from '../../helpers/memory-store.ts';
import { NOW, user } from '../../helpers/store-fixtures.ts';

const MINUTE = 60_000;

/**
 * The per-user budget with refunds (lib/ciba/user-rate-window.ts), against a model: on a clock that moves forward, a
 * request is admitted exactly when fewer than `limit` requests admitted in this minute and the previous one have not
 * been given back. So the budget is never exceeded (no 60 s hold more than the limit), and a refund always makes the
 * room it should: nothing given back is lost, nothing is given back twice. The in-memory store applies the core's
 * rules, which the contract suite holds the DynamoDB adapter to.
 */
describe('the per-user budget with refunds (property)', () => {
  it('admits exactly what the model admits, for any sequence of requests, refunds and minutes passing', async () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant('admit' as const), after: fc.integer({ min: 0, max: 50_000 }) }),
      fc.record({ kind: fc.constant('refund' as const), pick: fc.nat() }),
    );
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.array(step, { maxLength: 40 }), async (limit, steps) => {
        const s = memoryStore();
        const u = user('t');
        await s.users.save(u, null);
        const hints = new RateWindowHints();
        let now = NOW;
        const live: { at: number; counted: CountedRequest }[] = [];
        for (const st of steps) {
          if (st.kind === 'refund') {
            if (live.length === 0) continue;
            const [given] = live.splice(st.pick % live.length, 1);
            await refundUserRequest(s, given!.counted);
            continue;
          }
          now += st.after;
          const minute = Math.floor(now / MINUTE);
          const counting = live.filter((r) => Math.floor(r.at / MINUTE) >= minute - 1).length;
          const admitted = await admitUserRequest(
            s,
            { tenantId: u.tenantId, sub: u.sub, limitPerMinute: limit, now },
            hints,
          );
          if (counting < limit) {
            expect(admitted, `admitted with ${counting} of ${limit} counting`).toHaveProperty('counted');
            live.push({ at: now, counted: (admitted as { counted: CountedRequest }).counted });
          } else {
            expect(admitted).toEqual({ rateLimited: true });
          }
          expect(live.filter((r) => r.at > now - MINUTE).length).toBeLessThanOrEqual(limit);
        }
      }),
      { numRuns: 300 },
    );
  });
});
