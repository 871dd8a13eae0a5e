import type { AdmissionShard, AdmissionStore } from '../persistence.ts';

const MINUTE_MS = 60_000;
/** Writes the admission tries on one shard before it calls the shard contended (a burst at a window boundary). */
const MAX_TRIES = 5;
/**
 * The counter shards of a tenant: one DynamoDB item takes about 1,000 writes a second, so the tenant's counts are
 * spread over up to this many items, each holding its share of every limit (docs/deploy.md "Capacity").
 */
export const ADMISSION_SHARDS = 64;

type Limits = { clientPerMinute: number; tenantPerMinute: number; maxPending: number };

export interface TenantAdmission {
  tenantId: string;
  clientId: string;
  limits: Limits;
  pendingWindowMs: number;
  now: number;
  /** Where this process starts taking the tenant's shards in turn, uniform over them (tests pin it). */
  random?: () => number;
}

/** `contention`: the counters changed under every attempt (a burst at a window boundary); retry at once. */
export type TenantAdmissionOutcome =
  /**
   * `pendingWindow`, `shard`: the window and the counter shard the request counts in as pending
   * (releaseTenantRequest gives it back there).
   */
  | { admitted: true; pendingWindow: number; shard: number }
  | { admitted: false; limit: 'client' | 'tenant' | 'pending' | 'contention'; retryAfterSeconds: number };

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/**
 * One counter shard's part of the abuse controls, with the shard's shares as `limits`: the client's and the tenant's
 * requests in this minute, and the requests in the current and previous windows of `pendingWindowMs` (their sum bounds
 * the pending requests). The shard's counts are named by their minute and window, so a request is one conditional
 * write, also the first of a new minute or window. When it fails, the item is read to tell a limit from a minute or
 * window that another clock started ahead (the request then counts there, as a clock that lags must: a minute never
 * restarts on an item that has counted the next one) or from an item not created yet (created with this request,
 * conditional on its absence). Retry-After: when the limit that refused lets a request into this shard.
 */
const admitOnShard = async (
  admission: AdmissionStore,
  counter: AdmissionShard,
  input: { clientId: string; limits: Limits; pendingWindowMs: number; now: number; amount: number },
): Promise<TenantAdmissionOutcome & { amount?: number }> => {
  const { clientId, limits, pendingWindowMs: windowMs, now } = input;
  // A lease that does not fit is not retried as one: the request alone is counted then.
  let amount = input.amount;
  const { shard } = counter;
  const minute = Math.floor(now / MINUTE_MS);
  const window = Math.floor(now / windowMs);
  let at = { clientId, minute, windowMs, window };
  for (let tries = 0; tries < MAX_TRIES; tries++) {
    if ((await admission.count(counter, at, limits, shardExpiry(at), amount)) === 'ok')
      return { admitted: true, pendingWindow: at.window, shard, amount };
    amount = 1;
    const stored = await admission.read(counter, windowMs);
    // This clock's minute and window, or the next ones when another clock has started them on the item. A window
    // w + 1 is only counted in by requests of w + 1 or later (the requests of w count in w and w + 1).
    const m = stored.minutes[minute + 1] !== undefined ? minute + 1 : minute;
    const w = stored.pending[window + 2] !== undefined ? window + 1 : window;
    const counts = stored.minutes[m] ?? { tenant: 0, clients: {} };
    const minuteRetry = seconds((m + 1) * MINUTE_MS - now);
    if ((counts.clients[clientId] ?? 0) >= limits.clientPerMinute) {
      return { admitted: false, limit: 'client', retryAfterSeconds: minuteRetry };
    }
    if (counts.tenant >= limits.tenantPerMinute) {
      return { admitted: false, limit: 'tenant', retryAfterSeconds: minuteRetry };
    }
    const pending = stored.pending[w] ?? 0;
    if (pending >= limits.maxPending) {
      // The previous window stops counting when this one ends; this window's requests count until the next one ends.
      const previous = pending - (stored.pending[w + 1] ?? 0);
      const end = (w + (previous >= limits.maxPending ? 1 : 2)) * windowMs;
      return { admitted: false, limit: 'pending', retryAfterSeconds: seconds(end - now) };
    }
    at = { clientId, minute: m, windowMs, window: w };
    // Under every limit (a concurrent change, or a minute or window ahead of this clock): count again.
    if (stored.exists) continue;
    // No item yet: created with this request and the counts it starts from (those of the layout before, if any).
    const next = {
      minutes: {
        [m]: {
          tenant: counts.tenant + 1,
          clients: { ...counts.clients, [clientId]: (counts.clients[clientId] ?? 0) + 1 },
        },
      },
      pending: { [w]: pending + 1, [w + 1]: (stored.pending[w + 1] ?? 0) + 1 },
    };
    if ((await admission.create(counter, next, windowMs, shardExpiry(at))) === 'ok') {
      return { admitted: true, pendingWindow: w, shard, amount: 1 };
    }
  }
  return { admitted: false, limit: 'contention', retryAfterSeconds: 1 };
};

