import type { AdmissionShard, AdmissionStore, QuotaStore, TenantCounters } from '../../persistence.ts';
import {
  expiring,
  expiryValues,
  expression,
  FAILED,
  getLedger,
  ledgerKey,
  putItem,
  type Raw,
  type Tables,
  ttlSeconds,
  update,
  updateExpression,
} from './expression.ts';

/**
 * Abuse-control counters: ledger items `QUOTA#{key}#{window}` and the tenant's admission shards
 * `QUOTA#SHARD#{tenant}#{shard}`.
 */

const quotaPk = (key: string, window: number) => `QUOTA#${key}#${window}`;

export const quotaStore = (db: Tables): QuotaStore => ({
  async count(key, window) {
    const raw = await getLedger(db, quotaPk(key, window));
    return raw ? Number(raw.count ?? 0) : 0;
  },
  async increment(key, window, { below, expiresAt }) {
    // An absent count is 0, which no bound at or below 0 admits.
    if (below <= 0) return 'conflict';
    const result = await update(db, {
      TableName: db.ledger,
      Key: ledgerKey(quotaPk(key, window)),
      ...expression(
        {
          update:
            'SET #count = if_not_exists(#count, :zero) + :one, #expires_at = :end, #ttl = :ttl, #exp_bucket = :exp_bucket',
          condition: 'attribute_not_exists(#count) OR #count < :below',
        },
        { ':zero': 0, ':one': 1, ':below': below, ':end': expiresAt, ...expiryValues(ttlSeconds(expiresAt)) },
      ),
    });
    return result === FAILED ? 'conflict' : 'ok';
  },
});

/**
 * A tenant's admission shard, `QUOTA#SHARD#{tenant}#{shard}`: every count is an attribute named by its minute or
 * window, so the first request of a new minute or window is one conditional write like any other (no failed condition,
 * no read): `t.{minute}` the tenant's requests, `c.{minute}.{client}` a client's, `p.{window length}.{window}` the
 * requests counted in that window and the one before (a request of window w counts in `p…{w}` and `p…{w+1}`, so the
 * pending cap is one comparison). Each write removes the names of the minute and window before, and those the last
 * write of this process on the item found past (older minutes, other clients' and other lengths'), so the item stays
 * small; the TTL ends idle ones. The layout before (`QUOTA#TENANT#{tenant}#{shard}`, one minute and one window on
 * one item) is read once per shard, when its item is created (docs/deploy.md "Upgrading to counters named by their
 * minute").
 */
const admissionPk = ({ tenantId, shard }: AdmissionShard) => `QUOTA#SHARD#${tenantId}#${shard}`;
const legacyAdmissionPk = ({ tenantId, shard }: AdmissionShard) => `QUOTA#TENANT#${tenantId}#${shard}`;
const tenantName = (minute: number) => `t.${minute}`;
const clientName = (minute: number, clientId: string) => `c.${minute}.${clientId}`;
const pendingName = (windowMs: number, window: number) => `p.${windowMs}.${window}`;
const NAME = /^(?:t\.(\d+)|c\.(\d+)\.(.*)|p\.(\d+)\.(\d+))$/s;

/** The counts of a shard's item as named; `past`: the names of minutes and windows before `at` (nothing needs them). */
const parseShard = (raw: Raw, windowMs: number, at?: { minute: number; windowMs: number; window: number }) => {
  const counts: Omit<TenantCounters, 'exists'> = { minutes: {}, pending: {} };
  const past: string[] = [];
  const minute = (m: number) => {
    counts.minutes[m] ??= { tenant: 0, clients: {} };
    return counts.minutes[m];
  };
  for (const [name, value] of Object.entries(raw)) {
    const match = NAME.exec(name);
    if (!match) continue;
    const [, t, cm, clientId, length, w] = match;
    if (t !== undefined) {
      minute(Number(t)).tenant = Number(value);
      if (at && Number(t) < at.minute) past.push(name);
    } else if (cm !== undefined) {
      minute(Number(cm)).clients[clientId as string] = Number(value);
      if (at && Number(cm) < at.minute) past.push(name);
    } else {
      if (Number(length) === windowMs) counts.pending[Number(w)] = Number(value);
      // Its window has ended before the current one started.
      if (at && (Number(w) + 1) * Number(length) <= at.window * at.windowMs) past.push(name);
    }
  }
  return { counts, past };
};

/** The counts a shard's item of the layout before holds, as this layout names them. */
const legacyCounts = (raw: Raw | undefined, windowMs: number): Omit<TenantCounters, 'exists'> => {
  if (!raw) return { minutes: {}, pending: {} };
  const minutes = { [raw.m]: { tenant: Number(raw.t ?? 0), clients: { ...(raw.cc ?? {}) } } };
  if (raw.pl !== windowMs) return { minutes, pending: {} };
  return { minutes, pending: { [raw.pw]: Number(raw.ps), [raw.pw + 1]: Number(raw.ps) - Number(raw.pp) } };
};

