import type { AuthRequest } from '../../model.ts';
import type { DeadLetterRecord, SigningKeyStore, StoredSigningKey } from '../../ports.ts';
import {
  EXPIRY_INDEX,
  OPEN_CALLBACK_PARTITION,
  OPEN_CALLBACKS_INDEX,
  PENDING_FALLBACK_PARTITION,
  PENDING_FALLBACKS_INDEX,
} from '../dynamodb-schema.ts';
import { expression, getLedger, ledgerKey, query, requestPk, type Tables, tenantPk, update } from './expression.ts';
import { deadLetterItem, requestItem, signingKeyItem } from './items.ts';

/**
 * What only local mode asks of the store (its ports are declared in lib/local/local-store.ts): its keys of the layout
 * before keysets (imported once into a keyset), its dead letters, the expiry sweep's index and the callbacks a restart
 * must set timers for. In AWS, SQS, DynamoDB TTL and EventBridge Scheduler do those jobs.
 */

export const signingKeyStore = (db: Tables): SigningKeyStore => ({
  async getSigningKeys(tenantId) {
    const keys: StoredSigningKey[] = [];
    for await (const raw of query(db, {
      TableName: db.directory,
      ConsistentRead: true,
      ...expression(
        { key: '#pk = :pk AND begins_with(#sk, :prefix)' },
        { ':pk': tenantPk(tenantId), ':prefix': 'KEY#' },
      ),
    })) {
      keys.push(signingKeyItem.fromItem(raw));
    }
    return keys;
  },
});

/** Keeps a dead letter on its request (the local dead-letter store, shown by the admin API). */
export const putDeadLetter = async (db: Tables, record: DeadLetterRecord): Promise<void> => {
  await update(db, {
    TableName: db.ledger,
    Key: ledgerKey(requestPk(record.txn)),
    ...expression(
      { update: 'SET #dead_letter = :d', condition: 'attribute_exists(#pk)' },
      { ':d': deadLetterItem.toItem(record) },
    ),
  });
};

/**
 * The ping and push requests whose callback is not finished, with the attempt last claimed and its lease, read
 * through the local open-callbacks index (dynamodb-schema.ts), which holds only those requests (and pending ping
 * requests until they expire), never the ledger's history.
 */
export async function* openCallbacks(
  db: Tables,
  now: number,
): AsyncGenerator<{ request: AuthRequest; claimed?: number; leaseUntil?: number }> {
  for await (const key of query(db, {
    TableName: db.ledger,
    IndexName: OPEN_CALLBACKS_INDEX,
    ...expression({ key: '#cb_open = :open AND #cb_until >= :now' }, { ':open': OPEN_CALLBACK_PARTITION, ':now': now }),
  })) {
    const raw = await getLedger(db, key.pk);
    if (!raw || (raw.callback !== undefined && raw.callback.state !== 'pending')) continue;
    yield {
      request: requestItem.fromItem(raw),
      ...(raw.cb_claimed !== undefined ? { claimed: raw.cb_claimed as number } : {}),
      ...(raw.cb_lease_until !== undefined ? { leaseUntil: raw.cb_lease_until as number } : {}),
    };
  }
}

/**
 * The pending requests with a channel fallback (`fallbackAt`) that have not expired, read through the local
 * pending-fallbacks index (dynamodb-schema.ts), which holds only pending requests with a fallback: a decision takes
 * a request out of it, and its expiry (the sort key) leaves it behind the query.
 */
export async function* pendingFallbacks(db: Tables, now: number): AsyncGenerator<AuthRequest> {
  for await (const key of query(db, {
    TableName: db.ledger,
    IndexName: PENDING_FALLBACKS_INDEX,
    ...expression(
      { key: '#fb_open = :open AND #fb_until > :now' },
      { ':open': PENDING_FALLBACK_PARTITION, ':now': now },
    ),
  })) {
    const raw = await getLedger(db, key.pk);
    if (raw?.status !== 'pending') continue;
    yield requestItem.fromItem(raw);
  }
}

/**
 * The keys of ledger items in one expiry bucket (an hour of TTLs, dynamodb-schema.ts by-expiry) whose TTL is before
 * `nowSeconds`, read through the local expiry index.
 */
export async function* expiredKeys(db: Tables, bucket: string, nowSeconds: number): AsyncGenerator<string> {
  for await (const key of query(db, {
    TableName: db.ledger,
    IndexName: EXPIRY_INDEX,
    ...expression({ key: '#exp_bucket = :b AND #ttl < :now' }, { ':b': bucket, ':now': nowSeconds }),
  })) {
    yield key.pk as string;
  }
}

/** Everything local mode asks of the store beyond the ports (lib/local/local-store.ts). */
export const localStoreOf = (db: Tables) => ({
  ...signingKeyStore(db),
  putDeadLetter: (record: DeadLetterRecord) => putDeadLetter(db, record),
  openCallbacks: (now: number) => openCallbacks(db, now),
  pendingFallbacks: (now: number) => pendingFallbacks(db, now),
  expiredKeys: (bucket: string, nowSeconds: number) => expiredKeys(db, bucket, nowSeconds),
});
