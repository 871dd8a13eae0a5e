import type { RateWindowStore, RateWindowWrite, UserStore } from '../../persistence.ts';
import {
  directoryKey,
  expression,
  FAILED,
  fitsPartitionKey,
  fitsSortKey,
  getDirectory,
  query,
  remove,
  type Tables,
  update,
  updateExpression,
} from './expression.ts';
import { userItem } from './items.ts';

/** Users: directory items `USER#{sub}`, found by the GSIs by-email and by-phone. */

const userSk = (sub: string) => `USER#${sub}`;

async function findUsers(db: Tables, index: string, attribute: string, value: string): Promise<string[]> {
  if (!fitsPartitionKey(value)) return [];
  const subs = new Set<string>();
  for await (const raw of query(db, {
    TableName: db.directory,
    IndexName: index,
    ...expression({ key: `#${attribute} = :v` }, { ':v': value }),
  })) {
    subs.add((raw.sk as string).slice('USER#'.length));
  }
  return [...subs];
}

export const userStore = (db: Tables): UserStore => ({
  async get(tenantId, sub) {
    const raw = await getDirectory(db, tenantId, userSk(sub));
    return raw && userItem.fromItem(raw);
  },
  /**
   * Writes the profile fields only: the rate window and the `devices` list belong to other ports, so a profile
   * update must not overwrite them.
   */
  async save(user, expectedUpdatedAt) {
    const values: Record<string, unknown> = {
      ':tenant_id': user.tenantId,
      ':sub': user.sub,
      ':claims': user.claims,
      ':created_at': user.createdAt,
      ':updated_at': user.updatedAt,
      ':empty': [],
      ':expected': expectedUpdatedAt,
    };
    const set = [
      '#tenant_id = :tenant_id',
      '#sub = :sub',
      '#claims = :claims',
      '#created_at = :created_at',
      '#updated_at = :updated_at',
      '#devices = if_not_exists(#devices, :empty)',
    ];
    const remove: string[] = [];
    const optional: [string, string | undefined][] = [
      ['user_code_mac', user.userCodeMac],
      ['user_code_hash', user.userCodeHash],
      ['email_key', user.claims.email ? `${user.tenantId}#${user.claims.email.toLowerCase()}` : undefined],
      ['phone_key', user.claims.phone_number ? `${user.tenantId}#${user.claims.phone_number}` : undefined],
    ];
    for (const [name, value] of optional) {
      if (value === undefined) remove.push(`#${name}`);
      else {
        set.push(`#${name} = :${name}`);
        values[`:${name}`] = value;
      }
    }
    const result = await update(db, {
      TableName: db.directory,
      Key: directoryKey(user.tenantId, userSk(user.sub)),
      ...expression(
        {
          update: updateExpression({ set, remove }),
          condition: expectedUpdatedAt === null ? 'attribute_not_exists(#pk)' : '#updated_at = :expected',
        },
        values,
      ),
    });
    return result === FAILED ? 'conflict' : 'ok';
  },
  async delete(tenantId, sub) {
    if (!fitsSortKey(userSk(sub))) return undefined;
    const deleted = await remove(db, {
      TableName: db.directory,
      Key: directoryKey(tenantId, userSk(sub)),
      ReturnValues: 'ALL_OLD',
      ...expression({ condition: 'attribute_exists(#pk)' }),
    });
    return deleted === FAILED || deleted.pk === undefined ? undefined : userItem.fromItem(deleted);
  },
  async upgradeUserCode(tenantId, sub, legacyHash, mac) {
    if (!fitsSortKey(userSk(sub))) return 'conflict';
    const result = await update(db, {
      TableName: db.directory,
      Key: directoryKey(tenantId, userSk(sub)),
      ...expression(
        { update: 'SET #user_code_mac = :mac REMOVE #user_code_hash', condition: '#user_code_hash = :legacy' },
        { ':mac': mac, ':legacy': legacyHash },
      ),
    });
    return result === FAILED ? 'conflict' : 'ok';
  },
  // Emails are matched case-insensitively: the item keeps the lower-cased address.
  findByEmail: (tenantId, email) => findUsers(db, 'by-email', 'email_key', `${tenantId}#${email.toLowerCase()}`),
  findByPhone: (tenantId, phone) => findUsers(db, 'by-phone', 'phone_key', `${tenantId}#${phone}`),
});

/**
 * The rate window on the user item: `rl_minute`, `rl_count`, `rl_sum`. Each write of lib/ciba/user-rate-window.ts as
 * one conditional update whose condition is `rateWindowWriteApplies` and whose update is `applyRateWindowWrite`.
 */
const WINDOW_WRITES: Record<RateWindowWrite, { update: string; condition: string }> = {
  increment: {
    update: 'SET #rl_count = #rl_count + :one, #rl_sum = #rl_sum + :one',
    condition: '(#rl_minute = :m OR #rl_minute = :next) AND #rl_sum < :limit',
  },
  // Every operand is read before the update: the sum takes the old window's count.
  roll: {
    update: 'SET #rl_minute = :m, #rl_count = :one, #rl_sum = #rl_count + :one',
    condition: '#rl_minute = :previous AND #rl_count < :limit',
  },
  open: {
    update: 'SET #rl_minute = :m, #rl_count = :one, #rl_sum = :one',
    condition:
      'attribute_exists(#pk) AND (attribute_not_exists(#rl_minute) OR attribute_not_exists(#rl_sum) OR #rl_minute < :previous OR #rl_minute > :next)',
  },
};

export const rateWindowStore = (db: Tables): RateWindowStore => ({
  async write(tenantId, sub, write, { minute, limit }) {
    if (!fitsSortKey(userSk(sub))) return 'conflict';
    const result = await update(db, {
      TableName: db.directory,
      Key: directoryKey(tenantId, userSk(sub)),
      ReturnValues: 'ALL_NEW',
      ...expression(WINDOW_WRITES[write], {
        ':one': 1,
        ':m': minute,
        ':previous': minute - 1,
        ':next': minute + 1,
        ':limit': limit,
      }),
    });
    return result === FAILED ? 'conflict' : userItem.fromItem(result);
  },
});