/** Names removed in one write at most (an expression is at most 4 KB). */
const MAX_REMOVED = 64;
/** Items whose past names this process remembers (then it forgets them all). */
const REMEMBERED = 10_000;

export const admissionStore = (db: Tables): AdmissionStore => {
  /** Per item, the names its last write here found past: the next write here removes them. */
  const past = new Map<string, string[]>();
  return {
    async count(counter, at, limits, expiresAt, amount = 1) {
      const pk = admissionPk(counter);
      const { clientId, minute, windowMs, window } = at;
      const names: Record<string, string> = {
        '#t': tenantName(minute),
        '#c': clientName(minute, clientId),
        '#s': pendingName(windowMs, window),
        '#s1': pendingName(windowMs, window + 1),
        '#tn': tenantName(minute + 1),
        '#s2': pendingName(windowMs, window + 2),
        '#tp': tenantName(minute - 1),
        '#cp': clientName(minute - 1, clientId),
        '#sp': pendingName(windowMs, window - 1),
      };
      const named = new Set(Object.values(names));
      const more = (past.get(pk) ?? []).filter((name) => !named.has(name)).slice(0, MAX_REMOVED);
      more.forEach((name, i) => {
        names[`#x${i}`] = name;
      });
      const result = await update(db, {
        TableName: db.ledger,
        Key: ledgerKey(pk),
        ReturnValues: 'ALL_NEW',
        ...expression(
          {
            update: updateExpression({
              set: [
                '#t = if_not_exists(#t, :zero) + :n',
                '#c = if_not_exists(#c, :zero) + :n',
                '#s = if_not_exists(#s, :zero) + :n',
                '#s1 = if_not_exists(#s1, :zero) + :n',
                '#ttl = :ttl',
                '#exp_bucket = :exp_bucket',
              ],
              remove: ['#tp', '#cp', '#sp', ...more.map((_, i) => `#x${i}`)],
            }),
            condition:
              'attribute_exists(#pk) AND attribute_not_exists(#tn) AND attribute_not_exists(#s2) AND ' +
              '(attribute_not_exists(#t) OR #t < :tl) AND (attribute_not_exists(#c) OR #c < :cl) AND ' +
              '(attribute_not_exists(#s) OR #s < :pm)',
          },
          {
            ':n': amount,
            ':zero': 0,
            // count + amount <= share, as count < share - amount + 1 (an absent count is 0: amount <= share)
            ':tl': limits.tenantPerMinute - amount + 1,
            ':cl': limits.clientPerMinute - amount + 1,
            ':pm': limits.maxPending - amount + 1,
            ...expiryValues(ttlSeconds(expiresAt)),
          },
          names,
        ),
      });
      if (result === FAILED) return 'conflict';
      const found = parseShard(result, windowMs, at).past;
      if (past.size >= REMEMBERED) past.clear();
      if (found.length > 0) past.set(pk, found);
      else past.delete(pk);
      return 'ok';
    },
    async read(counter, windowMs): Promise<TenantCounters> {
      const raw = await getLedger(db, admissionPk(counter));
      if (raw) return { exists: true, ...parseShard(raw, windowMs).counts };
      return { exists: false, ...legacyCounts(await getLedger(db, legacyAdmissionPk(counter)), windowMs) };
    },
    async create(counter, counts, windowMs, expiresAt) {
      const item: Raw = { pk: admissionPk(counter), ...expiring(ttlSeconds(expiresAt)) };
      for (const [m, { tenant, clients }] of Object.entries(counts.minutes)) {
        item[tenantName(Number(m))] = tenant;
        for (const [clientId, n] of Object.entries(clients)) item[clientName(Number(m), clientId)] = n;
      }
      for (const [w, n] of Object.entries(counts.pending)) item[pendingName(windowMs, Number(w))] = n;
      return putItem(db, db.ledger, item, null);
    },
    async release(counter, { windowMs, window }) {
      const key = { TableName: db.ledger, Key: ledgerKey(admissionPk(counter)) };
      const names = { '#a': pendingName(windowMs, window), '#b': pendingName(windowMs, window + 1) };
      const both = await update(db, {
        ...key,
        ...expression(
          { update: 'SET #a = #a - :one, #b = #b - :one', condition: '#a > :zero AND #b > :zero' },
          { ':one': 1, ':zero': 0 },
          names,
        ),
      });
      if (both !== FAILED) return;
      // The window's own count is no longer kept (the next window has started): the next one's only.
      await update(db, {
        ...key,
        ...expression(
          { update: 'SET #b = #b - :one', condition: '#b > :zero AND attribute_not_exists(#a)' },
          { ':one': 1, ':zero': 0 },
          names,
        ),
      });
    },
  };
};
