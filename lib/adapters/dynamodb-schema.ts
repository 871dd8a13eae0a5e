/**
 * The two DynamoDB tables, described once: the CDK stack and the local bootstrap both build from this.
 *
 * directory (no TTL): pk `T#{tenant}`, sk `TENANT` | `CLIENT#{client_id}` | `USER#{sub}` | `DEVICE#{device_id}` | `KEY#{kid}`
 *   GSI by-email: `email_key` = `{tenant}#{lower-cased email}`; GSI by-phone: `phone_key` = `{tenant}#{E.164}` (keys only)
 * ledger (TTL attribute `ttl`, epoch seconds): pk `REQ#{txn}` | `TICKET#{sha256}` | `JTI#{thumbprint}#{jti}`
 *   | `RT#{sha256 of refresh token}` | `REVOKED#{refresh_family|access_token}#{id}`
 *   GSI pending-by-user: `pending_key` = `{tenant}#{sub}`, sort `created_at` (sparse: removed once decided)
 *   Local-only GSIs (LEDGER_SCHEMA.localIndexes), so that local mode's expiry sweep and timer recovery cost what is
 *   due, not what exists: by-expiry: `exp_bucket` = the hour of `ttl`, sort `ttl` (every item with a TTL);
 *   open-callbacks: `cb_open` = `open`, sort `cb_until` (sparse: ping/push requests until their callback is finished).
 */
export const DIRECTORY_TABLE_DEFAULT = 'ciba-directory';
/**
 * The ledger of local mode and of a DYNAMODB_ENDPOINT (AWS names its own tables). `-2`: the layout with the local
 * indexes, which dynalite cannot add to an existing table; a data directory's `ciba-ledger` of the layout before is
 * copied into it once (lib/local/embedded-dynamodb.ts).
 */
export const LEDGER_TABLE_DEFAULT = 'ciba-ledger-2';
export const TTL_ATTRIBUTE = 'ttl';

export const EXPIRY_INDEX = 'by-expiry';
export const OPEN_CALLBACKS_INDEX = 'open-callbacks';
/** The expiry index's partitions: an hour of TTLs each. */
export const EXPIRY_BUCKET_SECONDS = 3600;
/** The expiry index's partition key for an item whose TTL is `ttl` (epoch seconds). */
export const expiryBucket = (ttl: number): string => String(Math.floor(ttl / EXPIRY_BUCKET_SECONDS));
/** The open-callbacks index's one partition (local mode serves one process: no write sharding needed). */
export const OPEN_CALLBACK_PARTITION = 'open';

export interface IndexSchema {
  name: string;
  partitionKey: string;
  sortKey?: { name: string; type: 'S' | 'N' };
  projection: 'KEYS_ONLY' | 'ALL';
}

export interface TableSchema {
  partitionKey: string;
  sortKey?: string;
  ttlAttribute?: string;
  /** Indexes in every mode: the CDK stack and the local bootstrap both create them. */
  indexes: IndexSchema[];
  /**
   * Indexes only local mode creates and queries (lib/adapters/dynamodb/tables.ts). In AWS, DynamoDB TTL deletes expired
   * items and EventBridge Scheduler keeps callback timers, so these would only add a GSI write to every ledger write.
   */
  localIndexes?: IndexSchema[];
}

export const DIRECTORY_SCHEMA: TableSchema = {
  partitionKey: 'pk',
  sortKey: 'sk',
  indexes: [
    { name: 'by-email', partitionKey: 'email_key', projection: 'KEYS_ONLY' },
    { name: 'by-phone', partitionKey: 'phone_key', projection: 'KEYS_ONLY' },
  ],
};

export const LEDGER_SCHEMA: TableSchema = {
  partitionKey: 'pk',
  ttlAttribute: TTL_ATTRIBUTE,
  indexes: [
    {
      name: 'pending-by-user',
      partitionKey: 'pending_key',
      sortKey: { name: 'created_at', type: 'N' },
      projection: 'ALL',
    },
  ],
  localIndexes: [
    {
      name: EXPIRY_INDEX,
      partitionKey: 'exp_bucket',
      sortKey: { name: TTL_ATTRIBUTE, type: 'N' },
      projection: 'KEYS_ONLY',
    },
    {
      name: OPEN_CALLBACKS_INDEX,
      partitionKey: 'cb_open',
      sortKey: { name: 'cb_until', type: 'N' },
      projection: 'KEYS_ONLY',
    },
  ],
};
