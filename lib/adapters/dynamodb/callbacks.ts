import { DECIDED_STATUSES } from '../../model.ts';
import type { CallbackLedger } from '../../persistence.ts';
import { expression, FAILED, ledgerKey, requestPk, type Tables, update, updateExpression } from './expression.ts';
import { attemptItem } from './items.ts';
import { updateRequest } from './requests.ts';

/**
 * The callback ledger on the request item: `callback` (state, attempts), `cb_claimed` and `cb_lease_until`. The claim
 * is lib/ciba/callback-lease.ts `mayClaim` as a condition.
 */
export const callbackLedger = (db: Tables): CallbackLedger => ({
  claim(txn, { attempt, now, leaseUntil, decidedFor }) {
    // Attempt n is free once attempt n-1 finished (its lease removed) or its lease ran out; or taken over when its
    // own lease ran out.
    const takeover = '(#cb_claimed = :n AND #cb_lease_until < :now)';
    // lib/ciba/callback-lease.ts `decidedFor`: the tenant's, ping or push, decided.
    const decided =
      decidedFor === undefined
        ? ''
        : ` AND #tenant_id = :tenant AND #delivery_mode IN (:ping, :push) AND #status IN (${DECIDED_STATUSES.map((_, i) => `:decided${i}`).join(', ')})`;
    const free =
      attempt === 1
        ? 'attribute_not_exists(#cb_claimed)'
        : '(#cb_claimed = :prev AND (attribute_not_exists(#cb_lease_until) OR #cb_lease_until < :now))';
    return updateRequest(
      db,
      txn,
      {
        update: 'SET #cb_claimed = :n, #cb_lease_until = :lease, #callback = if_not_exists(#callback, :initial)',
        condition: `attribute_exists(#pk) AND (attribute_not_exists(#callback) OR #callback.#state = :pending) AND (${free} OR ${takeover})${decided}`,
      },
      {
        ...(decidedFor === undefined
          ? {}
          : {
              ':tenant': decidedFor,
              ':ping': 'ping',
              ':push': 'push',
              ...Object.fromEntries(DECIDED_STATUSES.map((status, i) => [`:decided${i}`, status])),
            }),
        ':n': attempt,
        ':prev': attempt - 1,
        ':now': now,
        ':lease': leaseUntil,
        ':pending': 'pending',
        ':initial': { state: 'pending', attempts: [] },
      },
    );
  },
  savePushResponse: (txn, sealedResponse, now) =>
    updateRequest(
      db,
      txn,
      {
        update: 'SET #push_response = :r, #redeemed_at = :now REMOVE #grant_pending',
        condition: 'attribute_exists(#grant_pending) AND #status = :approved',
      },
      { ':r': sealedResponse, ':now': now, ':approved': 'approved' },
    ),
  async record(txn, attempt, outcome) {
    const set = ['#callback.#attempts = list_append(#callback.#attempts, :one)', '#callback.#state = :state'];
    if (outcome.deliveredAt !== undefined) set.push('#callback.#delivered_at = :delivered_at');
    if (outcome.deadLetterReason !== undefined) set.push('#callback.#dead_letter_reason = :reason');
    const remove = ['#cb_lease_until'];
    // Tokens are kept only until they are delivered or given up on; the request leaves the open-callbacks index.
    if (outcome.state !== 'pending') remove.push('#push_response', '#cb_open', '#cb_until');
    const result = await update(db, {
      TableName: db.ledger,
      Key: ledgerKey(requestPk(txn)),
      ...expression(
        { update: updateExpression({ set, remove }), condition: '#cb_claimed = :n' },
        {
          ':one': [attemptItem.toItem(attempt)],
          ':state': outcome.state,
          ':n': attempt.attempt,
          ':delivered_at': outcome.deliveredAt,
          ':reason': outcome.deadLetterReason,
        },
      ),
    });
    return result === FAILED ? 'conflict' : 'ok';
  },
});
