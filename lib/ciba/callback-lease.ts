import { type AuthRequest, type CallbackState, DECIDED_STATUSES } from '../model.ts';

/**
 * The callback lease of a ping or push request: attempts are claimed one at a time, each for a lease, so that a
 * duplicate event sends nothing while a worker that died loses its attempt to the redelivery once the lease has run
 * out. The callback ledger (CallbackLedger) applies these transitions as conditional writes, and only these.
 *
 *   no claim ──claim 1──▶ attempt 1 leased ──record──▶ attempt 1 finished ──claim 2──▶ attempt 2 leased ...
 *                              │ lease ran out                                  (a final record ends the ledger:
 *                              └──claim 1 again (takeover)                       delivered or dead_lettered)
 */
export interface CallbackLease {
  /** The callback's state; absent until the first claim. */
  state?: CallbackState;
  /** The attempt last claimed. */
  claimed?: number;
  /** Present while that attempt runs (or its worker died before recording it). */
  leaseUntil?: number;
}

/**
 * Attempt n may be claimed while the callback is not finished: attempt 1 when none was claimed, attempt n once
 * attempt n−1 has finished (or its lease ran out), or attempt n again when its own lease ran out (the worker died).
 */
export const mayClaim = (lease: CallbackLease, attempt: number, now: number): boolean => {
  if (lease.state !== undefined && lease.state !== 'pending') return false;
  const ranOut = lease.leaseUntil !== undefined && lease.leaseUntil < now;
  const free =
    attempt === 1
      ? lease.claimed === undefined
      : lease.claimed === attempt - 1 && (lease.leaseUntil === undefined || ranOut);
  const takeover = lease.claimed === attempt && ranOut;
  return free || takeover;
};

export const claimed = (lease: CallbackLease, attempt: number, leaseUntil: number): CallbackLease => ({
  state: lease.state ?? 'pending',
  claimed: attempt,
  leaseUntil,
});

/** A finished attempt is recorded only by the claim that holds it. */
export const mayRecord = (lease: CallbackLease, attempt: number): boolean =>
  lease.claimed === attempt && lease.state !== undefined;

/** Recording releases the lease; a final state finishes the ledger. */
export const recorded = (lease: CallbackLease, state: CallbackState): CallbackLease => ({
  state,
  ...(lease.claimed !== undefined ? { claimed: lease.claimed } : {}),
});

/**
 * What a claim for the decision's event (`decidedFor`, CallbackLedger) also requires, so that the claim is its first
 * call instead of a read: the request is the event's tenant's, ping or push, and decided.
 */
export const decidedFor = (request: Pick<AuthRequest, 'tenantId' | 'deliveryMode' | 'status'>, tenantId: string) =>
  request.tenantId === tenantId &&
  (request.deliveryMode === 'ping' || request.deliveryMode === 'push') &&
  (DECIDED_STATUSES as readonly string[]).includes(request.status);
