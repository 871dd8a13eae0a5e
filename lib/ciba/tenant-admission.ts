import type { AdmissionShard, AdmissionStore, TenantCounters } from '../persistence.ts';

const MINUTE_MS = 60_000;
/** Writes the admission tries on one shard before it calls the shard contended (a burst at a window boundary). */
const MAX_TRIES = 5;
/**
 * The counter shards of a tenant: one DynamoDB item takes about 1,000 writes a second, so the tenant's counts are
 * spread over up to this many items, each holding its share of every limit (docs/deploy.md "Capacity").
 */
export const ADMISSION_SHARDS = 64;

/**
 * How many admissions a process counts on one shard before its turn passes to the next. A shard's first write of a
 * minute costs two requests more (a condition that fails on the minute before, and a read), so a tenant with few
 * requests should stay on few shards, while a burst must spread over all of them to keep every item cool: with turns
 * of 16, a process's requests roll at most one shard over per 16 requests (at most 0.125 requests more per flow, none
 * for a tenant whose traffic one shard takes), and 1,024 requests (a minute of 17 a second) reach every one of 64
 * shards, each taking 1/64 of them.
 */
export const SHARD_TURN = 16;

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

/**
 * The counters as of `minute` and `window`: a minute that has passed starts again at 0 (a minute up to one ahead
 * stays: the caller's clock lags); the pending windows slide, the previous window's own count (sum − previous share)
 * becoming the new previous share. `rolled`: something changed.
 */
export const rollTenantCounters = (
  stored: TenantCounters | undefined,
  now: { minute: number; window: number; windowMs: number },
): Omit<TenantCounters, 'version'> & { rolled: boolean } => {
  const minuteStays = stored !== undefined && (stored.minute === now.minute || stored.minute === now.minute + 1);
  const sameLength = stored !== undefined && stored.windowMs === now.windowMs;
  let window = now.window;
  let pendingSum = 0;
  let previousPending = 0;
  if (sameLength && (stored.window === now.window || stored.window === now.window + 1)) {
    window = stored.window;
    pendingSum = stored.pendingSum;
    previousPending = stored.previousPending;
  } else if (sameLength && stored.window === now.window - 1) {
    previousPending = stored.pendingSum - stored.previousPending;
    pendingSum = previousPending;
  }
  const windowStays = sameLength && window === stored.window;
  return {
    minute: minuteStays ? stored.minute : now.minute,
    tenantCount: minuteStays ? stored.tenantCount : 0,
    clientCounts: minuteStays ? { ...stored.clientCounts } : {},
    windowMs: now.windowMs,
    window,
    pendingSum,
    previousPending,
    rolled: !minuteStays || !windowStays,
  };
};

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/**
 * One counter shard's part of the abuse controls, with the shard's shares as `limits`: the client's and the tenant's
 * requests in this minute, and the requests in the current and previous windows of `pendingWindowMs` (their sum bounds
 * the pending requests). Counts everywhere or nowhere: the fast path is one conditional write; when it fails the item
 * is read to tell a limit from a window that has passed, and a new window starts with a write conditional on the
 * version read. Retry-After: when the limit that refused lets a request into this shard.
 */
const admitOnShard = async (
  admission: AdmissionStore,
  counter: AdmissionShard,
  input: { clientId: string; limits: Limits; pendingWindowMs: number; now: number },
): Promise<TenantAdmissionOutcome> => {
  const { clientId, limits, pendingWindowMs: windowMs, now } = input;
  const { shard } = counter;
  const minute = Math.floor(now / MINUTE_MS);
  const window = Math.floor(now / windowMs);
  // The windows the fast path counts in: this process's, or the item's when it is ahead (another clock).
  let at = { clientId, minute, windowMs, window };
  for (let tries = 0; tries < MAX_TRIES; tries++) {
    if ((await admission.count(counter, at, limits)) === 'ok')
      return { admitted: true, pendingWindow: at.window, shard };
    const stored = await admission.read(counter);
    const { rolled, ...state } = rollTenantCounters(stored, { minute, window, windowMs });
    const minuteRetry = seconds((state.minute + 1) * MINUTE_MS - now);
    if ((state.clientCounts[clientId] ?? 0) >= limits.clientPerMinute) {
      return { admitted: false, limit: 'client', retryAfterSeconds: minuteRetry };
    }
    if (state.tenantCount >= limits.tenantPerMinute) {
      return { admitted: false, limit: 'tenant', retryAfterSeconds: minuteRetry };
    }
    if (state.pendingSum >= limits.maxPending) {
      // The previous window stops counting when this one ends; this window's requests count until the next one ends.
      const end = (state.window + (state.previousPending >= limits.maxPending ? 1 : 2)) * windowMs;
      return { admitted: false, limit: 'pending', retryAfterSeconds: seconds(end - now) };
    }
    if (!rolled) {
      // Under every limit (a concurrent change, or windows ahead of this clock): count on the fast path.
      at = { clientId, minute: state.minute, windowMs, window: state.window };
      continue;
    }
    // Start the new window(s) with this request, unless another request changed the item since it was read.
    const next = {
      ...state,
      tenantCount: state.tenantCount + 1,
      clientCounts: { ...state.clientCounts, [clientId]: (state.clientCounts[clientId] ?? 0) + 1 },
      pendingSum: state.pendingSum + 1,
    };
    // Useless once both windows have passed.
    const expiresAt = Math.max((state.minute + 1) * MINUTE_MS, (state.window + 2) * windowMs);
    if ((await admission.replace(counter, next, stored?.version, expiresAt)) === 'ok') {
      return { admitted: true, pendingWindow: state.window, shard };
    }
  }
  return { admitted: false, limit: 'contention', retryAfterSeconds: 1 };
};

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
 * What one process knows of the shards: the shard the next request of each tenant tries first and how many more
 * admissions it takes on it (its requests take the shards in turns of SHARD_TURN, from a random one), the shards found full and when they may admit again (trusted until then, and at
 * most until the minute ends), and how many pending slots this process gave back per tenant (a shard read as full
 * before a slot was given back is not remembered as full).
 */
