import { DeleteItemCommand } from '@aws-sdk/client-dynamodb';
import type { AuthRequest } from '../../model.ts';
import type { DecisionStore, PollStore, RequestStore } from '../../persistence.ts';
import {
  expiryBucket,
  OPEN_CALLBACK_PARTITION,
  PENDING_FALLBACK_PARTITION,
  PENDING_VIEW_ATTRIBUTES,
} from '../dynamodb-schema.ts';
import {
  expression,
  FAILED,
  getLedger,
  ledgerKey,
  putItem,
  query,
  type Raw,
  remove,
  requestPk,
  type Tables,
  ttlSeconds,
  update,
  updateExpression,
} from './expression.ts';
import { evidenceItem, requestItem } from './items.ts';

/**
 * Auth requests: ledger items `REQ#{txn}`, in the GSI pending-by-user while pending.
 *
 * Retention (docs/performance.md "Retention"): a request stays readable for an hour after it expires (late polls
 * answer expired_token, operators read its state and delivery history). A ping or push request whose callback may
 * still be sent stays until the longest callback_max_age_seconds (a day) after its expiry, and an hour after its
 * callback was delivered or given up. The evidence leaves with the request: the events on the bus are the record.
 */
const REQUEST_RETENTION_SECONDS = 3_600;
const CALLBACK_RETENTION_SECONDS = 86_400;
/** cb_until of a callback that stays open until it is finished (the open-callbacks index; sort key). */
export const OPEN_UNTIL_FINISHED = Number.MAX_SAFE_INTEGER;

/**
 * The keys that put a ledger item in the local indexes (dynamodb-schema.ts), from its stored attributes: its expiry
 * bucket; for a ping or push request whose callback is not finished, `cb_open` and `cb_until` (until its expiry for a
 * pending ping request, which has nothing to send before it is decided; otherwise until the callback is finished);
 * for a pending request with a channel fallback (`fallback_at`), `fb_open` and `fb_until` (its expiry). Used when a request is created and when a ledger of the layout before is copied (lib/local/embedded-dynamodb.ts).
 */
export const localIndexKeys = (raw: Raw): Raw => {
  const keys: Raw = typeof raw.ttl === 'number' ? { exp_bucket: expiryBucket(raw.ttl) } : {};
  const callbackOpen =
    typeof raw.pk === 'string' &&
    raw.pk.startsWith('REQ#') &&
    (raw.delivery_mode === 'ping' || raw.delivery_mode === 'push') &&
    (raw.callback === undefined || raw.callback.state === 'pending');
  if (callbackOpen) {
    keys.cb_open = OPEN_CALLBACK_PARTITION;
    keys.cb_until = raw.status === 'pending' && raw.delivery_mode === 'ping' ? raw.expires_at : OPEN_UNTIL_FINISHED;
  }
  if (typeof raw.pk === 'string' && raw.pk.startsWith('REQ#') && raw.status === 'pending' && raw.fallback_at) {
    keys.fb_open = PENDING_FALLBACK_PARTITION;
    keys.fb_until = raw.expires_at;
  }
  return keys;
};

const toRequestItem = (r: AuthRequest): Raw => {
  const item: Raw = {
    pk: requestPk(r.txn),
    ...requestItem.toItem(r),
    // Sparse GSI pending-by-user: present only while the request waits for a decision.
    pending_key: r.status === 'pending' ? `${r.tenantId}#${r.sub}` : undefined,
    ttl: ttlSeconds(r.expiresAt) + (r.deliveryMode === 'poll' ? REQUEST_RETENTION_SECONDS : CALLBACK_RETENTION_SECONDS),
  };
  return { ...item, ...localIndexKeys(item) };
};

export const asRequest = (raw: Raw | typeof FAILED): AuthRequest | 'conflict' =>
  raw === FAILED || raw.txn === undefined ? 'conflict' : requestItem.fromItem(raw);

/** A conditional update of a request, its image after (or before) as a request, or `conflict`. */
export const updateRequest = async (
  db: Tables,
  txn: string,
  parts: { update: string; condition: string },
  values: Record<string, unknown>,
  image: 'ALL_NEW' | 'ALL_OLD' = 'ALL_NEW',
): Promise<AuthRequest | 'conflict'> =>
  asRequest(
    await update(db, {
      TableName: db.ledger,
      Key: ledgerKey(requestPk(txn)),
      ReturnValues: image,
      ...expression(parts, values),
    }),
  );