/**
 * How long a shard's item is kept once its counts are useless: a tenant with a request per shard in that time never
 * creates an item again (a creation costs three requests more: the write that finds none, its read and the read of
 * the layout before's item). A week: every request takes the next of up to 64 shards, so a tenant with a few requests
 * a day would otherwise pay a creation on nearly every request; an item is about 150 bytes (64 per tenant).
 */
const SHARD_KEPT_MS = 7 * 24 * 60 * MINUTE_MS;

/** When a shard's item may go: a week after its minute has ended and no request of its window is pending. */
const shardExpiry = (at: { minute: number; windowMs: number; window: number }) =>
  Math.max((at.minute + 1) * MINUTE_MS, (at.window + 2) * at.windowMs) + SHARD_KEPT_MS;

/** The share of `limit` that shard `i` of `n` holds: the shares add up to `limit` exactly. */
export const shardShare = (limit: number, n: number, i: number): number =>
  Math.floor(limit / n) + (i < limit % n ? 1 : 0);

/**
 * How many shards a tenant's counts use: ADMISSION_SHARDS, or fewer when a limit is smaller, so that every shard's
 * share of every limit is at least one (a client may count on every shard).
 */
export const tenantShards = (limits: Limits): number =>
  Math.max(1, Math.min(ADMISSION_SHARDS, limits.clientPerMinute, limits.tenantPerMinute, limits.maxPending));

/** Shard `i`'s shares of the limits, split over `n` shards. */
export const shardLimits = (limits: Limits, n: number, i: number): Limits => ({
  clientPerMinute: shardShare(limits.clientPerMinute, n, i),
  tenantPerMinute: shardShare(limits.tenantPerMinute, n, i),
  maxPending: shardShare(limits.maxPending, n, i),
});

type Refusal = Extract<TenantAdmissionOutcome, { admitted: false }>;

/**
 * What one process knows of the shards: the shard the next request of each tenant tries first (every request takes the
 * next one, from a random one: a shard's first write of a minute costs no more than any other), the shards found full
 * and when they may admit again (trusted until then, and at most until the minute ends), and how many pending slots
 * this process gave back per tenant (a shard read as full before a slot was given back is not remembered as full).
 */
export interface AdmissionMemory {
  next: Map<string, number>;
  full: Map<string, { limit: Refusal['limit']; retryAt: number; until: number }>;
  releases: Map<string, number>;
  /** Per tenant and client, the minute this process last counted one of its requests (leases start with the second). */
  seen: Map<string, number>;
  /** Per tenant and client, requests counted ahead on a shard and not yet admitted (Lease). */
  leases: Map<string, Lease>;
}

/**
 * Requests of one client counted ahead by this process in one write, for its minute, pending window and limits only:
 * each later request of that client takes one with no write, until none is left or the minute or window ends (the rest
 * is then never admitted, as if refused: counted, so no limit is exceeded).
 */
interface Lease {
  minute: number;
  window: number;
  terms: string;
  slots: { shard: number; left: number }[];
}

export const admissionMemory = (): AdmissionMemory => ({
  next: new Map(),
  full: new Map(),
  releases: new Map(),
  seen: new Map(),
  leases: new Map(),
});

/** At most this many requests are counted in one write (a process strands at most one less a minute per client). */
export const LEASE_MAX = 8;
/** A shard leases only while every share of its limits holds this many leases: far from every limit. */
const LEASE_ROOM = 4;

/**
 * How many requests one write counts on a shard with these shares: one for a client's first request of the minute in
 * this process (an idle process then strands nothing), else up to LEASE_MAX while each share is at least LEASE_ROOM
 * times as many. A lease is counted like any request (the write's condition: the counts plus the lease within each
 * share), so what a process does not spend was refused early, never admitted late.
 */
