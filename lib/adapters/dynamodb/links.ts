import type { ApprovalLinkStore } from '../../persistence.ts';
import {
  expiring,
  expiryValues,
  expression,
  FAILED,
  getLedger,
  ledgerKey,
  putItem,
  type Tables,
  ttlSeconds,
  update,
} from './expression.ts';
import { approvalLinkItem } from './items.ts';

/**
 * Approval links in the ledger table: `LINK#{sha256 of the secret}` holds the link, `LINKSENT#{txn}#{channel}` marks
 * that the request was sent by that channel (so a redelivered fallback never sends twice). The mark is written first,
 * only if absent, then the link (only if absent): a failure between the two loses that channel's one message, never
 * sends it twice. Both expire with the request (TTL `ttl`, plus the local sweep's `exp_bucket`). `SMSDAY#{tenant}#{day}`
 * counts a tenant's text messages of a UTC day against its cap: written once per message sent, at most the cap a day
 * (a process that saw the cap reached refuses without a write: lib/ciba/approval-links.ts; docs/deploy.md "Capacity").
 */

/** A hash is 43 base64url characters; anything else names no link (and never reaches DynamoDB's key limits). */
const HASH = /^[A-Za-z0-9_-]{43}$/;

export const approvalLinkStore = (db: Tables): ApprovalLinkStore => ({
  async issue(link) {
    const expiry = expiring(ttlSeconds(link.expiresAt));
    const sent = await putItem(
      db,
      db.ledger,
      { pk: `LINKSENT#${link.txn}#${link.channel}`, created_at: link.createdAt, ...expiry },
      null,
    );
    if (sent !== 'ok') return 'conflict';
    const { hash, ...rest } = link;
    return putItem(db, db.ledger, { pk: `LINK#${hash}`, ...approvalLinkItem.toItem(rest), ...expiry }, null);
  },

  async find(hash) {
    if (!HASH.test(hash)) return undefined;
    const raw = await getLedger(db, `LINK#${hash}`);
    return raw && { hash, ...approvalLinkItem.fromItem(raw) };
  },

  async countText(tenantId, day, cap) {
    // One item per tenant and UTC day, kept two days (TTL).
    const ttl = Math.ceil(Date.parse(`${day}T00:00:00Z`) / 1000) + 2 * 86_400;
    const result = await update(db, {
      TableName: db.ledger,
      Key: ledgerKey(`SMSDAY#${tenantId}#${day}`),
      ...expression(
        {
          update: 'ADD #count :one SET #ttl = :ttl, #exp_bucket = :exp_bucket',
          // A cap of 0 allows none, not even the day's first.
          condition: '(attribute_not_exists(#count) AND :cap > :zero) OR #count < :cap',
        },
        { ':one': 1, ':zero': 0, ':cap': cap, ...expiryValues(ttl) },
      ),
    });
    return result !== FAILED;
  },
});