/** The pending-by-user index's keys and PENDING_VIEW_ATTRIBUTES of an item it returned. */
const PENDING_VIEW = new Set(['pk', 'pending_key', 'created_at', ...PENDING_VIEW_ATTRIBUTES]);
const pendingView = (raw: Raw): Raw =>
  Object.fromEntries(Object.entries(raw).filter(([name]) => PENDING_VIEW.has(name)));

export const requestStore = (db: Tables): RequestStore => ({
  create: (request) => putItem(db, db.ledger, toRequestItem(request), null),
  async get(txn) {
    const raw = await getLedger(db, requestPk(txn));
    return raw && requestItem.fromItem(raw);
  },
  async delete(txn) {
    await db.client.send(new DeleteItemCommand({ TableName: db.ledger, Key: ledgerKey(requestPk(txn)) }));
  },
  async withdraw(txn) {
    const removed = await remove(db, {
      TableName: db.ledger,
      Key: ledgerKey(requestPk(txn)),
      ...expression({ condition: '#status = :pending' }, { ':pending': 'pending' }),
    });
    return removed !== FAILED;
  },
  async listPending(tenantId, sub, now) {
    const pending: AuthRequest[] = [];
    for await (const raw of query(db, {
      TableName: db.ledger,
      IndexName: 'pending-by-user',
      ScanIndexForward: false,
      ...expression({ key: '#pending_key = :k' }, { ':k': `${tenantId}#${sub}` }),
    })) {
      // The index lags the table, and expired requests stay in it until TTL removes them. Only the projected view is
      // read, whatever the index holds: an index made with ALL (an older local data directory, a deployment that
      // keeps it) answers as INCLUDE's does.
      const request = requestItem.fromItem(pendingView(raw));
      if (request.status === 'pending' && request.expiresAt > now) pending.push(request);
    }
    return pending;
  },
});

export const pollStore = (db: Tables): PollStore => ({
  async poll(txn, authReqId, owner, now) {
    // Removing grant_pending in the same write that records the poll: only the poller whose ALL_OLD image still
    // carries it redeems the grant.
    const before = await updateRequest(
      db,
      txn,
      {
        update: 'SET #last_polled_at = :now REMOVE #grant_pending',
        condition: 'attribute_exists(#pk) AND #auth_req_id = :id AND #tenant_id = :t AND #client_id = :cid',
      },
      { ':now': now, ':id': authReqId, ':t': owner.tenantId, ':cid': owner.clientId },
      'ALL_OLD',
    );
    return before === 'conflict' ? undefined : before;
  },
  async slowDown(txn, addSeconds) {
    await updateRequest(
      db,
      txn,
      { update: 'ADD #interval :add', condition: 'attribute_exists(#pk)' },
      { ':add': addSeconds },
    );
  },
  async restoreGrant(txn) {
    await updateRequest(
      db,
      txn,
      { update: 'SET #grant_pending = :true', condition: '#status = :approved' },
      { ':true': true, ':approved': 'approved' },
    );
  },
});

/** Pending, unexpired and this tenant's and user's. */
const DECIDABLE =
  'attribute_exists(#pk) AND #tenant_id = :t AND #sub = :sub AND #status = :pending AND #expires_at > :now';

export const decisionStore = (db: Tables): DecisionStore => ({
  decide(txn, owner, status, evidence, now) {
    // cb_until: a decided ping or push request's callback is open until it is finished (localIndexKeys); on a poll
    // request, without cb_open, it puts nothing in the index. A decided request has no fallback left (fb_open).
    const set = [
      '#status = :status',
      '#decided_at = :now',
      '#auth_time = :now',
      '#evidence = :evidence',
      '#cb_until = :open_until',
    ];
    if (status === 'approved') set.push('#grant_pending = :true');
    return updateRequest(
      db,
      txn,
      { update: updateExpression({ set, remove: ['#pending_key', '#fb_open'] }), condition: DECIDABLE },
      {
        ':status': status,
        ':now': now,
        ':open_until': OPEN_UNTIL_FINISHED,
        ':evidence': evidenceItem.toItem(evidence),
        ':t': owner.tenantId,
        ':sub': owner.sub,
        ':pending': 'pending',
        ':true': true,
      },
    );
  },
  countBindingCodeMismatch: (txn, owner, now) =>
    updateRequest(
      db,
      txn,
      { update: 'ADD #binding_code_attempts :one', condition: DECIDABLE },
      { ':one': 1, ':t': owner.tenantId, ':sub': owner.sub, ':pending': 'pending', ':now': now },
    ),
});
