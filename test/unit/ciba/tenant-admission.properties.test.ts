import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AdmissionMemory,
  admissionMemory,
  admitTenantRequest,
  releaseTenantRequest,
} from '../../../lib/ciba/tenant-admission.ts';
import { type Admitted, expectEveryShardFull, expectWithinLimits } from '../../helpers/admission-checks.ts';
import { memoryStore } from '../../helpers/memory-store.ts';
import { NOW } from '../../helpers/store-fixtures.ts';

/**
 * The tenant's admission counters (lib/ciba/tenant-admission.ts) under concurrent requests and releases on a clock that
 * crosses minute and pending-window boundaries: no limit is ever exceeded (a client's and the tenant's requests of a
 * minute, the requests of the current and previous windows not given back), and a request is refused only when every
 * shard refused it (each at its share of a limit for this client). The in-memory store applies the core's rules, which
 * the contract suite holds the DynamoDB adapter to.
 */
describe('the tenant admission counters (property)', () => {
  const stepOf = (batch: [number, number], after: number) =>
    fc.oneof(
      fc.record({
        kind: fc.constant('batch' as const),
        after: fc.integer({ min: 0, max: after }),
        requests: fc.array(fc.record({ client: fc.integer({ min: 0, max: 2 }), process: fc.nat() }), {
          minLength: batch[0],
          maxLength: batch[1],
        }),
      }),
      fc.record({ kind: fc.constant('release' as const), picks: fc.array(fc.nat(), { maxLength: 3 }) }),
    );
  const small = {
    limits: fc.record({
      clientPerMinute: fc.integer({ min: 1, max: 6 }),
      tenantPerMinute: fc.integer({ min: 1, max: 10 }),
      maxPending: fc.integer({ min: 1, max: 8 }),
    }),
    steps: fc.array(stepOf([1, 6], 100_000), { maxLength: 16 }),
  };
  // Limits whose every share on 64 shards is 8 to 10, where a process that has counted a client this minute counts
  // two of its requests at once (leaseSize): batches large and close enough together to reach the limits.
  const leasing = {
    limits: fc.record({
      clientPerMinute: fc.integer({ min: 512, max: 560 }),
      tenantPerMinute: fc.integer({ min: 512, max: 640 }),
      maxPending: fc.integer({ min: 512, max: 640 }),
    }),
    steps: fc.array(stepOf([32, 96], 5_000), { minLength: 16, maxLength: 32 }),
  };

  const run = (remembers: boolean, { limits, steps: stepsOf } = small) =>
    fc.asyncProperty(
      limits,
      fc.constantFrom(60_000, 90_000, 120_000, 300_000),
      stepsOf,
      async (limits, windowMs, steps) => {
        const s = memoryStore();
        const tenantId = 't';
        // Processes that remember what they found (a Lambda instance), or none (every request a new process).
        const processes: AdmissionMemory[] = [admissionMemory(), admissionMemory(), admissionMemory()];
        const memoryOf = (i: number) => (remembers ? processes[i % processes.length]! : admissionMemory());
        let now = NOW;
        const admitted: (Admitted & { process: number })[] = [];
        const live = new Set<(typeof admitted)[number]>();
        for (const st of steps) {
          if (st.kind === 'release') {
            // Given back by the process that counted it (a request refused before it was created).
            for (const pick of st.picks) {
              const all = [...live];
              if (all.length === 0) break;
              const r = all[pick % all.length]!;
              live.delete(r);
              await releaseTenantRequest(
                s.admission,
                { tenantId, shard: r.shard, pendingWindow: r.window, pendingWindowMs: windowMs },
                memoryOf(r.process),
              );
            }
            continue;
          }
          now += st.after;
          const outcomes = await Promise.all(
            st.requests.map(async ({ client, process }) => {
              const clientId = `c${client}`;
              const outcome = await admitTenantRequest(
                s.admission,
                { tenantId, clientId, limits, pendingWindowMs: windowMs, now, random: () => (process % 7) / 7 },
                memoryOf(process),
              );
              if (outcome.admitted) {
                const r = { at: now, clientId, shard: outcome.shard, window: outcome.pendingWindow, process };
                admitted.push(r);
                live.add(r);
              }
              return { clientId, outcome };
            }),
          );
          expectWithinLimits(admitted, live, limits, now, windowMs);
          for (const r of admitted) expect(r.window).toBe(Math.floor(r.at / windowMs));
          // Refused only when every shard is at its share of a limit for this client (a process that remembers a
          // shard full trusts that until the shard may admit again, also when another process gave a slot back).
          if (remembers) continue;
          for (const { clientId, outcome } of outcomes) {
            if (outcome.admitted || outcome.limit === 'contention') continue;
            await expectEveryShardFull(s.admission, { tenantId, clientId, limits, now, windowMs });
          }
        }
      },
    );

  it('never exceeds a limit, and refuses only when every shard is full (every request a new process)', async () => {
    await fc.assert(run(false), { numRuns: 300 });
  });

  it('never exceeds a limit with processes that remember the shards they found full', async () => {
    await fc.assert(run(true), { numRuns: 300 });
  });

  it('never exceeds a limit with processes that count requests ahead (leases) and remember the shards they found full', async () => {
    // No shrinking: a counterexample of hundreds of requests would take minutes to shrink.
    await fc.assert(run(true, leasing), { numRuns: 30, endOnFailure: true });
  });
});
