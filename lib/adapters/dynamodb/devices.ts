import type { DeviceProofStore, DeviceStore, PasskeyStore, PushChannelStore } from '../../persistence.ts';
import { bothKeys, createOwn, deviceSk, getOwn, onOwn, ownPk, removeMember, userSk } from './directory-layout.ts';
import {
  batchDelete,
  expression,
  FAILED,
  fitsSortKey,
  type Item,
  putItem,
  remove,
  type Tables,
  update,
} from './expression.ts';
import { deviceItem, passkeyItem, pushItem, summaryItem } from './items.ts';

/**
 * Devices: directory items `DEVICE#{device_id}` on their own partition key `T#{tenant}#DEVICE#{device_id}`
 * (directory-layout.ts), with a summary of each on its user's item (`devices`).
 */

/**
 * Applies an update to the user's `devices` entry for this device. The list is addressed by index, so the write is
 * conditional on that index still holding this device; a concurrent change makes it read again.
 */
async function updateListedDevice(
  db: Tables,
  tenantId: string,
  sub: string,
  deviceId: string,
  change: (index: number) => { update: string; condition?: string; values?: Record<string, unknown> },
): Promise<void> {
  for (let tries = 0; tries < 3; tries++) {
    const user = await getOwn(db, tenantId, userSk(sub), '#devices');
    const index = ((user?.devices ?? []) as { device_id: string }[]).findIndex((d) => d.device_id === deviceId);
    if (index < 0) return;
    const { update: set, condition, values } = change(index);
    const guard = `#devices[${index}].#device_id = :device_id`;
    const result = await onOwn(db, tenantId, userSk(sub), (Key) =>
      update(db, {
        TableName: db.directory,
        Key,
        ...expression(
          { update: set, condition: condition ? `${guard} AND ${condition}` : guard },
          { ...values, ':device_id': deviceId },
        ),
      }),
    );
    if (result !== FAILED) return;
  }
}

export const deviceStore = (db: Tables): DeviceStore => ({
  async get(tenantId, deviceId) {
    const raw = await getOwn(db, tenantId, deviceSk(deviceId));
    return raw && deviceItem.fromItem(raw);
  },
  create: (device) =>
    createOwn(db, device.tenantId, deviceSk(device.deviceId), () =>
      putItem(
        db,
        db.directory,
        // `jtis`: the device's recently used DPoP proof ids (jti → expiry, epoch ms): DeviceProofStore.
        {
          pk: ownPk(device.tenantId, deviceSk(device.deviceId)),
          sk: deviceSk(device.deviceId),
          ...deviceItem.toItem(device),
          jtis: {},
        },
        null,
      ),
    ),
  async listOnUser(tenantId, sub, summary) {
    const listed = await onOwn(db, tenantId, userSk(sub), (Key) =>
      update(db, {
        TableName: db.directory,
        Key,
        ...expression(
          {
            update: 'SET #devices = list_append(if_not_exists(#devices, :empty), :one)',
            condition: 'attribute_exists(#pk)',
          },
          { ':empty': [], ':one': [summaryItem.toItem(summary)] },
        ),
      }),
    );
    return listed === FAILED ? 'conflict' : 'ok';
  },
  async delete(tenantId, sub, deviceId) {
    const deleted = await onOwn(db, tenantId, deviceSk(deviceId), (Key) =>
      remove(db, {
        TableName: db.directory,
        Key,
        ...expression({ condition: '#sub = :sub' }, { ':sub': sub }),
      }),
    );
    if (deleted === FAILED) return false;
    await removeMember(db, tenantId, deviceSk(deviceId));
    await updateListedDevice(db, tenantId, sub, deviceId, (i) => ({ update: `REMOVE #devices[${i}]` }));
    return true;
  },
  // Both keys: the device's item (or its legacy item, at its membership key) and its membership item.
  purge: (tenantId, deviceIds) =>
    batchDelete(
      db,
      db.directory,
      deviceIds.filter((id) => fitsSortKey(deviceSk(id))).flatMap((id): Item[] => bothKeys(tenantId, deviceSk(id))),
    ),
});

