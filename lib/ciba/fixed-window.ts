import type { QuotaStore } from '../persistence.ts';

/**
 * Fixed-window counters (abuse controls: wrong user codes). A key counts events in windows of `windowMs`; with
 * `includePrevious` the previous window's count is added (one read more), so the sum bounds every event of the last
 * `windowMs` (one window alone would let twice the limit through around its end).
 */
export interface WindowOptions {
  includePrevious?: boolean;
}

/** The events of `key` in the window that holds `now` (plus the previous window's with `includePrevious`). */
export const readQuota = async (
  quotas: Pick<QuotaStore, 'count'>,
  key: string,
  windowMs: number,
  now: number,
  options: WindowOptions = {},
): Promise<number> => {
  const index = Math.floor(now / windowMs);
  if (!options.includePrevious) return quotas.count(key, index);
  const [current, previous] = await Promise.all([quotas.count(key, index), quotas.count(key, index - 1)]);
  return current + previous;
};

/**
 * Counts one event against `key`, only while the count (with the previous window's) stays below `limit`.
 * `retryAfterSeconds`: when a refused caller may try again (the previous window stops counting when this one ends;
 * this window's events count until the next one ends).
 */
export const consumeQuota = async (
  quotas: QuotaStore,
  key: string,
  limit: number,
  windowMs: number,
  now: number,
  options: WindowOptions = {},
): Promise<{ admitted: boolean; retryAfterSeconds: number }> => {
  const index = Math.floor(now / windowMs);
  const windowEnd = (index + 1) * windowMs;
  const previous = options.includePrevious ? await quotas.count(key, index - 1) : 0;
  const retryAfterSeconds = Math.max(1, Math.ceil((windowEnd + (options.includePrevious ? windowMs : 0) - now) / 1000));
  const room = limit - previous;
  if (room <= 0) return { admitted: false, retryAfterSeconds: Math.max(1, Math.ceil((windowEnd - now) / 1000)) };
  // Kept one window longer than it counts: the next window reads it (includePrevious).
  const counted = await quotas.increment(key, index, { below: room, expiresAt: windowEnd + windowMs });
  return { admitted: counted === 'ok', retryAfterSeconds };
};
