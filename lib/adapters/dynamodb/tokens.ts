import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import type { RefreshTokenStore, ReplayGuard, RevocationStore, TicketStore } from '../../persistence.ts';
import {
  expiring,
  expression,
  FAILED,
  getLedger,
  ledgerKey,
  putItem,
  remove,
  type Tables,
  toItem,
  ttlSeconds,
  update,
} from './expression.ts';
import { refreshTokenItem } from './items.ts';

/**
 * Short-lived single-use items of the ledger: enrollment tickets `TICKET#{hash}`, used ids `JTI#{key}`, refresh
 * tokens `RT#{hash}` and revocations `REVOKED#{kind}#{id}`, each with a TTL.
 */

export const ticketStore = (db: Tables): TicketStore => ({
  async create(ticketHash, owner, expiresAt) {
    await db.client.send(
      new PutItemCommand({
        TableName: db.ledger,
        Item: toItem({
          pk: `TICKET#${ticketHash}`,
          tenant_id: owner.tenantId,
          sub: owner.sub,
          expires_at: expiresAt,
          ...expiring(ttlSeconds(expiresAt)),
        }),
      }),
    );
  },
  async consume(ticketHash, now) {
    const used = await remove(db, {
      TableName: db.ledger,
      Key: ledgerKey(`TICKET#${ticketHash}`),
      ReturnValues: 'ALL_OLD',
      ...expression({ condition: 'attribute_exists(#pk) AND #expires_at > :now' }, { ':now': now }),
    });
    if (used === FAILED || used.tenant_id === undefined) return undefined;
    return { tenantId: used.tenant_id, sub: used.sub };
  },
});

export const replayGuard = (db: Tables): ReplayGuard => ({
  async useOnce(key, expiresAt) {
    const item = { pk: `JTI#${key}`, expires_at: expiresAt, ...expiring(ttlSeconds(expiresAt)) };
    return (await putItem(db, db.ledger, item, null)) === 'ok';
  },
});

export const refreshTokenStore = (db: Tables): RefreshTokenStore => {
  const get = async (tokenHash: string) => {
    const raw = await getLedger(db, `RT#${tokenHash}`);
    return raw && refreshTokenItem.fromItem(raw);
  };
  return {
    create: (record) =>
      putItem(
        db,
        db.ledger,
        { pk: `RT#${record.tokenHash}`, ...refreshTokenItem.toItem(record), ...expiring(ttlSeconds(record.expiresAt)) },
        null,
      ),
    get,
    async use(tokenHash, owner, now) {
      const used = await update(db, {
        TableName: db.ledger,
        Key: ledgerKey(`RT#${tokenHash}`),
        ReturnValues: 'ALL_NEW',
        ...expression(
          {
            update: 'SET #used_at = :now',
            condition:
              'attribute_exists(#pk) AND #tenant_id = :t AND #client_id = :c AND attribute_not_exists(#used_at) AND #expires_at > :now',
          },
          { ':now': now, ':t': owner.tenantId, ':c': owner.clientId },
        ),
      });
      if (used !== FAILED) return { outcome: 'rotated', record: refreshTokenItem.fromItem(used) };
      // dynalite ignores ReturnValuesOnConditionCheckFailure: read the item to tell a replay from a stranger.
      const record = await get(tokenHash);
      if (!record || record.tenantId !== owner.tenantId || record.clientId !== owner.clientId) return undefined;
      return record.usedAt !== undefined ? { outcome: 'reused', record } : undefined;
    },
  };
};

export const revocationStore = (db: Tables): RevocationStore => ({
  async revoke(kind, id, expiresAt) {
    await db.client.send(
      new PutItemCommand({
        TableName: db.ledger,
        Item: toItem({ pk: `REVOKED#${kind}#${id}`, expires_at: expiresAt, ...expiring(ttlSeconds(expiresAt)) }),
      }),
    );
  },
  async isRevoked(kind, id, now) {
    const raw = await getLedger(db, `REVOKED#${kind}#${id}`);
    return raw !== undefined && (raw.expires_at as number) > now;
  },
});
