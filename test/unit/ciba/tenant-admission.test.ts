import { describe, expect, it } from 'vitest';
import {
  ADMISSION_SHARDS,
  admissionMemory,
  admitTenantRequest,
  knownTenantRefusal,
  LEASE_MAX,
  leaseSize,
  shardLimits,
  shardShare,
  tenantShards,
} from '../../../lib/ciba/tenant-admission.ts';
import { memoryStore } from '../../helpers/memory-store.ts';

const NOW = Date.UTC(2026, 0, 1, 12, 0, 30);

describe('counter shards (lib/ciba/tenant-admission.ts)', () => {
  it('splits every limit into shares that add up to it exactly, each at least one', () => {
    for (const limits of [
      { clientPerMinute: 600, tenantPerMinute: 3000, maxPending: 5000 },
      { clientPerMinute: 1000, tenantPerMinute: 40, maxPending: 1000 },
      { clientPerMinute: 3, tenantPerMinute: 5, maxPending: 100 },
      { clientPerMinute: 1, tenantPerMinute: 1, maxPending: 1 },
    ]) {
      const n = tenantShards(limits);
      expect(n).toBe(Math.min(ADMISSION_SHARDS, limits.clientPerMinute, limits.tenantPerMinute, limits.maxPending));
      const shares = Array.from({ length: n }, (_, i) => shardLimits(limits, n, i));
      for (const limit of ['clientPerMinute', 'tenantPerMinute', 'maxPending'] as const) {
        expect(shares.reduce((sum, share) => sum + share[limit], 0)).toBe(limits[limit]);
        expect(Math.min(...shares.map((share) => share[limit]))).toBeGreaterThanOrEqual(1);
      }
    }
    expect([0, 1, 2, 3].map((i) => shardShare(10, 4, i))).toEqual([3, 3, 2, 2]);
  });

  it("takes the tenant's shards in turn from a random one, whichever shard it counted the client on last", async () => {
    const s = memoryStore();
    const limits = { clientPerMinute: ADMISSION_SHARDS, tenantPerMinute: 2 * ADMISSION_SHARDS, maxPending: 1000 };
    const admit = (memory: ReturnType<typeof admissionMemory>, random: number) =>
      admitTenantRequest(
        s.admission,
        { tenantId: 't', clientId: 'c', limits, pendingWindowMs: 300_000, now: NOW, random: () => random },
        memory,
      );
    // 64 shards of one of the client's requests a minute: the first where the random start says, then the next ones.
    const one = admissionMemory();
    expect(await admit(one, 0.5)).toMatchObject({ admitted: true, shard: 32 });
    expect(await admit(one, 0.5)).toMatchObject({ admitted: true, shard: 33 });
    expect(await admit(one, 0)).toMatchObject({ admitted: true, shard: 34 });
    // Another process starting at shard 32: full for the client, so are 33 and 34; the next one has room.
    const other = admissionMemory();
    expect(await admit(other, 0.5)).toMatchObject({ admitted: true, shard: 35 });
    // The first process goes on from where it was, and skips the shard the other one filled.
    expect(await admit(one, 0)).toMatchObject({ admitted: true, shard: 36 });
    expect(
      (await s.admission.read({ tenantId: 't', shard: 32 }, 300_000)).minutes[Math.floor(NOW / 60_000)]?.tenant,
    ).toBe(1);
  });

  it('takes the next shard on every request of a process, from the random start round to 0', async () => {
    const s = memoryStore();
    const memory = admissionMemory();
    const limits = { clientPerMinute: 100_000, tenantPerMinute: 100_000, maxPending: 100_000 };
    const shards: number[] = [];
    for (let i = 0; i < 3; i++) {
      const outcome = await admitTenantRequest(
        s.admission,
        { tenantId: 't', clientId: `c${i % 3}`, limits, pendingWindowMs: 300_000, now: NOW, random: () => 0.99 },
        memory,
      );
      if (!outcome.admitted) throw new Error('refused');
      shards.push(outcome.shard);
    }
    // A shard's first write of a minute costs no more than any other: a quiet tenant's requests spread as a busy one's.
    expect(shards).toEqual([63, 0, 1]);
  });

  it('sends concurrent requests of a process to shards of their own, and the next request to the shard after', async () => {
    const s = memoryStore();
    const memory = admissionMemory();
    const limits = { clientPerMinute: 100_000, tenantPerMinute: 100_000, maxPending: 100_000 };
    const admit = (i: number) =>
      admitTenantRequest(
        s.admission,
        { tenantId: 't', clientId: `c${i % 3}`, limits, pendingWindowMs: 300_000, now: NOW, random: () => 0 },
        memory,
      );
    const burst = await Promise.all(Array.from({ length: 8 }, (_, i) => admit(i)));
    expect(burst.map((o) => (o.admitted ? o.shard : -1))).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const o = await admit(8);
    expect(o).toMatchObject({ admitted: true, shard: 8 });
  });

  it("spreads the requests of processes evenly over the tenant's shards, from a uniform random start each", async () => {
    const s = memoryStore();
    const limits = { clientPerMinute: 100_000, tenantPerMinute: 100_000, maxPending: 100_000 };
    // A seeded generator (an LCG): the same uniform draws on every run.
    let seed = 16;
    const random = () => {
      seed = (Math.imul(seed, 1_664_525) + 1_013_904_223) >>> 0;
      return seed / 2 ** 32;
    };
    const processes = Array.from({ length: 3 }, () => admissionMemory());
    const flows = 3 * 16 * ADMISSION_SHARDS;
    // Every shard's item exists first (a shard's first request creates it: a failed count, a read and the creation).
    for (let shard = 0; shard < ADMISSION_SHARDS; shard++) {
      const warm = { tenantId: 't', clientId: 'warm', limits, pendingWindowMs: 300_000, now: NOW };
      await admitTenantRequest(s.admission, { ...warm, random: () => shard / ADMISSION_SHARDS }, admissionMemory());
    }
    const writes = new Map<number, number>();
    const count = s.admission.count.bind(s.admission);
    s.admission.count = (counter, ...rest) => {
      writes.set(counter.shard, (writes.get(counter.shard) ?? 0) + 1);
      return count(counter, ...rest);
    };
    for (let i = 0; i < flows; i++) {
      const outcome = await admitTenantRequest(
        s.admission,
        { tenantId: 't', clientId: `c${i % 5}`, limits, pendingWindowMs: 300_000, now: NOW, random },
        processes[i % processes.length],
      );
      if (!outcome.admitted) throw new Error('refused');
    }
    expect(tenantShards(limits)).toBe(ADMISSION_SHARDS);
    // Each process's turns cover every shard alike (a shard takes at most one write more per process than another),
    // and its writes count LEASE_MAX requests each once it has seen the client this minute: each of the 15 (process,
    // client) pairs has 204 or 205 requests, the first counted alone, the rest in 26 leases.
    const perShard = [...writes.values()];
    expect(perShard).toHaveLength(ADMISSION_SHARDS);
    expect(Math.max(...perShard) - Math.min(...perShard)).toBeLessThanOrEqual(processes.length);
    expect(LEASE_MAX).toBe(8);
    expect(perShard.reduce((a, b) => a + b, 0)).toBe(15 * (1 + 26));
  });

  it('leases: a busy process counts LEASE_MAX requests in one write and admits the rest with none, until the minute ends', async () => {
    const s = memoryStore();
    const limits = { clientPerMinute: 100_000, tenantPerMinute: 100_000, maxPending: 100_000 };
    const amounts: number[] = [];
    const count = s.admission.count.bind(s.admission);
    s.admission.count = (counter, at, shares, expiresAt, amount) => {
      amounts.push(amount ?? 1);
      return count(counter, at, shares, expiresAt, amount);
    };
    const memory = admissionMemory();
    const admit = (now: number) =>
      admitTenantRequest(s.admission, { tenantId: 't', clientId: 'c', limits, pendingWindowMs: 300_000, now }, memory);
    for (let shard = 0; shard < ADMISSION_SHARDS; shard++) {
      const warm = { tenantId: 't', clientId: 'warm', limits, pendingWindowMs: 300_000, now: NOW };
      await admitTenantRequest(s.admission, { ...warm, random: () => shard / ADMISSION_SHARDS }, admissionMemory());
    }
    amounts.length = 0;
    // The client's first request of the minute in this process is counted alone; the second leases LEASE_MAX.
    for (let i = 0; i < 1 + 2 * LEASE_MAX; i++) expect((await admit(NOW)).admitted).toBe(true);
    expect(amounts).toEqual([1, LEASE_MAX, LEASE_MAX]);
    // A new minute: the lease's rest (none here) is gone, and the first request counts alone again.
    expect((await admit(NOW + 60_000)).admitted).toBe(true);
    expect(amounts).toEqual([1, LEASE_MAX, LEASE_MAX, 1]);
    // Shares far from every limit lease most; near one, a request is counted alone.
    expect(leaseSize({ clientPerMinute: 1000, tenantPerMinute: 1000, maxPending: 1000 }, true)).toBe(LEASE_MAX);
    expect(leaseSize({ clientPerMinute: 9, tenantPerMinute: 46, maxPending: 78 }, true)).toBe(2); // the defaults' shares
    expect(leaseSize({ clientPerMinute: 7, tenantPerMinute: 46, maxPending: 78 }, true)).toBe(1);
    expect(leaseSize({ clientPerMinute: 1000, tenantPerMinute: 1000, maxPending: 1000 }, false)).toBe(1);
  });

  it('leases never let processes exceed a limit, and strand at most LEASE_MAX - 1 requests per process', async () => {
    const s = memoryStore();
    const limits = { clientPerMinute: ADMISSION_SHARDS * 40, tenantPerMinute: 100_000, maxPending: 100_000 };
    const processes = Array.from({ length: 5 }, () => admissionMemory());
    let admitted = 0;
    // More requests than the limit, from five processes in turn, some concurrently.
    for (let round = 0; round < 700; round++) {
      const outcomes = await Promise.all(
        processes.map((memory) =>
          admitTenantRequest(
            s.admission,
            { tenantId: 't', clientId: 'c', limits, pendingWindowMs: 300_000, now: NOW },
            memory,
          ),
        ),
      );
      admitted += outcomes.filter((o) => o.admitted).length;
    }
    expect(admitted).toBeLessThanOrEqual(limits.clientPerMinute);
    expect(admitted).toBeGreaterThanOrEqual(limits.clientPerMinute - processes.length * (LEASE_MAX - 1));
  });

  it("costs one store request for a shard's first request of a new minute or window, as for any other", async () => {
    const s = memoryStore();
    const calls: string[] = [];
    for (const method of ['count', 'read', 'create', 'release'] as const) {
      const real = s.admission[method].bind(s.admission) as (...args: unknown[]) => Promise<never>;
      (s.admission as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
        calls.push(method);
        return real(...args);
      };
    }
    const limits = { clientPerMinute: 6400, tenantPerMinute: 6400, maxPending: 6400 };
    const window = 120_000;
    const start = Math.floor(NOW / window) * window;
    // Every request from a new process (shard 0 first): the first creates the shard's item.
    const admit = (now: number, clientId: string) =>
      admitTenantRequest(
        s.admission,
        { tenantId: 't', clientId, limits, pendingWindowMs: window, now, random: () => 0 },
        admissionMemory(),
      );
    expect(await admit(start, 'a')).toMatchObject({ admitted: true, shard: 0 });
    expect(calls).toEqual(['count', 'read', 'create']);
    for (const [now, clientId] of [
      [start + 60_000, 'a'],
      [start + window, 'b'],
      [start + 5 * window + 1, 'c'],
    ] as const) {
      calls.length = 0;
      expect(await admit(now, clientId)).toMatchObject({
        admitted: true,
        shard: 0,
        pendingWindow: Math.floor(now / window),
      });
      expect(calls).toEqual(['count']);
    }
  });

  it('refuses without asking the store once this process found every shard full, until the minute ends', async () => {
    const s = memoryStore();
    const memory = admissionMemory();
    const limits = { clientPerMinute: 2, tenantPerMinute: 100, maxPending: 100 };
    let asked = 0;
    const count = s.admission.count.bind(s.admission);
    s.admission.count = (...args) => {
      asked++;
      return count(...args);
    };
    const admit = (now: number) =>
      admitTenantRequest(s.admission, { tenantId: 't', clientId: 'c', limits, pendingWindowMs: 300_000, now }, memory);
    await admit(NOW);
    await admit(NOW);
    expect(await admit(NOW + 1)).toMatchObject({ admitted: false, limit: 'client', retryAfterSeconds: 30 });
    asked = 0;
    expect(await admit(NOW + 2)).toMatchObject({ admitted: false, limit: 'client', retryAfterSeconds: 30 });
    expect(asked).toBe(0);
    expect(await admit(NOW + 30_000)).toMatchObject({ admitted: true });
    expect(asked).toBeGreaterThan(0);
  });

  it('knows the refusal without a store request only when every shard is known full, for this client or for all', async () => {
    const s = memoryStore();
    const memory = admissionMemory();
    const limits = { clientPerMinute: 2, tenantPerMinute: 100, maxPending: 100 };
    const input = (clientId: string, now: number) => ({
      tenantId: 't',
      clientId,
      limits,
      pendingWindowMs: 300_000,
      now,
    });
    const known = (clientId: string, now: number) => knownTenantRefusal(input(clientId, now), memory);
    expect(known('c', NOW)).toBeUndefined();
    await admitTenantRequest(s.admission, input('c', NOW), memory);
    expect(known('c', NOW)).toBeUndefined();
    await admitTenantRequest(s.admission, input('c', NOW), memory);
    // Both shards are full for c, but this process has not found out yet.
    expect(known('c', NOW)).toBeUndefined();
    expect(await admitTenantRequest(s.admission, input('c', NOW + 1), memory)).toMatchObject({ admitted: false });
    expect(known('c', NOW + 2)).toEqual({ admitted: false, limit: 'client', retryAfterSeconds: 30 });
    // Another client is not refused, and the minute's end forgets the refusal.
    expect(known('d', NOW + 2)).toBeUndefined();
    expect(known('c', NOW + 30_000)).toBeUndefined();
  });
});