export const leaseSize = (shares: Limits, seenThisMinute: boolean): number =>
  seenThisMinute
    ? Math.max(
        1,
        Math.min(
          LEASE_MAX,
          Math.floor(Math.min(shares.clientPerMinute, shares.tenantPerMinute, shares.maxPending) / LEASE_ROOM),
        ),
      )
    : 1;

/** Whether a lease was counted for this minute, window and limits (any other lease is spent). */
const holdsFor = (lease: Lease | undefined, at: Omit<Lease, 'slots'>): lease is Lease =>
  lease?.minute === at.minute && lease.window === at.window && lease.terms === at.terms;

/** Takes one request of a lease that still holds for this minute, window and limits: its shard, or undefined. */
const takeLease = (lease: Lease | undefined, at: Omit<Lease, 'slots'>): number | undefined => {
  if (!holdsFor(lease, at)) return undefined;
  const slot = lease.slots.find((s) => s.left > 0);
  if (!slot) return undefined;
  slot.left -= 1;
  return slot.shard;
};

/** This process's memory (a Lambda instance's, or the local server's). */
const processMemory = admissionMemory();
/** Entries a memory map keeps before it forgets what has expired (or everything). */
const MEMORY_ENTRIES = 10_000;

const memoryKey = (...parts: (string | number)[]) => parts.join('\u0000');

const bounded = <K, V>(map: Map<K, V>, stale: (value: V) => boolean = () => true) => {
  if (map.size < MEMORY_ENTRIES) return;
  for (const [key, value] of map) if (stale(value)) map.delete(key);
  if (map.size >= MEMORY_ENTRIES) map.clear();
};

/** A refusal this process already knows for the shard: client refusals by client, the others for every client. */
const knownRefusal = (memory: AdmissionMemory, keys: string[], now: number): Refusal | undefined => {
  for (const key of keys) {
    const known = memory.full.get(key);
    if (known === undefined) continue;
    if (known.until <= now) {
      memory.full.delete(key);
      continue;
    }
    return { admitted: false, limit: known.limit, retryAfterSeconds: seconds(known.retryAt - now) };
  }
  return undefined;
};

/**
 * The limit a refusal names when every shard refused: a contended shard may have room (retry at once); a shard
 * at its share of a tenant-wide limit refuses every client; the client's own limit only when it alone refused.
 */
const LIMITS: Refusal['limit'][] = ['contention', 'tenant', 'pending', 'client'];

/**
 * The abuse controls of a backchannel request (SECURITY.md) on the tenant's counter shards (ADMISSION_SHARDS, fewer
 * for small limits: tenantShards), each holding its share of the client's and the tenant's budgets a minute and of the
 * pending cap (the shares add up to each limit, so no limit is ever exceeded). Each request of a process takes the
 * tenant's next shard first, from a random one (one conditional write when the shard has room; every shard takes an
 * even part of the tenant's writes, whichever process counts them and however many processes there are), then the
 * other shards in order; shards this process already found full are skipped without a request. Refused only when
 * every shard refused, naming the limit by LIMITS, with Retry-After when the first of them may admit again.
 */