export interface AdmissionMemory {
  next: Map<string, { shard: number; left: number }>;
  /** Requests of each tenant this process has in flight (each tries one shard further first). */
  inFlight: Map<string, number>;
  full: Map<string, { limit: Refusal['limit']; retryAt: number; until: number }>;
  releases: Map<string, number>;
}

export const admissionMemory = (): AdmissionMemory => ({
  next: new Map(),
  inFlight: new Map(),
  full: new Map(),
  releases: new Map(),
});

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
 * pending cap (the shares add up to each limit, so no limit is ever exceeded). A process's requests of a tenant try
 * its shards first in turns of SHARD_TURN admissions, from a random one (one conditional write when the shard has
 * room; every shard takes an even part of a busy tenant's writes, whichever process counts them and however many
 * processes there are), then the
 * other shards in order; shards this process already found full are skipped without a request. Refused only when
 * every shard refused, naming the limit by LIMITS, with Retry-After when the first of them may admit again.
 */
export const admitTenantRequest = async (
  admission: AdmissionStore,
  input: TenantAdmission,
  memory: AdmissionMemory = processMemory,
): Promise<TenantAdmissionOutcome> => {
  const { tenantId, clientId, limits, pendingWindowMs, now } = input;
  const n = tenantShards(limits);
  const shards = Array.from({ length: n }, (_, i) => i);
  // The turn is taken when the request starts, not when it is admitted: concurrent requests of this process each take
  // their own place in it. A request that starts while others of the tenant are in flight here tries as many shards
  // further first: a burst spreads at once, and a minute's first writes do not pile up on one item (each of them
  // would fail on the minute before, and read, and write again).
  const turn = memory.next.get(tenantId);
  const stays = turn !== undefined && turn.left > 0;
  const base =
    turn === undefined
      ? Math.floor((input.random ?? Math.random)() * n) % n
      : (stays ? turn.shard : turn.shard + 1) % n;
  bounded(memory.next);
  memory.next.set(tenantId, { shard: base, left: stays ? turn.left - 1 : SHARD_TURN - 1 });
  const inFlight = memory.inFlight.get(tenantId) ?? 0;
  memory.inFlight.set(tenantId, inFlight + 1);
  const start = (base + inFlight) % n;
  const order = [...shards.slice(start), ...shards.slice(0, start)];
  const minuteEnd = (Math.floor(now / MINUTE_MS) + 1) * MINUTE_MS;
  const refusals: Refusal[] = [];
  try {
    for (const shard of order) {
      const keys = { client: memoryKey(tenantId, shard, clientId), shard: memoryKey(tenantId, shard) };
      const known = knownRefusal(memory, [keys.client, keys.shard], now);
      if (known) {
        refusals.push(known);
        continue;
      }
      const releases = memory.releases.get(tenantId) ?? 0;
      const outcome = await admitOnShard(
        admission,
        { tenantId, shard },
        { clientId, limits: shardLimits(limits, n, shard), pendingWindowMs, now },
      );
      if (outcome.admitted) {
        // Admitted past the shard it tried first (that one was full): the turn moves on to where this was counted.
        if (shard !== start) memory.next.set(tenantId, { shard, left: SHARD_TURN - 1 });
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
  } finally {
    const left = (memory.inFlight.get(tenantId) ?? 1) - 1;
    if (left > 0) memory.inFlight.set(tenantId, left);
    else memory.inFlight.delete(tenantId);
  }
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
 * created (hardening rule 6). Still the current window: one less of its own count. The window rolled once since: the
 * request is in the previous window's share. Later, it no longer counts and there is nothing to give back. The
 * per-minute counts stay (they count attempts). This process forgets that the shard was full of pending requests.
 */
export const releaseTenantRequest = async (
  admission: AdmissionStore,
  input: { tenantId: string; shard: number; pendingWindow: number; pendingWindowMs: number },
  memory: AdmissionMemory = processMemory,
): Promise<void> => {
  const { tenantId, shard, pendingWindow, pendingWindowMs: windowMs } = input;
  const counter = { tenantId, shard };
  try {
    if ((await admission.release(counter, { windowMs, window: pendingWindow, share: 'current' })) === 'ok') return;
    await admission.release(counter, { windowMs, window: pendingWindow + 1, share: 'previous' });
  } finally {
    bounded(memory.releases);
    memory.releases.set(tenantId, (memory.releases.get(tenantId) ?? 0) + 1);
    const key = memoryKey(tenantId, shard);
    if (memory.full.get(key)?.limit === 'pending') memory.full.delete(key);
  }
};
