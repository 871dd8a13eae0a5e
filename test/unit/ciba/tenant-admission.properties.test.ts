import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AdmissionMemory,
  admissionMemory,
  admitTenantRequest,
  releaseTenantRequest,
  shardLimits,
  tenantShards,
} from '../../../lib/ciba/tenant-admission.ts';
import { memoryStore } from '../../helpers/memory-store.ts';
import { NOW } from '../../helpers/store-fixtures.ts';

const MINUTE = 60_000;

/**
 * The tenant's admission counters (lib/ciba/tenant-admission.ts) under concurrent requests and releases on a clock that
 * crosses minute and pending-window boundaries: no limit is ever exceeded (a client's and the tenant's requests of a
 * minute, the requests of the current and previous windows not given back), and a request is refused only when every
 * shard refused it (each at its share of a limit for this client). The in-memory store applies the core's rules, which
 * the contract suite holds the DynamoDB adapter to.
 */
describe('the tenant admission counters (property)', () => {
  const step = fc.oneof(
    fc.record({
      kind: fc.constant('batch' as const),
      after: fc.integer({ min: 0, max: 100_000 }),
      requests: fc.array(fc.record({ client: fc.integer({ min: 0, max: 2 }), process: fc.nat() }), {
        minLength: 1,
        maxLength: 6,
      }),
    }),
    fc.record({ kind: fc.constant('release' as const), picks: fc.array(fc.nat(), { maxLength: 3 }) }),
  );
  const limits = fc.record({
    clientPerMinute: fc.integer({ min: 1, max: 6 }),
    tenantPerMinute: fc.integer({ min: 1, max: 10 }),
    maxPending: fc.integer({ min: 1, max: 8 }),
  });

  const run = (remembers: boolean) =>
    fc.asyncProperty(
      limits,
      fc.constantFrom(60_000, 90_000, 120_000, 300_000),
      fc.array(step, { maxLength: 16 }),
      async (limits, windowMs, steps) => {
        const s = memoryStore();
        const tenantId = 't';
        const n = tenantShards(limits);
        // Processes that remember what they found (a Lambda instance), or none (every request a new process).
        const processes: AdmissionMemory[] = [admissionMemory(), admissionMemory(), admissionMemory()];
        const memoryOf = (i: number) => (remembers ? processes[i % processes.length]! : admissionMemory());
        let now = NOW;
        const admitted: { at: number; clientId: string; shard: number; window: number; process: number }[] = [];
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
          const minute = Math.floor(now / MINUTE);
          const window = Math.floor(now / windowMs);
          const thisMinute = admitted.filter((r) => Math.floor(r.at / MINUTE) === minute);
          expect(thisMinute.length).toBeLessThanOrEqual(limits.tenantPerMinute);
          for (const c of ['c0', 'c1', 'c2']) {
            expect(thisMinute.filter((r) => r.clientId === c).length).toBeLessThanOrEqual(limits.clientPerMinute);
          }
          expect([...live].filter((r) => r.window >= window - 1).length).toBeLessThanOrEqual(limits.maxPending);
          for (const r of admitted) expect(r.window).toBe(Math.floor(r.at / windowMs));
          // Refused only when every shard is at its share of a limit for this client (a process that remembers a
          // shard full trusts that until the shard may admit again, also when another process gave a slot back).
          if (remembers) continue;
          for (const { clientId, outcome } of outcomes) {
            if (outcome.admitted || outcome.limit === 'contention') continue;
            for (let shard = 0; shard < n; shard++) {
              const share = shardLimits(limits, n, shard);
              const c = await s.admission.read({ tenantId, shard }, windowMs);
              const counts = c.minutes[minute] ?? { tenant: 0, clients: {} };
              const full =
                (counts.clients[clientId] ?? 0) >= share.clientPerMinute ||
                counts.tenant >= share.tenantPerMinute ||
                (c.pending[window] ?? 0) >= share.maxPending;
              expect(full, `shard ${shard} refused ${clientId} with room`).toBe(true);
            }
            // The limit named is one that some shard is at.
            expect(['client', 'tenant', 'pending']).toContain(outcome.limit);
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
});