export const admitTenantRequest = async (
  admission: AdmissionStore,
  input: TenantAdmission,
  memory: AdmissionMemory = processMemory,
): Promise<TenantAdmissionOutcome> => {
  const { tenantId, clientId, limits, pendingWindowMs, now } = input;
  const minute = Math.floor(now / MINUTE_MS);
  const window = Math.floor(now / pendingWindowMs);
  const leaseKey = memoryKey(tenantId, clientId);
  const terms = memoryKey(limits.clientPerMinute, limits.tenantPerMinute, limits.maxPending, pendingWindowMs);
  const leased = takeLease(memory.leases.get(leaseKey), { minute, window, terms });
  if (leased !== undefined) return { admitted: true, pendingWindow: window, shard: leased };
  const seenThisMinute = memory.seen.get(leaseKey) === minute;
  bounded(memory.seen, (m) => m !== minute);
  memory.seen.set(leaseKey, minute);
  const n = tenantShards(limits);
  const shards = Array.from({ length: n }, (_, i) => i);
  // The place is taken when the request starts: concurrent requests of this process each take a shard of their own.
  const known = memory.next.get(tenantId);
  const start = (known === undefined ? Math.floor((input.random ?? Math.random)() * n) : known) % n;
  bounded(memory.next);
  memory.next.set(tenantId, (start + 1) % n);
  const order = [...shards.slice(start), ...shards.slice(0, start)];
  const minuteEnd = (Math.floor(now / MINUTE_MS) + 1) * MINUTE_MS;
  const refusals: Refusal[] = [];
  for (const shard of order) {
    const keys = { client: memoryKey(tenantId, shard, clientId), shard: memoryKey(tenantId, shard) };
    const known = knownRefusal(memory, [keys.client, keys.shard], now);
    if (known) {
      refusals.push(known);
      continue;
    }
    const releases = memory.releases.get(tenantId) ?? 0;
    const shares = shardLimits(limits, n, shard);
    const { amount, ...outcome } = await admitOnShard(
      admission,
      { tenantId, shard },
      { clientId, limits: shares, pendingWindowMs, now, amount: leaseSize(shares, seenThisMinute) },
    );
    if (outcome.admitted) {
      // Admitted past the shard it tried first (that one was full): the next request tries the shard after this one.
      if (shard !== start) memory.next.set(tenantId, (shard + 1) % n);
      if (amount !== undefined && amount > 1)
        keepLease(memory, leaseKey, { minute, window: outcome.pendingWindow, terms }, shard, amount - 1);
      return outcome;
    }
    refusals.push(outcome);
    // A pending slot given back meanwhile may have made room: not remembered.
    if (
      outcome.limit === 'contention' ||
      (outcome.limit === 'pending' && (memory.releases.get(tenantId) ?? 0) !== releases)
    ) {
      continue;
    }
    const retryAt = now + outcome.retryAfterSeconds * 1000;
    bounded(memory.full, (entry) => entry.until <= now);
    memory.full.set(outcome.limit === 'client' ? keys.client : keys.shard, {
      limit: outcome.limit,
      retryAt,
      until: Math.min(retryAt, minuteEnd),
    });
  }
  return combinedRefusal(refusals);
};

/** Keeps what a write counted beyond its own request; concurrent leases of the same terms add up. */
const keepLease = (memory: AdmissionMemory, key: string, at: Omit<Lease, 'slots'>, shard: number, left: number) => {
  const lease = memory.leases.get(key);
  if (holdsFor(lease, at)) {
    lease.slots.push({ shard, left });
    return;
  }
  bounded(memory.leases, (l) => l.minute < at.minute);
  memory.leases.set(key, { ...at, slots: [{ shard, left }] });
};

/** The refusal of a request every shard refused: the limit LIMITS names first, Retry-After the soonest. */
const combinedRefusal = (refusals: Refusal[]): Refusal => {
  const limit = LIMITS.find((l) => refusals.some((r) => r.limit === l))!;
  return { admitted: false, limit, retryAfterSeconds: Math.min(...refusals.map((r) => r.retryAfterSeconds)) };
};

/**
 * The refusal admitTenantRequest would answer without asking the store (this process found every shard full for this
 * client or for all), or undefined. Synchronous: a caller checks it before it starts anything else, so that a client
 * this process already refuses touches nothing of the request's user.
 */
export const knownTenantRefusal = (
  input: Pick<TenantAdmission, 'tenantId' | 'clientId' | 'limits' | 'now'>,
  memory: AdmissionMemory = processMemory,
): Refusal | undefined => {
  const { tenantId, clientId, limits, now } = input;
  const refusals: Refusal[] = [];
  for (let shard = 0; shard < tenantShards(limits); shard++) {
    const known = knownRefusal(memory, [memoryKey(tenantId, shard, clientId), memoryKey(tenantId, shard)], now);
    if (known === undefined) return undefined;
    refusals.push(known);
  }
  return combinedRefusal(refusals);
};

/**
 * Gives back the pending slot of a request counted in `pendingWindow` on shard `shard` and refused before it was
 * created (hardening rule 6): one less in the counts of its window and the next one (the two that count it), where the
 * shard still keeps them; two windows later it no longer counts and there is nothing to give back. The per-minute
 * counts stay (they count attempts). This process forgets that the shard was full of pending requests.
 */
export const releaseTenantRequest = async (
  admission: AdmissionStore,
  input: { tenantId: string; shard: number; pendingWindow: number; pendingWindowMs: number },
  memory: AdmissionMemory = processMemory,
): Promise<void> => {
  const { tenantId, shard, pendingWindow, pendingWindowMs: windowMs } = input;
  try {
    await admission.release({ tenantId, shard }, { windowMs, window: pendingWindow });
  } finally {
    bounded(memory.releases);
    memory.releases.set(tenantId, (memory.releases.get(tenantId) ?? 0) + 1);
    const key = memoryKey(tenantId, shard);
    if (memory.full.get(key)?.limit === 'pending') memory.full.delete(key);
  }
};
