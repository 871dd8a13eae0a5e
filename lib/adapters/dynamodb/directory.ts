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
} from './expression.ts';
import { clientItem, keysetItem, tenantItem } from './items.ts';

/**
 * Tenants, their keysets and clients: directory items `T#{tenant}` / `TENANT`, `KEYS` and `CLIENT#{client_id}` (a
 * tenant's deletion takes every item of its partition, the keyset with it, and the users' and devices' own items
 * whose membership items it holds: directory-layout.ts).
 */

export const tenantStore = (db: Tables): TenantStore => ({
  async get(tenantId) {
    const raw = await getDirectory(db, tenantId, 'TENANT');
    return raw && tenantItem.fromItem(raw);
  },
  save: (tenant, expectedUpdatedAt) =>
    putItem(
      db,
      db.directory,
      { pk: tenantPk(tenant.tenantId), sk: 'TENANT', ...tenantItem.toItem(tenant) },
      expectedUpdatedAt,
    ),
  async delete(tenantId) {
    const keys: Item[] = [];
    let found = false;
    for await (const raw of query(db, {
      TableName: db.directory,
      ...expression({ key: '#pk = :pk', projection: '#pk, #sk' }, { ':pk': tenantPk(tenantId) }),
    })) {
      if (raw.sk === 'TENANT') found = true;
      keys.push(toItem({ pk: raw.pk, sk: raw.sk }));
      // A user's or device's membership item: its own item goes with it (directory-layout.ts).
      if (isMemberSk(raw.sk)) keys.push(ownKey(tenantId, raw.sk));
    }
    await batchDelete(db, db.directory, keys);
    return found;
  },
});

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
