import { expect } from 'vitest';
import { shardLimits, tenantShards } from '../../lib/ciba/tenant-admission.ts';
import type { AdmissionStore } from '../../lib/persistence.ts';

const MINUTE = 60_000;

type Limits = { clientPerMinute: number; tenantPerMinute: number; maxPending: number };

/** A request the tenant's admission counters admitted: when, for which client, on which shard, in which window. */
export interface Admitted {
  at: number;
  clientId: string;
  shard: number;
  window: number;
}

/**
 * No limit exceeded at `now`: the tenant's and each client's requests of this minute, and the requests of this
 * pending window and the one before that were not given back (`live`).
 */
export const expectWithinLimits = (
  admitted: Admitted[],
  live: Iterable<Admitted>,
  limits: Limits,
  now: number,
  windowMs: number,
) => {
  const thisMinute = admitted.filter((r) => Math.floor(r.at / MINUTE) === Math.floor(now / MINUTE));
  expect(thisMinute.length).toBeLessThanOrEqual(limits.tenantPerMinute);
  for (const clientId of new Set(thisMinute.map((r) => r.clientId))) {
    expect(thisMinute.filter((r) => r.clientId === clientId).length).toBeLessThanOrEqual(limits.clientPerMinute);
  }
  const window = Math.floor(now / windowMs);
  expect([...live].filter((r) => r.window >= window - 1).length).toBeLessThanOrEqual(limits.maxPending);
};

/** A refusal of `clientId` at `now` had every shard at its share of a limit for that client. */
export const expectEveryShardFull = async (
  admission: AdmissionStore,
  input: { tenantId: string; clientId: string; limits: Limits; now: number; windowMs: number },
) => {
  const { tenantId, clientId, limits, now, windowMs } = input;
  const n = tenantShards(limits);
  for (let shard = 0; shard < n; shard++) {
    const share = shardLimits(limits, n, shard);
    const c = await admission.read({ tenantId, shard }, windowMs);
    const counts = c.minutes[Math.floor(now / MINUTE)] ?? { tenant: 0, clients: {} };
    const full =
      (counts.clients[clientId] ?? 0) >= share.clientPerMinute ||
      counts.tenant >= share.tenantPerMinute ||
      (c.pending[Math.floor(now / windowMs)] ?? 0) >= share.maxPending;
    expect(full, `shard ${shard} refused ${clientId} with room`).toBe(true);
  }
};
