import type { User } from '../model.ts';
import type {
  RateWindow,
  RateWindowRefund,
  RateWindowStore,
  RateWindowWrite,
  UserAdmissionGate,
  UserStore,
} from '../persistence.ts';
import { gateRefusal, type UserAdmissionRefusal } from './report-shield.ts';

/**
 * The per-user budget of backchannel requests (push-bombing protection), counted in fixed minutes, the current and
 * the previous one together, so that no 60 s hold more than the limit (one fixed window alone lets twice the limit
 * through around its end). The user's record holds the window's minute, that minute's count, and the sum of both
 * minutes' counts (a condition cannot add, so the sum is kept). Each write is conditional and counts one request or
 * nothing; the three below say when each applies, and the store applies exactly these (test/contract/).
 */
export const RATE_WINDOW_WRITES: readonly RateWindowWrite[] = ['increment', 'roll', 'open'];

/**
 * Whether `write` applies to the stored window (`undefined`: no such user).
 * - increment: one more in the current window; a caller whose clock lags by up to a minute counts in the newer one.
 * - roll: the first of the minute after the window: the old window's count becomes the previous minute's share.
 * - open: the first after a quiet minute or more, a window further ahead than a lagging clock explains (a clock that
 *   was wrong), or a record from before the sum was kept.
 */
export const rateWindowWriteApplies = (
  stored: RateWindow | undefined,
  write: RateWindowWrite,
  { minute, limit }: { minute: number; limit: number },
): boolean => {
  if (stored === undefined) return false;
  const { minute: m, count, sum } = stored;
  switch (write) {
    case 'increment':
      return (m === minute || m === minute + 1) && sum !== undefined && sum < limit;
    case 'roll':
      return m === minute - 1 && count !== undefined && count < limit;
    case 'open':
      return m === undefined || sum === undefined || m < minute - 1 || m > minute + 1;
  }
};

/** The window after `write` (where it applies). */
export const applyRateWindowWrite = (stored: RateWindow, write: RateWindowWrite, minute: number): RateWindow => {
  switch (write) {
    case 'increment':
      return { minute: stored.minute!, count: (stored.count ?? 0) + 1, sum: stored.sum! + 1 };
    case 'roll':
      return { minute, count: 1, sum: stored.count! + 1 };
    case 'open':
      return { minute, count: 1, sum: 1 };
  }
};

/**
 * Whether `refund` gives back a request counted in the window of `minute` (what the write that admitted it left as
 * the window's minute):
 * - current: the window is still that minute: one less of its count and of the sum, while the count is positive;
 * - previous: the window has rolled into the next minute since, so the request is in the previous minute's share of
 *   the sum (sum − count): one less of the sum, while that share is positive.
 * Later, the request no longer counts and there is nothing to give back. Each applies to the stored counts alone, so
 * concurrent refunds and admissions never take a count below zero.
 */
export const rateWindowRefundApplies = (
  stored: RateWindow | undefined,
  refund: RateWindowRefund,
  minute: number,
): boolean => {
  if (stored === undefined) return false;
  const { minute: m, count, sum } = stored;
  if (count === undefined || sum === undefined) return false;
  switch (refund) {
    case 'current':
      return m === minute && count > 0 && sum > 0;
    case 'previous':
      return m === minute + 1 && sum > count;
  }
};

/** The window after `refund` (where it applies). */
export const applyRateWindowRefund = (stored: RateWindow, refund: RateWindowRefund): RateWindow =>
  refund === 'current'
    ? { minute: stored.minute!, count: stored.count! - 1, sum: stored.sum! - 1 }
    : { minute: stored.minute!, count: stored.count!, sum: stored.sum! - 1 };

/** Users whose rate window this process remembers (a hint only; cleared when full). */
const MAX_HINTS = 10_000;

/** The minute whose window this process last saw open per user: which write to try first (saves requests only). */
export class RateWindowHints {
  readonly #seen = new Map<string, number>();

  /**
   * The writes to try, in order. A window seen open this minute cannot be rolled (a window's minute never goes back),
   * so a refusal then costs one write less; a last increment covers a window a concurrent request opened meanwhile.
   * Without a hint, a new window is the likelier case (a user rarely asks twice in two minutes).
   */
  order(key: string, minute: number): RateWindowWrite[] {
    const seen = this.#seen.get(key);
    const first: RateWindowWrite = seen === minute ? 'increment' : seen === minute - 1 ? 'roll' : 'open';
    const others = RATE_WINDOW_WRITES.filter((w) => w !== first && !(seen === minute && w === 'roll'));
    return [first, ...others, 'increment'];
  }

  remember(key: string, minute: number): void {
    if (this.#seen.size >= MAX_HINTS) this.#seen.clear();
    this.#seen.set(key, minute);
  }
}

const processHints = new RateWindowHints();

/** An admitted request: the user, and where it was counted (what refundUserRequest gives back). */
export interface UserAdmission {
  user: User;
  counted: CountedRequest;
}

/** A request counted in the user's window of `minute`. */
export interface CountedRequest {
  tenantId: string;
  sub: string;
  minute: number;
}

/**
 * Counts one backchannel request against the user's per-minute budget and returns the user, in one write when the
 * hint is right. `undefined` when the user does not exist; `rateLimited` when the budget is spent. With a gate (the
 * report shield and reachability: lib/ciba/report-shield.ts), every write also requires it, so a refused request
 * counts nothing; the refusal then says which part of the gate failed.
 */
export const admitUserRequest = async (
  deps: { rateWindows: RateWindowStore; users: Pick<UserStore, 'get'> },
  input: {
    tenantId: string;
    sub: string;
    limitPerMinute: number;
    now: number;
    gate?: Omit<UserAdmissionGate, 'now'>;
  },
  hints: RateWindowHints = processHints,
): Promise<UserAdmission | { rateLimited: true } | UserAdmissionRefusal | undefined> => {
  const { tenantId, sub, limitPerMinute: limit, now } = input;
  const minute = Math.floor(now / 60_000);
  const gate = input.gate && { ...input.gate, now };
  if (limit > 0) {
    const key = `${tenantId}\u0000${sub}`;
    for (const write of hints.order(key, minute)) {
      const written = await deps.rateWindows.write(tenantId, sub, write, { minute, limit }, gate);
      if (written === 'conflict') continue;
      hints.remember(key, minute);
      return { user: written.user, counted: { tenantId, sub, minute: written.minute } };
    }
  }
  const user = await deps.users.get(tenantId, sub);
  if (!user) return undefined;
  return (gate && gateRefusal(user, gate)) ?? { rateLimited: true };
};

/**
 * Gives back one request admitted by admitUserRequest that then never existed (the client's or the tenant's budget
 * refused it, or it could not be stored), so that it spends none of the user's budget: from its own window while that
 * is current, else from the previous minute's share (rateWindowRefundApplies). Two conditional writes at most; when
 * neither applies the request no longer counts (its window has passed) or the user is gone.
 */
export const refundUserRequest = async (
  deps: { rateWindows: Pick<RateWindowStore, 'refund'> },
  { tenantId, sub, minute }: CountedRequest,
): Promise<void> => {
  if ((await deps.rateWindows.refund(tenantId, sub, 'current', minute)) === 'ok') return;
  await deps.rateWindows.refund(tenantId, sub, 'previous', minute);
};
