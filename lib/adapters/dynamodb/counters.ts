import type { AdmissionShard, AdmissionStore, QuotaStore, TenantCounters } from '../../persistence.ts';
import {
  expiryValues,
  expression,
  FAILED,
  getLedger,
  ledgerKey,
  type Tables,
  ttlSeconds,
  update,
} from './expression.ts';

/**
 * Abuse-control counters: ledger items `QUOTA#{key}#{window}` and the tenant's admission shards
 * `QUOTA#TENANT#{tenant}#{shard}`.
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
 * An admission shard's attributes, short because every backchannel request writes one: `m` minute, `t` tenant
 * count, `cc` client counts, `pl` pending window length, `pw` window, `ps` pending sum, `pp` previous share, `v`.
 */
const admissionPk = ({ tenantId, shard }: AdmissionShard) => `QUOTA#TENANT#${tenantId}#${shard}`;

export const admissionStore = (db: Tables): AdmissionStore => ({
  async count(counter, at, limits) {
    // Every window current and every count under its limit: one write counts the request everywhere.
    const result = await update(db, {
      TableName: db.ledger,
      Key: ledgerKey(admissionPk(counter)),
      ...expression(
        {
          update:
            'SET #t = #t + :one, #cc.#cid = if_not_exists(#cc.#cid, :zero) + :one, #ps = #ps + :one, #v = #v + :one',
          condition:
            '#m = :m AND #pl = :pl AND #pw = :pw AND #t < :tl AND #ps < :pm AND (attribute_not_exists(#cc.#cid) OR #cc.#cid < :cl)',
        },
        {
          ':one': 1,
          ':zero': 0,
          ':m': at.minute,
          ':pl': at.windowMs,
          ':pw': at.window,
          ':tl': limits.tenantPerMinute,
          ':pm': limits.maxPending,
          ':cl': limits.clientPerMinute,
        },
        { '#cid': at.clientId },
      ),
    });
    return result === FAILED ? 'conflict' : 'ok';
  },
  async read(counter): Promise<TenantCounters | undefined> {
    const raw = await getLedger(db, admissionPk(counter));
    if (!raw) return undefined;
    return {
      minute: raw.m,
      tenantCount: raw.t,
      clientCounts: raw.cc ?? {},
      windowMs: raw.pl,
      window: raw.pw,
      pendingSum: raw.ps,
      previousPending: raw.pp,
      version: raw.v ?? 0,
    };
  },
  async replace(counter, next, expectedVersion, expiresAt) {
    const result = await update(db, {
      TableName: db.ledger,
      Key: ledgerKey(admissionPk(counter)),
      ...expression(
        {
          update:
            'SET #m = :m, #t = :t, #cc = :cc, #pl = :pl, #pw = :pw, #ps = :ps, #pp = :pp, #v = :v, #ttl = :ttl, #exp_bucket = :exp_bucket',
          condition: expectedVersion === undefined ? 'attribute_not_exists(#pk)' : '#v = :read',
        },
        {
          ':m': next.minute,
          ':t': next.tenantCount,
          ':cc': next.clientCounts,
          ':pl': next.windowMs,
          ':pw': next.window,
          ':ps': next.pendingSum,
          ':pp': next.previousPending,
          ':v': (expectedVersion ?? 0) + 1,
          ':read': expectedVersion,
          ...expiryValues(ttlSeconds(expiresAt)),
        },
      ),
    });
    return result === FAILED ? 'conflict' : 'ok';
  },
  async release(counter, { windowMs, window, share }) {
    // `v` changes too, so a concurrent replacement (conditional on the `v` it read) reads again.
    const parts =
      share === 'current'
        ? { update: 'SET #ps = #ps - :one, #v = #v + :one', condition: '#pl = :pl AND #pw = :pw AND #ps > #pp' }
        : {
            update: 'SET #ps = #ps - :one, #pp = #pp - :one, #v = #v + :one',
            condition: '#pl = :pl AND #pw = :pw AND #pp > :zero',
          };
    const result = await update(db, {
      TableName: db.ledger,
      Key: ledgerKey(admissionPk(counter)),
      ...expression(parts, { ':one': 1, ':zero': 0, ':pl': windowMs, ':pw': window }),
    });
    return result === FAILED ? 'conflict' : 'ok';
  },
});
