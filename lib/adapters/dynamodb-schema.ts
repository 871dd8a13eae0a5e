/**
 * The two DynamoDB tables, described once: the CDK stack and the local bootstrap both build from this.
 *
 * directory (no TTL): pk `T#{tenant}`, sk `TENANT` | `CLIENT#{client_id}` | `USER#{sub}` | `DEVICE#{device_id}` | `KEY#{kid}`
 *   GSI by-email: `email_key` = `{tenant}#{lower-cased email}`; GSI by-phone: `phone_key` = `{tenant}#{E.164}` (keys only)
 * ledger (TTL attribute `ttl`, epoch seconds): pk `REQ#{txn}` | `TICKET#{sha256}` | `JTI#{thumbprint}#{jti}`
 *   | `RT#{sha256 of refresh token}` | `REVOKED#{refresh_family|access_token}#{id}`
 *   GSI pending-by-user: `pending_key` = `{tenant}#{sub}`, sort `created_at` (sparse: removed once decided)
 */
export const DIRECTORY_TABLE_DEFAULT = 'ciba-directory';
export const LEDGER_TABLE_DEFAULT = 'ciba-ledger';
export const TTL_ATTRIBUTE = 'ttl';

export interface TableSchema {
  partitionKey: string;
  sortKey?: string;
  ttlAttribute?: string;
  indexes: {
    name: string;
    partitionKey: string;
    sortKey?: { name: string; type: 'S' | 'N' };
    projection: 'KEYS_ONLY' | 'ALL';
  }[];
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
};