export const pushChannelStore = (db: Tables): PushChannelStore => ({
  async set(tenantId, sub, deviceId, push) {
    const item = pushItem.toItem(push);
    const updated = await onOwn(db, tenantId, deviceSk(deviceId), (Key) =>
      update(db, {
        TableName: db.directory,
        Key,
        ...expression({ update: 'SET #push = :push', condition: '#sub = :sub' }, { ':sub': sub, ':push': item }),
      }),
    );
    if (updated === FAILED) return 'conflict';
    await updateListedDevice(db, tenantId, sub, deviceId, (i) => ({
      update: `SET #devices[${i}].#push = :push`,
      values: { ':push': item },
    }));
    return 'ok';
  },
  async disable(tenantId, sub, deviceId) {
    if (!fitsSortKey(deviceSk(deviceId))) return;
    await onOwn(db, tenantId, deviceSk(deviceId), (Key) =>
      update(db, {
        TableName: db.directory,
        Key,
        ...expression(
          { update: 'SET #push.#disabled = :true', condition: '#sub = :sub AND attribute_exists(#push)' },
          { ':sub': sub, ':true': true },
        ),
      }),
    );
    await updateListedDevice(db, tenantId, sub, deviceId, (i) => ({
      update: `SET #devices[${i}].#push.#disabled = :true`,
      condition: `attribute_exists(#devices[${i}].#push)`,
      values: { ':true': true },
    }));
  },
});

export const passkeyStore = (db: Tables): PasskeyStore => ({
  async set(tenantId, deviceId, passkey, expected) {
    const updated = await onOwn(db, tenantId, deviceSk(deviceId), (Key) =>
      update(db, {
        TableName: db.directory,
        Key,
        ...expression(
          {
            update: 'SET #passkey = :passkey',
            condition:
              expected === null
                ? 'attribute_exists(#pk) AND attribute_not_exists(#passkey)'
                : 'attribute_exists(#pk) AND #passkey.#credential_id = :expected',
          },
          { ':passkey': passkeyItem.toItem(passkey), ':expected': expected },
        ),
      }),
    );
    return updated === FAILED ? 'conflict' : 'ok';
  },
  async remove(tenantId, sub, deviceId) {
    const removed = await onOwn(db, tenantId, deviceSk(deviceId), (Key) =>
      update(db, {
        TableName: db.directory,
        Key,
        ReturnValues: 'ALL_OLD',
        ...expression(
          { update: 'REMOVE #passkey', condition: '#sub = :sub AND attribute_exists(#passkey)' },
          { ':sub': sub },
        ),
      }),
    );
    return removed === FAILED || !removed.passkey ? undefined : passkeyItem.fromItem(removed.passkey);
  },
});

export const deviceProofStore = (db: Tables): DeviceProofStore => ({
  async use(tenantId, deviceId, jti, expiresAt) {
    // `#jti` is the proof id itself (an attribute name inside the map), not an attribute of its own name.
    const record = (key: Item, set: string, condition: string, values: Record<string, unknown>) =>
      update(db, {
        TableName: db.directory,
        Key: key,
        ReturnValues: 'ALL_NEW',
        ...expression({ update: set, condition }, values, { '#jti': jti }),
      });
    // Recorded only while the device exists and has not recorded it yet: one conditional write authenticates the
    // device and refuses a replay (concurrent replays: exactly one wins).
    const recordJti = (key: Item) =>
      record(key, 'SET #jtis.#jti = :exp', 'attribute_exists(#pk) AND attribute_not_exists(#jtis.#jti)', {
        ':exp': expiresAt,
      });
    // On the device's own partition key: the item both of a flow's device requests write (directory-layout.ts).
    const result = await onOwn(db, tenantId, deviceSk(deviceId), (key) =>
      recordJti(key).catch(async (error: unknown) => {
        // A device enrolled before the map existed: create it with this jti (or, if a concurrent call just did, go on).
        if ((error as { name?: string }).name !== 'ValidationException') throw error;
        const created = await record(key, 'SET #jtis = :map', 'attribute_exists(#pk) AND attribute_not_exists(#jtis)', {
          ':map': { [jti]: expiresAt },
        });
        return created !== FAILED ? created : recordJti(key);
      }),
    );
    if (result === FAILED) return undefined;
    return { device: deviceItem.fromItem(result), proofIds: (result.jtis ?? {}) as Record<string, number> };
  },
  async forget(tenantId, deviceId, jtis) {
    if (jtis.length === 0 || !fitsSortKey(deviceSk(deviceId))) return;
    const names = Object.fromEntries(jtis.map((id, i) => [`#j${i}`, id]));
    await onOwn(db, tenantId, deviceSk(deviceId), (Key) =>
      update(db, {
        TableName: db.directory,
        Key,
        ...expression(
          { update: `REMOVE ${jtis.map((_, i) => `#jtis.#j${i}`).join(', ')}`, condition: 'attribute_exists(#pk)' },
          undefined,
          names,
        ),
      }),
    );
  },
});
