import type {
  RateWindowRefund,
  RateWindowStore,
  RateWindowWrite,
  ReportShieldStore,
  UserAdmissionGate,
  UserStore,
} from '../../persistence.ts';
import { createOwn, getOwn, onOwn, ownKey, removeMember, userSk } from './directory-layout.ts';
import {
  expression,
  FAILED,
  fitsPartitionKey,
  fitsSortKey,
  type Item,
  query,
  remove,
  type Tables,
  update,
  updateExpression,
} from './expression.ts';
import { userItem } from './items.ts';

/**
 * Users: directory items `USER#{sub}` on their own partition key `T#{tenant}#USER#{sub}` (directory-layout.ts), found
 * by the GSIs by-email and by-phone.
 */

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
    const raw = await getOwn(db, tenantId, userSk(sub));
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
    const write = async (Key: Item) =>
      update(db, {
        TableName: db.directory,
        Key,
        ...expression(
          {
            update: updateExpression({ set, remove }),
            condition: expectedUpdatedAt === null ? 'attribute_not_exists(#pk)' : '#updated_at = :expected',
          },
          values,
        ),
      });
    const sk = userSk(user.sub);
    if (expectedUpdatedAt === null) {
      return createOwn(db, user.tenantId, sk, async (key) => ((await write(key)) === FAILED ? 'conflict' : 'ok'));
    }
    return (await onOwn(db, user.tenantId, sk, write)) === FAILED ? 'conflict' : 'ok';
  },
  async delete(tenantId, sub) {
    if (!fitsSortKey(userSk(sub))) return undefined;
    const deleted = await onOwn(db, tenantId, userSk(sub), (Key) =>
      remove(db, {
        TableName: db.directory,
        Key,
        ReturnValues: 'ALL_OLD',
        ...expression({ condition: 'attribute_exists(#pk)' }),
      }),
    );
    if (deleted === FAILED || deleted.pk === undefined) return undefined;
    await removeMember(db, tenantId, userSk(sub));
    return userItem.fromItem(deleted);
  },
  async upgradeUserCode(tenantId, sub, legacyHash, mac) {
    const result = await onOwn(db, tenantId, userSk(sub), (Key) =>
      update(db, {
        TableName: db.directory,
        Key,
        ...expression(
          { update: 'SET #user_code_mac = :mac REMOVE #user_code_hash', condition: '#user_code_hash = :legacy' },
          { ':mac': mac, ':legacy': legacyHash },
        ),
      }),
    );
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

/**
 * The refunds of lib/ciba/user-rate-window.ts, each one conditional update whose condition is
 * `rateWindowRefundApplies` and whose update is `applyRateWindowRefund` (`:m`: the minute the request counted in).
 */
const WINDOW_REFUNDS: Record<RateWindowRefund, { update: string; condition: string }> = {
  current: {
    update: 'SET #rl_count = #rl_count - :one, #rl_sum = #rl_sum - :one',
    condition: '#rl_minute = :m AND #rl_count > :zero AND #rl_sum > :zero',
  },
  previous: {
    update: 'SET #rl_sum = #rl_sum - :one',
    condition: '#rl_minute = :next AND attribute_exists(#rl_count) AND #rl_sum > #rl_count',
  },
};

/** Name placeholder of one client's entry in `report_shields` (a client id is any string: never in the text). */
const SHIELD_CLIENT = '#shield_client';

/**
 * The admission gate (lib/ciba/report-shield.ts `gateHolds`) as a condition every rate-window write of a gated
 * admission adds: the asking client is not shielded at `now`, and the user is reachable when that is required (a
 * device, or one of the claims of the tenant's link channels).
 */
const gateCondition = (gate: UserAdmissionGate) => {
  const entry = `#report_shields.${SHIELD_CLIENT}`;
  const parts = [`(attribute_not_exists(${entry}) OR ${entry} <= :gate_now)`];
  if (gate.requireDevice) {
    // Reachable: by a device (unless the tenant does not use them) or by a link channel's claim (lib/ciba/channels.ts).
    const reach = [
      ...(gate.devicesReach !== false ? ['size(#devices) > :gate_zero'] : []),
      ...(gate.orClaims ?? []).map((claim) => `attribute_exists(#claims.#${claim})`),
    ];
    parts.push(reach.length === 0 ? 'attribute_not_exists(#pk)' : `(${reach.join(' OR ')})`);
  }
  return parts.join(' AND ');
};

export const rateWindowStore = (db: Tables): RateWindowStore => ({
  async write(tenantId, sub, write, { minute, limit }, gate) {
    const { update: set, condition } = WINDOW_WRITES[write];
    // The user's own partition key: the one item every admission of this user writes (directory-layout.ts).
    const result = await onOwn(db, tenantId, userSk(sub), (Key) =>
      update(db, {
        TableName: db.directory,
        Key,
        ReturnValues: 'ALL_NEW',
        ...expression(
          { update: set, condition: gate ? `(${condition}) AND ${gateCondition(gate)}` : condition },
          {
            ':one': 1,
            ':m': minute,
            ':previous': minute - 1,
            ':next': minute + 1,
            ':limit': limit,
            ...(gate && { ':gate_now': gate.now, ':gate_zero': 0 }),
          },
          gate && { [SHIELD_CLIENT]: gate.clientId },
        ),
      }),
    );
    return result === FAILED ? 'conflict' : { user: userItem.fromItem(result), minute: result.rl_minute as number };
  },
  async refund(tenantId, sub, refund, minute) {
    if (!fitsSortKey(userSk(sub))) return 'conflict';
    // A refund follows this user's admission, which wrote (and so moved) the item on its own key: no legacy lookup.
    // The condition needs the window's attributes, so a refund never creates an item.
    const result = await update(db, {
      TableName: db.directory,
      Key: ownKey(tenantId, userSk(sub)),
      ...expression(WINDOW_REFUNDS[refund], { ':one': 1, ':zero': 0, ':m': minute, ':next': minute + 1 }),
    });
    return result === FAILED ? 'conflict' : 'ok';
  },
});

/**
 * Report shields: the map `report_shields` on the user item, client id → epoch ms. Entries stay after they lapse (one
 * per client ever reported, at most the tenant's clients) until a report or an operator replaces or lifts them.
 */
const SHIELD_WRITES = [
  // Extends the client's entry in an existing map, never shortening a longer shield.
  {
    update: `SET #report_shields.${SHIELD_CLIENT} = :until`,
    condition: `attribute_exists(#report_shields) AND (attribute_not_exists(#report_shields.${SHIELD_CLIENT}) OR #report_shields.${SHIELD_CLIENT} < :until)`,
  },
  // Creates the map, while the user exists and has none.
  {
    update: 'SET #report_shields = :map',
    condition: 'attribute_exists(#pk) AND attribute_not_exists(#report_shields)',
  },
] as const;

export const reportShieldStore = (db: Tables): ReportShieldStore => ({
  async shield(tenantId, sub, clientId, until) {
    const values = { ':until': until, ':map': { [clientId]: until } };
    // When both lose, the user is gone, a longer shield is there already, or the map was created between the two
    // (then the next round extends it).
    for (let round = 0; round < 3; round++) {
      for (const write of SHIELD_WRITES) {
        const done = await onOwn(db, tenantId, userSk(sub), (Key) =>
          update(db, { TableName: db.directory, Key, ...expression(write, values, { [SHIELD_CLIENT]: clientId }) }),
        );
        if (done !== FAILED) return;
      }
    }
  },
  async lift(tenantId, sub, clientId) {
    const done = await onOwn(db, tenantId, userSk(sub), (Key) =>
      update(db, {
        TableName: db.directory,
        Key,
        ...expression(
          {
            update: `REMOVE #report_shields.${SHIELD_CLIENT}`,
            condition: `attribute_exists(#report_shields.${SHIELD_CLIENT})`,
          },
          undefined,
          { [SHIELD_CLIENT]: clientId },
        ),
      }),
    );
    return done !== FAILED;
  },
});
