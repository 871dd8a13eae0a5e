import type { ClientStore, KeysetStore, TenantStore } from '../../persistence.ts';
import { isMemberSk, ownKey } from './directory-layout.ts';
import {
  batchDelete,
  directoryKey,
  expression,
  FAILED,
  fitsSortKey,
  getDirectory,
  type Item,
  putItem,
  query,
  remove,
  type Tables,
  tenantPk,
  toItem,
  update,
} from './expression.ts';
import { clientItem, keysetItem, tenantItem } from './items.ts';

/**
 * Tenants, their keysets and clients: directory items `T#{tenant}` / `TENANT`, `KEYS` and `CLIENT#{client_id}` (a
 * tenant's deletion takes every item of its partition, the keyset with it, and the users' and devices' own items
 * whose membership items it holds: directory-layout.ts).
 *
 * A deletion is bounded (`maxItems` per call) and resumable: the tenant's item is marked `deleting` first (from then on
 * `get` does not find the tenant, so nothing of it works), then the other items go in key order, a user's or device's
 * own item before its membership item (a call cut short leaves nothing a later call cannot find), and the keyset and
 * the tenant's item last, in one batch: while the tenant's item is there, a repeated call finds the rest, and the
 * keyset still names the KMS keys to schedule for deletion (lib/adapters/tenant-keys.ts removeWithTenant).
 */

export const tenantStore = (db: Tables): TenantStore => {
  const find = async (tenantId: string) => {
    const raw = await getDirectory(db, tenantId, 'TENANT');
    return raw && tenantItem.fromItem(raw);
  };
  return {
    async get(tenantId) {
      const tenant = await find(tenantId);
      return tenant?.deleting ? undefined : tenant;
    },
    find,
    save: (tenant, expectedUpdatedAt) =>
      putItem(
        db,
        db.directory,
        { pk: tenantPk(tenant.tenantId), sk: 'TENANT', ...tenantItem.toItem(tenant) },
        expectedUpdatedAt,
      ),
    async delete(tenantId, maxItems = Number.POSITIVE_INFINITY) {
      const marked = await update(db, {
        TableName: db.directory,
        Key: directoryKey(tenantId, 'TENANT'),
        ...expression(
          // updated_at moves: a concurrent change of the tenant (conditional on the one it read) is refused.
          { update: 'SET #deleting = :true, #updated_at = #updated_at + :one', condition: 'attribute_exists(#pk)' },
          { ':true': true, ':one': 1 },
        ),
      });
      if (marked === FAILED) return 'absent';
      const keys: Item[] = [];
      let more = false;
      for await (const raw of query(db, {
        TableName: db.directory,
        ConsistentRead: true,
        ...expression({ key: '#pk = :pk', projection: '#pk, #sk' }, { ':pk': tenantPk(tenantId) }),
      })) {
        if (raw.sk === 'TENANT' || raw.sk === 'KEYS') continue;
        if (keys.length >= maxItems) {
          more = true;
          break;
        }
        // A user's or device's membership item: its own item goes with it, first (directory-layout.ts).
        if (isMemberSk(raw.sk)) keys.push(ownKey(tenantId, raw.sk));
        keys.push(toItem({ pk: raw.pk, sk: raw.sk }));
      }
      await batchDelete(db, db.directory, keys);
      if (more) return 'continues';
      await batchDelete(db, db.directory, [directoryKey(tenantId, 'KEYS'), directoryKey(tenantId, 'TENANT')]);
      return 'deleted';
    },
  };
};

export const clientStore = (db: Tables): ClientStore => ({
  async get(tenantId, clientId) {
    const raw = await getDirectory(db, tenantId, `CLIENT#${clientId}`);
    return raw && clientItem.fromItem(raw);
  },
  create: (client) =>
    putItem(
      db,
      db.directory,
      { pk: tenantPk(client.tenantId), sk: `CLIENT#${client.clientId}`, ...clientItem.toItem(client) },
      null,
    ),
  async delete(tenantId, clientId) {
    const sk = `CLIENT#${clientId}`;
    if (!fitsSortKey(sk)) return false;
    const deleted = await remove(db, {
      TableName: db.directory,
      Key: directoryKey(tenantId, sk),
      ...expression({ condition: 'attribute_exists(#pk)' }),
    });
    return deleted !== FAILED;
  },
});

export const keysetStore = (db: Tables): KeysetStore => ({
  async get(tenantId) {
    const raw = await getDirectory(db, tenantId, 'KEYS');
    return raw && keysetItem.fromItem(raw);
  },
  save: (keyset, expectedUpdatedAt) =>
    putItem(
      db,
      db.directory,
      { pk: tenantPk(keyset.tenantId), sk: 'KEYS', ...keysetItem.toItem(keyset) },
      expectedUpdatedAt,
    ),
});
