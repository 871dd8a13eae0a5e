import type { AdmissionStore, TenantCounters } from '../persistence.ts';

const MINUTE_MS = 60_000;
/** Writes the admission tries before it calls the item contended (a burst at a window boundary). */
const MAX_TRIES = 5;

export interface TenantAdmission {
  tenantId: string;
  clientId: string;
  limits: { clientPerMinute: number; tenantPerMinute: number; maxPending: number };
  pendingWindowMs: number;
  now: number;
}

/** `contention`: the counters changed under every attempt (a burst at a window boundary); retry at once. */
export type TenantAdmissionOutcome =
  /** `pendingWindow`: the window the request counts in as pending (releaseTenantRequest gives it back). */
  | { admitted: true; pendingWindow: number }
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
 * The abuse controls of a backchannel request (SECURITY.md) on the tenant's counter item: the client's and the
 * tenant's requests in this minute, and the tenant's requests in the current and previous windows of
 * `pendingWindowMs` (their sum bounds the pending requests). Counts everywhere or nowhere: the fast path is one
 * conditional write; when it fails the item is read to tell a limit from a window that has passed, and a new window
 * starts with a write conditional on the version read. Retry-After: when the limit that refused lets a request in.
 */
export const admitTenantRequest = async (
  admission: AdmissionStore,
  input: TenantAdmission,
): Promise<TenantAdmissionOutcome> => {
  const { tenantId, clientId, limits, pendingWindowMs: windowMs, now } = input;
  const minute = Math.floor(now / MINUTE_MS);
  const window = Math.floor(now / windowMs);
  // The windows the fast path counts in: this process's, or the item's when it is ahead (another clock).
  let at = { clientId, minute, windowMs, window };
  for (let tries = 0; tries < MAX_TRIES; tries++) {
    if ((await admission.count(tenantId, at, limits)) === 'ok') return { admitted: true, pendingWindow: at.window };
    const stored = await admission.read(tenantId);
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
    if ((await admission.replace(tenantId, next, stored?.version, expiresAt)) === 'ok') {
      return { admitted: true, pendingWindow: state.window };
    }
  }
  return { admitted: false, limit: 'contention', retryAfterSeconds: 1 };
};

/**
 * Gives back the pending slot of a request counted in `pendingWindow` and refused before it was created (hardening
 * rule 6). Still the current window: one less of its own count. The window rolled once since: the request is in the
 * previous window's share. Later, it no longer counts and there is nothing to give back. The per-minute counts stay
 * (they count attempts).
 */
export const releaseTenantRequest = async (
  admission: AdmissionStore,
  input: { tenantId: string; pendingWindow: number; pendingWindowMs: number },
): Promise<void> => {
  const { tenantId, pendingWindow, pendingWindowMs: windowMs } = input;
  if ((await admission.release(tenantId, { windowMs, window: pendingWindow, share: 'current' })) === 'ok') return;
  await admission.release(tenantId, { windowMs, window: pendingWindow + 1, share: 'previous' });
};
