/**
 * The two DynamoDB tables, described once: the CDK stack and the local bootstrap both build from this.
 *
 * directory (no TTL): pk `T#{tenant}`, sk `TENANT` | `KEYS` | `CLIENT#{client_id}` | `KEY#{kid}` (local keys before
 *   keysets) | `USER#{sub}` | `DEVICE#{device_id}` (membership items: keys only, written when the user or device is
 *   created, removed when it is deleted; a tenant's deletion finds its users and devices through them);
 *   users and devices on their own partition keys, pk `T#{tenant}#USER#{sub}` sk `USER#{sub}`, pk
 *   `T#{tenant}#DEVICE#{device_id}` sk `DEVICE#{device_id}`: the items a flow writes (the user's rate window, the
 *   device's proof ids) spread over one key per user and device, none per tenant (adapters/dynamodb/directory-layout.ts,
 *   which also moves items of the layout before, when all of them were under `T#{tenant}`); pk `LAYOUT`: the record
 *   that local mode's start moved them all.
 *   GSI by-email: `email_key` = `{tenant}#{lower-cased email}`; GSI by-phone: `phone_key` = `{tenant}#{E.164}` (keys only;
 *   user items only, so the index answers the user's sort key)
 * ledger (TTL attribute `ttl`, epoch seconds): pk `REQ#{txn}` | `TICKET#{sha256}` | `JTI#{thumbprint}#{jti}`
 *   | `RT#{sha256 of refresh token}` | `REVOKED#{refresh_family|access_token}#{id}`
 *   GSI pending-by-user: `pending_key` = `{tenant}#{sub}`, sort `created_at` (sparse: removed once decided; projects
 *   PENDING_VIEW_ATTRIBUTES only)
 *   Local-only GSIs (LEDGER_SCHEMA.localIndexes), so that local mode's expiry sweep and timer recovery cost what is
 *   due, not what exists: by-expiry: `exp_bucket` = the hour of `ttl`, sort `ttl` (every item with a TTL);
 *   open-callbacks: `cb_open` = `open`, sort `cb_until` (sparse: ping/push requests until their callback is finished);
 *   pending-fallbacks: `fb_open` = `open`, sort `fb_until` = the request's expiry (sparse: pending requests with a
 *   channel fallback, until decided).
 */
export const DIRECTORY_TABLE_DEFAULT = 'ciba-directory';
/**
 * The ledger of local mode and of a DYNAMODB_ENDPOINT (AWS names its own tables). Its name changes with its local
 * indexes, which dynalite cannot add to an existing table: `-2` added by-expiry and open-callbacks, `-3`
 * pending-fallbacks. A data directory's ledger of a layout before (LEGACY_LEDGER_TABLES) is copied into it once
 * (lib/local/embedded-dynamodb.ts).
 */
export const LEDGER_TABLE_DEFAULT = 'ciba-ledger-3';
/** The local ledgers of the layouts before, oldest first. */
export const LEGACY_LEDGER_TABLES = ['ciba-ledger', 'ciba-ledger-2'];
export const TTL_ATTRIBUTE = 'ttl';

export const EXPIRY_INDEX = 'by-expiry';
export const OPEN_CALLBACKS_INDEX = 'open-callbacks';
export const PENDING_FALLBACKS_INDEX = 'pending-fallbacks';
/** The expiry index's partitions: an hour of TTLs each. */
export const EXPIRY_BUCKET_SECONDS = 3600;
/** The expiry index's partition key for an item whose TTL is `ttl` (epoch seconds). */
export const expiryBucket = (ttl: number): string => String(Math.floor(ttl / EXPIRY_BUCKET_SECONDS));
/** The open-callbacks index's one partition (local mode serves one process: no write sharding needed). */
export const OPEN_CALLBACK_PARTITION = 'open';
/** The pending-fallbacks index's one partition. */
export const PENDING_FALLBACK_PARTITION = 'open';

export interface IndexSchema {
  name: string;
  partitionKey: string;
  sortKey?: { name: string; type: 'S' | 'N' };
  projection: 'KEYS_ONLY' | 'INCLUDE' | 'ALL';
  /** INCLUDE: the attributes copied into the index beside the keys (at most 20 per table, over all its indexes). */
  nonKeyAttributes?: string[];
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

/**
 * The attributes of a request that `listPending` returns (Ledger port): who asked, what for, and its state. Adding
 * one means a new index in AWS (a GSI's projection cannot change): keep it to what the pending list shows.
 */
export const PENDING_VIEW_ATTRIBUTES = [
  'txn',
  'auth_req_id',
  'tenant_id',
  'client_id',
  'sub',
  'status',
  'expires_at',
  'scope',
  'acr_values',
  'binding_message',
  'authorization_details',
  'display',
  'tenant_generation',
];

export const LEDGER_SCHEMA: TableSchema = {
  partitionKey: 'pk',
  ttlAttribute: TTL_ATTRIBUTE,
  indexes: [
    {
      name: 'pending-by-user',
      partitionKey: 'pending_key',
      sortKey: { name: 'created_at', type: 'N' },
      // What the device's list and a user's erasure read (PENDING_VIEW_ATTRIBUTES), nothing a poll writes: a pending
      // poll (`last_polled_at`), a `slow_down` (`interval`) and a wrong binding code (`binding_code_attempts`) then
      // write the table only, not the index (docs/performance.md). Local mode creates new tables with it; the CDK app
      // projects ALL unless ciba:pendingIndexProjection=INCLUDE (an existing index's projection cannot change), and
      // listPending reads the same view from either (docs/deploy.md).
      projection: 'INCLUDE',
      nonKeyAttributes: PENDING_VIEW_ATTRIBUTES,
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
    {
      name: PENDING_FALLBACKS_INDEX,
      partitionKey: 'fb_open',
      sortKey: { name: 'fb_until', type: 'N' },
      projection: 'KEYS_ONLY',
    },
  ],
};
